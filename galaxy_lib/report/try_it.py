"""The notebooks' "Try it" sections: changes a student can make, with the effect measured on real galaxies.

Each notebook ends with ``try_it("<notebook stem>")``: two or three changes to its parameters
cell, what each one tests, and what it did on the shared real sample, read from the stored
benchmark results in ``<project root>/benchmarks/results/`` (:mod:`benchmarks.results_store`
writes them; the README's tables come from the same files). A figure is never typed here: this
module names the result file and the key, and the text shows whatever the file holds, with the
file's name and the command that re-measures it, so a student can check their own run against
it. Where a result file is missing (a copy of the package without the repository, or a result
not measured yet) the section says so in one line instead of failing the report.

The parameters-cell change of a ``bench_quality`` result is derived from the file too: its
parameters file, its ``--set`` overrides, its time budget and, where the benchmark replaced the
parameters file's data or split keys (it always scores on the shared sample's unbiased test
galaxies), those values; so the change shown is the one that was measured.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from galaxy_lib.config import parse_overrides, project_root
from galaxy_lib.data.sample import BUILD_HINT
from galaxy_lib.errors import ConfigError, GalaxyLibError

RESULTS_FOLDER = Path("benchmarks") / "results"
"""Where the stored results are, relative to the project root."""
BASELINES_FILE = "baselines-sample"
"""The baselines on the shared sample's test galaxies: the bar every change must clear."""
SAMPLE_KEYS = ("data", "max_images", "test_pool_file", "test_pool_subset", "test_fraction", "val_fraction")
"""Keys ``bench_quality`` sets whatever the parameters file says (the shared sample and its split)."""

Path_ = tuple[str | int, ...]
"""Keys into a result file's JSON, from its top (``("figures", "test_rmse")``); ints index lists."""


@dataclass(frozen=True)
class Figure:
    """One row of a suggestion's table: a measured test RMSE and what it was measured with."""

    label: str
    file: str  # result name, without .json
    rmse: Path_ = ("figures", "test_rmse")
    low: Path_ | None = None  # an interval around the RMSE, where the file has one
    high: Path_ | None = None
    train: Path_ | None = ("setup", "split", "train")  # None: not applicable (a dash)
    epochs: Path_ | None = ("figures", "epochs")
    minutes: Path_ | None = ("figures", "training_minutes")


@dataclass(frozen=True)
class Suggestion:
    """One change for the parameters cell, what it tests, and the rows that measured it."""

    title: str
    tests: str
    figures: tuple[Figure, ...]
    change: str = ""  # the parameters-cell lines; "" = derived from the first figure's bench_quality file
    run_name: str = ""  # with a derived change: the run's own name, so it does not resume another run
    note: str = ""  # a caveat shown under the table
    notes_from: tuple[tuple[str, Path_], ...] = field(default_factory=tuple)  # (file, key) of a stored sentence


@dataclass(frozen=True)
class Section:
    """One notebook's section: a short introduction and its suggestions."""

    intro: str
    suggestions: tuple[Suggestion, ...]


_SEED0 = Figure("without it (60 epochs, seed 0)", "quality-screen60-improved-seed0")
_SEED1 = Figure("without it, seed 1: seed-to-seed noise", "quality-screen60-improved-seed1")
_ISSUE4_FILE = "quality-improved-epochs=240-lr_schedule=constant"
_ISSUE4 = Figure("`improved.yaml` of issue 4 (240 epochs)", _ISSUE4_FILE)
_CURVE = "curve-learning_curve"  # benchmarks/bench_curve.py -f parameters/learning_curve.yaml


def _curve_size(label: str, index: int) -> Figure:
    """A row of the stored curve's per-size table (0: the smallest size, -1: the largest)."""
    row = ("figures", "sizes", index)
    return Figure(label, _CURVE, rmse=(*row, "test RMSE"), train=(*row, "training galaxies"),
                  epochs=(*row, "epochs"), minutes=(*row, "minutes"))


