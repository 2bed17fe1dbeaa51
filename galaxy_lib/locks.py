"""One process at a time per run, report or data folder: a lock file beside the folder.

Two commands working on the same folder at once used to race: two ``report`` commands on the
same run name both generated the synthetic sky, and the second failed with a misleading "is not
empty; pass --overwrite"; two ``train`` commands on one run folder would interleave their epochs.
:func:`run_lock` makes the second stop at once with one line naming the first (process id, what
it is doing, its command and since when), while different folders go on side by side.

The lock of ``runs/NAME`` is the file ``runs/.NAME.lock`` (beside the folder, not in it: a
synthetic sky and a report are built elsewhere and renamed into place, and an empty data folder
must stay empty). It is created atomically (``O_CREAT | O_EXCL``) and holds JSON
``{pid, host, command, what, started}``. It is removed when the block ends, also on an error;
a lock whose process is gone (killed, machine rebooted, the process id reused since) is taken over.
A lock taken on another host cannot be checked from here, so it is reported, with its file.

The lock is re-entrant within a process (a learning curve locks its folder and each point locks
its own; an ensemble locks its folder, then each member's), and it is inherited by the processes
started inside the block: ``report`` locks the run folder and its notebooks' kernels train into
it. The held locks are listed in the environment variable :data:`ENV`, which children inherit;
a child accepts a lock file whose holder is the process that listed it there.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

from galaxy_lib.errors import BusyError, disk_error

ENV = "GALAXY_LIB_LOCKS"
"""Environment variable: JSON ``{lock file: holder pid}`` of the locks held by this process and its
ancestors, so that a notebook kernel started by ``report`` may work in the folder ``report`` locked."""

_held: dict[str, int] = {}  # lock file -> nesting depth in this process
_owned: set[str] = set()  # lock files this process created (and removes)
_guard = threading.Lock()
_CLAIM_STALE_SECONDS = 10.0  # a take-over claim older than this was left by a process that died meanwhile


def lock_file(path: str | os.PathLike[str]) -> Path:
    """The lock file of the folder ``path``: ``.<name>.lock`` beside it."""
    path = Path(path).expanduser().resolve()
    return path.with_name(f".{path.name}.lock")


@contextlib.contextmanager
def run_lock(path: str | os.PathLike[str], what: str = "") -> Iterator[Path]:
    """Hold the lock of folder ``path`` for the block; ``what`` says what this process does there
    (shown to a second process, e.g. ``"training"``). Yields the lock file.

    Raises :class:`~galaxy_lib.errors.BusyError` naming the holder when another live process holds
    it, and :class:`~galaxy_lib.errors.DiskError` when the lock file cannot be written (a read-only
    or full disk). Nested calls for the same folder in one process, and calls in a child process
    of the holder, share the holder's lock.
    """
    target = Path(path).expanduser().resolve()
    lock = lock_file(target)
    key = str(lock)
    with _guard:
        nested = key in _held
        if nested:
            _held[key] += 1
    if not nested:
        owned = _acquire(lock, target, what)
        with _guard:
            _held[key] = 1
            if owned:
                _owned.add(key)
                _advertise(key, os.getpid())
    try:
        yield lock
    finally:
        with _guard:
            _held[key] -= 1
            last = _held[key] == 0
            if last:
                del _held[key]
                owned = key in _owned
                _owned.discard(key)
                if owned:
                    _advertise(key, None)
        if last and owned:
            _release(lock)


def holder(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The record of the live process holding the lock of folder ``path`` (pid, host, command,
    what, started), or None when nobody does."""
    lock = lock_file(path)
    record = _read(lock)
    return record if record is not None and _alive(record, lock) else None


# --- acquiring and releasing ----------------------------------------------------------------------


def _record(what: str) -> dict[str, Any]:
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


