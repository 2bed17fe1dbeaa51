"""The user-error channel: every problem in the user's input raises a :class:`GalaxyLibError`.

The command line prints these as one line and exits with status 2; any other exception is a bug
in this package and keeps its full traceback (exit status 1), so CI and bug reports show where it
happened. Subclasses name the kind of input at fault, and each message names the file, row or key.
They also derive from ``ValueError`` so that code written against the library's earlier
``ValueError`` contract keeps working.

Two kinds are not about the input but about the place: :class:`BusyError` (another process is
working in the same folder, see :mod:`galaxy_lib.locks`) and :class:`DiskError` (a full,
read-only or forbidden disk). They are still the user's to fix, so they too are one line.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator

from galaxy_lib.paths import display_path


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


def disk_error(exc: BaseException, path: str | os.PathLike[str] | None, note: str = "",
               verb: str = "write") -> DiskError | None:
    """The one-line :class:`DiskError` for ``exc`` met while writing ``path``, or None when ``exc``
    is not such a problem (it then keeps its traceback: it may be a bug).

    ``note`` says what was kept (``"the previous file is unchanged"``); ``verb`` what was being done
    (``""``: the path alone, when it is not known whether it was a read or a write).
    """
    if isinstance(exc, DiskError):
        return exc
    if not isinstance(exc, OSError) or exc.errno not in DISK_ERRNOS:
        return None
    shown = display_path(path) if path is not None else ""
    head = " ".join(part for part in (f"cannot {verb}" if verb else "", shown) if part) or "cannot write"
    advice = DISK_ERRNOS[exc.errno]
    reason, _, todo = advice.partition("; ")
    error = DiskError(f"{head}: {reason}" + (f" ({note})" if note else "") + f"; {todo}")
    error.errno = exc.errno
    return error


@contextlib.contextmanager
def writing(path: str | os.PathLike[str], note: str = "") -> Iterator[None]:
    """Turn a full, read-only or forbidden disk met inside the block into a :class:`DiskError`
    naming ``path`` (and ``note``: what was left intact); other errors pass unchanged."""
    try:
        yield
    except OSError as exc:
        error = disk_error(exc, path, note)
        if error is None or error is exc:
            raise
        raise error from exc
