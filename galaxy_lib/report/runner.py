"""Run the notebooks with papermill and render them as HTML reports.

``python -m galaxy_lib report -f parameters/NAME.yaml`` is the product's face: it executes
``notebooks/01_data.ipynb``, ``02_train.ipynb`` and ``03_evaluate.ipynb`` in order on a Jupyter
kernel, keeps the executed notebooks, renders one HTML report with the code (for students) and
one without (for instructors), and lists every run in ``reports/index.html``.

Every notebook's ``parameters`` cell takes the same three values, so one scheme serves the
command line, CI and a student in JupyterLab:

- ``config_file``: the parameters file (``""`` = the built-in defaults);
- ``overrides``: config keys that differ from that file (``--set`` and ``--data``);
- ``run_dir``: the run folder (``""`` = ``<runs_dir>/<run_name>`` from the configuration).

The notebook rebuilds the configuration with ``load_config(config_file, overrides)``, which gives
exactly the object the runner holds. The kernel gets ``GALAXY_LIB_ROOT`` so that relative paths
in the configuration mean the same folder in the kernel as in the runner.

A report is built in a hidden staging folder and swapped into ``reports/NAME/`` only when every
notebook succeeded, so a failing run never destroys the previous report; the failed notebooks
are kept in ``reports/NAME.failed/`` with papermill's error banner at the top.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from galaxy_lib.config import Config, atomic_write_text, load_config, project_root, resolve_path
from galaxy_lib.errors import DataError, ReportError
from galaxy_lib.report.index import write_index

NOTEBOOK_PATTERN = "[0-9][0-9]_*.ipynb"  # notebooks run in name order: 01_data, 02_train, 03_evaluate
FULL_HTML = "report.html"  # with code, for students
NO_CODE_HTML = "report_no_code.html"  # code hidden, for instructors
SUMMARY_FILE = "report.json"  # what the index reads: date, data, timings, headline metrics
FAILURE_FILE = "failure.json"
ABOUT_CODE_TAG = "about-code"  # markdown cells about the code itself, left out of the code-hidden report
KERNEL_LOG = "kernel-stderr.log"  # the kernels' own stderr, kept with the report
PRIVATE_KERNEL = "galaxy-lib-current"  # kernel spec we write when no spec runs this interpreter
_PYTHON_NAMES = {"python", f"python{sys.version_info[0]}", "python{}.{}".format(*sys.version_info[:2])}
HEADLINE_KEYS = ("test_rmse", "test_accuracy", "val_rmse", "train_rmse_last_epoch", "train_accuracy_last_epoch")


def build_report(
    config: Config,
    kernel: str | None = None,
    config_file: str | os.PathLike[str] | None = None,
    *,
    notebooks_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> Path:
    """Execute the numbered notebooks for ``config`` and render ``reports/<run_name>/``.

    ``kernel`` names a Jupyter kernel (e.g. one on a GPU machine); ``None`` runs them on the
    current interpreter, registering a private kernel spec if no spec points at it.
    ``config_file`` is the parameters file the configuration came from: notebooks re-read it and
    receive only the keys that differ as ``overrides``. Returns the report folder. Raises
    :class:`ReportError` naming the notebook and cell when one fails (the previous report of the
    same name is left untouched, the failed notebooks go to ``reports/<run_name>.failed/``).
    """
    name = _safe_name(config.run_name)
    folder = Path(notebooks_dir) if notebooks_dir else default_notebooks_dir()
    notebooks = sorted(folder.glob(NOTEBOOK_PATTERN))
    if not notebooks:
        raise ReportError(f"no notebooks named {NOTEBOOK_PATTERN} in {folder}")
    config_path = str(Path(config_file).resolve()) if config_file else ""
    parameters = notebook_parameters(config, config_path)
    _prepare_data(config)

    reports = resolve_path(config.reports_dir)
    reports.mkdir(parents=True, exist_ok=True)
    for stale in reports.glob(f".{name}.building-*"):  # left by a build that was killed (one build per name)
        shutil.rmtree(stale, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(dir=reports, prefix=f".{name}.building-"))
    timings: list[dict[str, Any]] = []
    started = dt.datetime.now(dt.UTC)
    try:
        with kernel_spec(kernel) as kernel_name, _kernel_environment(), _kernel_stderr_to(staging / KERNEL_LOG):
            for number, notebook in enumerate(notebooks, 1):
                if progress:
                    print(f"[{number}/{len(notebooks)}] {notebook.name} on kernel {kernel_name}", file=sys.stderr)
                seconds = _execute(notebook, staging / notebook.name, parameters, kernel_name, progress)
                timings.append({"notebook": notebook.name, "seconds": round(seconds, 1)})
        run_dir = Path(parameters["run_dir"])
        summary = _summary(config, name, config_path, kernel or "current interpreter", started, timings, run_dir)
        _copy_run_records(run_dir, staging)
        atomic_write_text(staging / SUMMARY_FILE, json.dumps(summary, indent=2, default=str) + "\n")
        render_html([staging / n.name for n in notebooks], staging, summary)
    except BaseException as exc:
        failed = _keep_failed(staging, reports / f"{name}.failed", exc, timings)
        with contextlib.suppress(OSError):
            write_index(reports)
        if isinstance(exc, _NotebookFailed):
            raise ReportError(f"{exc.message}; executed notebook kept in {failed / exc.notebook}") from None
        raise
    target = reports / name
    _make_readable(staging)
    _swap_into_place(staging, target)
    shutil.rmtree(reports / f"{name}.failed", ignore_errors=True)
    write_index(reports)
    if progress:
        print(f"report: {target / FULL_HTML} (no code: {target / NO_CODE_HTML}); index: {reports / 'index.html'}",
              file=sys.stderr)
    return target


def default_notebooks_dir() -> Path:
    """``notebooks/`` of the project (the checkout the package was installed from)."""
    for root in (project_root(), Path(__file__).resolve().parents[1]):
        if (root / "notebooks").is_dir():
            return root / "notebooks"
    raise ReportError(f"no notebooks/ folder under {project_root()} (run from the project folder)")


def notebook_parameters(config: Config, config_file: str = "") -> dict[str, Any]:
    """The values papermill injects: the parameters file, the keys that differ from it, the run folder.

    Passing differences rather than the whole configuration keeps the injected cell short and
    readable while ``load_config(config_file, overrides)`` still reproduces ``config`` exactly.
    """
    base = load_config(config_file or None).to_dict()
    overrides = {key: value for key, value in config.to_dict().items() if base[key] != value}
    if load_config(config_file or None, overrides) != config:  # pragma: no cover - guards the scheme
        raise ReportError("internal error: overrides do not reproduce the configuration")
    run_dir = resolve_path(config.runs_dir) / config.run_name
    return {"config_file": config_file, "overrides": overrides, "run_dir": str(run_dir)}


def _safe_name(run_name: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", run_name) or run_name.endswith(".failed"):
        raise ValueError(f"config key 'run_name': {run_name!r} must be a plain folder name (letters, digits, _ . -)")
    return run_name


def _prepare_data(config: Config) -> None:
    """Generate the synthetic sky when asked for and missing; fail early on a data path that is not there."""
    data = resolve_path(config.data)
    if config.synthetic:
        from galaxy_lib.synth import sky

        sky.ensure_synthetic(config)
    elif not data.exists():
        raise DataError(f"data set not found: {data} (config key 'data'; pass --data PATH or set synthetic: true)")


# --- kernels --------------------------------------------------------------------------------------


@contextlib.contextmanager
def kernel_spec(kernel: str | None) -> Iterator[str]:
    """Yield a kernel name papermill can start.

    A named kernel must exist (the error lists the ones that do). Without a name we want the
    interpreter running this code: the stock ``python3`` spec means exactly that when its command
    is a bare ``python`` (jupyter_client substitutes ``sys.executable``); otherwise, e.g. a fresh
    ``.venv`` under a user-wide ``python3`` spec of another Python, we register a private spec in
    a temporary Jupyter data folder for the duration of the run.
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    manager = KernelSpecManager()
    if kernel:
        available = sorted(manager.find_kernel_specs())
        if kernel not in available:
            raise ReportError(f"Jupyter kernel {kernel!r} not found; available: {', '.join(available) or 'none'}")
        yield kernel
        return
    try:
        argv = manager.get_kernel_spec("python3").argv
    except NoSuchKernel:
        argv = []
    if argv and (argv[0] in _PYTHON_NAMES or os.path.abspath(argv[0]) == os.path.abspath(sys.executable)):
        yield "python3"
        return
    with tempfile.TemporaryDirectory(prefix="galaxy-lib-kernels-") as tmp:
        spec_dir = Path(tmp) / "kernels" / PRIVATE_KERNEL
        spec_dir.mkdir(parents=True)
        spec = {
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": f"Python ({sys.executable})",
            "language": "python",
        }
        (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))
        with _environ(JUPYTER_PATH=os.pathsep.join(p for p in (tmp, os.environ.get("JUPYTER_PATH", "")) if p)):
            yield PRIVATE_KERNEL


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


