"""``make lab`` (``python -m galaxy_lib lab``): register the project's Jupyter kernel, start JupyterLab.

The kernel spec ``galaxy-lib`` runs this interpreter (the one holding the package). It is written
once: an identical spec is left alone, a stale one (another Python, e.g. after the ``.venv`` moved)
is rewritten. It goes to the user's Jupyter folder, where every Jupyter front end finds it; where
the home folder cannot be written (a read-only home in a container, a full disk) it goes to this
environment's own ``share/jupyter/kernels`` instead, which JupyterLab started from here also reads.

JupyterLab is started on this interpreter with the notebooks folder as its root, on 127.0.0.1
unless told otherwise, ``galaxy-lib`` as the default kernel (new notebooks, the launcher) and the
committed notebooks' own kernel name (``python3``, kept so that saving them leaves no diff) made to
run this interpreter too. As root, the usual case in Docker images, cloud notebooks and CI boxes,
JupyterLab refuses to start without ``--allow-root``; it is added, with a one-line note.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from galaxy_lib.errors import DISK_ERRNOS, ConfigError, DiskError
from galaxy_lib.paths import atomic_write_text, display_path, project_root
from galaxy_lib.report.kernels import current_python_spec, kernel_environment, spec_runs_current_python, temporary_spec

KERNEL_NAME = "galaxy-lib"
DISPLAY_NAME = "Python (galaxy-lib)"
NOTEBOOK_KERNEL = "python3"  # the kernelspec name the committed notebooks carry (metadata.kernelspec.name)
DEFAULT_IP = "127.0.0.1"  # only this machine; a container's users pass --ip 0.0.0.0 knowingly


@dataclass(frozen=True)
class Registration:
    """Where the kernel spec is and what registering it did.

    ``action`` is ``"unchanged"`` (an identical spec was there), ``"written"`` (none was) or
    ``"updated"`` (a different one was replaced); ``fallback`` says why the user's folder was not
    used (empty when it was); ``shadowed_by`` names another ``galaxy-lib`` spec that Jupyter
    finds first and that runs another command (empty when there is none).
    """

    path: Path
    action: str
    fallback: str = ""
    shadowed_by: str = ""

    def describe(self) -> str:
        """One line for the terminal."""
        where = display_path(self.path)
        line = f"Jupyter kernel {KERNEL_NAME!r} ({DISPLAY_NAME}): {self.action} at {where}"
        if self.fallback:
            line += f" (the user's Jupyter folder could not be written: {self.fallback})"
        if self.shadowed_by:
            line += (f"; warning: {display_path(self.shadowed_by)} runs another Python and Jupyter finds it "
                     "first, remove it")
        return line


def kernel_spec() -> dict:
    """The ``kernel.json`` of the project's kernel: ipykernel on this interpreter."""
    spec = current_python_spec(DISPLAY_NAME)
    if importlib.util.find_spec("debugpy") is not None:
        spec["metadata"] = {"debugger": True}  # JupyterLab shows its debugger only for kernels that say so
    return spec


def user_kernels_dir() -> Path:
    """``jupyter kernelspec install --user``'s folder (``$JUPYTER_DATA_DIR/kernels`` when set)."""
    from jupyter_core.paths import jupyter_data_dir

    return Path(jupyter_data_dir()) / "kernels"


def env_kernels_dir() -> Path:
    """``--sys-prefix``'s folder: this environment's own, read by Jupyter started from it."""
    return Path(sys.prefix) / "share" / "jupyter" / "kernels"


def _disk_errno(exc: BaseException) -> int | None:
    """The errno of a full, read-only or forbidden disk, else None (other errors are bugs); a
    :class:`DiskError` from :func:`atomic_write_text` is an ``OSError`` with the same errno."""
    number = getattr(exc, "errno", None)
    return number if isinstance(exc, OSError) and number in DISK_ERRNOS else None


