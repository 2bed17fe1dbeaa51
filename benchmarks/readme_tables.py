"""Write the measured tables of README.md and docs/*.md from the stored results in ``benchmarks/results/``.

Every measured figure in those pages sits between ``<!-- results:NAME -->`` and
``<!-- /results:NAME -->`` markers; this script renders each region from the result files
(``results_store.load_results``), so a number can be traced to a file that says what was run,
where (the CPU model each table names) and when, and re-measured with the command stored beside
it. A region may sit on any page, but each on exactly one. The layout (row order, row labels,
wording around the numbers) lives here; the numbers live in the files. Rows from backfilled files
(copied from an older README, no machine record) are marked with a dagger and a footnote, found
from each file's own ``provenance``, so re-measuring a row removes its mark.

Usage::

    python benchmarks/readme_tables.py            # rewrite the regions of README.md and docs/*.md
    python benchmarks/readme_tables.py --check    # exit 1 (and show the difference) when a page is out of date

After re-running a benchmark (which replaces its file), run the first command and commit both.
"""

from __future__ import annotations

import argparse
import difflib
import re
import statistics
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import results_store

REGION = re.compile(r"(<!-- results:(?P<name>[a-z-]+) -->\n)(?P<body>.*?)(<!-- /results:(?P=name) -->)", re.S)
Results = dict[str, dict[str, Any]]

# --- the real-galaxy results table: (result file, row label) in README order ------------------------
QUALITY_BASELINES = (
    ("training mean", "predict the training mean"),
    ("central pixel, colour bins", "Kaggle central-pixel benchmark (re-implemented)"),
)
QUALITY_BASELINES_FILE = "baselines-sample"
QUALITY_ROWS = (
    ("quality-paper", "the paper's code (`paper.yaml`: 128 crop, BCE, sigmoid, batch 256), its 50 epochs, seed 0"),
    ("quality-paper-seed=1", "the same, seed 1"),
    ("quality-improved-epochs=240-lr_schedule=constant",
     "`improved.yaml` of issue 4 (207 crop to 69x69, tree head, MSE, flips/rotations and 4-pixel shifts, batch 64, "
     "constant rate, 240 epochs), 8-view TTA"),
    ("quality-improved-augment_shift=0-epochs=200-lr_schedule=constant", "the same without shifts, 200 epochs"),
    ("quality-improved-augment_shift=0-lr_schedule=cosine-epochs=210",
     "the same without shifts, cosine learning-rate decay over 210 epochs"),
    ("quality-improved-epochs=440-lr_schedule=constant",
     "the issue-4 configuration with `epochs: 440`: the 20-minute budget, not the epoch count, ends training"),
    ("quality-improved-epochs=440-lr_schedule=step", "the same with Dieleman's step decay over 440 epochs "
                                                     "(/10 at 72% and 92%), timed by the epochs, seed 0"),
    ("quality-improved-epochs=440-lr_schedule=step-seed=1", "the same, seed 1"),
    ("quality-improved-epochs=440-lr_schedule=step-schedule_clock=budget",
     "step decay timed by the 20-minute budget (`schedule_clock: budget`), seed 0"),
    ("quality-improved-epochs=440-lr_schedule=step-schedule_clock=budget-refit=true",
     "the same, refitted on training + validation galaxies (`refit: true`; machine busy: 309 epochs)"),
    ("quality-improved", "today's `improved.yaml` (issue 19: in-memory crops, no autotune stall, the decay timed "
                         "by the budget), seed 0"),
    ("quality-improved-seed=1", "today's `improved.yaml`, seed 1"),
)
QUALITY_ENSEMBLES = (  # (ensemble result file, row label): bench_ensemble
    ("ensemble-improved-const-step", "ensemble: the mean of the first two `epochs: 440` rows (40 minutes of "
                                     "training in all)"),
    ("ensemble-improved-x3-60min", "ensemble: the mean of all three `epochs: 440` rows (60 minutes in all)"),
    ("ensemble-deep-x2-improved-60min", "ensemble: the two `conv_blocks: 3` seeds and today's `improved.yaml` seed 0 "
                                        "(issue 20's finalists table; 60 minutes in all)"),
)
ENSEMBLE_NOW = "ensemble-improved-x3-60min"  # what parameters/ensemble.yaml holds (front page)
TARGETS = {"single": 0.095, "ensemble": 0.090}  # issue 10's targets on this split: 20 and 60 training minutes
BASELINE_NAMES = {  # names in bench_baselines' files -> the README's words
    "all-ones": "all-ones",
    "all-zeros": "all-zeros",
    "training mean": "training mean",
    "central pixel, colour bins": "central pixel, Kaggle's colour bins",
    "central pixel, k-means": "central pixel, k-means with {clusters} clusters",
}
INPUT_FILE = "input-sample-crop128"
INPUT_ROWS = (
    ("paper_loop_views", "paper loop (`cv2.imread`, crop, list, `np.array`)"),
    ("paper_loop_copies", "paper loop, crops copied (its best case)"),
    ("pipeline_one_pass", "tf.data pipeline, one pass over {files:,}"),
    ("pipeline_small_list", "pipeline over a {small_list:,}-entry list"),
    ("pipeline_big_list", "pipeline over a {big_list:,}-entry list"),
    ("header_check", "header check of {big_list:,} entries (`check-data`)"),
)
SYNTH_FILE, SYNTH_MEMORY_FILE = "synth-n2000-seed0", "synth-n6000-seed0"
TRAIN_FILE = "train-quick"
REPORT_FILE, REPORT_SCRATCH_FILE = "report-default", "report-default-from-scratch"


WIDTH = 98  # the README's prose is wrapped at about this width
NUMBER_WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}


def _para(*sentences: str) -> str:
    """One Markdown paragraph, wrapped like the README's hand-written prose (never inside a `code span`)."""
    text = re.sub(r"`[^`]*`", lambda m: m[0].replace(" ", "\0"), " ".join(sentences))
    return textwrap.fill(text, WIDTH, break_long_words=False, break_on_hyphens=False).replace("\0", " ")


def _get(results: Results, name: str) -> dict[str, Any]:
    if name not in results:
        raise LookupError(f"README needs benchmarks/results/{name}.json, which does not exist")
    return results[name]


def _command(record: dict[str, Any]) -> str:
    return record["command"]


def _conditions(record: dict[str, Any]) -> str:
    """How busy the machine was: the conditions a backfilled record states, and the load average."""
    machine = record["machine"]
    parts = [machine["conditions"]] if machine.get("conditions") else []
    load = machine.get("load_average")
    if isinstance(load, int | float):
        parts.append(f"load average {load:.1f}")
    elif load:
        parts.append(f"load average {load}")
    return ", ".join(parts) or "load not recorded"


def _dates(records: list[dict[str, Any]]) -> str:
    dates = sorted({r["date"] for r in records})
    return dates[0] if len(dates) == 1 else f"{dates[0]} to {dates[-1]}"