def _kernel_environment() -> contextlib.AbstractContextManager[None]:
    """What the kernel must share with the runner: the project root and quiet TensorFlow logs."""
    return _environ(
        GALAXY_LIB_ROOT=str(project_root()),
        TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
        MPLBACKEND=os.environ.get("MPLBACKEND", "module://matplotlib_inline.backend_inline"),
    )


@contextlib.contextmanager
def _kernel_stderr_to(log: Path) -> Iterator[None]:
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


# --- execution ------------------------------------------------------------------------------------


class _NotebookFailed(Exception):
    def __init__(self, notebook: str, message: str) -> None:
        super().__init__(message)
        self.notebook = notebook
        self.message = message


def _execute(source: Path, output: Path, parameters: Mapping[str, Any], kernel_name: str, progress: bool) -> float:
    """Run one notebook with papermill into ``output``; return its wall time in seconds."""
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
        raise _NotebookFailed(
            source.name,
            f"{source.name} failed in cell In [{exc.exec_count}] (`{first_line}`): {exc.ename}: {evalue}",
        ) from exc
    except Exception as exc:  # the kernel died (often out of memory), timed out or would not start
        detail = " ".join(str(exc).split())[:300]
        raise _NotebookFailed(
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


def _keep_failed(staging: Path, failed: Path, exc: BaseException, timings: list[dict[str, Any]]) -> Path:
    """Move the staging folder to ``NAME.failed/`` (replacing an older one) with a note of the error."""
    shutil.rmtree(failed, ignore_errors=True)
    note = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "notebook": getattr(exc, "notebook", None),
        "error": getattr(exc, "message", f"{type(exc).__name__}: {exc}"),
        "completed": timings,
    }
    try:
        atomic_write_text(staging / FAILURE_FILE, json.dumps(note, indent=2) + "\n")
        _make_readable(staging)
        os.replace(staging, failed)
    except OSError:  # pragma: no cover - the original error matters more
        shutil.rmtree(staging, ignore_errors=True)
    return failed