def _read_spec(path: Path) -> dict | None:
    """The spec at ``path``, or None when it is missing or unreadable (it is then rewritten)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _install(folder: Path, spec: dict) -> str:
    """Write ``spec`` into ``folder`` unless an identical one is there; the action taken."""
    target = folder / "kernel.json"
    existing = _read_spec(target)
    if existing == spec:
        return "unchanged"
    resources = Path(importlib.util.find_spec("ipykernel").origin).parent / "resources"  # the launcher's logos
    for logo in sorted(resources.glob("logo-*")) if resources.is_dir() else []:
        if not (folder / logo.name).is_file():
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(logo, folder / logo.name)
    existed = target.exists()
    atomic_write_text(target, json.dumps(spec, indent=1) + "\n")
    return "updated" if existed else "written"


def register_kernel() -> Registration:
    """Register ``galaxy-lib`` for this interpreter: the user's folder, else this environment's.

    Idempotent: nothing is written when an identical spec is already there. A full, read-only or
    forbidden user folder falls back to :func:`env_kernels_dir`; when both fail, a one-line
    :class:`~galaxy_lib.errors.DiskError` names both.
    """
    spec = kernel_spec()
    user = user_kernels_dir() / KERNEL_NAME
    try:
        registration = Registration(user, _install(user, spec))
    except OSError as exc:
        number = _disk_errno(exc)
        if number is None:
            raise
        reason = DISK_ERRNOS[number].partition(";")[0]
        env = env_kernels_dir() / KERNEL_NAME
        try:
            registration = Registration(env, _install(env, spec), fallback=reason)
        except OSError as exc2:
            number2 = _disk_errno(exc2)
            if number2 is None:
                raise
            error = DiskError(f"cannot register the Jupyter kernel {KERNEL_NAME!r}: {display_path(user)}: {reason}; "
                              f"{display_path(env)}: {DISK_ERRNOS[number2].partition(';')[0]}; make one of them "
                              "writable")
            error.errno = number2
            raise error from exc2
    return Registration(registration.path, registration.action, registration.fallback, _shadow(registration.path, spec))


def _shadow(folder: Path, spec: dict) -> str:
    """Another ``galaxy-lib`` spec that Jupyter finds before ``folder`` and that differs from ours."""
    from jupyter_client.kernelspec import KernelSpecManager

    found = KernelSpecManager().find_kernel_specs().get(KERNEL_NAME)
    if not found or Path(found).resolve() == folder.resolve():
        return ""
    return "" if _read_spec(Path(found) / "kernel.json") == spec else str(Path(found) / "kernel.json")


def is_root() -> bool:
    """Whether this process runs as root (JupyterLab's own test: the effective uid is 0)."""
    geteuid = getattr(os, "geteuid", None)  # absent on Windows, where JupyterLab does not check
    return geteuid is not None and geteuid() == 0


def lab_command(notebooks: Path, *, port: int | None = None, ip: str = DEFAULT_IP, open_browser: bool = True,
                extra: Sequence[str] = (), root: bool | None = None) -> list[str]:
    """JupyterLab's command line. ``port`` None is Jupyter's default (8888, else the next free one
    of 50), 0 any free port; ``extra`` comes last, so it overrides the options set here."""
    if port is not None and not 0 <= port <= 65535:
        raise ConfigError(f"--port {port}: a port is 0 (any free one) to 65535")
    command = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={notebooks}", f"--ServerApp.ip={ip}",
               f"--MappingKernelManager.default_kernel_name={KERNEL_NAME}"]
    if port is not None:
        command.append(f"--ServerApp.port={port}")
    if not open_browser:
        command.append("--no-browser")
    if (is_root() if root is None else root) and "--allow-root" not in extra:
        command.append("--allow-root")
    return [*command, *extra]


ANNOUNCEMENTS = "@jupyterlab/apputils-extension:announcements"


