"""Execute one notebook with papermill, with the kernels' own stderr kept in a log.

A failure becomes :class:`NotebookFailed`, whose message names the notebook, the cell and the
error in one line; the executed copy (with papermill's error banner) is kept for the reader. It
also says whose fault it was: a cell that raised one of the package's user errors
(:class:`~galaxy_lib.errors.GalaxyLibError` and its subclasses) is the user's input; any other
exception in a cell is a bug, and the report runner passes it on with the cell's traceback.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

KERNEL_LOG = "kernel-stderr.log"  # the kernels' own stderr, kept with the report


class NotebookFailed(Exception):
    """A notebook raised or its kernel died; ``notebook`` is its file name, ``message`` one line.

    ``user_error`` is False when a cell raised an exception that is not one of the package's user
    errors (a bug); ``traceback`` then holds the cell's traceback as plain text.
    """

    def __init__(self, notebook: str, message: str, *, user_error: bool = True, traceback: str = "") -> None:
        super().__init__(message)
        self.notebook = notebook
        self.message = message
        self.user_error = user_error
        self.traceback = traceback


def user_error_names() -> frozenset[str]:
    """Class names of :class:`~galaxy_lib.errors.GalaxyLibError` and all its subclasses: the
    ``ename`` of a cell that failed on the user's input (a kernel reports only the name)."""
    from galaxy_lib.errors import GalaxyLibError

    names, todo = set(), [GalaxyLibError]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return frozenset(names)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@contextlib.contextmanager
def kernel_stderr_to(log: Path) -> Iterator[None]:
    """Send the kernels' own stderr (TensorFlow's start-up chatter, ipykernel warnings, crash
    messages) to ``log`` in the report folder, while this process keeps writing progress to the
    terminal. Kernels inherit file descriptor 2, so it is pointed at the log for the block and
    ``sys.stderr`` at a copy of the terminal's descriptor."""
    try:
        sys.stderr.flush()
        terminal = os.dup(2)
    except (AttributeError, OSError, ValueError):  # no real stderr (embedded interpreters): leave it alone
        yield
        return
    saved_stderr = sys.stderr
    with open(log, "ab") as handle:
        os.dup2(handle.fileno(), 2)
        sys.stderr = open(terminal, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
        try:
            yield
        finally:
            sys.stderr.flush()
            sys.stderr.close()
            sys.stderr = saved_stderr
            os.dup2(terminal, 2)
            os.close(terminal)


def execute_notebook(
    source: Path, output: Path, parameters: Mapping[str, Any], kernel_name: str, progress: bool
) -> float:
    """Run one notebook with papermill into ``output``; return its wall time in seconds.

    The kernel starts in the notebook's own folder, as it would in JupyterLab. Raises
    :class:`NotebookFailed` when a cell raises or the kernel dies, times out or will not start.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    start = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(source),
            str(output),
            parameters=dict(parameters),
            kernel_name=kernel_name,
            cwd=str(source.parent),
            progress_bar=progress,
            stdout_file=sys.stdout if progress else None,  # epoch lines and summaries, live
        )
    except PapermillExecutionError as exc:
        first_line = next((line for line in str(exc.source).splitlines() if line.strip()), "").strip()
        evalue = " ".join(str(exc.evalue).split())
        raise NotebookFailed(
            source.name,
            f"{source.name} failed in cell In [{exc.exec_count}] (`{first_line}`): {exc.ename}: {evalue}",
            user_error=exc.ename in user_error_names(),
            traceback=_ANSI.sub("", "\n".join(exc.traceback or [])),
        ) from exc
    except Exception as exc:  # the kernel died (often out of memory), timed out or would not start
        detail = " ".join(str(exc).split())[:300]
        raise NotebookFailed(
            source.name, f"{source.name} failed: {type(exc).__name__}: {detail} (kernel messages: {KERNEL_LOG})"
        ) from exc
    finally:
        _restore_kernelspec(source, output)
    return time.perf_counter() - start


def _restore_kernelspec(source: Path, output: Path) -> None:
    """Give the executed copy the source notebook's kernelspec, so it opens on the project's
    kernel in JupyterLab even when the run used a private one."""
    import nbformat

    if not output.is_file():
        return
    original = nbformat.read(source, as_version=4).metadata.get("kernelspec")
    executed = nbformat.read(output, as_version=4)
    if original and executed.metadata.get("kernelspec") != original:
        executed.metadata["kernelspec"] = original
        nbformat.write(executed, output)