def _make_readable(folder: Path) -> None:
    """Temporary folders and files are private (0700/0600); a report is meant to be shared or served."""
    folder.chmod(0o755)
    for path in folder.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)


def _swap_into_place(staging: Path, target: Path) -> None:
    """Replace ``target`` by ``staging`` with renames, so the old report goes only once the new one is whole."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
    os.replace(staging, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# --- records ---------------------------------------------------------------------------------------


def _summary(
    config: Config,
    name: str,
    config_file: str,
    kernel: str,
    started: dt.datetime,
    timings: list[dict[str, Any]],
    run_dir: Path,
) -> dict[str, Any]:
    metrics = _read_json(run_dir / "metrics.json")
    headline = {key: metrics[key] for key in HEADLINE_KEYS if key in metrics}
    environment = _read_json(run_dir / "environment.json")  # written by training, in the kernel
    if not environment:
        from galaxy_lib.environment import environment_record

        environment = environment_record(include_tensorflow=False)
    environment.setdefault("cpu_model", cpu_model())  # papermill starts kernels on this machine
    return {
        "name": name,
        "date": started.isoformat(timespec="seconds"),
        "config_file": config_file,
        "data": str(resolve_path(config.data)),
        "synthetic": config.synthetic,
        "run_dir": str(run_dir),
        "kernel": kernel,
        "notebooks": timings,
        "total_seconds": round(sum(t["seconds"] for t in timings), 1),
        "metrics": headline,
        "baselines": metrics.get("baselines", {}),
        "environment": environment,
        "config": config.to_dict(),
    }


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _copy_run_records(run_dir: Path, staging: Path) -> None:
    """Copy the run's small records (metrics, AUC table, configuration, environment) beside the report,
    so a report folder stays meaningful when the run folder is cleaned away."""
    for record in ("metrics.json", "auc.csv", "config.yaml", "environment.json", "history.csv", "submission.csv"):
        if (run_dir / record).is_file():
            shutil.copy2(run_dir / record, staging / record)


def cpu_model() -> str:
    """The CPU's model name, which ``platform.processor()`` leaves empty on Linux."""
    import platform

    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


