"""Import TensorFlow once, quietly and with sensible defaults.

TensorFlow reads a few environment variables only at import time, so every module that needs
it goes through :func:`import_tensorflow` instead of ``import tensorflow`` directly. The
defaults silence the C++ start-up chatter (warnings and errors still show) and keep oneDNN's
fast CPU kernels on; a user who sets either variable keeps their own value.
"""

from __future__ import annotations

import os
from types import ModuleType


def import_tensorflow() -> ModuleType:
    """Return the ``tensorflow`` module, setting quiet defaults before its first import."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    import tensorflow as tf

    return tf
