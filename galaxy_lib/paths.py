"""Where the project is, and how paths are shown: the dependency-free bottom of the core.

:mod:`galaxy_lib.errors` names files in its one-line messages and :mod:`galaxy_lib.config` reads
paths relative to the project root; both need these functions, so they live below both (the
configuration re-exports them, ``config.display_path`` being the name most callers know).
:func:`replace_folder` is the one "build a folder beside, then swap it in" step shared by the
synthetic sky, its zipped form and the report.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path


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


def display_path(path: str | os.PathLike[str]) -> str:
    """``path`` as a report or a printed line should show it: relative to :func:`project_root`
    when it lies inside the project, else as given. A report rendered on a CI runner or a
    student's laptop must not carry that machine's folders, and relative paths are read from
    the project root anyway (:func:`resolve_path`), so the short form names the same file.
    Never raises: a path it cannot interpret is returned as ``str(path)``."""
    try:
        text = os.fspath(path)
        if not text:
            return ""
        absolute = resolve_path(text)
        root = project_root()
        for candidate in (absolute, absolute.resolve()):  # also through symlinks (/tmp -> /private/tmp)
            if candidate.is_relative_to(root):
                return str(candidate.relative_to(root))
        return text
    except (OSError, TypeError, ValueError, RuntimeError):
        return str(path)


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