# --- HTML -----------------------------------------------------------------------------------------


def render_html(executed: Sequence[Path], out_dir: Path, summary: Mapping[str, Any]) -> tuple[Path, Path]:
    """Join the executed notebooks under a header and an environment section, and render it twice
    with nbconvert: with code (students) and code-hidden (instructors)."""
    import nbformat
    from nbconvert import HTMLExporter

    notebooks = [nbformat.read(path, as_version=4) for path in executed]
    combined = nbformat.v4.new_notebook(metadata=copy.deepcopy(notebooks[0].metadata))
    combined.cells.append(nbformat.v4.new_markdown_cell(_header_markdown(summary)))
    for path, notebook in zip(executed, notebooks, strict=True):
        for number, cell in enumerate(notebook.cells):
            cell["id"] = f"{path.stem}-{number}"  # cell ids must stay unique in the joined notebook
            combined.cells.append(cell)
    combined.cells.append(nbformat.v4.new_markdown_cell(_environment_markdown(summary)))
    resources = {"metadata": {"name": f"Galaxy Zoo report: {summary['name']}"}}
    quiet_log = logging.getLogger("galaxy_lib.report.runner.nbconvert")  # not "alternative text is missing" per figure
    quiet_log.setLevel(logging.ERROR)

    full = out_dir / FULL_HTML
    exporter = HTMLExporter(template_name="lab", log=quiet_log)
    body, _ = exporter.from_notebook_node(combined, resources=copy.deepcopy(resources))
    atomic_write_text(full, body)

    quiet = copy.deepcopy(combined)
    quiet.cells = [c for c in quiet.cells if ABOUT_CODE_TAG not in c.metadata.get("tags", [])]
    for cell in quiet.cells:
        if cell.cell_type == "code":  # instructors need results, not warnings or progress bars
            cell.outputs = [o for o in cell.outputs if not (o.output_type == "stream" and o.name == "stderr")]
    exporter = HTMLExporter(
        template_name="lab", exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True, log=quiet_log
    )
    body, _ = exporter.from_notebook_node(quiet, resources=copy.deepcopy(resources))
    no_code = out_dir / NO_CODE_HTML
    atomic_write_text(no_code, body)
    return full, no_code


def _header_markdown(summary: Mapping[str, Any]) -> str:
    rows = [
        ("Run", f"`{summary['name']}`"),
        ("Date (UTC)", summary["date"].replace("T", " ")),
        ("Parameters file", f"`{summary['config_file'] or '(built-in defaults)'}`"),
        ("Data", f"`{summary['data']}`" + (" (synthetic sky)" if summary.get("synthetic") else "")),
        ("Kernel", summary["kernel"]),
        ("Wall time", f"{summary['total_seconds']:.0f} s"),
    ]
    metrics, baselines = summary.get("metrics", {}), summary.get("baselines", {})
    if "test_rmse" in metrics:
        headline = f"RMSE **{metrics['test_rmse']:.4f}**"
        if "training mean" in baselines:
            headline += f" (training-mean predictor: {baselines['training mean']:.4f})"
        if "test_accuracy" in metrics:
            headline += f", paper's accuracy {metrics['test_accuracy']:.3f}"
        rows.insert(0, ("Held-out test", headline))
    lines = [f"# Galaxy Zoo report: {summary['name']}", "", "| | |", "|---|---|"]
    lines += [f"| {key} | {value} |" for key, value in rows]
    lines += ["", "Notebooks in this report, executed in order with papermill:", ""]
    lines += [f"1. `{t['notebook']}` ({t['seconds']:.0f} s)" for t in summary["notebooks"]]
    return "\n".join(lines)


def _environment_markdown(summary: Mapping[str, Any]) -> str:
    lines = ["## Where this report ran", "", "| Notebook | Wall time (s) |", "|---|---|"]
    lines += [f"| `{t['notebook']}` | {t['seconds']:.1f} |" for t in summary["notebooks"]]
    lines += [f"| **total** | {summary['total_seconds']:.1f} |", "", "| Environment | |", "|---|---|"]
    lines += [f"| {key} | {value} |" for key, value in _flatten(summary.get("environment", {}))]
    return "\n".join(lines)


def _flatten(record: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for key, value in record.items():
        if isinstance(value, Mapping):
            rows += _flatten(value, f"{prefix}{key}.")
        else:
            text = ", ".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
            rows.append((f"{prefix}{key}", text.replace("|", "\\|")))
    return rows