def _acquire(lock: Path, target: Path, what: str) -> bool:
    """Create ``lock`` for this process (True), accept it as inherited from a parent (False), or
    raise :class:`BusyError`. A stale lock is taken over; a few tries cover a race with another
    process taking the same stale lock over."""
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _raise_disk_error(exc, target)
    payload = json.dumps(_record(what)) + "\n"
    for _ in range(50):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            pass
        except OSError as exc:
            _raise_disk_error(exc, target)
        else:
            try:
                with os.fdopen(fd, "w") as handle:
                    handle.write(payload)
            except OSError as exc:
                with contextlib.suppress(OSError):
                    lock.unlink()
                _raise_disk_error(exc, target)
            return True
        text, record = _read_text(lock)
        if text is None:  # removed between our try and our read: try again
            continue
        if record is not None and _alive(record, lock):
            if _inherited(lock, record):
                return False
            raise BusyError(_busy_message(target, lock, record))
        if record is None and _young(lock):  # being written this very moment by its creator
            time.sleep(0.02)
            continue
        _take_over(lock, text)
    raise BusyError(f"{_shown(target)}: could not take its lock {lock} (other processes keep taking it); "
                    "wait a moment and run again")


def _raise_disk_error(exc: OSError, target: Path) -> NoReturn:
    """Re-raise ``exc`` met writing the lock of ``target``: one line for a full or read-only disk."""
    error = disk_error(exc, target, verb="lock")
    if error is None:
        raise exc
    raise error from exc


def _release(lock: Path) -> None:
    """Remove our lock file, unless another process has (wrongly) taken it over meanwhile."""
    record = _read(lock)
    if record is not None and record.get("pid") == os.getpid() and record.get("host") == socket.gethostname():
        with contextlib.suppress(OSError):
            lock.unlink()


def _take_over(lock: Path, stale_text: str) -> None:
    """Remove a stale lock file, guarded by a claim file so that of two processes taking over the
    same stale lock only one removes it (the other must not remove the first one's new lock)."""
    claim = lock.with_name(lock.name + ".takeover")
    try:
        fd = os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        with contextlib.suppress(OSError):
            if time.time() - claim.stat().st_mtime > _CLAIM_STALE_SECONDS:
                claim.unlink()
        time.sleep(0.02)
        return
    os.close(fd)
    try:
        text, _ = _read_text(lock)
        if text == stale_text:
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()
    finally:
        with contextlib.suppress(OSError):
            claim.unlink()


# --- reading and judging a lock file --------------------------------------------------------------


def _read_text(lock: Path) -> tuple[str | None, dict[str, Any] | None]:
    """The lock file's text (None when it is gone) and its record (None when it is not one)."""
    try:
        text = lock.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return None, None
    except OSError:
        return "", None
    try:
        record = json.loads(text)
    except json.JSONDecodeError:
        return text, None
    if not isinstance(record, dict) or not isinstance(record.get("pid"), int) or isinstance(record["pid"], bool):
        return text, None
    return text, record


def _read(lock: Path) -> dict[str, Any] | None:
    return _read_text(lock)[1]


def _young(lock: Path) -> bool:
    """Whether ``lock`` was created under a second ago (its creator may still be writing it)."""
    try:
        return time.time() - lock.stat().st_mtime < 1.0
    except OSError:
        return False


def _alive(record: dict[str, Any], lock: Path) -> bool:
    """Whether the process of ``lock``'s ``record`` still runs. On another host it cannot be
    checked: assume so. On this one the process must exist, not be a zombie, and be no younger
    than the lock (else its id was reused after the holder died or the machine restarted); a lock
    naming this very process is alive only while this process holds it (else an earlier process
    with the same id, common in containers, left it)."""
    if record.get("host") != socket.gethostname():
        return True
    pid = record["pid"]
    if pid == os.getpid():
        return str(lock) in _owned
    import psutil

    try:
        process = psutil.Process(pid)
        created = process.create_time()
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
    except psutil.NoSuchProcess:  # ZombieProcess included
        return False
    except (psutil.AccessDenied, OSError):
        return True
    started = record.get("time")
    return not isinstance(started, int | float) or created <= started + 1.0


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


def _shown(path: Path) -> str:
    from galaxy_lib.config import display_path

    return display_path(path)


def _busy_message(target: Path, lock: Path, record: dict[str, Any]) -> str:
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
    if host != socket.gethostname():
        return (f"{_shown(target)} is in use by process {record['pid']} on host {host} ({detail}); wait for it or "
                f"stop it (if it is gone, delete {lock})")
    return f"{_shown(target)} is in use by process {record['pid']} ({detail}); wait for it or stop it"
