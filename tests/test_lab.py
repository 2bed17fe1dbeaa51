"""``make lab`` / ``python -m galaxy_lib lab``: the command line, the kernel registration and a real
JupyterLab started as root and as a normal user (on 127.0.0.1, stopped again, nothing left behind)."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import ClassVar

import pytest

from galaxy_lib import cli
from galaxy_lib.errors import ConfigError, DiskError
from galaxy_lib.report import lab

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def jupyter_dirs(tmp_path, monkeypatch) -> Path:
    """A private Jupyter data folder (the ``--user`` kernels go there) and environment folder."""
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("JUPYTER_PATH", raising=False)
    monkeypatch.setattr(lab, "env_kernels_dir", lambda: tmp_path / "env" / "kernels")  # never the real .venv
    return tmp_path


# --- the command line ------------------------------------------------------------------------


def test_command_as_root_adds_allow_root(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 0, raising=False)
    command = lab.lab_command(Path("/nb"))
    assert command[:3] == [sys.executable, "-m", "jupyterlab"]
    assert "--allow-root" in command
    assert "--ServerApp.ip=127.0.0.1" in command  # this machine only by default
    assert "--ServerApp.root_dir=/nb" in command
    assert f"--MappingKernelManager.default_kernel_name={lab.KERNEL_NAME}" in command
    assert not any(arg.startswith("--ServerApp.port=") for arg in command)  # Jupyter's own default and retries
    assert "--no-browser" not in command


def test_command_as_user_has_no_allow_root(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000, raising=False)
    assert "--allow-root" not in lab.lab_command(Path("/nb"))
    assert lab.lab_command(Path("/nb"), root=True).count("--allow-root") == 1
    # a user who already asked for it does not get it twice
    assert lab.lab_command(Path("/nb"), root=True, extra=["--allow-root"]).count("--allow-root") == 1


def test_options_are_passed_through_and_extra_args_come_last(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000, raising=False)
    extra = ["--IdentityProvider.token=abc", "--ServerApp.ip=0.0.0.0"]
    command = lab.lab_command(Path("/nb"), port=8890, ip="::1", open_browser=False, extra=extra)
    assert "--ServerApp.port=8890" in command and "--ServerApp.ip=::1" in command and "--no-browser" in command
    assert command[-2:] == extra  # later options win in traitlets, so the user's override ours
    assert "--ServerApp.port=0" in lab.lab_command(Path("/nb"), port=0)  # 0: any free port
    with pytest.raises(ConfigError, match="--port 70000"):
        lab.lab_command(Path("/nb"), port=70000)


def test_cli_lab_verb_forwards_its_options(monkeypatch):
    seen = {}
    monkeypatch.setattr(lab, "run_lab", lambda **kwargs: seen.update(kwargs) or 0)
    assert cli.main(["lab", "--port", "8890", "--no-browser", "--", "--ServerApp.x=1", "--flag"]) == 0
    assert seen == {"port": 8890, "ip": "127.0.0.1", "open_browser": False, "extra": ["--ServerApp.x=1", "--flag"]}
    assert cli.main(["lab"]) == 0
    assert seen == {"port": None, "ip": "127.0.0.1", "open_browser": True, "extra": []}


class _FakeLab:
    """Stands in for the JupyterLab process: records its command and exits at once."""

    started: ClassVar[list[tuple[list[str], dict]]] = []

    def __init__(self, command, env):
        _FakeLab.started.append((command, env))

    def wait(self):
        return 0

    def poll(self):
        return 0


def fake_lab_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """``lab``'s ``subprocess`` becomes a copy whose ``Popen`` is :class:`_FakeLab`. The real module is
    left alone: a library imported meanwhile (``from subprocess import Popen``) would otherwise keep
    the fake for the rest of the process, and a later test in it would start its kernels with it."""
    import types

    fake = types.ModuleType("subprocess")
    fake.__dict__.update(vars(subprocess))
    fake.Popen = _FakeLab
    monkeypatch.setattr(lab, "subprocess", fake)


@pytest.mark.parametrize("euid", [0, 1000])
def test_run_lab_registers_notes_root_and_starts_lab(jupyter_dirs, monkeypatch, capsys, euid):
    monkeypatch.setattr(os, "geteuid", lambda: euid, raising=False)
    fake_lab_process(monkeypatch)
    _FakeLab.started.clear()
    assert lab.run_lab(port=0, open_browser=False, notebooks=REPO / "notebooks") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"Jupyter kernel {lab.KERNEL_NAME!r}") and "written" in out[0]
    assert ("note: running as root, so JupyterLab is started with --allow-root" in out) == (euid == 0)
    assert len(out) == (2 if euid == 0 else 1)
    (command, env), = _FakeLab.started
    assert subprocess.Popen is not _FakeLab  # nothing else in this process starts a fake
    assert ("--allow-root" in command) == (euid == 0)
    assert env["GALAXY_LIB_ROOT"]  # the notebooks' kernels find the project's parameters/ and data/
    assert (jupyter_dirs / "data" / "kernels" / lab.KERNEL_NAME / "kernel.json").is_file()


def test_run_lab_names_a_missing_notebooks_folder(tmp_path):
    with pytest.raises(ConfigError, match="no notebooks folder"):
        lab.run_lab(notebooks=tmp_path / "nowhere")


# --- kernel registration -------------------------------------------------------------------


def test_registration_is_idempotent_and_updates_a_stale_spec(jupyter_dirs, monkeypatch):
    first = lab.register_kernel()
    spec_file = jupyter_dirs / "data" / "kernels" / lab.KERNEL_NAME / "kernel.json"
    assert first.path == spec_file.parent and first.action == "written" and not first.fallback
    spec = json.loads(spec_file.read_text())
    assert spec["argv"][0] == sys.executable and spec["display_name"] == lab.DISPLAY_NAME
    assert (spec_file.parent / "logo-64x64.png").is_file()  # the launcher's icon, as ipykernel installs it

    before = spec_file.stat().st_mtime_ns

    def no_write(*args, **kwargs):
        raise AssertionError("an identical kernel spec was rewritten")

    with monkeypatch.context() as patch:
        patch.setattr(lab, "atomic_write_text", no_write)
        patch.setattr(lab.shutil, "copyfile", no_write)
        assert lab.register_kernel().action == "unchanged"
    assert spec_file.stat().st_mtime_ns == before

    spec_file.write_text(json.dumps({**spec, "argv": ["/old/venv/bin/python", *spec["argv"][1:]]}))  # .venv moved
    assert lab.register_kernel().action == "updated"
    assert json.loads(spec_file.read_text())["argv"][0] == sys.executable
    assert not (jupyter_dirs / "env").exists()


def _refuse_writes_under(monkeypatch, folder: Path, exc: OSError) -> None:
    """Make every write of the registration under ``folder`` fail with ``exc`` (we are root, so a
    read-only mode would not stop us)."""
    real_write, real_copy = lab.atomic_write_text, lab.shutil.copyfile

    def write(path, text):
        if Path(path).is_relative_to(folder):
            raise exc
        return real_write(path, text)

    def copy(src, dst, *args, **kwargs):
        if Path(dst).is_relative_to(folder):
            raise exc
        return real_copy(src, dst, *args, **kwargs)

    monkeypatch.setattr(lab, "atomic_write_text", write)
    monkeypatch.setattr(lab.shutil, "copyfile", copy)


@pytest.mark.parametrize("exc", [OSError(errno.EROFS, "Read-only file system"),
                                 PermissionError(errno.EACCES, "Permission denied"),
                                 DiskError("cannot write x: the disk is full")])
def test_unwritable_home_falls_back_to_the_environment(jupyter_dirs, monkeypatch, exc):
    if isinstance(exc, DiskError):
        exc.errno = errno.ENOSPC  # what galaxy_lib.paths.atomic_path raises for a full disk
    _refuse_writes_under(monkeypatch, jupyter_dirs / "data", exc)
    registration = lab.register_kernel()
    assert registration.path == jupyter_dirs / "env" / "kernels" / lab.KERNEL_NAME
    assert registration.action == "written" and registration.fallback
    assert json.loads((registration.path / "kernel.json").read_text())["argv"][0] == sys.executable
    assert "could not be written" in registration.describe()
    assert not (jupyter_dirs / "data" / "kernels" / lab.KERNEL_NAME / "kernel.json").exists()
    assert lab.register_kernel().action == "unchanged"  # idempotent in the fallback folder too


def test_both_folders_unwritable_is_one_line_naming_both(jupyter_dirs, monkeypatch, capsys):
    _refuse_writes_under(monkeypatch, jupyter_dirs, OSError(errno.EROFS, "Read-only file system"))
    with pytest.raises(DiskError) as caught:
        lab.register_kernel()
    message = str(caught.value)
    assert "\n" not in message and "data" in message and "env" in message and "read-only" in message
    monkeypatch.setattr(lab, "project_root", lambda: REPO)
    fake_lab_process(monkeypatch)  # a bug here must not start a real server
    assert cli.main(["lab", "--no-browser"]) == 2  # the CLI's one `error:` line, status 2
    assert capsys.readouterr().err.startswith("error: cannot register the Jupyter kernel")


def test_other_errors_are_not_mistaken_for_a_read_only_home(jupyter_dirs, monkeypatch):
    _refuse_writes_under(monkeypatch, jupyter_dirs / "data", OSError(errno.EIO, "I/O error"))
    with pytest.raises(OSError) as caught:
        lab.register_kernel()
    assert caught.value.errno == errno.EIO and not (jupyter_dirs / "env").exists()


# --- the notebooks' own kernel ----------------------------------------------------------------


def test_committed_notebooks_use_the_kernel_name_the_lab_provides():
    names = {json.loads(path.read_text())["metadata"]["kernelspec"]["name"]
             for path in sorted((REPO / "notebooks").glob("*.ipynb"))}
    assert names == {lab.NOTEBOOK_KERNEL}


def test_notebook_kernel_runs_this_python_even_when_another_python3_comes_first(tmp_path, monkeypatch):
    from jupyter_client.kernelspec import KernelSpecManager

    monkeypatch.delenv("JUPYTER_PATH", raising=False)
    with lab.notebook_kernel_path() as env:
        assert env == {}  # this venv's python3 already runs this interpreter
    other = tmp_path / "other" / "kernels" / "python3"
    other.mkdir(parents=True)
    (other / "kernel.json").write_text(json.dumps({"argv": ["/usr/bin/python9", "-m", "ipykernel_launcher", "-f",
                                                            "{connection_file}"], "display_name": "Python 3",
                                                   "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "other"))
    assert KernelSpecManager().get_kernel_spec("python3").argv[0] == "/usr/bin/python9"
    with lab.notebook_kernel_path() as env:
        assert env["JUPYTER_PATH"].endswith(str(tmp_path / "other"))
        monkeypatch.setenv("JUPYTER_PATH", env["JUPYTER_PATH"])
        assert KernelSpecManager().get_kernel_spec("python3").argv[0] == sys.executable


# --- a real JupyterLab, as root and as a normal user ----------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=3) as response:
        return json.load(response)


def _as_root() -> tuple[list[str], dict]:
    """How to run the CLI as root (uid 0): as we are, or in a user namespace mapping us to 0."""
    if os.geteuid() == 0:
        return [], {}
    if shutil.which("unshare") and subprocess.run(["unshare", "--user", "--map-root-user", "true"]).returncode == 0:
        return ["unshare", "--user", "--map-root-user"], {}
    pytest.skip("not root, and no user namespace to become uid 0 in")


def _as_normal_user(home: Path) -> tuple[list[str], dict]:
    """How to run the CLI as a normal user: dropped to ``nobody`` when this interpreter is readable
    to it, else (e.g. a Python under root's private home) in a user namespace with a non-zero uid,
    which is what JupyterLab checks; skipped when neither is possible."""
    if os.geteuid() != 0:
        return [], {}
    import pwd

    reasons = []
    try:
        nobody = pwd.getpwnam("nobody")
        kwargs = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}
        probe = subprocess.run([sys.executable, "-c", "import galaxy_lib, jupyterlab"], cwd=REPO,
                               capture_output=True, text=True, timeout=120, **kwargs)
        if probe.returncode == 0:
            for path in [home, *home.rglob("*")]:
                os.chown(path, nobody.pw_uid, nobody.pw_gid)
            return [], kwargs
        reasons.append(f"nobody cannot run {sys.executable}: {probe.stderr.strip().splitlines()[-1:]}")
    except (KeyError, OSError) as exc:
        reasons.append(f"cannot drop to nobody: {exc}")
    prefix = ["unshare", "--user", "--map-user=1000", "--map-group=1000"]
    if shutil.which("unshare"):
        probe = subprocess.run([*prefix, sys.executable, "-c", "import os; assert os.geteuid() == 1000"],
                               capture_output=True, text=True, timeout=60)
        if probe.returncode == 0:
            return prefix, {}
        reasons.append(f"no user namespace: {probe.stderr.strip()[-200:]}")
    pytest.skip("cannot run as a normal user here: " + "; ".join(reasons))


def _start_and_stop_lab(tmp_path: Path, as_root: bool) -> str:
    """Start ``python -m galaxy_lib lab`` on a free 127.0.0.1 port, wait (60 s at most) for its API
    to answer, check the kernels it offers, stop it with SIGTERM and make sure nothing is left;
    the CLI's output."""
    home = tmp_path / "home"
    for name in ("data", "config", "runtime", "ipython"):
        (home / name).mkdir(parents=True)
    prefix, kwargs = _as_root() if as_root else _as_normal_user(home)
    port, token = _free_port(), "galaxy-lib-test-token"
    env = {key: value for key, value in os.environ.items() if not key.startswith(("JUPYTER", "GALAXY_LIB"))}
    env.update(HOME=str(home), JUPYTER_DATA_DIR=str(home / "data"), JUPYTER_CONFIG_DIR=str(home / "config"),
               JUPYTER_RUNTIME_DIR=str(home / "runtime"), IPYTHONDIR=str(home / "ipython"),
               GALAXY_LIB_ROOT=str(REPO), PYTHONDONTWRITEBYTECODE="1")
    command = [*prefix, sys.executable, "-m", "galaxy_lib", "lab", "--port", str(port), "--no-browser", "--",
               f"--IdentityProvider.token={token}", "--ServerApp.port_retries=0"]
    log_path = tmp_path / "lab.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True, **kwargs)
    try:
        deadline, answer = time.monotonic() + 60, None
        while answer is None:
            assert process.poll() is None, f"JupyterLab exited with {process.returncode}:\n{log_path.read_text()}"
            assert time.monotonic() < deadline, f"no answer on port {port} in 60 s:\n{log_path.read_text()}"
            try:
                answer = _get(f"http://127.0.0.1:{port}/api")
            except OSError:
                time.sleep(0.5)
        assert answer["version"].split(".")[0].isdigit()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/lab?token={token}", timeout=10) as page:
            assert page.status == 200 and b"JupyterLab" in page.read()  # the Lab itself, not only the server
        specs = _get(f"http://127.0.0.1:{port}/api/kernelspecs?token={token}")
        assert specs["default"] == lab.KERNEL_NAME  # new notebooks and the launcher use the project's kernel
        assert specs["kernelspecs"][lab.KERNEL_NAME]["spec"]["argv"][0] == sys.executable
        assert specs["kernelspecs"][lab.NOTEBOOK_KERNEL]["spec"]["argv"][0] in ("python", sys.executable)
        assert json.loads((home / "data" / "kernels" / lab.KERNEL_NAME / "kernel.json").read_text())["argv"][0] \
            == sys.executable

        process.send_signal(signal.SIGTERM)  # what stopping `make lab` does; the CLI passes it on
        process.wait(timeout=30)
        deadline = time.monotonic() + 10
        while True:  # the server went with the CLI: nothing left in its session
            try:
                os.killpg(process.pid, 0)
            except ProcessLookupError:
                break
            assert time.monotonic() < deadline, "JupyterLab outlived the stopped CLI"
            time.sleep(0.2)
        with pytest.raises(OSError):
            _get(f"http://127.0.0.1:{port}/api")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    return log_path.read_text()


@pytest.mark.slow  # a real JupyterLab server: seconds to start on 2 cores
def test_lab_starts_and_stops_as_root(tmp_path):
    out = _start_and_stop_lab(tmp_path, as_root=True)
    assert "note: running as root, so JupyterLab is started with --allow-root" in out
    assert "Running as root is not recommended" not in out


@pytest.mark.slow
def test_lab_starts_and_stops_as_a_normal_user(tmp_path):
    out = _start_and_stop_lab(tmp_path, as_root=False)
    assert "running as root" not in out.lower()


def test_the_lab_launch_turns_the_news_prompt_off(monkeypatch):
    """JupyterLab's page config, read as the launched Lab reads it, disables the announcements plugin
    (the "Would you like to get notified about official Jupyter news?" prompt) only inside the launch."""
    from jupyterlab_server.config import get_static_page_config

    from galaxy_lib.report import lab as lab_module

    def disabled() -> dict:
        return get_static_page_config(level="all").get("disabledExtensions", {})

    assert disabled().get(lab_module.ANNOUNCEMENTS) is not True  # a plain Lab would ask
    with lab_module.announcements_off() as env:
        monkeypatch.setenv("JUPYTER_CONFIG_PATH", env["JUPYTER_CONFIG_PATH"])
        assert disabled().get(lab_module.ANNOUNCEMENTS) is True
    monkeypatch.delenv("JUPYTER_CONFIG_PATH")
    assert disabled().get(lab_module.ANNOUNCEMENTS) is not True  # nothing left behind