_REPORT = ("Make a change in the parameters cells of notebooks 1, 2 and 3 alike (they describe one run), or run all "
           "three at once with `python -m galaxy_lib report -f FILE --set KEY=VALUE ...`; notebook 3 gives the test "
           "RMSE to compare with the figures below.")

SECTIONS: dict[str, Section] = {
    "01_data": Section(
        "This notebook decides what the model sees: the central crop of each 424-pixel image and the size it "
        "is resized to. " + _REPORT,
        (
            Suggestion(
                "A tighter crop: 180 pixels instead of 207",
                "whether the outer ring of the 207-pixel crop (a galaxy's faint outskirts, its neighbours) carries "
                "information the model uses, or only sky noise it must learn to ignore.",
                (Figure("crop 180", "quality-screen60-improved-crop180"), _SEED0, _SEED1),
                run_name="try-crop180",
            ),
            Suggestion(
                "More pixels: resize the crop to 80 x 80 instead of 69 x 69",
                "whether finer detail of the same crop helps (spiral arms, bars), at the cost of more "
                "computation per image.",
                (Figure("image size 80", "quality-screen60-improved-size80"), _SEED0, _SEED1),
                run_name="try-size80",
            ),
        ),
    ),
    "02_train": Section(
        "Training choices, each measured on the shared real sample with everything else as in "
        "`parameters/improved.yaml`. " + _REPORT,
        (
            Suggestion(
                "The paper's configuration",
                "everything `improved.yaml` changes at once (crop and resize, tree head, MSE loss, rotations, flips "
                "and shifts, batch 64 instead of 256, test-time averaging) against the paper's code, with the same "
                "20-minute budget and the same test galaxies.",
                (Figure("the paper's configuration", "quality-paper"), _ISSUE4),
                run_name="try-paper",
            ),
            Suggestion(
                "No random shifts",
                "whether shifting each training image by up to 4 pixels (on top of rotations and flips) still "
                "helps the model generalise.",
                (Figure("no shifts (200 epochs)", "quality-improved-augment_shift=0-epochs=200-lr_schedule=constant"),
                 Figure("with shifts of up to 4 pixels (240 epochs)", _ISSUE4_FILE)),
                run_name="try-no-shifts",
                note="The two runs differ in their epoch cap as well (200 and 240); both stopped there within "
                     "their 20 minutes.",
            ),
            Suggestion(
                "A wider network: 1.5 times the filters",
                "whether VGG6 is too small for this data: more capacity at about 1.6 times the training time.",
                (Figure("width 1.5", "quality-screen60-improved-width1.5"), _SEED0, _SEED1),
                run_name="try-width1.5",
            ),
        ),
    ),
    "03_evaluate": Section(
        "Evaluation choices. Test-time averaging only changes how a trained run is scored: notebook 3 "
        "re-evaluates the same run folder without training again.",
        (
            Suggestion(
                "No test-time averaging",
                "how much averaging the predictions over the 8 rotations and flips of each test galaxy (`tta: "
                "dihedral`) gains over predicting the galaxy once, or over its 4 flips.",
                (
                    Figure("`tta: none`", "quality-improved-epochs=440-lr_schedule=step",
                           rmse=("figures", "test", "none", "rmse")),
                    Figure("`tta: flips`", "quality-improved-epochs=440-lr_schedule=step",
                           rmse=("figures", "test", "flips", "rmse")),
                    Figure("`tta: dihedral` (improved.yaml)", "quality-improved-epochs=440-lr_schedule=step",
                           rmse=("figures", "test", "dihedral", "rmse")),
                ),
                change='config_file = "parameters/improved.yaml"\noverrides = {"tta": "none"}  # or "flips"',
            ),
            Suggestion(
                "An ensemble of three runs",
                "whether averaging three 20-minute models (two seeds, two learning-rate schedules) beats the best "
                "of them, for three times the training. Notebook 2 trains the members first (an hour).",
                (
                    Figure("the ensemble's mean prediction", "ensemble-improved-x3-60min",
                           train=("setup", "split", "train"), epochs=None),
                    Figure("its best member", "ensemble-improved-x3-60min", rmse=("figures", "best_member_test_rmse"),
                           epochs=None, minutes=None),
                    Figure("its median member", "ensemble-improved-x3-60min",
                           rmse=("figures", "median_member_test_rmse"), epochs=None, minutes=None),
                ),
                change='config_file = "parameters/ensemble.yaml"\noverrides = {}',
            ),
        ),
    ),
    "04_learning_curve": Section(
        "The learning curve's parameters cell names a learning-curve file; `overrides` changes the configuration "
        "of every point.",
        (
            Suggestion(
                "The real curve instead of the synthetic smoke curve",
                "how the test RMSE falls from 150 to all 2,447 training galaxies (5 minutes per point), and what "
                "the fitted power law predicts for Kaggle's 61,578.",
                (
                    _curve_size("the smallest training set", 0),
                    _curve_size("the largest (mean over seeds)", -1),
                    Figure("its training-mean predictor", _CURVE, rmse=("figures", "headline", "mean_rmse"),
                           train=("figures", "headline", "n_train"), epochs=None, minutes=None),
                    Figure("extrapolated (95% interval)", _CURVE,
                           rmse=("figures", "extrapolation", "prediction"), low=("figures", "extrapolation", "low"),
                           high=("figures", "extrapolation", "high"), train=("figures", "extrapolation", "target"),
                           epochs=None, minutes=None),
                ),
                change='config_file = "parameters/learning_curve.yaml"\noverrides = {}',
                notes_from=((_CURVE, ("figures", "compute", "summary")),),
            ),
            Suggestion(
                "Four times the minutes per point",
                "whether the curve measures galaxies or time: if a point improves much with more minutes, the "
                "curve is a curve for its budget, and more galaxies alone would not reach the extrapolation. "
                "Measured on all 2,447 training galaxies, with `improved.yaml`'s constant rate and 240 epochs.",
                (
                    Figure("5 minutes", "quality-screen5-improved"),
                    Figure("20 minutes", _ISSUE4_FILE),
                ),
                change='config_file = "parameters/my_curve.yaml"  # a copy of learning_curve.yaml with `minutes: 20`\n'
                       "overrides = {}",
                note="With 10 points of 20 minutes the curve trains for over three hours on two cores.",
            ),
        ),
    ),
}
"""Each notebook's section, by the notebook's file name without ``.ipynb``."""


