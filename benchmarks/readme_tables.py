"""Write the README's measured tables from the stored results in ``benchmarks/results/``.

Every measured figure in README.md sits between ``<!-- results:NAME -->`` and
``<!-- /results:NAME -->`` markers; this script renders each region from the result files
(``results_store.load_results``), so a number in the README can be traced to a file that says
what was run, where and when, and re-measured with the command stored beside it. The layout
(row order, row labels, wording around the numbers) lives here; the numbers live in the files.

Usage::

    python benchmarks/readme_tables.py            # rewrite the regions of README.md
    python benchmarks/readme_tables.py --check    # exit 1 (and show the difference) when README.md is out of date

After re-running a benchmark (which replaces its file), run the first command and commit both.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import results_store

README = results_store.REPO / "README.md"
REGION = re.compile(r"(<!-- results:(?P<name>[a-z-]+) -->\n)(?P<body>.*?)(<!-- /results:(?P=name) -->)", re.S)
Results = dict[str, dict[str, Any]]

# --- the real-galaxy results table: (result file, row label) in README order ------------------------
QUALITY_BASELINES = (
    ("training mean", "predict the training mean"),
    ("central pixel, colour bins", "Kaggle central-pixel benchmark (re-implemented)"),
)
QUALITY_BASELINES_FILE = "baselines-sample"
QUALITY_ROWS = (
    ("quality-paper", "the paper's code (`paper.yaml`: 128 crop, BCE, sigmoid, batch 256)"),
    ("quality-improved-epochs=240-lr_schedule=constant",
     "`improved.yaml` of issue 4 (207 crop to 69x69, tree head, MSE, flips/rotations and 4-pixel shifts, batch 64, "
     "constant rate, 240 epochs), 8-view TTA"),
    ("quality-improved-augment_shift=0-epochs=200-lr_schedule=constant", "the same without shifts, 200 epochs"),
    ("quality-improved-augment_shift=0-lr_schedule=cosine-epochs=210",
     "the same without shifts, cosine learning-rate decay over 210 epochs"),
    ("quality-improved-epochs=440-lr_schedule=constant",
     "the issue-4 configuration with `epochs: 440`: the 20-minute budget, not the epoch count, ends training"),
    ("quality-improved-epochs=440-lr_schedule=step", "the same with Dieleman's step decay over 440 epochs "
                                                     "(/10 at 72% and 92%): today's `improved.yaml`, seed 0"),
    ("quality-improved-epochs=440-lr_schedule=step-seed=1", "today's `improved.yaml`, seed 1"),
    ("quality-improved-epochs=440-lr_schedule=step-schedule_clock=budget",
     "step decay timed by the 20-minute budget (`schedule_clock: budget`), seed 0"),
    ("quality-improved-epochs=440-lr_schedule=step-schedule_clock=budget-refit=true",
     "the same, refitted on training + validation galaxies (`refit: true`; machine busy: 309 epochs)"),
)
QUALITY_ENSEMBLES = (  # (ensemble result file, row label): bench_ensemble
    ("ensemble-improved-const-step", "ensemble: the mean of the first two `epochs: 440` rows (40 minutes of "
                                     "training in all)"),
    ("ensemble-improved-x3-60min", "ensemble: the mean of all three `epochs: 440` rows (60 minutes in all)"),
)
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


# --- regions -------------------------------------------------------------------------------------------


def quality(results: Results) -> str:
    """Held-out results on the real sample (bench_baselines + bench_quality)."""
    base = _get(results, QUALITY_BASELINES_FILE)
    runs = [(_get(results, name), text) for name, text in QUALITY_ROWS]
    splits = {tuple(sorted(r["setup"]["split"].items())) for r, _ in runs} | {
        tuple(sorted(base["setup"]["split"].items()))}
    if len(splits) != 1:
        raise ValueError(f"the results table mixes splits: {sorted(splits)}")
    split = base["setup"]["split"]
    first = runs[0][0]
    minutes = {r["setup"]["minutes"] for r, _ in runs}
    cores = {r["machine"]["cores"] for r, _ in runs}
    best = min(r["figures"]["test_rmse"] for r, _ in runs)
    lines = [
        _para(
            f"The shared sample of {sum(split.values()):,} real Kaggle galaxies, split once with seed "
            f"{first['setup']['split_seed']}: {split['test']:,} test and {split['val']:,} validation galaxies drawn "
            f"only from the unbiased GalaxyID block (never trained on), {split['train']:,} training galaxies "
            f"(including the 399 hand-picked ones). {'/'.join(map(str, sorted(cores)))} CPU cores, "
            f"{'/'.join(f'{m:g}' for m in sorted(minutes))}-minute training budget, measured on "
            f"{_dates([r for r, _ in runs])} with `benchmarks/bench_quality.py` (setup and figures of each row: "
            "`benchmarks/results/quality-*.json`, the baselines: `benchmarks/results/baselines-sample.json`):"
        ),
        "",
        "| configuration | epochs (time) | last training epoch, paper-style RMSE | held-out test RMSE "
        "| held-out accuracy |",
        "|---|---|---|---|---|",
    ]
    for key, text in QUALITY_BASELINES:
        lines.append(f"| {text} | - | - | {base['figures']['test'][key]['rmse']:.4f} | - |")
    for record, text in runs:
        f = record["figures"]
        rmse = f"{f['test_rmse']:.4f}"
        if f["test_rmse"] == best:
            rmse = f"**{rmse}**"
        lines.append(f"| {text} | {f['epochs']} ({f['training_minutes']:.1f} min) | {f['last_train_rmse']:.4f} "
                     f"| {rmse} | {f['test_accuracy']:.3f} |")
    ensembles = [(_get(results, name), text) for name, text in QUALITY_ENSEMBLES]
    for record, text in ensembles:
        f = record["figures"]
        if tuple(sorted(record["setup"]["split"].items())) not in splits:
            raise ValueError(f"{record['name']} was scored on another split: {record['setup']['split']}")
        epochs = " + ".join(str(m["epochs"]) for m in f["members"])
        lines.append(f"| {text} | {epochs} ({f['training_minutes']:.1f} min in all) | - | {f['test_rmse']:.4f} "
                     f"| {f['test_accuracy']:.3f} |")
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
            f"any model by `{_command(record)}`:"
        ),
        "",
        "| predictor | test RMSE |",
        "|---|---|",
    ]
    for name, figure in sorted(test.items(), key=lambda item: -item[1]["rmse"]):
        label = BASELINE_NAMES.get(name, name).format(clusters=setup.get("clusters"))
        lines.append(f"| {label} | {figure['rmse']:.4f} |")
    return "\n".join(lines)


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
            f"{record['date']}):"
        ),
        "",
        "| configuration | images/s | CPU ms/image | peak RSS |",
        "|---|---|---|---|",
    ]
    for key, text in INPUT_ROWS:
        row = f[key]
        lines.append(f"| {text.format(**setup)} | {row['images_per_s']:,.0f} | {row['cpu_ms_per_image']:.2f} "
                     f"| {row['peak_rss_mb']:,.0f} MB |")
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
            f"[docs/synthetic_vs_real.md](docs/synthetic_vs_real.md)): {setup['n']:,} galaxies, seed {setup['seed']}; "
            f"learnability on {learn['n_test']:,} held-out galaxies."
        ),
        "",
        "| predictor | held-out RMSE |",
        "|---|---:|",
        f"| training mean | {learn['mean_rmse']:.4f} |",
        f"| ridge regression on 32x32 grey pixels (central 128x128 crop) | {learn['ridge_rmse']:.4f} "
        f"({learn['ridge_gain']:.1%} lower) |",
        f"| noise floor (sampled votes vs true probabilities) | {learn['noise_floor_rmse']:.4f} |",
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
            f"{record['machine']['cores']} CPU cores, {_conditions(record)}, {record['date']}:"
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
            f"| {name} | {r['batch_size']} | {r['cached_images_per_s']:,.0f} img/s | {r['pipeline_images_per_s']:,.0f} "
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
    return _para(
        f"Measured on a {record['machine']['cores']}-core machine ({_conditions(record)}) with the synthetic sky "
        f"{'generated first' if setup['sky_generated'] else 'already generated'} "
        f"(`{_command(record)}`: `make report`'s command on a fresh run folder, timed like "
        f"`rm -rf runs/default && time make report`): {_minutes_seconds(f['total_seconds'])} in all, of which "
        + ", ".join(timings[:-1]) + f", {timings[-1]}; the rest is kernel start-ups and HTML.",
        f"Generating the sky first adds about {galaxies / speed:.0f} s ({galaxies:,} galaxies at {speed:.0f} "
        f"galaxies/s, see below; `{_command(scratch)}` includes it: {_conditions(scratch)}, it took "
        f"{_minutes_seconds(scratch['figures']['total_seconds'])}).",
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
    lines = [
        _para(
            "Short screens of one lever at a time, on the same split as the table above "
            f"({_dates(records)}, `benchmarks/results/{SCREEN_PREFIX}*.json`). A budget in epochs compares "
            "quality per epoch (seeded CPU runs give the same figures on a busy machine, so the minutes of those "
            "rows are not speed figures); a budget in minutes compares quality per unit of time on an idle "
            "machine. Test RMSE with the run's own test-time averaging."
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
            f"| {_screen_budget(r)} | {', '.join(f'`{c}`' for c in changes) or 'none'} | {config['seed']} "
            f"| {f['epochs']} | {f['training_minutes']:.1f} ({_conditions(r)}) "
            f"| {_optional(f['best_val_rmse'], 'refit')} "
            f"| {f['test_rmse']:.4f} ({f['tta']}) |"
        )
    lines += ["", "```bash", *(_command(r) for r in records), "```"]
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
        rows += extra["figures"]["rows"]
    reference = {(r["side"], r["batch_size"]): r for r in record["figures"]["rows"] if r["precision"] == "float32"}
    lines = [
        _para(
            f"`{_command(record)}`" + "".join(f" and `{_command(v)}`" for v in views)
            + f" ({record['machine']['cores']} CPU cores, {_conditions(record)}, {record['date']}; "
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
CURVE_FIGURE = "docs/learning_curve.png"


def _sd(value: float | None) -> str:
    return "" if value is None else f" ± {value:.4f}"


def learning_curve(results: Results) -> str:
    """The real-sample learning curve, its extrapolation to Kaggle's 61,578 galaxies, the synthetic
    check of that extrapolation and the compute curve's verdict (bench_curve)."""
    record = _get(results, CURVE_FILE)
    f, setup = record["figures"], record["setup"]
    main, e = setup["curve"], f["extrapolation"]
    lines = [
        _para(
            f"Measured on {record['date']} with `{_command(record)}` ({record['machine']['cores']} CPU cores; "
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
    half = (e["high"] - e["low"]) / 2
    lines += ["", _para(
        f"**Extrapolated:** {e['summary']}: with {e['target']:,} galaxies this method is expected to reach "
        f"{e['prediction']:.4f} ± {half:.4f}, levelling off at {e['fit']['c']:.4f} with unlimited galaxies."
    )]
    validation = f.get("validation")
    if validation:
        check = validation["check"]
        lines += ["", _para(
            f"**The method checked on a synthetic sky** (`{setup['validation']['config_file']}` on "
            f"`{setup['validation']['data']}`, sizes {setup['validation']['sizes']}, one point a size, "
            f"{setup['validation']['minutes_per_point']:g} minutes each): {check['summary']}"
        )]
    lines += ["", _para(f"**More time:** {f['compute']['summary']}")]
    lines += ["", f"![learning curve and its extrapolation]({CURVE_FIGURE})"]
    return "\n".join(lines)


SCALE_FILES = ("scale-n6000", "scale-n61578")  # bench_scale: the chain at 6,000 and at Kaggle's 61,578 galaxies
SCALE_STAGES = ("generate", "check-data", "train", "evaluate", "predict", "report")


def scale(results: Results) -> str:
    """The full-size rehearsal (bench_scale): wall time and peak RSS of every stage at 6,000 and 61,578
    galaxies, the targets, disk use and the epoch time with what it means for the paper's 50 epochs."""
    small, full = (_get(results, name) for name in SCALE_FILES)
    fs, ff = small["figures"], full["figures"]
    lines = [
        _para(
            f"Measured on {_dates([small, full])} ({full['machine']['cores']} CPU cores, "
            f"{_conditions(full)}; `benchmarks/results/{small['name']}.json` and `{full['name']}.json`) with "
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
        f"Measured on {record['date']} ({record['machine']['cores']} CPU cores"
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
    after = _para(
        f"{len(f['differing_answers'])} of the 37 answers' AUC intervals do not overlap between the two runs.",
        setup.get("note", ""),
    )
    return f"{text}\n\n{table}\n\n{after}"


RENDERERS: dict[str, Callable[[Results], str]] = {
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
    "scale": scale,
}


def render_readme(text: str, results: Results) -> str:
    """``text`` with every results region rendered from ``results``. Raises ``ValueError`` for a
    region this script does not know and for a known region missing from ``text``."""
    seen: list[str] = []

    def fill(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in RENDERERS:
            raise ValueError(f"README region results:{name} has no renderer in benchmarks/readme_tables.py")
        seen.append(name)
        return f"{match[1]}\n{RENDERERS[name](results).rstrip()}\n\n{match[4]}"

    rendered = REGION.sub(fill, text)
    missing = [name for name in RENDERERS if name not in seen]
    if missing:
        raise ValueError(f"README has no region for {', '.join(missing)} (<!-- results:NAME --> ... "
                         "<!-- /results:NAME -->)")
    return rendered


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when README.md is out of date")
    parser.add_argument("--readme", type=Path, default=README)
    parser.add_argument("--results-dir", type=Path, default=results_store.RESULTS_DIR)
    args = parser.parse_args(argv)

    text = args.readme.read_text()
    rendered = render_readme(text, results_store.load_results(args.results_dir))
    if rendered == text:
        print(f"{results_store.display_path(args.readme)} is up to date with "
              f"{results_store.display_path(args.results_dir)}")
        return 0
    if args.check:
        diff = difflib.unified_diff(text.splitlines(), rendered.splitlines(), "README.md", "README.md (from results)",
                                    lineterm="")
        print("\n".join(diff))
        print(f"{results_store.display_path(args.readme)} is out of date: run python benchmarks/readme_tables.py",
              file=sys.stderr)
        return 1
    from galaxy_lib.config import atomic_write_text

    atomic_write_text(args.readme, rendered)
    print(f"rewrote the results regions of {results_store.display_path(args.readme)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
