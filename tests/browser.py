"""A real browser for the tests: headless Chromium driven by Playwright, JupyterLab started the way
``make lab`` starts it, and local HTML pages opened offline.

Playwright comes from PyPI (the ``dev`` extra) but its own browser download is never used: the
Chromium is the system's (Debian's ``chromium`` package, which ``.ci/run`` installs), or the one
``GALAXY_LIB_CHROMIUM`` names. :func:`browser_unavailable` says in one line why a browser test cannot
run here, so that the tests skip with that reason instead of failing.

Shared by ``tests/test_browser.py`` (the student's path through ``02_train``) and by any test that
checks a rendered page in a browser (:func:`offline_page`: console errors and failed requests).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome-stable", "google-chrome")
CHROMIUM_VARIABLE = "GALAXY_LIB_CHROMIUM"  # a Chromium executable to use instead of the one on PATH


# --- the browser ------------------------------------------------------------------------------


def chromium_executable() -> str | None:
    """The Chromium to drive: ``$GALAXY_LIB_CHROMIUM`` when set, else the first of
    :data:`CHROMIUM_NAMES` on ``PATH`` (Debian's package installs ``/usr/bin/chromium``)."""
    named = os.environ.get(CHROMIUM_VARIABLE)
    if named:
        return named if os.access(named, os.X_OK) else None
    return next((found for name in CHROMIUM_NAMES if (found := shutil.which(name))), None)


def browser_unavailable() -> str | None:
    """Why no browser test can run here (one line), or None when Playwright and a Chromium are there."""
    if importlib.util.find_spec("playwright") is None:
        return "Playwright is not installed (pip install -e '.[dev]')"
    if chromium_executable() is None:
        named = os.environ.get(CHROMIUM_VARIABLE)
        if named:
            return f"${CHROMIUM_VARIABLE}={named} is not an executable"
        return (f"no Chromium found (none of {', '.join(CHROMIUM_NAMES)} on PATH; apt-get install chromium, "
                f"or set ${CHROMIUM_VARIABLE})")
    return None


def require_browser() -> str:
    """The Chromium executable, or skip the calling test with the reason there is none."""
    reason = browser_unavailable()
    if reason:
        pytest.skip(reason)
    return chromium_executable()


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium (a Playwright ``Browser``), closed at the end of the block. Skips the
    calling test when there is none, or when the one found does not start (its error in the reason)."""
    executable = require_browser()
    from playwright.sync_api import Error, sync_playwright

    with sync_playwright() as playwright:
        try:
            # --no-sandbox: Chromium's sandbox refuses to run as root (containers, CI), which is where
            # these tests run; the pages it opens are our own.
            browser = playwright.chromium.launch(executable_path=executable, headless=True,
                                                 args=["--no-sandbox", "--disable-gpu"], timeout=60_000)
        except Error as exc:
            pytest.skip(f"{executable} does not start: {str(exc).strip().splitlines()[0]}")
        try:
            yield browser
        finally:
            browser.close()


# --- a local page, offline --------------------------------------------------------------------


@dataclass
class OfflinePage:
    """A page opened from a ``file://`` URL with every other request refused, and what went wrong
    while it loaded: console errors, failed requests (refused ones included) and uncaught exceptions."""

    page: Any
    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        """Everything above, one line each (empty for a page that loaded cleanly offline)."""
        return ([f"console error: {line}" for line in self.console_errors]
                + [f"failed request: {line}" for line in self.failed_requests]
                + [f"uncaught exception: {line}" for line in self.page_errors])


LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")


@contextlib.contextmanager
def offline_page(browser: Any, html: Path, *, settle_ms: int = 500) -> Iterator[OfflinePage]:
    """Open ``html`` as ``file://`` in a fresh, offline browser context: requests to anything but
    local files (a CDN's script, a web font) are refused and listed in ``failed_requests``, as an
    instructor's machine without a network would fail them. The page is left open for the block
    (sort a column, click a link); the lists keep growing while it is used."""
    context = browser.new_context(offline=True, java_script_enabled=True)
    page = context.new_page()
    opened = OfflinePage(page)

    def refuse(route: Any) -> None:
        if route.request.url.startswith(LOCAL_SCHEMES):
            route.continue_()
        else:
            route.abort("internetdisconnected")

    context.route("**/*", refuse)
    page.on("console", lambda message: message.type == "error" and opened.console_errors.append(message.text))
    page.on("requestfailed", lambda request: opened.failed_requests.append(
        f"{request.url} ({request.failure or 'failed'})"))
    page.on("pageerror", lambda error: opened.page_errors.append(str(error)))
    try:
        page.goto(Path(html).resolve().as_uri(), wait_until="load", timeout=60_000)
        page.wait_for_timeout(settle_ms)  # scripts run after load (MathJax, sorting code) report late
        yield opened
    finally:
        context.close()


def open_offline(html: Path) -> OfflinePage:
    """Open ``html`` offline in a fresh headless Chromium and return what went wrong (the page
    itself is closed by then; use :func:`offline_page` to interact with it)."""
    with chromium() as browser, offline_page(browser, html) as opened:
        pass
    return opened


# --- JupyterLab -------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (JupyterLab is told not to try others if it is taken meanwhile)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Lab:
    """A running JupyterLab: its address, token, root folder, log and process."""

    port: int
    token: str
    root: Path
    log: Path
    process: subprocess.Popen

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "lab") -> str:
        """``path`` on the server with the token (JupyterLab then keeps it in a cookie)."""
        return f"{self.base}/{path}?token={urllib.parse.quote(self.token)}"

    def notebook_url(self, notebook: str) -> str:
        """The Lab with ``notebook`` (relative to the root) open, as a student opens it."""
        return self.url(f"lab/tree/{urllib.parse.quote(notebook)}")

    def api(self, path: str, method: str = "GET") -> Any:
        """A call to the server's REST API (``path`` after ``/api/``); its JSON (None when empty)."""
        request = urllib.request.Request(f"{self.base}/api/{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the server's output, for failure messages."""
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


# Lab settings a test needs whatever the user's are: no update check or news prompt (no network),
# every cell attached to the page so that the test can read all of them.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                        "checkForUpdates": False},
}


@contextlib.contextmanager
def jupyter_lab(root: Path, home: Path, *, start_timeout: float = 90) -> Iterator[Lab]:
    """JupyterLab started as ``make lab`` starts it (the project's kernel registered, announcements off,
    ``--allow-root`` as root, SIGTERM passed on) serving ``root`` on a free 127.0.0.1 port with a token.

    Everything Jupyter writes (kernel spec, settings, workspaces, runtime files) goes under ``home``,
    so the user's own Jupyter folders are neither read nor changed. Waits ``start_timeout`` seconds at
    most for the server to answer. At the end its kernels are shut down through the API, the server
    is stopped with SIGTERM (as stopping ``make lab`` does) and anything left of it or its kernels is
    killed: nothing outlives the block.
    """
    import psutil

    for name in ("data", "config", "runtime", "ipython"):
        (home / name).mkdir(parents=True, exist_ok=True)
    for name, values in LAB_SETTINGS.items():
        settings = home / "config" / "lab" / "user-settings" / name
        settings.parent.mkdir(parents=True, exist_ok=True)
        settings.write_text(json.dumps(values))
    port, token = free_port(), f"galaxy-lib-browser-{os.getpid()}-{time.monotonic_ns()}"
    env = {key: value for key, value in os.environ.items() if not key.startswith(("JUPYTER", "GALAXY_LIB"))}
    env.update(HOME=str(home), JUPYTER_DATA_DIR=str(home / "data"), JUPYTER_CONFIG_DIR=str(home / "config"),
               JUPYTER_RUNTIME_DIR=str(home / "runtime"), IPYTHONDIR=str(home / "ipython"),
               GALAXY_LIB_ROOT=str(REPO), TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
               PYTHONUNBUFFERED="1")
    extra = [f"--IdentityProvider.token={token}", "--ServerApp.port_retries=0",
             "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    # `make lab`'s own code (galaxy_lib.report.lab.run_lab), with ``root`` for its notebooks folder: the
    # command line cannot move the root (Jupyter refuses a second --ServerApp.root_dir).
    script = ("import sys; from pathlib import Path; from galaxy_lib.report import lab; "
              f"sys.exit(lab.run_lab(port={port}, open_browser=False, extra={extra!r}, notebooks=Path({str(root)!r})))")
    command = [sys.executable, "-c", script]
    log = home / "lab.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    lab = Lab(port, token, root, log, process)
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            if process.poll() is not None:
                raise AssertionError(f"JupyterLab exited with {process.returncode} before answering:\n"
                                     f"{lab.log_tail()}")
            try:
                lab.api("status")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"JupyterLab did not answer on port {port} in {start_timeout:.0f} s:\n"
                                         f"{lab.log_tail()}") from None
                time.sleep(0.3)
        yield lab
    finally:
        _stop(lab, psutil)


def _stop(lab: Lab, psutil: Any) -> None:
    """Shut down the Lab's kernels, stop the server, then kill whatever of it is still running.
    Kernels run in sessions of their own, so they are collected from the process tree first."""
    try:
        tree = psutil.Process(lab.process.pid).children(recursive=True)
    except psutil.Error:
        tree = []
    with contextlib.suppress(OSError, ValueError):
        for kernel in lab.api("kernels") or []:
            lab.api(f"kernels/{kernel['id']}", method="DELETE")
    if lab.process.poll() is None:
        lab.process.send_signal(signal.SIGTERM)
        try:
            lab.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            lab.process.kill()
            lab.process.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(lab.process.pid, signal.SIGKILL)
    for child in tree:
        with contextlib.suppress(psutil.Error):
            child.kill()
    psutil.wait_procs(tree, timeout=10)


# --- a notebook in the Lab --------------------------------------------------------------------

# What a student sees of a notebook, read from the page: each code cell's prompt ("[3]:" run,
# "[*]:" running, "[ ]:" not yet), tracebacks shown in outputs, the kernel's name and status (the
# status reads "idle" even before a kernel is attached: the name is "No Kernel" then), whether the
# tab shows unsaved changes, and the text of a dialog in the way (e.g. "Select Kernel").
_NOTEBOOK_STATE = """() => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  if (!panel) return null;
  const cells = [...panel.querySelectorAll('.jp-Notebook .jp-Cell')];
  const prompts = cells.filter(c => c.classList.contains('jp-CodeCell'))
    .map(c => (c.querySelector('.jp-InputArea-prompt') || {}).textContent || '');
  const errors = [...panel.querySelectorAll('.jp-OutputArea-output')]
    .map(o => o.textContent || '')
    .filter(t => t.includes('Traceback (most recent call last)'))
    .map(t => t.slice(0, 2000));
  const indicator = panel.querySelector('.jp-Notebook-ExecutionIndicator');
  const kernel = (panel.querySelector('.jp-Toolbar-kernelName') || {}).textContent || '';
  const dialog = (document.querySelector('.jp-Dialog') || {}).textContent || '';
  const dirty = !!document.querySelector('.jp-mod-current.jp-mod-dirty, .lm-TabBar-tab.lm-mod-current.jp-mod-dirty');
  return {cells: cells.length, prompts, errors, status: indicator ? indicator.dataset.status : null, dirty,
          kernel: kernel.trim(), dialog: dialog.trim().slice(0, 500)};
}"""


def notebook_state(page: Any) -> dict | None:
    """The open notebook as the page shows it (see ``_NOTEBOOK_STATE``), None before it is shown."""
    return page.evaluate(_NOTEBOOK_STATE)


def wait_for_notebook(page: Any, predicate: Any, what: str, timeout: float) -> dict:
    """Poll the notebook's state until ``predicate(state)`` holds; fail naming ``what`` after ``timeout`` s,
    or at once when a cell shows a traceback, the kernel died or a dialog waits for an answer."""
    deadline, state = time.monotonic() + timeout, None
    while True:
        state = notebook_state(page)
        if state is not None:
            if state["errors"]:
                raise AssertionError(f"a cell failed while waiting for {what}:\n{state['errors'][0]}")
            if state["status"] in ("dead", "autorestarting", "terminating"):
                raise AssertionError(f"the kernel is {state['status']} while waiting for {what}: {state}")
            if state["dialog"]:
                raise AssertionError(f"a dialog is in the way while waiting for {what}: {state['dialog']!r}")
            if predicate(state):
                return state
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached in {timeout:.0f} s; the notebook shows {state}")
        page.wait_for_timeout(250)


def run_menu(page: Any, menu: str, item: str) -> None:
    """Click ``menu`` in the Lab's menu bar, then its item labelled ``item`` (e.g. Run > Run All
    Cells), as a student does with the mouse."""
    page.locator("#jp-menu-panel .lm-MenuBar-item", has_text=menu).first.click()
    label = page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(item)}$"))
    entry = page.locator(".lm-Menu .lm-Menu-item").filter(has=label).first  # its name also holds the shortcut
    entry.wait_for(state="visible", timeout=10_000)
    entry.click()


def _kernel_ready(state: dict, lab: Lab, notebook: str) -> bool:
    """The page shows an idle kernel by name and the server has that notebook's kernel idle."""
    if state["status"] != "idle" or state["kernel"] in ("", "No Kernel") or not state["cells"]:
        return False
    sessions = lab.api("sessions") or []
    return any(s.get("path") == notebook and (s.get("kernel") or {}).get("execution_state") == "idle"
               for s in sessions)


def run_all_in_lab(page: Any, lab: Lab, notebook: str, *, timeout: float = 240,
                   screenshot: Path | None = None) -> dict:
    """Open ``notebook`` in the Lab, wait for its kernel, Run > Run All Cells, wait (``timeout`` s at
    most) until every code cell has run and the kernel is idle, then File > Save Notebook and wait
    for the save. The notebook's final state as shown (see :func:`notebook_state`). When a step
    fails, the page as it was is saved to ``screenshot`` (when given) and the error names it."""
    try:
        page.goto(lab.notebook_url(notebook), wait_until="domcontentloaded", timeout=60_000)
        ready = wait_for_notebook(page, lambda s: _kernel_ready(s, lab, notebook),
                                  "the notebook to open with an idle kernel", 90)
        if not ready["prompts"]:
            raise AssertionError(f"{notebook} shows no code cells: {ready}")
        run_menu(page, "Run", "Run All Cells")

        def finished(state: dict) -> bool:
            return state["status"] == "idle" and all(re.fullmatch(r"\[\d+\]:", p.strip()) for p in state["prompts"])

        wait_for_notebook(page, finished, "Run All to finish", timeout)
        run_menu(page, "File", "Save Notebook")
        return wait_for_notebook(page, lambda s: not s["dirty"], "the notebook to be saved", 30)
    except Exception as exc:
        if screenshot is None:
            raise
        with contextlib.suppress(Exception):
            page.screenshot(path=str(screenshot))
        raise AssertionError(f"{exc} (the page: {screenshot})") from exc


__all__ = ["CHROMIUM_NAMES", "Lab", "OfflinePage", "browser_unavailable", "chromium", "chromium_executable",
           "jupyter_lab", "notebook_state", "offline_page", "open_offline", "require_browser", "run_all_in_lab",
           "run_menu", "wait_for_notebook"]
