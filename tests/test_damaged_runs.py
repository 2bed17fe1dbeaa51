"""A damaged run folder is the user's to fix: every file training reads back is validated, and a
damaged one is a one-line RunError naming the file and what to do (or rebuilt, where that is
safe), never a TypeError from deep inside training. One tiny trained run is copied and damaged
a different way by each test."""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from pathlib import Path

import pytest
from test_train import tiny_config, tiny_data  # noqa: F401  (tiny_data is a fixture)

from galaxy_lib import cli
from galaxy_lib.errors import RunError
from galaxy_lib.model import runs, train
from galaxy_lib.model.runs import RunFolder

pytestmark = pytest.mark.slow  # each test starts from a trained run


@pytest.fixture(scope="module")
def trained(tiny_data, tmp_path_factory) -> Path:  # noqa: F811
    """One epoch of the tiny run, checkpointed, with its crop cache: the folder every test damages."""
    config = tiny_config(tiny_data, epochs=1, cache_crops=True)
    return train.train(config, tmp_path_factory.mktemp("damaged") / "run", verbose=False)


@pytest.fixture
def run(trained, tmp_path) -> RunFolder:
    """A fresh copy of the trained run, to damage."""
    return RunFolder(shutil.copytree(trained, tmp_path / "run"))


def resume(run: RunFolder, tiny_data: Path, epochs: int = 2) -> Path:  # noqa: F811
    """Train ``run`` on to ``epochs`` (2: one more epoch, so the checkpoint is loaded)."""
    return train.train(tiny_config(tiny_data, epochs=epochs, cache_crops=True), run.path, verbose=False)


# --- history.csv ------------------------------------------------------------------------------------


def test_a_garbage_line_in_the_history_is_one_line_on_the_command_line(run, capsys):
    """The issue's reproduction: one garbage line appended to history.csv, then `train` on the
    folder ended in `TypeError: '<=' not supported between instances of 'str' and 'int'`."""
    good = run.history_file.read_text()
    run.history_file.write_text(good + "garbage\n")
    argv = ["train", "-f", str(run.config_file), "--out", str(run.path)]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"error: {run.history_file} line 3: epoch 'garbage' is not a whole number; ")
    assert "delete or repair that line" in err
    run.history_file.write_text(good)  # doing what it says is enough
    assert cli.main(argv) == 0


def _a_word_for_the_loss(text: str) -> str:
    header, first, *rest = text.splitlines()
    cells = first.split(",")
    cells[header.split(",").index("loss")] = "abc"
    return "\n".join([header, ",".join(cells), *rest]) + "\n"


@pytest.mark.parametrize(("damage", "message"), [
    (_a_word_for_the_loss, r"line 2: loss 'abc' is not a number"),
    (lambda text: text + text.splitlines()[1] + "\n", r"line 3: epoch 1 is out of order"),
    (lambda text: text + "1,2,3,4,5,6,7,8,9,10,11,12,13\n", r"not a valid history CSV \(Error tokenizing data"),
    (lambda text: text.splitlines()[0] + "\n", r"holds 0 of the 1 epochs that .*state.json counts"),
])
def test_a_damaged_history_is_a_run_error_naming_it(run, tiny_data, damage, message):  # noqa: F811
    run.history_file.write_text(damage(run.history_file.read_text()))
    with pytest.raises(RunError, match=rf"history.csv.*{message}.*the run folder is damaged"):
        resume(run, tiny_data)


# --- resume/state.json ------------------------------------------------------------------------------


def _edit_state(**changes: object) -> object:
    def damage(text: str) -> str:
        state = json.loads(text)
        for key, value in changes.items():
            if value is KeyError:
                del state[key]
            else:
                state[key] = value
        return json.dumps(state)
    return damage


