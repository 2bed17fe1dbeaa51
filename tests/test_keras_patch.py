"""The fence around the private Keras code that multi-worker training patches
(:mod:`galaxy_lib.model.keras_patch`): fast, no training, so a Keras upgrade that changes the private
loop fails here instead of inside a two-worker run."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from galaxy_lib.errors import ConfigError
from galaxy_lib.model import keras_patch

REPO = Path(__file__).resolve().parents[1]


def test_the_installed_keras_is_one_the_patch_was_written_for():
    assert keras_patch.patch_problem(keras_patch.keras.__version__) is None


def test_pyproject_pins_keras_to_the_patch_range():
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert f"keras{keras_patch.keras_range_text()}" in dependencies


def test_the_private_method_still_has_the_signature_the_patch_replaces():
    """The wrapped ``build(iterator=None, data_batch=None)`` must accept what Keras passes."""
    import inspect

    from keras.src.backend.tensorflow.trainer import TensorFlowTrainer

    parameters = tuple(inspect.signature(TensorFlowTrainer._maybe_symbolic_build).parameters)
    assert parameters == keras_patch.PRIVATE_SIGNATURE
    # the loop the patch copies: Keras' epoch iterator yields (begin step, end step, iterator)
    source = inspect.getsource(TensorFlowTrainer._maybe_symbolic_build)
    assert re.search(r"for _, _, \w+ in iterator:", source)


@pytest.mark.parametrize("version", ["3.14.0", "3.16.0", "4.0.1"])
def test_another_keras_version_is_refused_in_one_line_naming_it(version):
    with pytest.raises(ConfigError) as caught:
        keras_patch.require_patchable_keras(version)
    message = str(caught.value)
    assert f"this environment has Keras {version}" in message and "\n" not in message
    assert f"pip install 'keras{keras_patch.keras_range_text()}'" in message


def test_a_changed_private_signature_is_refused():
    class Renamed:
        def _maybe_symbolic_build(self, epoch_iterator=None, data_batch=None):
            pass

    class Gone:
        pass

    version = keras_patch.keras.__version__
    with pytest.raises(ConfigError, match=r"_maybe_symbolic_build takes \('self', 'epoch_iterator', 'data_batch'\)"):
        keras_patch.require_patchable_keras(version, Renamed)
    with pytest.raises(ConfigError, match="has no private TensorFlowTrainer._maybe_symbolic_build"):
        keras_patch.require_patchable_keras(version, Gone)
