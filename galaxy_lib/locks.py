"""One process at a time per run, report or data folder: a lock file beside the folder.

Two commands working on the same folder at once used to race: two ``report`` commands on the
same run name both generated the synthetic sky, and the second failed with a misleading "is not
empty; pass --overwrite"; two ``train`` commands on one run folder would interleave their epochs.
:func:`run_lock` makes the second stop at once with one line naming the first (process id, what
it is doing, its command and since when), while different folders go on side by side.

The lock of ``runs/NAME`` is the file ``runs/.NAME.lock`` (beside the folder, not in it: a
synthetic sky and a report are built elsewhere and renamed into place, and an empty data folder
must stay empty), held with ``fcntl.flock``: the kernel releases it when the holder ends, however it
ends (killed, crashed, the machine restarted), so there is no stale lock to judge or take over. The
file holds JSON ``{pid, host, command, what, started}`` only to name the holder in the message; it
is removed when the block ends. An acquirer checks that the file it locked is still the one at the
path (a holder that just removed it may have been overtaken), else it tries again.

The lock is re-entrant within a process (a learning curve locks its folder and each point locks
its own; an ensemble locks its folder, then each member's), and it is inherited by the processes
started inside the block: ``report`` locks the run folder and its notebooks' kernels train into
it. The held locks are listed in the environment variable :data:`ENV`, which children inherit;
a child accepts a lock held by the process that listed it there. Taking a lock is atomic across
threads too: the whole check-then-take runs under one guard (``flock`` never blocks here).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

from galaxy_lib.errors import BusyError
from galaxy_lib.paths import disk_error, display_path, read_json_object

ENV = "GALAXY_LIB_LOCKS"
"""Environment variable: JSON ``{lock file: holder pid}`` of the locks held by this process and its
ancestors, so that a notebook kernel started by ``report`` may work in the folder ``report`` locked."""

_held: dict[str, int] = {}  # lock file -> nesting depth in this process
_owned: dict[str, int] = {}  # lock file -> the descriptor holding its flock (this process removes the file)
_guard = threading.RLock()
_TRIES = 50  # a lock file being replaced or written at this moment: try again, 20 ms apart


def lock_file(path: str | os.PathLike[str]) -> Path:
    """The lock file of the folder ``path``: ``.<name>.lock`` beside it."""
    path = Path(path).expanduser().resolve()
    return path.with_name(f".{path.name}.lock")


@contextlib.contextmanager
def run_lock(path: str | os.PathLike[str], what: str = "") -> Iterator[Path]:
    """Hold the lock of folder ``path`` for the block; ``what`` says what this process does there
    (shown to a second process, e.g. ``"training"``). Yields the lock file.

    Raises :class:`~galaxy_lib.errors.BusyError` naming the holder when another process holds
    it, and :class:`~galaxy_lib.errors.DiskError` when the lock file cannot be written (a read-only
    or full disk). Nested calls for the same folder in one process, and calls in a child process
    of the holder, share the holder's lock.
    """
    target = Path(path).expanduser().resolve()
    lock = lock_file(target)
    key = str(lock)
    with _guard:  # check and take in one step: two threads cannot both see the folder free
        if key in _held:
            _held[key] += 1
        else:
            fd = _acquire(lock, target, what)
            _held[key] = 1
            if fd is not None:
                _owned[key] = fd
                _advertise(key, os.getpid())
    try:
        yield lock
    finally:
        with _guard:
            _held[key] -= 1
            if _held[key] == 0:
                del _held[key]
                fd = _owned.pop(key, None)
                if fd is not None:
                    _advertise(key, None)
                    _release(lock, fd)


def holder(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The record of the process holding the lock of folder ``path`` (pid, host, command, what,
    started), or None when nobody does."""
    lock = lock_file(path)
    with _guard:
        if str(lock) in _owned:
            return _read(lock)
        try:
            fd = os.open(lock, os.O_RDONLY)
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read(lock)
        finally:
            os.close(fd)  # also drops the shared lock, if we got it
    return None


# --- acquiring and releasing ----------------------------------------------------------------------


def holder_record(what: str) -> dict[str, Any]:
    """What this process writes into a lock file it takes, and what :func:`holder` reads back and
    a :class:`~galaxy_lib.errors.BusyError` shows: pid, host, command, ``what`` and since when."""
    return {"pid": os.getpid(), "host": socket.gethostname(), "command": _command(), "what": what,
            "started": dt.datetime.now().astimezone().isoformat(timespec="seconds"), "time": time.time()}