class TryIt(str):
    """The section's Markdown: a string that a notebook displays as Markdown (``_repr_markdown_``)."""

    __slots__ = ()

    def _repr_markdown_(self) -> str:
        return str(self)


def results_dir() -> Path:
    """``benchmarks/results`` of the project (:func:`galaxy_lib.config.project_root`)."""
    return project_root() / RESULTS_FOLDER


def try_it(notebook: str, folder: str | Path | None = None) -> TryIt:
    """The "Try it" section of ``notebook`` (e.g. ``"02_train"``) as Markdown, its figures read
    from ``folder`` (default :func:`results_dir`)."""
    if notebook not in SECTIONS:
        raise ConfigError(f"no 'Try it' section for notebook {notebook!r}; known: {', '.join(SECTIONS)}")
    folder = Path(folder) if folder is not None else results_dir()
    section = SECTIONS[notebook]
    store = _Store(folder)
    if not folder.is_dir():  # an installed package without the repository: the changes, without figures
        lines = [section.intro, "", f"*No stored results to compare with: `{_shown(folder)}` is not there (a copy "
                 "of the package without the project's repository). The changes below still work; their measured "
                 "effects are in the repository's `benchmarks/results/`.*", ""]
        for number, suggestion in enumerate(section.suggestions, 1):
            lines += [f"### {number}. {suggestion.title}", "", *_change(suggestion, store), "",
                      f"**What it tests:** {suggestion.tests}", ""]
    else:
        lines = [section.intro, "", _bar(store), ""]
        for number, suggestion in enumerate(section.suggestions, 1):
            lines += _suggestion(number, suggestion, store)
    return TryIt("\n".join(lines).rstrip() + "\n")