@contextlib.contextmanager
def announcements_off() -> Iterator[dict[str, str]]:
    """Environment variables that disable JupyterLab's announcements plugin for one launch.

    That plugin asks every new user "Would you like to get notified about official Jupyter news?"
    (it does so whenever news fetching is unset, whatever ``LabApp.news_url`` says), which in a
    classroom is a question per student before the first notebook. A ``labconfig/page_config.json``
    that lists it in ``disabledExtensions`` goes into a temporary folder put first on
    ``JUPYTER_CONFIG_PATH`` for the Lab's lifetime: the user's own Jupyter settings are not touched,
    and a Lab started otherwise still shows the prompt."""
    import json
    import tempfile

    with tempfile.TemporaryDirectory(prefix="galaxy-lib-lab-") as folder:
        config = Path(folder) / "labconfig" / "page_config.json"
        config.parent.mkdir()
        config.write_text(json.dumps({"disabledExtensions": {ANNOUNCEMENTS: True}}))
        path = os.pathsep.join(p for p in (folder, os.environ.get("JUPYTER_CONFIG_PATH", "")) if p)
        yield {"JUPYTER_CONFIG_PATH": path}


@contextlib.contextmanager
def notebook_kernel_path() -> Iterator[dict[str, str]]:
    """Environment variables making the notebooks' ``python3`` run this interpreter in the Lab.

    Usually it already does (Jupyter started from a venv reads the venv's ``python3`` first, and
    its bare ``python`` means the server's interpreter); where another Python's user-wide
    ``python3`` spec comes first, a ``python3`` spec for this interpreter is put before it on
    ``JUPYTER_PATH`` for the Lab's lifetime. The user's own files are not touched.
    """
    if spec_runs_current_python(NOTEBOOK_KERNEL):
        yield {}
        return
    spec = {**kernel_spec(), "display_name": "Python 3 (ipykernel)"}  # the notebooks' own display name
    with temporary_spec(NOTEBOOK_KERNEL, spec, "galaxy-lib-lab-") as env:
        yield env


def run_lab(*, port: int | None = None, ip: str = DEFAULT_IP, open_browser: bool = True,
            extra: Sequence[str] = (), notebooks: Path | None = None) -> int:
    """Register the kernel, start JupyterLab and wait for it; its exit status.

    Ctrl-C is left to JupyterLab (it asks before shutting down); a SIGTERM to this process is
    passed on to it, so that stopping ``make lab`` stops the server too.
    """
    if importlib.util.find_spec("jupyterlab") is None:
        raise ConfigError(f"JupyterLab is not installed for {sys.executable}: pip install jupyterlab "
                          "(or `make venv`)")
    notebooks = (notebooks or project_root() / "notebooks").resolve()
    if not notebooks.is_dir():
        raise ConfigError(f"no notebooks folder at {display_path(notebooks)}: run from the project folder "
                          "(or set GALAXY_LIB_ROOT)")
    print(register_kernel().describe(), flush=True)
    root = is_root()
    command = lab_command(notebooks, port=port, ip=ip, open_browser=open_browser, extra=extra, root=root)
    if root:
        print("note: running as root, so JupyterLab is started with --allow-root", flush=True)
    with kernel_environment(), notebook_kernel_path() as extra_env, announcements_off() as quiet_env:
        process = subprocess.Popen(command, env={**os.environ, **extra_env, **quiet_env})
        return _wait(process)


def _wait(process: subprocess.Popen) -> int:
    """Wait for JupyterLab with Ctrl-C ignored here (it handles its own) and SIGTERM forwarded."""
    main = threading.current_thread() is threading.main_thread()
    saved = {}
    if main:
        saved[signal.SIGINT] = signal.signal(signal.SIGINT, signal.SIG_IGN)
        saved[signal.SIGTERM] = signal.signal(signal.SIGTERM, lambda *_: process.terminate())
    try:
        code = process.wait()
    finally:
        for number, handler in saved.items():
            signal.signal(number, handler)
        if process.poll() is None:  # an error in this process: never leave the server behind
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
    return 128 - code if code < 0 else code  # killed by a signal: the shell's 128 + number


__all__ = ["DEFAULT_IP", "DISPLAY_NAME", "KERNEL_NAME", "NOTEBOOK_KERNEL", "Registration", "env_kernels_dir",
           "is_root", "kernel_spec", "lab_command", "notebook_kernel_path", "register_kernel", "run_lab",
           "user_kernels_dir"]