def _command() -> str:
    """This process's command line as a person would type it (``python -m galaxy_lib report ...``)."""
    argv = list(sys.argv) or ["python"]
    first = argv[0].replace("\\", "/")
    if first.endswith("galaxy_lib/__main__.py"):
        argv[0:1] = ["python", "-m", "galaxy_lib"]
    elif first == "-c":
        argv[0:1] = ["python", "-c", "..."]
    elif "ipykernel" in first:
        return "a Jupyter kernel"
    else:
        argv[0] = os.path.basename(first) or "python"
    text = " ".join(argv)
    return text if len(text) <= 200 else text[:197] + "..."


def _acquire(lock: Path, target: Path, what: str) -> int | None:
    """Take ``lock`` for this process (its descriptor), accept it as inherited from a parent (None),
    or raise :class:`BusyError` naming the holder."""
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _raise_disk_error(exc, target)
    for _ in range(_TRIES):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o644)
        except OSError as exc:
            _raise_disk_error(exc, target)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            record = _read(lock)
            if record is None:  # its holder is writing it this moment (or has just removed it)
                time.sleep(0.02)
                continue
            if _inherited(lock, record):
                return None
            raise BusyError(_busy_message(target, record)) from None
        except BaseException:
            os.close(fd)
            raise
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(lock))
        except FileNotFoundError:
            same = False
        if not same:  # its holder removed the file after we opened it: ours is no longer the lock
            os.close(fd)
            continue
        try:
            os.ftruncate(fd, 0)
            os.write(fd, (json.dumps(holder_record(what)) + "\n").encode())
        except OSError as exc:
            _release(lock, fd)
            _raise_disk_error(exc, target)
        return fd
    raise BusyError(f"{display_path(target)}: could not take its lock {lock} (other processes keep taking it); "
                    "wait a moment and run again")


def _raise_disk_error(exc: OSError, target: Path) -> NoReturn:
    """Re-raise ``exc`` met writing the lock of ``target``: one line for a full or read-only disk."""
    error = disk_error(exc, target, verb="lock")
    if error is None:
        raise exc
    raise error from exc


def _release(lock: Path, fd: int) -> None:
    """Remove the lock file while still holding it (a process waiting on it then sees it replaced),
    then let the kernel release the lock with the descriptor."""
    try:
        with contextlib.suppress(OSError):
            lock.unlink()
    finally:
        os.close(fd)


# --- reading a lock file ----------------------------------------------------------------------------


def _read(lock: Path) -> dict[str, Any] | None:
    """The lock file's record, or None when it is gone, empty or not one."""
    record = read_json_object(lock)
    if not isinstance(record.get("pid"), int) or isinstance(record["pid"], bool):
        return None
    return record


def _inherited(lock: Path, record: dict[str, Any]) -> bool:
    """Whether ``record``'s process listed ``lock`` in :data:`ENV` of this process: an ancestor
    (``report``) that started this process (a notebook kernel) to work in the locked folder."""
    try:
        listed = json.loads(os.environ.get(ENV, "{}"))
    except json.JSONDecodeError:
        return False
    return isinstance(listed, dict) and listed.get(str(lock)) == record["pid"] and record["pid"] != os.getpid()


def _advertise(key: str, pid: int | None) -> None:
    """Add (``pid``) or remove (None) a lock of this process in :data:`ENV`, for child processes."""
    try:
        listed = json.loads(os.environ.get(ENV, "{}"))
    except json.JSONDecodeError:
        listed = {}
    if not isinstance(listed, dict):
        listed = {}
    if pid is None:
        listed.pop(key, None)
    else:
        listed[key] = pid
    if listed:
        os.environ[ENV] = json.dumps(listed)
    else:
        os.environ.pop(ENV, None)


def _busy_message(target: Path, record: dict[str, Any]) -> str:
    """``runs/smoke is in use by process 1234 (training: python -m galaxy_lib train ..., since 17:02); ...``"""
    since = ""
    with contextlib.suppress(TypeError, ValueError):
        started = dt.datetime.fromisoformat(str(record.get("started")))
        today = dt.datetime.now(started.tzinfo).date() == started.date()
        since = started.strftime("%H:%M" if today else "%Y-%m-%d %H:%M")
    what = str(record.get("what") or "")
    command = str(record.get("command") or "unknown command")
    detail = ", ".join(part for part in (f"{what}: {command}" if what else command,
                                         f"since {since}" if since else "") if part)
    host = record.get("host")
    where = f" on host {host}" if host and host != socket.gethostname() else ""
    return f"{display_path(target)} is in use by process {record['pid']}{where} ({detail}); wait for it or stop it"
