"""The user-error channel: every problem in the user's input raises a :class:`GalaxyLibError`.

The command line prints these as one line and exits with status 2; any other exception is a bug
in this package and keeps its full traceback (exit status 1), so CI and bug reports show where it
happened. Subclasses name the kind of input at fault, and each message names the file, row or key.
They also derive from ``ValueError`` so that code written against the library's earlier
``ValueError`` contract keeps working.

Two kinds are not about the input but about the place: :class:`BusyError` (another process is
working in the same folder, see :mod:`galaxy_lib.locks`) and :class:`DiskError` (a full,
read-only or forbidden disk). They are still the user's to fix, so they too are one line. The
step that turns a disk's ``OSError`` into a :class:`DiskError` naming the file is a file helper
(:func:`galaxy_lib.paths.writing`, :func:`galaxy_lib.paths.disk_error`): it shows the path the way
every message does. This module imports nothing of the package, so every module can raise these.
"""

from __future__ import annotations

import errno


class GalaxyLibError(Exception):
    """Base class: a problem with the user's input, described in one line."""


class ConfigError(GalaxyLibError, ValueError):
    """A configuration file, override or argument is invalid; the message names the key."""


class DataError(GalaxyLibError, ValueError):
    """A data set is missing, malformed or inconsistent; the message names the file, row or column."""


class RunError(GalaxyLibError, ValueError):
    """A run folder is missing, unfinished, corrupt or made with another configuration."""


class ModelError(GalaxyLibError, ValueError):
    """A model defined in code (a notebook's ``build_model`` or ``compile_model``) cannot train here:
    wrong input or output shape, no trainable weights, not savable; the message names the problem."""


class ReportError(GalaxyLibError):
    """A notebook failed or the report could not be built; the message names notebook and cell."""


class BusyError(GalaxyLibError):
    """Another live process holds the run, report or data folder; the message names it (process
    id, what it does, its command and since when)."""


class DiskError(GalaxyLibError, OSError):
    """A file or folder could not be written because the disk is full, read-only or not ours to
    write; the message names the path. Also an :class:`OSError` (with the original ``errno``), so
    code that handled the raw error keeps handling it."""


DISK_ERRNOS: dict[int, str] = {
    errno.ENOSPC: "the disk is full; free some space and run again",
    errno.EROFS: "the file system is read-only; choose a writable folder",
    errno.EACCES: "permission denied; choose a folder you may write to",
    errno.EPERM: "operation not permitted; choose a folder you may write to",
}
"""The ``errno`` values that are the place's fault rather than a bug, with what to do about them."""
if hasattr(errno, "EDQUOT"):  # not on Windows
    DISK_ERRNOS[errno.EDQUOT] = "the disk quota is used up; free some space and run again"
