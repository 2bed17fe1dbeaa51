"""Where the project is, how paths are shown, and how files are written: the file helpers.

:mod:`galaxy_lib.config` reads paths relative to the project root, reports and messages show them
relative to it (:func:`display_path`), and every module that writes a file does so through
:func:`atomic_path` / :func:`atomic_write_text` (records as JSON: :func:`atomic_write_json`, read
back by :func:`read_json_object`), so a crash never leaves half a file. A full,
read-only or forbidden disk met while writing is a one-line :class:`~galaxy_lib.errors.DiskError`
naming the file (:func:`writing`, :func:`disk_error`). :func:`replace_folder` is the one "build a
folder beside, then swap it in" step shared by the synthetic sky, its zipped form and the report.

Only :mod:`galaxy_lib.errors` (the exception classes, which import nothing of the package) is
imported, so every other module, the configuration included, can import these helpers.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from galaxy_lib.errors import DISK_ERRNOS, DiskError


def project_root() -> Path:
    """The project folder (holding ``parameters/``): ``$GALAXY_LIB_ROOT``, else the nearest
    folder at or above the current one that has ``parameters/`` and ``pyproject.toml``, else
    the current folder. Notebooks run from ``notebooks/`` and the CLI from the root, and both
    must read ``data: data/synthetic`` as the same folder."""
    env = os.environ.get("GALAXY_LIB_ROOT")
    if env:
        return Path(env).resolve()
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "parameters").is_dir() and (folder / "pyproject.toml").is_file():
            return folder
    return here


def resolve_path(path: str | os.PathLike[str]) -> Path:
    """An absolute path: relative ones are taken from :func:`project_root`."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else (project_root() / p).resolve()


def display_path(path: str | os.PathLike[str], root: str | os.PathLike[str] | None = None, *,
                 beside: bool = False) -> str:
    """``path`` as a report, a stored result or a printed line should show it: relative to the
    project (``root``, default :func:`project_root`) when it lies inside it, else as given. A
    report rendered on a CI runner or a student's laptop must not carry that machine's folders,
    and relative paths are read from the project root anyway (:func:`resolve_path`), so the short
    form names the same file. With ``beside``, a path in a folder beside the project is shown as
    ``../<folder>/...`` too (the shared data, ``../shared/data/galaxy-zoo-sample``, in stored results).

    The path is compared as given (made absolute and normalised, links left alone) before it is
    compared resolved: with ``../shared`` a symbolic link to another disk, or ``data/`` a link
    inside the project, the resolved path lies outside and would show the link's target, a folder
    of this machine only. The resolved comparison still catches the project reached through a
    link (``/tmp`` -> ``/private/tmp`` on macOS). Never raises: a path it cannot interpret is
    returned as ``str(path)``."""
    try:
        text = os.fspath(path)
        if not text:
            return ""
        base = Path(root).expanduser() if root is not None else project_root()
        given = Path(text).expanduser()
        absolute = Path(os.path.normpath(given if given.is_absolute() else Path.cwd() / base / given))
        candidates = (absolute, absolute.resolve())
        bases = dict.fromkeys((Path(os.path.normpath(Path.cwd() / base)), base.resolve()))
        places = [(folder, "") for folder in bases]
        if beside:
            places += [(folder.parent, "..") for folder in bases]
        for folder, prefix in places:  # the project before the folder beside it, as given before resolved
            for candidate in candidates:
                if candidate.is_relative_to(folder):
                    return str(Path(prefix or ".", candidate.relative_to(folder)))
        return text
    except (OSError, TypeError, ValueError, RuntimeError):
        return str(path)


def read_json_object(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON object in ``path``, or ``{}`` when the file is missing, unreadable, not JSON or
    not an object: the reading side of :func:`atomic_write_text` for records that may be absent.

    Records written by other processes (a killed training, a half-copied report, a lock file being
    written, a checkpoint from an older version) must not stop a report, the index or a resume;
    the caller decides what a missing key means (a dash, "not resumable", "nobody holds it").
    """
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def replace_folder(staging: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    """Rename the finished folder ``staging`` to ``target``, replacing an earlier ``target``.

    Renames only, so a reader sees either the old folder or the new one, never a half-made one:
    the old folder is moved aside to ``.<name>.old-<pid>`` first and removed only once the new one
    is in place; when the rename fails it is put back and the error goes on (``staging`` is the
    caller's to clean). ``staging`` must lie on ``target``'s file system, hence "beside" it.
    """
    staging, target = Path(staging), Path(target)
    if not target.exists():
        os.replace(staging, target)
        return
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    shutil.rmtree(old, ignore_errors=True)  # left by an earlier process of this pid
    os.replace(target, old)
    try:
        os.replace(staging, target)
    except BaseException:
        with contextlib.suppress(OSError):  # the rename's error matters more than this one's
            os.replace(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


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


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write to; on success it is renamed into place,
    on any error removed, so a crash never leaves a half-written file where a good one was.
    ``suffix`` keeps the extension that some writers insist on (``.png``, ``.keras``).

    A full, read-only or forbidden disk, met here or by the writer in the block, is a one-line
    :class:`~galaxy_lib.errors.DiskError` naming ``path`` (not the temporary name)."""
    path = Path(path)
    with writing(path, note="any earlier file there is unchanged"):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
        os.close(fd)
        tmp = Path(name)
        try:
            yield tmp
            os.chmod(tmp, 0o644)  # mkstemp makes files private; run and report files are meant to be read
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):  # on a read-only disk even this may fail; the error matters
                tmp.unlink(missing_ok=True)
            raise


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` through :func:`atomic_path`."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def atomic_write_json(path: str | os.PathLike[str], value: Any, *, indent: int | None = 2,
                      default: Callable[[Any], Any] | None = None) -> None:
    """Write ``value`` as JSON to ``path`` through :func:`atomic_path`: the project's records
    (metrics, summaries, setups, checkpoints) in one layout, indented by ``indent`` (None: one
    line) and ending in a newline; ``default`` as for :func:`json.dumps`. Read them back with
    :func:`read_json_object`."""
    atomic_write_text(path, json.dumps(value, indent=indent, default=default) + "\n")
