"""Which Jupyter kernel runs the notebooks, and what it inherits from the runner.

papermill starts a kernel by the name of a kernel spec. The report must run on the interpreter
that holds this package (a fresh ``.venv`` under a user-wide ``python3`` spec of another Python
would otherwise import the wrong library), or on a kernel the user names (e.g. a GPU machine's).
Kernels inherit the runner's environment variables, which is how they learn the project root.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from galaxy_lib.errors import ReportError
from galaxy_lib.paths import project_root

PRIVATE_KERNEL = "galaxy-lib-current"  # kernel spec we write when no spec runs this interpreter
_PYTHON_NAMES = {"python", f"python{sys.version_info[0]}", "python{}.{}".format(*sys.version_info[:2])}


@contextlib.contextmanager
def kernel_spec(kernel: str | None) -> Iterator[str]:
    """Yield a kernel name papermill can start.

    A named kernel must exist (the error lists the ones that do). Without a name we want the
    interpreter running this code: the stock ``python3`` spec means exactly that when its command
    is a bare ``python`` (jupyter_client substitutes ``sys.executable``); otherwise, e.g. a fresh
    ``.venv`` under a user-wide ``python3`` spec of another Python, we register a private spec in
    a temporary Jupyter data folder for the duration of the run.
    """
    from jupyter_client.kernelspec import KernelSpecManager

    manager = KernelSpecManager()
    if kernel:
        available = sorted(manager.find_kernel_specs())
        if kernel not in available:
            raise ReportError(f"Jupyter kernel {kernel!r} not found; available: {', '.join(available) or 'none'}")
        yield kernel
        return
    if spec_runs_current_python("python3", manager):
        yield "python3"
        return
    spec = current_python_spec(f"Python ({sys.executable})")
    with temporary_spec(PRIVATE_KERNEL, spec, "galaxy-lib-kernels-") as env, _environ(**env):
        yield PRIVATE_KERNEL


def spec_runs_current_python(name: str, manager: Any = None) -> bool:
    """Whether the kernel spec ``name`` Jupyter finds first starts this interpreter (False when none)."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        argv = (manager or KernelSpecManager()).get_kernel_spec(name).argv
    except NoSuchKernel:
        argv = []
    return runs_current_python(argv)


@contextlib.contextmanager
def temporary_spec(name: str, spec: dict, prefix: str) -> Iterator[dict[str, str]]:
    """Write ``spec`` as kernel ``name`` in a temporary Jupyter data folder for the block and yield the
    environment (``JUPYTER_PATH``) that puts it before every other spec of that name. The user's own
    kernel folders are not touched; the report's private kernel and the Lab's ``python3`` both use it."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        folder = Path(tmp) / "kernels" / name
        folder.mkdir(parents=True)
        (folder / "kernel.json").write_text(json.dumps(spec, indent=1))
        yield {"JUPYTER_PATH": os.pathsep.join(p for p in (tmp, os.environ.get("JUPYTER_PATH", "")) if p)}


def runs_current_python(argv: list[str]) -> bool:
    """Whether a kernel spec's command starts the interpreter running this code: a bare ``python``
    (jupyter_client substitutes ``sys.executable``) or this very executable."""
    return bool(argv) and (argv[0] in _PYTHON_NAMES or os.path.abspath(argv[0]) == os.path.abspath(sys.executable))


def current_python_spec(display_name: str) -> dict:
    """A kernel spec (``kernel.json`` content) that starts ipykernel on this interpreter; shared
    by the report's private kernel and ``galaxy_lib.report.lab``'s registered one."""
    return {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": display_name,
        "language": "python",
    }


@contextlib.contextmanager
def _environ(**values: str) -> Iterator[None]:
    """Set environment variables for the block (kernels inherit them), then restore them."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def kernel_environment() -> contextlib.AbstractContextManager[None]:
    """What the kernel must share with the runner: the project root and quiet TensorFlow logs."""
    return _environ(
        GALAXY_LIB_ROOT=str(project_root()),
        TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
        MPLBACKEND=os.environ.get("MPLBACKEND", "module://matplotlib_inline.backend_inline"),
    )