class _Store:
    """The result files, read once each; a missing or unreadable file is remembered with its reason."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._cache: dict[str, dict[str, Any] | str] = {}

    def get(self, name: str) -> dict[str, Any] | str:
        """The record, or a one-line reason why there is none."""
        if name not in self._cache:
            path = self.folder / f"{name}.json"
            try:
                record = json.loads(path.read_text())
                self._cache[name] = record if isinstance(record, dict) else f"`{name}.json` is not a result record"
            except FileNotFoundError:
                self._cache[name] = f"not measured yet: `{name}.json` is not in `{_shown(self.folder)}`"
            except (OSError, ValueError) as exc:
                self._cache[name] = f"`{name}.json` could not be read ({type(exc).__name__})"
        return self._cache[name]


def _lookup(record: dict[str, Any], path: Path_ | None) -> Any:
    if path is None:
        return None
    value: Any = record
    for key in path:
        in_list = isinstance(key, int) and isinstance(value, list) and -len(value) <= key < len(value)
        if not (in_list or (isinstance(key, str) and isinstance(value, dict) and key in value)):
            return None
        value = value[key]
    return value


def _shown(folder: Path) -> str:
    try:
        return folder.resolve().relative_to(project_root()).as_posix()
    except ValueError:
        return str(folder)


def _fmt(value: Any, kind: str) -> str:
    if isinstance(value, bool) or value is None:
        return "–"
    if isinstance(value, str):
        return value
    if not isinstance(value, int | float):
        return "–"
    if kind == "rmse":
        return f"{value:.4f}"
    if kind == "count":
        return f"{int(value):,}"
    return f"{value:.1f}" if kind == "minutes" else f"{value:g}"


def _bar(store: _Store) -> str:
    record = store.get(BASELINES_FILE)
    if isinstance(record, str):
        return f"The bar any change must clear, the training-mean predictor: {record}."
    test = _lookup(record, ("figures", "test"))
    test = test if isinstance(test, dict) else {}
    mean = _lookup(test, ("training mean", "rmse"))
    pixel = _lookup(test, ("central pixel, colour bins", "rmse"))
    split = _lookup(record, ("setup", "split")) or {}
    text = (f"The bar any change must clear: predicting the training galaxies' mean answers scores "
            f"**{_fmt(mean, 'rmse')}** on the same {_fmt(split.get('test'), 'count')} test galaxies")
    if pixel is not None:
        text += f" (Kaggle's central-pixel benchmark: {_fmt(pixel, 'rmse')})"
    return (text + f"; from `{RESULTS_FOLDER.as_posix()}/{BASELINES_FILE}.json`. The figures below were measured on "
            "the same real sample, which `parameters/improved.yaml` reads from `../shared/data/galaxy-zoo-sample` "
            "or, where that folder is absent, from `data/galaxy-zoo-sample`, which your Kaggle download builds with "
            f"`{BUILD_HINT}`; with seed 0 a run of yours gets the benchmarks' split, so its test RMSE compares "
            "directly.")


def _suggestion(number: int, suggestion: Suggestion, store: _Store) -> list[str]:
    lines = [f"### {number}. {suggestion.title}", "", *_change(suggestion, store), "",
             f"**What it tests:** {suggestion.tests}", "", "**Measured on the real sample:**", "",
             "| | test RMSE | training galaxies | epochs | training minutes | result file |",
             "|---|---|---|---|---|---|"]
    commands: dict[str, str] = {}
    missing: set[str] = set()
    for figure in suggestion.figures:
        record = store.get(figure.file)
        if isinstance(record, str):  # one row per missing file, however many rows it would give
            if figure.file not in missing:
                lines.append(f"| *not available* | {record} | | | | `{figure.file}.json` |")
            missing.add(figure.file)
            continue
        rmse = _fmt(_lookup(record, figure.rmse), "rmse")
        if figure.low and figure.high and rmse != "–":
            rmse += f" ({_fmt(_lookup(record, figure.low), 'rmse')}-{_fmt(_lookup(record, figure.high), 'rmse')})"
        lines.append(f"| {figure.label} | {rmse} | {_fmt(_lookup(record, figure.train), 'count')} | "
                     f"{_fmt(_lookup(record, figure.epochs), 'epochs')} | "
                     f"{_fmt(_lookup(record, figure.minutes), 'minutes')} | `{figure.file}.json` |")
        if isinstance(record.get("command"), str):
            commands.setdefault(figure.file, record["command"])
    lines.append("")
    for file, path in suggestion.notes_from:
        record = store.get(file)
        sentence = _lookup(record, path) if isinstance(record, dict) else None
        if isinstance(sentence, str) and sentence:
            lines += [f"{sentence} (`{file}.json`)", ""]
    if suggestion.note:
        lines += [suggestion.note, ""]
    if commands:
        lines += ["Re-measured by (from the project root):", ""]
        lines += [f"- `{command}`" for command in commands.values()]
        lines.append("")
    return lines


def _change(suggestion: Suggestion, store: _Store) -> list[str]:
    """The parameters-cell lines: the suggestion's own, or derived from its first result file."""
    code = suggestion.change or _derived_change(suggestion, store)
    return ["**In the parameters cell:**", "", "```python", code, "```"]