def _minutes_seconds(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


# --- where and how a figure was measured ------------------------------------------------------------------
BACKFILLED = "†"  # marks a row whose figures were copied from an older README, not stored by a measurement
NOT_RECORDED = "not recorded"


def is_backfilled(record: dict[str, Any]) -> bool:
    """Whether ``record`` was backfilled (its ``provenance`` says so) rather than written by its command.

    Detected from the file's own data, never from a list of names, so a re-measured file (whose
    provenance is the plain "measured by the command above") loses its mark by itself."""
    return str(record.get("provenance", "")).startswith("backfilled")


def _mark(record: dict[str, Any]) -> str:
    """`` †`` after a row label of a backfilled record, else nothing."""
    return f" {BACKFILLED}" if is_backfilled(record) else ""


def cpu(record: dict[str, Any]) -> str:
    """The CPU a record ran on, as the table says it: ``AMD EPYC, 2 cores`` or ``not recorded``."""
    machine = record["machine"]
    model = machine.get("cpu_model")
    if not model:
        return NOT_RECORDED + (" (backfilled)" if is_backfilled(record) else "")
    return f"{model}, {machine['cores']} cores" if machine.get("cores") else str(model)


def _cpus(records: list[dict[str, Any]]) -> str:
    """``CPU: X`` for records that share a CPU, else each CPU with the files that ran on it."""
    by_cpu: dict[str, list[str]] = {}
    for record in records:
        by_cpu.setdefault(cpu(record), []).append(record["name"])
    if len(by_cpu) == 1:
        return f"CPU: {next(iter(by_cpu))}"
    return "CPUs: " + "; ".join(f"{model} ({', '.join(f'`{n}`' for n in names)})" for model, names in by_cpu.items())


def _commits(records: list[dict[str, Any]]) -> str:
    """``commit abc1234`` or ``commits abc1234 and def5678``: the code that measured ``records``."""
    commits = sorted({str(r["machine"].get("git_commit"))[:7] for r in records})
    return f"commit{'s' if len(commits) > 1 else ''} {' and '.join(commits)}"


def _load(record: dict[str, Any]) -> float | None:
    """The load average recorded when the result was stored, or None (backfilled files state none)."""
    load = record["machine"].get("load_average")
    return float(load) if isinstance(load, int | float) else None


def _by_seed(records: list[dict[str, Any]], joiner: str = " and ") -> str:
    """``0.1612 (seed 0) and 0.1443 (seed 1)``: each record's test RMSE with its seed."""
    return joiner.join(f"{r['figures']['test_rmse']:.4f} (seed {r['setup']['config']['seed']})" for r in records)


def _cpu_load(record: dict[str, Any]) -> str:
    """The CPU and, where recorded, the load average when the result was stored: a wall-clock row
    run at load 4 on 2 cores had about half the machine, which its epoch count shows."""
    load = _load(record)
    return cpu(record) + ("" if load is None else f" ({load:.1f})")


def same_cpu(*records: dict[str, Any]) -> bool:
    """Whether every record names the same, recorded CPU model (figures of two machines are never
    put into one ratio; an unrecorded CPU is another machine as far as a ratio is concerned)."""
    models = {r["machine"].get("cpu_model") for r in records}
    return len(models) == 1 and None not in models


def _backfill_note(records: list[dict[str, Any]]) -> str:
    """The footnote under a table with backfilled rows: which files, what backfilled means, and how
    to replace them; empty when no record is backfilled."""
    names = sorted({r["name"] for r in records if is_backfilled(r)})
    if not names:
        return ""
    files = ", ".join(f"`{n}.json`" for n in names)
    return _para(
        f"{BACKFILLED} Backfilled, not measured by the stored command: {files} "
        f"{'was' if len(names) == 1 else 'were'} copied from an older README before results were stored (the "
        "commit is in each file's `provenance`); CPU model, versions and load were not recorded. Running the "
        "file's command replaces it with a measured one and removes the mark."
    )


# --- regions -------------------------------------------------------------------------------------------


def quality(results: Results) -> str:
    """Held-out results on the real sample (bench_baselines + bench_quality), each row with the CPU
    it ran on and backfilled rows marked."""
    base = _get(results, QUALITY_BASELINES_FILE)
    runs = [(_get(results, name), text) for name, text in QUALITY_ROWS]
    splits = {tuple(sorted(r["setup"]["split"].items())) for r, _ in runs} | {
        tuple(sorted(base["setup"]["split"].items()))}
    if len(splits) != 1:
        raise ValueError(f"the results table mixes splits: {sorted(splits)}")
    split = base["setup"]["split"]
    first = runs[0][0]
    minutes = {r["setup"]["minutes"] for r, _ in runs if r["setup"]["minutes"]}
    unbudgeted = ", ".join(sorted({f"`{r['name']}`" for r, _ in runs if not r["setup"]["minutes"]}))
    cores = {r["machine"]["cores"] for r, _ in runs}
    measured = [r for r, _ in runs if not is_backfilled(r)]
    best = min(r["figures"]["test_rmse"] for r in measured or [r for r, _ in runs])
    backfilled = len(runs) - len(measured)
    lines = [
        _para(
            f"The shared sample of {sum(split.values()):,} real Kaggle galaxies, split once with seed "
            f"{first['setup']['split_seed']}: {split['test']:,} test and {split['val']:,} validation galaxies drawn "
            f"only from the unbiased GalaxyID block (never trained on), {split['train']:,} training galaxies "
            f"(including the 399 hand-picked ones). {'/'.join(map(str, sorted(cores)))} CPU cores, "
            f"{'/'.join(f'{m:g}' for m in sorted(minutes))}-minute training budget"
            + (f" (rows run with `--minutes 0` train their configuration's epochs with no budget: "
               f"{unbudgeted})" if unbudgeted else "")
            + ", "
            "`benchmarks/bench_quality.py` (setup and figures of each row: `benchmarks/results/quality-*.json`, "
            "the baselines: `benchmarks/results/baselines-sample.json`). "
            + (f"{len(measured)} rows were measured on {_dates(measured)}; " if measured else "")
            + (f"the {NUMBER_WORDS.get(backfilled, backfilled)} rows marked {BACKFILLED} were backfilled "
               "(see below) and the bold best figure is taken from measured rows only." if backfilled else ""),
        ),
        "",
        "| configuration | epochs (time) | last training epoch, paper-style RMSE | held-out test RMSE "
        "| held-out accuracy | CPU (load average at the end) |",
        "|---|---|---|---|---|---|",
    ]
    for key, text in QUALITY_BASELINES:
        lines.append(f"| {text}{_mark(base)} | - | - | {base['figures']['test'][key]['rmse']:.4f} | - | {cpu(base)} |")
    for record, text in runs:
        f = record["figures"]
        rmse = f"{f['test_rmse']:.4f}"
        if f["test_rmse"] == best and not is_backfilled(record):
            rmse = f"**{rmse}**"
        lines.append(f"| {text}{_mark(record)} | {f['epochs']} ({f['training_minutes']:.1f} min) "
                     f"| {f['last_train_rmse']:.4f} | {rmse} | {f['test_accuracy']:.3f} | {_cpu_load(record)} |")
    ensembles = [(_get(results, name), text) for name, text in QUALITY_ENSEMBLES]
    for record, text in ensembles:
        f = record["figures"]
        if tuple(sorted(record["setup"]["split"].items())) not in splits:
            raise ValueError(f"{record['name']} was scored on another split: {record['setup']['split']}")
        epochs = " + ".join(str(m["epochs"]) for m in f["members"])
        lines.append(f"| {text}{_mark(record)} | {epochs} ({f['training_minutes']:.1f} min in all) | - "
                     f"| {f['test_rmse']:.4f} | {f['test_accuracy']:.3f} | {cpu(record)} |")
    note = _backfill_note([base, *(r for r, _ in runs), *(r for r, _ in ensembles)])
    if note:
        lines += ["", note]
    paper = results.get("quality-paper")
    compare = results.get(COMPARE_FILE)
    if paper and compare and "paper-sample" in compare["figures"]["runs"]:
        run = compare["figures"]["runs"]["paper-sample"]
        if is_backfilled(paper):
            lines += ["", _para(
                f"The paper's configuration measured on this split with these seeds: `{run['parameters_file']}` in "
                f"`benchmarks/results/{COMPARE_FILE}.json` ({compare['date']}, {cpu(compare)}), {run['epochs']} "
                f"epochs: test RMSE {run['test_rmse']:.4f} against {run['training_mean_rmse']:.4f} for the training "
                f"mean ({run['gain_over_training_mean']:+.1%}). That is the paper's measured figure; the backfilled "
                f"{paper['figures']['test_rmse']:.4f} above stays until its command re-measures it."
            )]
        else:
            seeds = [_get(results, name) for name in PAPER_NOW]
            lines += ["", _para(
                f"The paper's configuration also ran in the comparison, `{run['parameters_file']}` in "
                f"`benchmarks/results/{COMPARE_FILE}.json` ({compare['date']}, {_commits([compare])}, {cpu(compare)}): "
                f"the same split, seed 0 and {run['epochs']} epochs, test RMSE {run['test_rmse']:.4f}. The rows above, "
                f"{_by_seed(seeds)}, were measured at {_commits(seeds)}; the training mean scores "
                f"{run['training_mean_rmse']:.4f} on these galaxies."
            )]
    lines += ["", "```bash", _command(base), *(_command(r) for r, _ in runs), *(_command(r) for r, _ in ensembles),
              "```"]
    if ensembles:
        best_ensemble = min(r["figures"]["test_rmse"] for r, _ in ensembles)
        lines += ["", _para(
            f"Targets on this split: one model trained in at most 20 minutes {TARGETS['single']:.3f} (best here "
            f"{best:.4f}: {'met' if best <= TARGETS['single'] else 'not met'}); an ensemble trained in at most 60 "
            f"minutes in all {TARGETS['ensemble']:.3f} (best here {best_ensemble:.4f}: "
            f"{'met' if best_ensemble <= TARGETS['ensemble'] else 'not met'})."
        )]
    return "\n".join(lines)


def baselines(results: Results) -> str:
    """Baselines without a model on the real sample (bench_baselines)."""
    record = _get(results, QUALITY_BASELINES_FILE)
    setup, test = record["setup"], record["figures"]["test"]
    lines = [
        _para(
            f"Baselines on the real sample (`{setup['parameters_file']}` split: {setup['split']['test']:,} test "
            f"galaxies from the unbiased ID block, {setup['split']['train']:,} training galaxies), measured without "
            f"any model by `{_command(record)}` ({_cpus([record])}, {record['date']}):"
        ),
        "",
        "| predictor | test RMSE |",
        "|---|---|",
    ]
    for name, figure in sorted(test.items(), key=lambda item: -item[1]["rmse"]):
        label = BASELINE_NAMES.get(name, name).format(clusters=setup.get("clusters"))
        lines.append(f"| {label}{_mark(record)} | {figure['rmse']:.4f} |")
    note = _backfill_note([record])
    return "\n".join([*lines, "", note] if note else lines)


def input_pipeline(results: Results) -> str:
    """Input speed and memory (bench_input)."""
    record = _get(results, INPUT_FILE)
    setup, f = record["setup"], record["figures"]
    sample = f"the shared {setup['files']:,}-galaxy sample" if setup["data"].endswith("galaxy-zoo-sample") else (
        f"{setup['files']:,} images from {setup['data']}")
    lines = [
        _para(
            f"Measured with `{_command(record)}` ({sample}, {setup['crop']} crop, batch {setup['batch_size']}, "
            f"each figure from a fresh process pinned to {setup['cores']} cores, {_conditions(record)}, "
            f"{record['date']}; {_cpus([record])}):"
        ),
        "",
        "| configuration | images/s | CPU ms/image | peak RSS |",
        "|---|---|---|---|",
    ]
    for key, text in INPUT_ROWS:
        row = f[key]
        lines.append(f"| {text.format(**setup)}{_mark(record)} | {row['images_per_s']:,.0f} "
                     f"| {row['cpu_ms_per_image']:.2f} | {row['peak_rss_mb']:,.0f} MB |")
    passed = sum(bool(ok) for ok in f["targets"].values())
    total = len(f["targets"])
    verdict = f"All {NUMBER_WORDS.get(total, total)} targets pass" if passed == total else (
        f"{passed} of {total} targets pass")
    growth = f["big_vs_small_rss_growth"]
    lines += [
        "",
        _para(
            f"{verdict}: the pipeline is {f['pipeline_vs_paper_best']:.1f}x the paper's loop in its best case "
            f"({f['pipeline_vs_paper_as_written']:.1f}x the loop as written; target 4x), "
            f"{f['pipeline_one_pass']['images_per_s']:,.0f} images/s (target 2,000), peak RSS over "
            f"{setup['big_list']:,} entries {f['pipeline_big_list']['peak_rss_mb']:,.0f} MB (target 1.5 GB) and "
            f"{abs(growth):.1%} {'above' if growth >= 0 else 'below'} the {setup['small_list']:,}-entry figure "
            f"(target 20%). About {f['tensorflow_rss_mb']:,.0f} MB of that RSS is TensorFlow itself."
        ),
    ]
    note = _backfill_note([record])
    if note:
        lines += ["", note]
    return "\n".join(lines)


def synth(results: Results) -> str:
    """Learnability, speed and memory of the synthetic sky (bench_synth)."""
    record = _get(results, SYNTH_FILE)
    memory = _get(results, SYNTH_MEMORY_FILE)
    setup, f = record["setup"], record["figures"]
    learn, real, gen = f["learnability"], f["real_ridge"], f["generation"]
    lines = [
        _para(
            f"Measured with `{_command(record)}` (`--docs` also refreshes the figure and "
            f"[docs/synthetic_vs_real.md](synthetic_vs_real.md)): {setup['n']:,} galaxies, seed {setup['seed']}; "
            f"learnability on {learn['n_test']:,} held-out galaxies; {_cpus([record, memory])}."
        ),
        "",
        "| predictor | held-out RMSE |",
        "|---|---:|",
        f"| training mean{_mark(record)} | {learn['mean_rmse']:.4f} |",
        f"| ridge regression on 32x32 grey pixels (central 128x128 crop){_mark(record)} | {learn['ridge_rmse']:.4f} "
        f"({learn['ridge_gain']:.1%} lower) |",
        f"| noise floor (sampled votes vs true probabilities){_mark(record)} | {learn['noise_floor_rmse']:.4f} |",
        "",
        _para(
            f"The same ridge code on the real sample's unbiased {f['answer_means']['n_real']:,}-galaxy block gets "
            f"{real['ridge_rmse']:.4f} against {real['mean_rmse']:.4f} ({real['ridge_gain']:.1%} lower): the "
            "synthetic sky is easier to read from pixels than real SDSS images, and its noise floor leaves plenty "
            f"of room for better models. Speed: {gen['galaxies_per_s']:.0f} galaxies/s with {setup['workers']} "
            f"workers on {record['machine']['cores']} cores ({_conditions(record)}; "
            f"{gen['cpu_ms_per_galaxy']:.1f} ms of CPU per galaxy); memory is flat in n "
            f"({_memory(gen, memory['figures']['generation'])})."
        ),
    ]
    note = _backfill_note([record, memory])
    if note:
        lines += ["", note]
    return "\n".join(lines)


def _memory(small: dict[str, Any], big: dict[str, Any]) -> str:
    def mb(value: float) -> int:
        return int(round(value, -1))

    if (mb(small["peak_rss_main_mb"]), mb(small["peak_rss_worker_mb"])) == (
            mb(big["peak_rss_main_mb"]), mb(big["peak_rss_worker_mb"])):
        return (f"about {mb(small['peak_rss_main_mb'])} MB for the main process and "
                f"{mb(small['peak_rss_worker_mb'])} MB per worker at both {small['galaxies']:,} and "
                f"{big['galaxies']:,} galaxies")
    return "; ".join(
        f"{g['galaxies']:,} galaxies: about {mb(g['peak_rss_main_mb'])} MB for the main process and "
        f"{mb(g['peak_rss_worker_mb'])} MB per worker" for g in (small, big))


def training_speed(results: Results) -> str:
    """Training speed at both input sizes (bench_train)."""
    record = _get(results, TRAIN_FILE)
    setup, rows = record["setup"], record["figures"]["rows"]
    parts = ["tree head" if setup["head"] == "tree" else f"{setup['head']} head", setup["loss"].upper()]
    lines = [
        _para(
            f"`{_command(record)}` (about a minute; the full grid of batch sizes, oneDNN on/off and threads "
            "without `--quick`). VGG6 with " + ", ".join(parts)
            + (" and augmentation" if setup["augment"] else ", no augmentation") + " on the "
            f"{'real sample' if 'galaxy-zoo-sample' in setup['data'] else setup['data']}, "
            f"{record['machine']['cores']} CPU cores, {_conditions(record)}, {record['date']}; {_cpus([record])}:"
        ),
        "",
        "| input | batch | model alone (in-memory batch) | full pipeline | with crop cache "
        "| CPU ms/image (model / pipeline / cache) | input wait (pipeline / cache) |",
        "|---|---|---|---|---|---|---|",
    ]
    shown: set[int] = set()
    for r in rows:
        side = r["side"]
        geometry = setup["sizes"].get(str(side), {})
        name = f"{side}x{side}"
        if side not in shown and geometry.get("crop", side) != side:
            name += f" (crop {geometry['crop']})"
        shown.add(side)
        lines.append(
            f"| {name}{_mark(record)} | {r['batch_size']} | {r['cached_images_per_s']:,.0f} img/s "
            f"| {r['pipeline_images_per_s']:,.0f} "
            f"img/s | {r['crop_cache_images_per_s']:,.0f} img/s | {r['cached_cpu_ms_per_image']:.1f} / "
            f"{r['pipeline_cpu_ms_per_image']:.1f} / {r['crop_cache_cpu_ms_per_image']:.1f} | "
            f"{r['input_wait']:.0%} / {r['crop_cache_input_wait']:.0%} |"
        )
    paper_rows = [r for r in rows if r["side"] == 128]
    if paper_rows:
        slowest = min(r["pipeline_images_per_s"] for r in paper_rows)
        paper = max(paper_rows, key=lambda r: r["batch_size"])
        lines += [
            "",
            _para(
                f"At 128x128 the target of at least 60 img/s is met {slowest / 60:.1f}x over (the paper's settings, "
                f"batch {paper['batch_size']}: {paper['pipeline_images_per_s']:.0f} img/s)."
            ),
        ]
    return "\n".join(lines)


def report(results: Results) -> str:
    """Wall time and result of the default report (bench_report)."""
    record = _get(results, REPORT_FILE)
    scratch = _get(results, REPORT_SCRATCH_FILE)
    synth_record = _get(results, SYNTH_FILE)
    setup, f = record["setup"], record["figures"]
    notebooks = f["notebooks"]
    timings = []
    for notebook, seconds in notebooks.items():
        text = f"`{notebook.removesuffix('.ipynb')}` {seconds:.0f} s"
        if "train" in notebook:
            side = setup["image_size"] or setup["crop"]
            text += f" ({f['epochs']} epochs at {side}x{side})"
        timings.append(text)
    speed = synth_record["figures"]["generation"]["galaxies_per_s"]
    galaxies = sum(setup["split"].values())
    base = f["baselines"]
    if same_cpu(record, synth_record):
        sky = (f"Generating the sky first adds about {galaxies / speed:.0f} s ({galaxies:,} galaxies at {speed:.0f} "
               "galaxies/s, see below). ")
    else:  # the generator's speed was measured on another (or an unrecorded) machine: no estimate from it
        sky = ""
    return _para(
        f"Measured on a {record['machine']['cores']}-core machine (CPU: {cpu(record)}; {_conditions(record)}; "
        f"{record['date']}) with the synthetic sky "
        f"{'generated first' if setup['sky_generated'] else 'already generated'} "
        f"(`{_command(record)}`: `make report`'s command on a fresh run folder, timed like "
        f"`rm -rf runs/default && time make report`): {_minutes_seconds(f['total_seconds'])} in all, of which "
        + ", ".join(timings[:-1]) + f", {timings[-1]}; the rest is kernel start-ups and HTML.",
        f"{sky}`{_command(scratch)}` also generates the sky: on {cpu(scratch)} ({_conditions(scratch)}, "
        f"{scratch['date']}) it took {_minutes_seconds(scratch['figures']['total_seconds'])}"
        + ("." if same_cpu(record, scratch) else ", on another machine than the run above, so the two times are "
           "not compared."),
        f"Result on its {setup['split']['test']:,} held-out synthetic galaxies: test RMSE {f['test_rmse']:.4f} "
        f"(accuracy {f['test_accuracy']:.3f}) against {base['training mean']:.4f} for the training mean and "
        f"{base['central pixel']:.4f} for the central-pixel benchmark.",
    )


SCREEN_PREFIX = "quality-screen"  # bench_quality runs labelled screen...: short screens of one lever each
SCREEN_FIXED = ("epochs", "seed")  # overrides shown in their own columns, not as "what changed"


def _screen_budget(record: dict[str, Any]) -> str:
    minutes = record["setup"]["minutes"]
    return f"{minutes:g} min" if minutes else f"{record['setup']['config']['epochs']} epochs"


def screens(results: Results) -> str:
    """Every short screening run of a lever (bench_quality ``--label screen...``), helpful or not."""
    records = [r for name, r in results.items() if name.startswith(SCREEN_PREFIX)]
    if not records:
        return _para("No screening runs stored yet.")
    records.sort(key=lambda r: (r["setup"]["minutes"] or 0, r["setup"]["config"]["epochs"], r["figures"]["test_rmse"]))
    timed = [r["machine"].get("load_average") for r in records if r["setup"]["minutes"]]
    loads = sorted(x for x in timed if isinstance(x, int | float))
    load_text = (f"at load average {loads[0]:.1f}-{loads[-1]:.1f}, not on an idle machine, so they compare with "
                 "each other only" if loads else "with the load not recorded")
    lines = [
        _para(
            "Short screens of one lever at a time, on the same split as the table above "
            f"({_dates(records)}, `benchmarks/results/{SCREEN_PREFIX}*.json`; {_cpus(records)}). A budget in "
            "epochs compares quality per epoch (seeded CPU runs give the same figures on a busy machine, so the "
            "minutes of those rows are not speed figures); a budget in minutes compares quality per unit of time, "
            f"and these ran {load_text}. Test RMSE with the run's own test-time averaging."
        ),
        "",
        "| budget | change from issue 4's `improved.yaml` (constant rate) | seed | epochs | minutes (load) "
        "| best validation RMSE | held-out test RMSE |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in records:
        config, f = r["setup"]["config"], r["figures"]
        pinned = set(r["setup"].get("pinned", ()))  # keys that only restore the improved.yaml of the screens
        changes = [o for o in r["setup"]["overrides"] if o.split("=", 1)[0] not in SCREEN_FIXED and o not in pinned]
        lines.append(
            f"| {_screen_budget(r)}{_mark(r)} | {', '.join(f'`{c}`' for c in changes) or 'none'} | {config['seed']} "
            f"| {f['epochs']} | {f['training_minutes']:.1f} ({_conditions(r)}) "
            f"| {_optional(f['best_val_rmse'], 'refit')} "
            f"| {f['test_rmse']:.4f} ({f['tta']}) |"
        )
    note = _backfill_note(records)
    if note:
        lines += ["", note]
    lines += ["", "```bash", *(_command(r) for r in records), "```"]
    return "\n".join(lines)


PUSH_PREFIX = "quality-improved-epochs=200-schedule_clock=epochs"  # issue 20's levers at equal epochs
PUSH_COMMON = ("epochs=200", "schedule_clock=epochs")  # the overrides every push row shares (not levers)
PUSH_LEVERS = {  # override -> what it is, for the table
    "mixup=0.2": "mixup: pairs of images and their vote fractions mixed by Beta(0.2, 0.2) weights",
    "label_smoothing=0.1": "targets pulled 10% of the way to the training mean",
    "precision=mixed_bfloat16": "bfloat16 compute (`precision: mixed_bfloat16`)",
    "width=1.5": "a wider body (`width: 1.5`: 1.5x the filters, about 2.2x the multiply-adds)",
}


def _levers(record: dict[str, Any]) -> list[str]:
    """A push row's levers: its overrides less the ones every row shares and the seed."""
    return [o for o in record["setup"]["overrides"] if o not in PUSH_COMMON and not o.startswith("seed=")]


def push(results: Results) -> str:
    """Issue 20's quality push: each lever on today's ``improved.yaml`` at the same 200 epochs (the
    epochs, not the clock, end training and time the decay), against the fixed-epoch curve's points
    with all training galaxies (the same file, epochs and split, without the lever), on the quality
    table's split; with the shift TTA of each lever row. Every lever a row, helped or not."""
    records = sorted((r for name, r in results.items() if name.startswith(PUSH_PREFIX)),
                     key=lambda r: (_levers(r), r["setup"]["config"]["seed"]))
    if not records:
        raise ValueError(f"no {PUSH_PREFIX}*.json result: run the commands in docs/results.md")
    curve = _get(results, CURVE_EPOCHS_FILE)
    points = curve["figures"]["points"]
    largest = max(p["n_train"] for p in points)
    base = {p["seed"]: p for p in points if p["n_train"] == largest}
    splits = {r["setup"]["split"]["train"] for r in records} | {largest}
    if len(splits) != 1:
        raise ValueError(f"the push compares {largest:,} training galaxies with lever runs on {sorted(splits)}")
    lines = [
        _para(
            "Every lever is one change to today's `improved.yaml`, trained for the same 200 epochs with the step "
            "decay timed by the epochs (`--minutes 0 --set epochs=200 --set schedule_clock=epochs`) and scored on the "
            f"quality table's split ({_dates([curve, *records])}; {_cpus([curve, *records])}). The baseline rows are "
            f"the fixed-epoch curve's points with all {largest:,} training galaxies (`{curve['name']}.json`): the same "
            "file, epochs and split without a lever. Seeded CPU runs give the same figures on a busy machine, so these "
            "rows compare quality at equal epochs; their minutes are not speed figures (the machine was shared; the "
            "epoch-time tables in [training and speed](training-and-speed.md) are). Test RMSE with the "
            "configuration's 8-view TTA and, for the lever runs, with `tta: dihedral_shift` (the 8 views at 5 shifts "
            "of 2 pixels)."
        ),
        "",
        "| lever | seed | held-out test RMSE (8 views) | change against the baseline, same seed "
        "| with shift TTA (40 views) | epochs | minutes |",
        "|---|---|---|---|---|---|---|",
    ]
    for seed, p in sorted(base.items()):
        lines.append(f"| none (the baseline) | {seed} | {p['test_rmse']:.4f} | - | not scored | {p['epochs']} "
                     f"| {p['minutes']:.1f} |")
    for r in records:
        f, seed = r["figures"], r["setup"]["config"]["seed"]
        text = "; ".join(PUSH_LEVERS.get(o, f"`{o}`") for o in _levers(r)) or "none (today's `improved.yaml`)"
        ref = base.get(seed)
        change = "-" if ref is None else f"{f['test_rmse'] - ref['test_rmse']:+.4f}"
        shifted = f["test"].get("dihedral_shift", {}).get("rmse")
        lines.append(
            f"| {text}{_mark(r)} | {seed} | {f['test_rmse']:.4f} | {change} "
            f"| {_optional(shifted, 'not scored')} | {f['epochs']} | {f['training_minutes']:.1f} |"
        )
    lines += ["", "```bash", _command(curve), *(_command(r) for r in records), "```"]
    return "\n".join(lines)


FINALIST_ROWS = (  # issue 20: (result file, what it is, the float32 file of the same seed it is compared with)
    ("quality-improved", "today's `improved.yaml` (float32, step decay timed by the budget)", None),
    ("quality-improved-seed=1", "today's `improved.yaml`", None),
    ("quality-improved-precision=mixed_bfloat16", "bfloat16 compute (`precision: mixed_bfloat16`)",
     "quality-improved"),
    ("quality-improved-precision=mixed_bfloat16-seed=1", "bfloat16 compute", "quality-improved-seed=1"),
    ("quality-improved-width=1.5", "a wider body (`width: 1.5`)", "quality-improved"),
    ("quality-improved-conv_blocks=3", "a deeper body (`conv_blocks: 3`: a third VGG block, 64 filters)",
     "quality-improved"),
    ("quality-improved-conv_blocks=3-seed=1", "a deeper body", "quality-improved-seed=1"),
)


def _finalist_command(name: str) -> str:
    """The command of a finalist row not yet measured, from its file name (bench_quality names a file
    ``quality-<parameters file>-<override>-...``; a measured row's file holds its own command)."""
    _, stem, *overrides = name.split("-")
    sets = "".join(f" --set {o}" for o in overrides)
    return f"python benchmarks/bench_quality.py -f parameters/{stem}.yaml --minutes 20{sets}"


def finalists(results: Results) -> str:
    """Issue 20's equal-compute rows: the finalists (float32 and bfloat16 step decay, 2 seeds each) and
    the levers that cost time per epoch (a wider and a deeper body), each trained for 20 minutes of
    wall time, with the machine's load and each configuration's median against the 0.095 target."""
    rows = [(results.get(name), name, text, ref) for name, text, ref in FINALIST_ROWS]
    measured = [r for r, *_ in rows if r]
    if not measured:
        raise ValueError("no finalist result: run the commands in docs/results.md")
    lines = [
        _para(
            "Each row trains today's `improved.yaml` with one change for 20 minutes of wall time "
            "(`--minutes 20`; the step decay follows the budget) and scores the best-validation epoch on the "
            f"quality table's split ({_dates(measured)}; {_cpus(measured)}). A wall-clock row measures speed "
            "and quality together, so the load average when it was stored is shown: 2 cores running one "
            "training read about 2; above 3 the run shared the machine and fit fewer epochs. The change is "
            "against the float32 row of the same seed, and a ratio of epochs is given only for rows on the same CPU "
            "with neither run on a shared machine."
        ),
        "",
        "| configuration | seed | epochs in 20 min (s/epoch) | held-out test RMSE (8 views) | with shift TTA "
        "| change against float32, same seed | epochs against float32 | load average |",
        "|---|---|---|---|---|---|---|---|",
    ]
    by_config: dict[str, tuple[str, list[float]]] = {}  # file name less its seed -> (label, test RMSEs)
    commands = []
    for record, name, text, ref_name in rows:
        if record is None:
            lines.append(f"| {text} | {name.rsplit('seed=', 1)[-1] if 'seed=' in name else 0} | not run | - | - "
                         "| - | - | - |")
            commands.append(_finalist_command(name))
            continue
        f, seed = record["figures"], record["setup"]["config"]["seed"]
        ref = results.get(ref_name) if ref_name else None
        change = f"{f['test_rmse'] - ref['figures']['test_rmse']:+.4f}" if ref else "-"
        ratio = (f"x{f['epochs'] / ref['figures']['epochs']:.2f}"
                 if ref and same_cpu(record, ref) and not _busy([record, ref]) else "-")
        shifted = f["test"].get("dihedral_shift", {}).get("rmse")
        seconds = 60 * f["training_minutes"] / f["epochs"]
        load = _load(record)
        load_text = NOT_RECORDED if load is None else f"{load:.1f}"
        lines.append(
            f"| {text}{_mark(record)} | {seed} | {f['epochs']} ({seconds:.1f} s) | {f['test_rmse']:.4f} "
            f"| {_optional(shifted, 'not scored')} | {change} | {ratio} | {load_text} |"
        )
        by_config.setdefault(re.sub(r"-seed=\d+$", "", name), (text.split(" (")[0], []))[1].append(f["test_rmse"])
        commands.append(_command(record))
    medians = "; ".join(
        f"{label}: {statistics.median(values):.4f} ({len(values)} seed{'s' if len(values) > 1 else ''})"
        for label, values in by_config.values()
    )
    best = min(statistics.median(values) for _, values in by_config.values())
    lines += [
        "",
        _para(
            f"Median test RMSE per configuration: {medians}. Target for one model trained in 20 minutes: "
            f"{TARGETS['single']:.3f} ({'met' if best <= TARGETS['single'] else 'not met'}; best median {best:.4f})."
        ),
        "", "```bash", *commands, "```",
    ]
    return "\n".join(lines)


def _optional(value: float | None, missing: str) -> str:
    """An RMSE to four places, or what stands in its place when the run has none."""
    return missing if value is None else f"{value:.4f}"


PRECISION_FILE = "train-quick-precision=float32+mixed_bfloat16"
VIEWS_PREFIX = "train-"  # bench_train files of vgg6_views carry the model and view count in their names


def lever_speed(results: Results) -> str:
    """Training speed of the levers that change the cost of a step: bfloat16 and viewpoint pooling
    (bench_train), against float32 VGG6 at the same input size and batch from the same precision run."""
    record = _get(results, PRECISION_FILE)
    rows = list(record["figures"]["rows"])
    views = [r for name, r in sorted(results.items()) if name.startswith(VIEWS_PREFIX) and "vgg6_views" in name]
    for extra in views:
        if not same_cpu(record, extra):
            raise ValueError(f"{extra['name']} ran on {cpu(extra)}, {record['name']} on {cpu(record)}: "
                             "their images/s cannot share a ratio column")
        rows += extra["figures"]["rows"]
    reference = {(r["side"], r["batch_size"]): r for r in record["figures"]["rows"] if r["precision"] == "float32"}
    lines = [
        _para(
            f"`{_command(record)}`" + "".join(f" and `{_command(v)}`" for v in views)
            + f" ({record['machine']['cores']} CPU cores, {_conditions(record)}, {record['date']}; "
            f"{_cpus([record, *views])}; "
            f"{record['setup']['images_per_run']} images a measurement, so expect a few per cent of noise). "
            "Images/s of a training step on in-memory batches (the model alone) and through the crop cache "
            "(what `improved.yaml` trains with), against float32 VGG6 at the same input and batch:"
        ),
        "",
        "| model | precision | input | batch | model alone | with crop cache | CPU ms/image | vs float32 VGG6 "
        "(crop cache) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        model = r["model"] + (f", {r['views']} views ({r['views_combine']})" if r.get("views") else "")
        base = reference.get((r["side"], r["batch_size"]))
        ratio = f"x{r['crop_cache_images_per_s'] / base['crop_cache_images_per_s']:.2f}" if base else "-"
        lines.append(
            f"| {model} | {r['precision']} | {r['side']}x{r['side']} | {r['batch_size']} "
            f"| {r['cached_images_per_s']:,.0f} img/s | {r['crop_cache_images_per_s']:,.0f} img/s "
            f"| {r['cached_cpu_ms_per_image']:.1f} | {ratio} |"
        )
    return "\n".join(lines)


CURVE_FILE = "curve-learning_curve"  # bench_curve -f parameters/learning_curve.yaml
CURVE_FIGURE = "learning_curve.png"  # beside the page that holds the region (docs/)
CURVE_EPOCHS_FILE = "curve-learning_curve_epochs"  # bench_curve -f parameters/learning_curve_epochs.yaml
CURVE_EPOCHS_FIGURE = "learning_curve_epochs.png"


def _sd(value: float | None) -> str:
    return "" if value is None else f" ± {value:.4f}"


def learning_curve(results: Results) -> str:
    """The budget curve (5 minutes a point): data and compute together."""
    return _learning_curve(results, CURVE_FILE, CURVE_FIGURE)


def learning_curve_epochs(results: Results) -> str:
    """The fixed-epoch curve (every point the same epochs): the data-or-method answer first."""
    return _learning_curve(results, CURVE_EPOCHS_FILE, CURVE_EPOCHS_FIGURE, answer=True)


def data_or_method(results: Results) -> str:
    """The front page's one sentence on data against method, from the fixed-epoch curve
    (:func:`galaxy_lib.studies.curve_analysis.data_or_method`, the report conclusion's wording)."""
    from galaxy_lib.studies.curve_analysis import data_or_method as sentence

    record = _get(results, CURVE_EPOCHS_FILE)
    f = record["figures"]
    return _para(
        f"**Data or method?** {sentence(f['extrapolation'], f['sizes'])} (The learning curve at a fixed number of "
        f"epochs, 150 to {f['sizes'][-1]['training galaxies']:,} real galaxies, 2 seeds a size: "
        f"[docs/evaluation-and-learning-curves.md](docs/evaluation-and-learning-curves.md#the-curve-at-a-fixed-"
        f"number-of-epochs), `benchmarks/results/{record['name']}.json`, {_cpus([record])}.)"
    )


def _learning_curve(results: Results, name: str, figure: str, *, answer: bool = False) -> str:
    """A real-sample learning curve, its extrapolation to Kaggle's 61,578 galaxies, the synthetic
    check of that extrapolation and the compute curve's verdict (bench_curve); with ``answer``,
    the data-or-method sentence first."""
    from galaxy_lib.studies.curve_analysis import data_or_method as sentence

    record = _get(results, name)
    f, setup = record["figures"], record["setup"]
    main = setup["curve"]
    lines = [
        _para(
            f"Measured on {record['date']} with `{_command(record)}` ({_cpus([record])}; "
            f"`benchmarks/results/{record['name']}.json`): `{main['config_file']}` with "
            + ", ".join(f"`{k}: {v}`" for k, v in main["changes"].items())
            + f", {main['seeds']} seed{'s' if main['seeds'] != 1 else ''} per size, every point scored on the "
            f"same {main['n_test']:,} held-out test galaxies and {main['n_val']:,} validation galaxies "
            f"({f['budget']}). Test RMSE with the configuration's test-time averaging:"
        ),
        "",
        "| training galaxies | points | held-out test RMSE | training-mean predictor | test accuracy | epochs "
        "| minutes |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in f["sizes"]:
        lines.append(
            f"| {row['training galaxies']:,} | {row['points']} | {row['test RMSE']:.4f}{_sd(row['test RMSE sd'])} "
            f"| {row['training-mean predictor']:.4f} | {row['test accuracy']:.3f} | {row['epochs']} "
            f"| {row['minutes']} |"
        )
    if answer:
        lines += ["", _para(f"**Data or method:** {sentence(f['extrapolation'], f['sizes'])}")]
    lines += ["", _extrapolation(results, record)]
    validation = f.get("validation")
    if validation:
        check, spec = validation["check"], setup["validation"]
        budget = (f"{spec['minutes_per_point']:g} minutes each" if spec["minutes_per_point"]
                  else f"{spec['changes'].get('epochs', '?')} epochs each")
        lines += ["", _para(
            f"**The method checked on a synthetic sky** (`{spec['config_file']}` on "
            f"`{spec['data']}`, sizes {spec['sizes']}, one point a size, {budget}): {check['summary']}"
        )]
    lines += ["", _para(f"**More time:** {f['compute']['summary']}")]
    lines += ["", f"![learning curve and its extrapolation]({figure})"]
    return "\n".join(lines)


IMPROVED_NOW = ("quality-improved", "quality-improved-seed=1")  # today's improved.yaml, two seeds (front page)
CURVE_LONGER = (  # bench_quality runs of the curve's configuration at its largest size with a 20-minute budget
    "quality-improved-epochs=440-lr_schedule=step",
    "quality-improved-epochs=440-lr_schedule=step-seed=1",
    "quality-improved-epochs=440-lr_schedule=step-schedule_clock=budget",
)


def _extrapolation(results: Results, record: dict[str, Any]) -> str:
    """What the curve's fit says, in the report conclusion's own wording
    (:func:`galaxy_lib.studies.curve_analysis.extrapolation_paragraph`: budget-limited points are not
    extrapolated to the method's asymptote, the interval is low-high), with the longer runs at the
    largest size that this page has and the report has not."""
    from galaxy_lib.studies.curve_analysis import budget_limited, extrapolation_paragraph

    f = record["figures"]
    e, sizes = f["extrapolation"], f["sizes"]
    longer = [results[name] for name in CURVE_LONGER if name in results and not is_backfilled(results[name])]
    measured = ""
    if longer and budget_limited(sizes):
        values = sorted(r["figures"]["test_rmse"] for r in longer)
        n = {r["setup"]["split"]["train"] for r in longer}
        files = ", ".join(f"`{r['name']}.json`" for r in longer)
        measured = (
            f"The same file at {'/'.join(f'{x:,}' for x in sorted(n))} galaxies with a 20-minute budget measured "
            f"{values[0]:.4f}-{values[-1]:.4f} ({files}; "
            f"{_cpus(longer)}), "
            + ("below" if values[-1] < e["fit"]["c"] else "around") + " the level of this fit."
        )
    return _para(extrapolation_paragraph(e, sizes, measured))


SCALE_FILES = ("scale-n6000", "scale-n61578")  # bench_scale: the chain at 6,000 and at Kaggle's 61,578 galaxies
SCALE_STAGES = ("generate", "check-data", "train", "evaluate", "predict", "report")


def scale(results: Results) -> str:
    """The full-size rehearsal (bench_scale): wall time and peak RSS of every stage at 6,000 and 61,578
    galaxies, the targets, disk use and the epoch time with what it means for the paper's 50 epochs."""
    small, full = (_get(results, name) for name in SCALE_FILES)
    if not same_cpu(small, full):
        raise ValueError(f"{small['name']} ran on {cpu(small)} and {full['name']} on {cpu(full)}: the peak RSS "
                         "ratio needs both on one machine")
    fs, ff = small["figures"], full["figures"]
    lines = [
        _para(
            f"Measured on {_dates([small, full])} ({full['machine']['cores']} CPU cores, "
            f"{_conditions(full)}; {_cpus([small, full])}; `benchmarks/results/{small['name']}.json` and "
            f"`{full['name']}.json`) with "
            f"`{_command(small)}` and `{_command(full)}`: the paper's configuration "
            f"(`{full['setup']['parameters_file']}`) for {full['setup']['epochs']} epoch, every stage read from the "
            "zips. Wall time and peak RSS of each stage's whole process tree (MB of 2^20 bytes):"
        ),
        "",
        f"| stage | {small['setup']['n']:,} galaxies | {full['setup']['n']:,} galaxies | peak RSS ratio |",
        "|---|---|---|---|",
    ]
    for stage in SCALE_STAGES:
        a, b = fs["stages"].get(stage), ff["stages"].get(stage)
        if a is None or b is None:
            continue

        def cell(r: dict[str, Any]) -> str:
            return "reused (generated beforehand)" if r.get("reused") else (
                f"{r['seconds']:,.0f} s, {r['peak_rss_mb']:,.0f} MB")

        ratio_cell = (f"{b['peak_rss_mb'] / a['peak_rss_mb']:.2f}" if "peak_rss_mb" in a and "peak_rss_mb" in b
                      else "-")
        lines.append(f"| {stage} | {cell(a)} | {cell(b)} | {ratio_cell} |")
    measured = {k: v for k, v in ff["stages"].items() if "peak_rss_mb" in v}
    worst = max(measured.items(), key=lambda item: item[1]["peak_rss_mb"])
    ratios = {s: measured[s]["peak_rss_mb"] / fs["stages"][s]["peak_rss_mb"]
              for s in SCALE_STAGES if s in measured and "peak_rss_mb" in fs["stages"].get(s, {})}
    ratio = max(ratios.values())
    over = [s for s, r in ratios.items() if r > 1.2]
    flat = ("met" if not over else
            f"met by every stage but {', '.join(f'`{s}`' for s in over)}" if len(over) < len(ratios) / 2 else "not met")
    disk = ff["disk"]
    split = full["setup"]["split"]
    lines += ["", _para(
        f"Targets: peak RSS at most 3,000 MB at every stage: {'met' if worst[1]['peak_rss_mb'] <= 3000 else 'not met'} "
        f"(largest: {worst[0]}, {worst[1]['peak_rss_mb']:,.0f} MB); within 20% of the {small['setup']['n']:,}-galaxy "
        f"chain: {flat} (largest ratio {ratio:.2f}). Disk: the zipped set "
        f"{disk['data_mb']:,.0f} MB, the run folder {disk['run_mb']:,.0f} MB, the report {disk['reports_mb']:,.0f} MB, "
        f"the submission {disk['submission_mb']:,.1f} MB.",
        f"One epoch over {split['train']:,} training galaxies read from the zip took {ff['epoch_seconds_last']:,.0f} s "
        f"({ff['images_per_second']:,.0f} images/s, validation included), so the paper's 50 epochs would take about "
        f"{ff['paper_50_epochs_hours']:.1f} hours on this machine.",
    )]
    return "\n".join(lines)


COMPARE_FILE = "compare-paper-vs-improved"  # bench_compare: paper.yaml vs improved.yaml on the real sample


def comparison(results: Results) -> str:
    """The paper's configuration against the improved one on the real sample (bench_compare)."""
    record = _get(results, COMPARE_FILE)
    f, setup = record["figures"], record["setup"]
    runs = list(f["runs"].items())
    rows = [
        f"| `{run['parameters_file']}` | {run['epochs']} | {run['training_minutes']:.1f} | {run['test_rmse']:.4f} | "
        f"{run['test_accuracy']:.3f} | {run['training_mean_rmse']:.4f} | {run['gain_over_training_mean']:+.1%} |"
        for _, run in runs
    ]
    same = "the same" if f["comparable"] else "different"
    n_test = runs[0][1]["n_test"]
    text = _para(
        f"Measured on {record['date']} ({record['machine']['cores']} CPU cores, {cpu(record)}"
        + ("; the runs were made earlier that day by the same `report` commands" if setup.get("reused")
           else f", {_conditions(record)}")
        + f"; `benchmarks/results/{COMPARE_FILE}.json`, `{_command(record)}`): both runs were tested on {same} "
        f"{n_test} galaxies of the real sample.",
    )
    table = "\n".join([
        "| parameters | epochs | training minutes | test RMSE | accuracy | training mean | gain over it |",
        "|---|---|---|---|---|---|---|",
        *rows,
    ])
    seconds = {name: 60 * run["training_minutes"] / run["epochs"] for name, run in runs}
    after = _para(
        f"{len(f['differing_answers'])} of the 37 answers' AUC intervals do not overlap between the two runs.",
        "Seconds per epoch, training minutes over epochs: "
        + ", ".join(f"`{run['parameters_file']}` {seconds[name]:.1f} s" for name, run in runs) + ".",
        _epoch_note(results, record),
        _paper_note(results, record),
    )
    return f"{text}\n\n{table}\n\n{after}"


def _paper_note(results: Results, record: dict[str, Any]) -> str:
    """Where the comparison's paper run stands among the quality table's measured runs of the same
    configuration on the same split (issue 22: the paper's configuration had two numbers)."""
    run = record["figures"]["runs"].get("paper-sample")
    papers = [results[n] for n in PAPER_NOW if n in results and not is_backfilled(results[n])]
    if not run or not papers:
        return ""
    return (f"The paper's run here is one draw of an unstable configuration: `paper.yaml`'s own 50 epochs on the same "
            f"split scored {_by_seed(papers, ', ')} in the "
            f"[quality table](results.md) ({_commits(papers)}, {cpu(papers[0])}), against "
            f"{run['test_rmse']:.4f} here ({_commits([record])}).")


def _epoch_note(results: Results, record: dict[str, Any]) -> str:
    """Why the improved run of the comparison scored worse than the quality table's runs of the same
    file, from the stored figures: how many of its epochs fit into its budget, and the quality runs'
    seconds an epoch, compared only when both ran on one CPU."""
    run = record["figures"]["runs"].get("sample")
    config_epochs = 440  # sample.yaml's epochs (the step decay's schedule runs over them)
    if not run or run["epochs"] >= config_epochs:
        return ""
    text = (f"The `{run['parameters_file']}` run fit {run['epochs']} of its {config_epochs} epochs into its budget, "
            f"so its learning rate's first step (due at 72% of the epochs) never came: {run['test_rmse']:.4f}")
    longer = [results[n] for n in CURVE_LONGER[:2] if n in results]
    if not longer:
        return text + "."
    rmse = ", ".join(f"{r['figures']['test_rmse']:.4f}" for r in longer)
    per_epoch = [60 * r["figures"]["training_minutes"] / r["figures"]["epochs"] for r in longer]
    where = (f"{min(per_epoch):.1f}-{max(per_epoch):.1f} s an epoch on the same CPU"
             if all(same_cpu(record, r) for r in longer) else
             f"{min(per_epoch):.1f}-{max(per_epoch):.1f} s an epoch on {cpu(longer[0])}, another machine, so the "
             "epoch times are not compared")
    return (text + f" against {rmse} for the same file's 20-minute runs in the quality table ({where}). "
            "When the budget ends training before the schedule, `schedule_clock: budget` times the decay by the "
            "clock instead.")


PAPER_NOW = ("quality-paper", "quality-paper-seed=1")  # paper.yaml's own 50 epochs on the quality split, two seeds
DEEP_NOW = ("quality-improved-conv_blocks=3", "quality-improved-conv_blocks=3-seed=1")  # issue 20's best lever
BUSY_LOAD = 3.0  # a load average above this on 2 cores: the run shared the machine (one training reads about 2)


def _busy(records: list[dict[str, Any]]) -> bool:
    """Whether any of ``records`` was stored at a load that says the machine was shared."""
    return any((_load(r) or 0.0) > BUSY_LOAD for r in records)


def _span(records: list[dict[str, Any]]) -> str:
    """``0.1000-0.1008``: the range of the records' test RMSE (one figure for one record)."""
    values = sorted(r["figures"]["test_rmse"] for r in records)
    return f"{values[0]:.4f}" if len(values) == 1 else f"{values[0]:.4f}-{values[-1]:.4f}"


def summary(results: Results) -> str:
    """The README's front-page table: a few headline figures, each linked to the page that explains
    it and named by the result files it comes from (measured files only: a backfilled figure is not
    a headline)."""
    base = _get(results, QUALITY_BASELINES_FILE)
    papers = [_get(results, name) for name in PAPER_NOW]
    seeds = [_get(results, name) for name in IMPROVED_NOW]
    deep = [_get(results, name) for name in DEEP_NOW]
    ensemble = _get(results, ENSEMBLE_NOW)
    report_record = _get(results, REPORT_FILE)
    n_busy = sum(_busy([r]) for r in seeds)
    busy = "" if not n_busy else " (machine busy)" if n_busy == len(seeds) else f" ({n_busy} on a busy machine)"
    rows = [
        ("predict the training mean (no model)", f"{base['figures']['test']['training mean']['rmse']:.4f}", [base],
         "docs/evaluation-and-learning-curves.md#honest-evaluation"),
        ("the paper's configuration (`paper.yaml`, its 50 epochs), two seeds", _span(papers), papers,
         "docs/results.md"),
        (f"`improved.yaml`, 20 minutes, two seeds{busy}", _span(seeds), seeds, "docs/results.md"),
        ("the same with a deeper body (`conv_blocks: 3`), 20 minutes, two seeds", _span(deep), deep,
         "docs/results.md#the-finalists-and-the-levers-that-cost-time-at-20-minutes-issue-20"),
        ("three 20-minute runs averaged (`ensemble.yaml`)", f"{ensemble['figures']['test_rmse']:.4f}", [ensemble],
         "docs/results.md"),
    ]
    lines = [
        "| what | held-out test RMSE | data | CPU | result file |",
        "|---|---|---|---|---|",
    ]
    for text, value, group, link in rows:
        files = ", ".join(f"`{r['name']}.json`" for r in group)
        lines.append(f"| [{text}]({link}){''.join(sorted({_mark(r) for r in group}))} | {value} "
                     f"| real sample, {group[0]['setup']['split']['test']:,} test galaxies | {cpu(group[0])} "
                     f"| {files} |")
    lines.append(
        f"| [`make report` (`default.yaml`, 30 epochs)](docs/report-and-notebooks.md#the-report) "
        f"| {report_record['figures']['test_rmse']:.4f} | synthetic sky, {report_record['setup']['split']['test']:,} "
        f"test galaxies | {cpu(report_record)} | `{report_record['name']}.json` |"
    )
    return "\n".join(lines)


def epoch_times(results: Results) -> str:
    """Every stored ``bench_epoch`` comparison: each variant's epoch-time distribution, epochs per 20
    minutes and end-to-end speed against the model alone, one table per result file (one machine)."""
    records = [r for name, r in sorted(results.items()) if name.startswith("epoch-")]
    if not records:
        raise ValueError("no epoch-*.json result: run python benchmarks/bench_epoch.py")
    lines: list[str] = []
    for record in records:
        setup = record["setup"]
        lines += [
            _para(f"`{_command(record)}` (`{setup['parameters_file']}`, {setup['minutes']:g} minutes a variant, "
                  f"one after another in fresh processes; CPU: {cpu(record)}, {_conditions(record)}, "
                  f"{record['date']}):"),
            "",
            "| variant | code | changes | epochs | median | p90 | max / median | at 2.55/5.11/10.23 s "
            "| epochs in 20 min | img/s end to end | model alone | end to end / model alone |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for row in record["figures"]["rows"]:
            steady = row["epochs"] - 1
            lines.append(
                f"| {row['variant']} | `{row['src']}` | {', '.join(f'`{o}`' for o in row['overrides']) or 'none'} "
                f"| {row['epochs']} | {row['median_s']:.2f} s | {row['p90_s']:.2f} s | {row['max_over_median']:.2f} "
                f"| {row['at_backoff_points']} of {steady} | {row['epochs_per_20_min']} | {row['images_per_s']:,.0f} "
                f"| {row['model_alone_images_per_s']:,.0f} | {row['end_to_end_over_model_alone']:.0%} |"
            )
        lines.append("")
    return "\n".join(lines).rstrip()


def iterator_stall(results: Results) -> str:
    """The stall reproduced without a model (``bench_stall``)."""
    record = _get(results, "stall-iterator")
    lines = [
        _para(f"`{_command(record)}` (a trivial pipeline consumed by a consumer that only sleeps, so the "
              f"figures hold on any CPU; CPU: {cpu(record)}, {record['date']}):"),
        "",
        "| tf.data autotuning | consumed in | iterator deletions that waited | epochs then ended at |",
        "|---|---|---|---|",
    ]
    for row in record["figures"]["rows"]:
        ends = ", ".join(f"{t:.2f} s" for t in row["stalled_totals_s"]) or "-"
        lines.append(f"| {'on (default)' if row['autotune'] else 'off'} | {row['work_s']:g} s "
                     f"| {row['stalled']} of {row['epochs']} | {ends} |")
    return "\n".join(lines)


TESTS_FILES = {  # bench_tests: a fresh clone's first run, then a second run, with the command of each
    "tests-cold": "python benchmarks/bench_tests.py --cold",
    "tests-warm": "python benchmarks/bench_tests.py",
}


def test_suite(results: Results) -> str:
    """Wall time of ``make test-fast`` and ``make test`` (bench_tests), cold and warm bytecode, against
    issue 21's targets; a file not stored yet is a row saying how to measure it."""
    lines = [
        "| run | command | wall time | tests | pytest's own | target | CPU (load average) | date |",
        "|---|---|---|---|---|---|---|---|",
    ]
    records = [results[name] for name in TESTS_FILES if name in results]
    for name, command in TESTS_FILES.items():
        if name not in results:
            lines.append(f"| {name.removeprefix('tests-')} | not measured yet: `{command}` "
                         f"| | | | | {NOT_RECORDED} | |")
            continue
        record = results[name]
        setup = record["setup"]
        for target, f in record["figures"].items():
            counts = ", ".join(f"{n} {word}" for word, n in f["counts"].items())
            limit = setup["target_seconds"][target]
            lines.append(
                f"| {name.removeprefix('tests-')} (`{_command(record)}`) | `make {target}` "
                f"| {_minutes_seconds(f['seconds'])} | {counts} | {_minutes_seconds(f['pytest_seconds'])} "
                f"| {_minutes_seconds(limit)}: {'met' if f['seconds'] <= limit else 'missed'} "
                f"| {_cpu_load(record)} | {record['date']} |")
    without = [r["name"] for r in records if not r["setup"]["sample_present"]]
    note = (f" `{'`, `'.join(without)}` ran without the shared real sample (its tests skipped)." if without
            else " The real-sample tests ran (the shared sample was there); without it they skip.")
    workers = sorted({str(r["setup"]["workers"]) for r in records}) or ["2 (the Makefile's default)"]
    return "\n".join(lines) + "\n\n" + _para(
        f"Workers: {' and '.join(workers)}. Cold: the project's `__pycache__` folders deleted first, as on a "
        "fresh clone; warm: a second run." + (note if records else ""))


def class_scoring(results: Results) -> str:
    """Scoring a class of 30 ``default.yaml`` runs on the instructor's 665 galaxies (``bench_class``)."""
    record = _get(results, "class-30x665")
    f, setup = record["figures"], record["setup"]
    lines = [
        "| what | wall time | peak memory | target |",
        "|---|---|---|---|",
        f"| {f['runs']} runs x {setup['galaxies']} galaxies x 8 views ({setup['input']}, `tta: {setup['tta']}`), "
        f"empty cache | {_minutes_seconds(f['seconds'])} ({f['seconds_per_run']:.1f} s a run) "
        f"| {f['peak_rss_mb']:,} MB | 3 min: {'met' if f['meets_target'] else 'missed'} |",
        f"| the same class again after one more student handed in | {_minutes_seconds(f['rescore_one_more_seconds'])} "
        "| | |",
    ]
    pair = ""
    if "honest_pair_rms_difference" in f:
        pair = (f"Two honest `default.yaml` runs by two students (seeds drawn from their names, 30 epochs each) "
                f"scored {' and '.join(f'{v:.4f}' for v in f['honest_pair_key_rmse'])} on the key, and their "
                f"predictions differ by {f['honest_pair_rms_difference']:.4f} (root mean square): "
                f"{f['honest_pair_rms_difference'] / 0.001:.0f} times the copy threshold of 0.001.")
    return "\n".join(lines) + "\n\n" + _para(
        f"`{_command(record)}` (CPU: {_cpu_load(record)}, {record['date']}); each run is the command in a fresh "
        "process, timed from outside, with the peak resident memory it reports.", pair)


RENDERERS: dict[str, Callable[[Results], str]] = {
    "summary": summary,
    "compare": comparison,
    "lever-speed": lever_speed,
    "screens": screens,
    "quality": quality,
    "report": report,
    "input": input_pipeline,
    "synth": synth,
    "train": training_speed,
    "baselines": baselines,
    "learning-curve": learning_curve,
    "learning-curve-epochs": learning_curve_epochs,
    "push": push,
    "finalists": finalists,
    "data-or-method": data_or_method,
    "scale": scale,
    "epoch": epoch_times,
    "stall": iterator_stall,
    "tests": test_suite,
    "class": class_scoring,
}


TEMPLATES = results_store.REPO / "docs" / "templates"


def render_region(name: str, results: Results) -> str:
    from galaxy_lib.report import prose
    from galaxy_lib.results import Results as _R

    if not isinstance(results, _R):
        results = _R(results)
    return prose.render(f"{name}.md.j2", results, [TEMPLATES]).rstrip()


def pages(root: Path = results_store.REPO) -> list[Path]:
    """The Markdown pages that may hold results regions: ``README.md`` and every ``docs/*.md``."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def render_pages(texts: dict[str, str], results: Results) -> dict[str, str]:
    """Each page's text with its results regions rendered from ``results``. Every renderer's region
    must appear exactly once across all pages. Raises ``ValueError`` naming the page for a region
    this script does not know, for a region held twice and for a region no page holds."""
    seen: dict[str, str] = {}
    rendered: dict[str, str] = {}
    for page, text in texts.items():
        def fill(match: re.Match[str], page: str = page) -> str:
            name = match["name"]
            if name not in RENDERERS:
                raise ValueError(f"{page}: region results:{name} has no renderer in benchmarks/readme_tables.py")
            if name in seen:
                raise ValueError(f"{page}: region results:{name} is also in {seen[name]}; keep one")
            seen[name] = page
            if (TEMPLATES / f"{name}.md.j2").is_file():
                body = render_region(name, results)
            else:
                body = RENDERERS[name](results)
            return f"{match[1]}\n{body.rstrip()}\n\n{match[4]}"

        rendered[page] = REGION.sub(fill, text)
    missing = [name for name in RENDERERS if name not in seen]
    if missing:
        raise ValueError(f"no page ({', '.join(texts)}) has a region for {', '.join(missing)} "
                         "(<!-- results:NAME --> ... <!-- /results:NAME -->)")
    return rendered


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when a page is out of date")
    parser.add_argument("--root", type=Path, default=results_store.REPO,
                        help="project folder whose README.md and docs/*.md hold the regions (default: this one)")
    parser.add_argument("--results-dir", type=Path, default=results_store.RESULTS_DIR)
    args = parser.parse_args(argv)

    paths = {results_store.display_path(path): path for path in pages(args.root)}
    texts = {name: path.read_text() for name, path in paths.items()}
    rendered = render_pages(texts, results_store.load_results(args.results_dir))
    stale = [name for name in texts if rendered[name] != texts[name]]
    if not stale:
        print(f"{', '.join(texts)}: up to date with {results_store.display_path(args.results_dir)}")
        return 0
    if args.check:
        for name in stale:
            diff = difflib.unified_diff(texts[name].splitlines(), rendered[name].splitlines(), name,
                                        f"{name} (from results)", lineterm="")
            print("\n".join(diff))
        print(f"out of date: {', '.join(stale)}; run python benchmarks/readme_tables.py", file=sys.stderr)
        return 1
    from galaxy_lib.config import atomic_write_text

    for name in stale:
        atomic_write_text(paths[name], rendered[name])
        print(f"rewrote the results regions of {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