@pytest.mark.parametrize(("damage", "message"), [
    (lambda text: text[: len(text) // 2], r"not valid JSON"),
    (lambda text: "[1, 2]", r"expected a JSON object, got list"),
    (_edit_state(checkpoint=KeyError), r"key 'checkpoint' is missing"),
    (_edit_state(epoch="1"), r"key 'epoch' is '1', not int"),
    (_edit_state(best=True), r"key 'best' is True, not int or float or null"),
    (_edit_state(elapsed_seconds=-5.0), r"negative or non-finite"),
    (_edit_state(checkpoint="../best.keras"), r"checkpoint '../best.keras' is not a file name in resume/"),
])
def test_a_damaged_state_is_a_run_error_saying_what_to_do(run, tiny_data, damage, message):  # noqa: F811
    run.state_file.write_text(damage(run.state_file.read_text()))
    advice = f"; the run folder is damaged; delete {run.resume_dir} to train this run again from its first epoch"
    with pytest.raises(RunError, match=rf"state.json: {message}.*{re.escape(advice)}"):
        resume(run, tiny_data)
    with pytest.raises(RunError, match=r"state.json"):  # every reader of the state, not training alone
        run.read_state()


# --- the resume checkpoint --------------------------------------------------------------------------


def _zip_of_something_else(path: Path) -> None:
    path.unlink()
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes.txt", "not a model")


@pytest.mark.parametrize(("damage", "message"), [
    (lambda path: path.write_bytes(b"garbage"), r"not a zip archive \(7 bytes\)"),
    (lambda path: path.write_bytes(path.read_bytes()[: path.stat().st_size // 2]), r"not a zip archive"),
    (_zip_of_something_else, r"no item named 'model.weights.h5'"),
    (lambda path: path.unlink(), r"the resume checkpoint that state.json names is missing"),
])
def test_a_damaged_checkpoint_is_a_run_error_and_deleting_resume_starts_over(
        run, tiny_data, damage, message):  # noqa: F811
    checkpoint = run.resume_dir / run.read_state().checkpoint
    damage(checkpoint)
    with pytest.raises(RunError) as caught:
        resume(run, tiny_data)
    text = str(caught.value)
    assert text.startswith(f"{checkpoint}: ") and "\n" not in text
    assert f"delete {run.resume_dir} to train this run again from its first epoch" in text
    assert re.search(message, text), text
    shutil.rmtree(run.resume_dir)  # doing what it says
    resume(run, tiny_data)
    assert run.read_history()["epoch"].tolist() == [1, 2] and run.read_state().epoch == 2


def test_dropout_states_that_do_not_fit_the_model_are_a_run_error(run, tiny_data):  # noqa: F811
    run.state_file.write_text(_edit_state(seed_generators=[])(run.state_file.read_text()))
    with pytest.raises(RunError, match=r"epoch-0001.keras: cannot be resumed from .*state.json has 0 dropout"):
        resume(run, tiny_data)


# --- split.csv and config.yaml ----------------------------------------------------------------------


@pytest.mark.parametrize(("damage", "message"), [
    (lambda text: text + "garbage\n", r"split.csv line \d+: 'garbage' is not a GalaxyID"),
    (lambda text: text.replace(",test", ",holdout", 1), r"split 'holdout' is not one of train, val, test"),
    (lambda text: "", r"not a valid split CSV"),
])
def test_a_damaged_split_is_a_run_error_not_a_new_split(run, tiny_data, damage, message):  # noqa: F811
    before = run.split_file.read_text()
    run.split_file.write_text(damage(before))
    after = run.split_file.read_text()
    advice = "; the run folder is damaged; restore its split.csv, or train into a new folder"
    with pytest.raises(RunError, match=message + ".*" + advice):
        resume(run, tiny_data)
    with pytest.raises(RunError, match=message):
        run.load()
    assert run.split_file.read_text() == after  # never silently redrawn


@pytest.mark.parametrize("damage", ["crop: [128\n", "- a list\n", "crop: banana\n", "\x00\xff"])
def test_a_damaged_config_is_a_run_error(run, tiny_data, damage):  # noqa: F811
    run.config_file.write_bytes(damage.encode("latin-1"))
    advice = r"; the run folder is damaged; restore its config.yaml \(training writes it\), or train into a new folder"
    with pytest.raises(RunError, match=r"config.yaml.*" + advice):
        resume(run, tiny_data)
    with pytest.raises(RunError, match=r"config.yaml.*" + advice):
        run.load_config()


# --- the crop cache ---------------------------------------------------------------------------------


def test_a_truncated_crop_cache_is_rebuilt(run, tiny_data):  # noqa: F811
    caches = sorted(run.cache_dir.glob("crops-*.u8"))  # the training and the validation galaxies'
    whole = [cache.read_bytes() for cache in caches]
    assert len(caches) == 2 and all(whole)
    for cache, data in zip(caches, whole, strict=True):
        cache.write_bytes(data[: len(data) // 3])
    resume(run, tiny_data)
    assert sorted(run.cache_dir.glob("crops-*.u8")) == caches
    assert [cache.read_bytes() for cache in caches] == whole  # the same crops, decoded again
    assert run.read_history()["epoch"].tolist() == [1, 2]


def test_a_healthy_run_resumes_from_its_copy(run, tiny_data):  # noqa: F811
    """The control for the tests above: the undamaged copy trains on."""
    resume(run, tiny_data)
    assert runs.read_history(run.history_file)["epoch"].tolist() == [1, 2]