def _derived_change(suggestion: Suggestion, store: _Store) -> str:
    record = store.get(suggestion.figures[0].file)
    if isinstance(record, str):
        return f"# the measured change is stored in {suggestion.figures[0].file}.json: {record}"
    setup = record.get("setup") if isinstance(record.get("setup"), dict) else {}
    parameters_file = str(setup.get("parameters_file") or "")
    try:
        overrides = parse_overrides(setup.get("overrides") or [])
    except (ConfigError, TypeError) as exc:  # say so: an empty change would look like the measured one
        return (f"# the overrides stored in {suggestion.figures[0].file}.json cannot be read "
                f"({exc}); its \"command\" reproduces the measurement")
    overrides |= _sample_keys(parameters_file, setup.get("config") if isinstance(setup.get("config"), dict) else {})
    minutes = setup.get("minutes")
    if isinstance(minutes, int | float) and not isinstance(minutes, bool):
        overrides["time_limit_minutes"] = int(minutes) if float(minutes).is_integer() else minutes
    if suggestion.run_name:
        overrides["run_name"] = suggestion.run_name
    return f"config_file = {json.dumps(parameters_file)}\noverrides = {_dict_literal(overrides)}"


def _sample_keys(parameters_file: str, measured: dict[str, Any]) -> dict[str, Any]:
    """The data and split keys the benchmark set where the parameters file says otherwise (all of
    them when the file cannot be read)."""
    from galaxy_lib.config import load_config, resolve_path

    wanted = {key: measured[key] for key in SAMPLE_KEYS if key in measured}
    try:
        own = load_config(resolve_path(parameters_file)).to_dict() if parameters_file else {}
    except (GalaxyLibError, OSError):
        return wanted
    return {key: value for key, value in wanted.items() if own.get(key) != value}


def _dict_literal(values: dict[str, Any]) -> str:
    """A Python dict literal, one key a line when it is long."""
    items = [f"{json.dumps(key)}: {_literal(value)}" for key, value in values.items()]
    one_line = "{" + ", ".join(items) + "}"
    return one_line if len(one_line) <= 90 else "{\n" + "".join(f"    {item},\n" for item in items) + "}"


def _literal(value: Any) -> str:
    return repr(value) if isinstance(value, bool) or value is None else json.dumps(value)

