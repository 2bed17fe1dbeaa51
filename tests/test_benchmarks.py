"""Benchmark code (benchmarks/): the synthetic sky's quality measures, the paper's in-RAM loader, the
stored results and the README tables generated from them.

``benchmarks/`` is not a package (its scripts run as ``python benchmarks/X.py`` and import their
siblings), so it is put on ``sys.path`` here.
"""

from __future__ import annotations

import copy
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = REPO / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import paper_loader  # noqa: E402
import readme_tables  # noqa: E402
import results_store  # noqa: E402
import synth_quality  # noqa: E402

from galaxy_lib.data import dataset, images  # noqa: E402
from galaxy_lib.errors import DataError  # noqa: E402
from galaxy_lib.report.prose import BACKFILLED  # noqa: E402
from galaxy_lib.results import NOT_RECORDED  # noqa: E402
from galaxy_lib.synth import sky  # noqa: E402

IMAGES = "images_training_rev1"
FINALISTS = ("quality-improved", "quality-improved-seed=1", "quality-improved-precision=mixed_bfloat16",
             "quality-improved-precision=mixed_bfloat16-seed=1", "quality-improved-width=1.5",
             "quality-improved-conv_blocks=3", "quality-improved-conv_blocks=3-seed=1")  # finalists.md.j2's rows
SCRIPTS = ("bench_input", "bench_train", "bench_synth", "bench_quality", "bench_baselines", "bench_report",
           "bench_ensemble", "bench_curve", "bench_scale", "bench_tests")


@pytest.fixture(scope="module")
def small_sky(tmp_path_factory):
    """40 labelled galaxies, made in-process."""
    return sky.generate(tmp_path_factory.mktemp("sky") / "synthetic", n=40, seed=3, progress=False)


@pytest.fixture(scope="module")
def learnable_sky(tmp_path_factory):
    """600 galaxies on two worker processes (also exercises the pool)."""
    return sky.generate(tmp_path_factory.mktemp("learn") / "synthetic", n=600, seed=1, workers=2, progress=False)


# --- the synthetic sky's quality (moved from galaxy_lib.synth.sky) -------------------------------------


@pytest.mark.slow  # over 2 s: left out of `make test-fast`
def test_pixels_predict_the_votes(learnable_sky):
    """Ridge on 32x32 grey pixels beats the training mean clearly; the noise floor stays
    far below it (room for better models). 2,000-galaxy figures: benchmarks/bench_synth.py."""
    scores = synth_quality.learnability(learnable_sky)
    assert scores["ridge_rmse"] < 0.85 * scores["mean_rmse"], scores
    assert scores["noise_floor_rmse"] < 0.5 * scores["ridge_rmse"], scores


def test_gallery_draws_a_png(small_sky, tmp_path):
    png = synth_quality.gallery(small_sky, tmp_path / "gallery.png")
    image = cv2.imread(str(png))
    assert image is not None and image.shape[0] > 200 and image.std() > 5


def test_the_benchmark_code_lives_in_benchmarks_not_in_the_library():
    """Issue 9, item 5: ridge, learnability, gallery, answer means and the in-RAM loader moved from the
    library to benchmarks/: each is callable there and gone from the library."""
    from galaxy_lib.data import pipeline

    moved = {synth_quality: ("grey_thumbnails", "ridge_scores", "learnability", "gallery", "answer_means_table",
                             "answer_means_markdown"),
             paper_loader: ("load_in_ram", "estimate_in_ram_bytes")}
    for module, names in moved.items():
        for name in names:
            assert callable(getattr(module, name)), (module.__name__, name)
            assert not hasattr(sky, name) and not hasattr(pipeline, name), name
    assert isinstance(synth_quality.UNBIASED_SUBSET, str) and not hasattr(sky, "UNBIASED_SUBSET")


# --- the paper's in-RAM loader (moved from galaxy_lib.data.pipeline) -----------------------------------


def test_real_in_ram_loader_is_the_papers_bgr_crop(real_sample):
    data = dataset.load_dataset(real_sample, progress=False)
    ids = data.ids[:5]
    array = paper_loader.load_in_ram(data.images, ids, crop=128)
    assert array.shape == (5, 128, 128, 3) and array.dtype == np.uint8
    expected = np.stack([cv2.imread(data.images.file_path(g))[148:276, 148:276] for g in ids])
    assert np.array_equal(array, expected)


def test_in_ram_estimate_and_refusal(kaggle_folder):
    assert paper_loader.estimate_in_ram_bytes(61578, 128) == 61578 * 128 * 128 * 3 * 4  # the paper's 12.1 GB
    assert paper_loader.estimate_in_ram_bytes(10, 128, "uint8") == 10 * 128 * 128 * 3
    source = dataset.open_images(kaggle_folder / IMAGES)
    # 61,578 crops (ids need not even exist): refused up front, before a single image is read
    with pytest.raises(DataError, match=r"61,578 crops of 128x128 .* about 6\.1 GB .* limit of 4 GB"):
        paper_loader.load_in_ram(source, np.arange(61578), crop=128)
    with pytest.raises(DataError, match="limit of 0.001 GB"):
        paper_loader.load_in_ram(source, source.ids(), crop=128, max_gigabytes=0.001)
    with pytest.raises(DataError, match="empty id list"):
        paper_loader.load_in_ram(source, [], crop=128)
    small = paper_loader.load_in_ram(source, source.ids()[:3], crop=32, dtype="float32")
    assert small.dtype == np.float32 and small.shape == (3, 32, 32, 3) and small.max() <= 1.0


def test_paper_loop_cuts_the_librarys_central_window(kaggle_folder):
    """The paper's loop (views or copies) and the library agree on where the centre is."""
    assert paper_loader.IMAGE_SIDE == images.IMAGE_SIDE
    paths = sorted(str(p) for p in (kaggle_folder / IMAGES).glob("*.jpg"))[:3]
    views, copies = paper_loader.paper_loop(paths, 128), paper_loader.paper_loop(paths, 128, copy=True)
    lo = images.crop_offset(128)
    expected = np.stack([cv2.imread(p)[lo : lo + 128, lo : lo + 128] for p in paths])
    assert np.array_equal(views, expected) and np.array_equal(copies, expected)


# --- stored results and the README tables ---------------------------------------------------------------


def _pages() -> dict[str, str]:
    return {p.relative_to(REPO).as_posix(): p.read_text() for p in readme_tables.pages()}


def _render(results) -> str:
    """Every page rendered from ``results``, joined (what a reader of all pages sees)."""
    return "\n".join(readme_tables.render_pages(_pages(), results).values())


def test_readme_tables_match_the_stored_results():
    """Every measured figure in README.md and docs/*.md is what benchmarks/readme_tables.py writes from
    benchmarks/results/; after re-measuring, run `python benchmarks/readme_tables.py`."""
    texts = _pages()
    assert readme_tables.render_pages(texts, results_store.load_results()) == texts, (
        "a page is out of date with benchmarks/results/: run python benchmarks/readme_tables.py "
        "(python benchmarks/readme_tables.py --check shows the difference)"
    )


def test_every_stored_result_says_how_to_remeasure_it():
    results = results_store.load_results()
    assert len(results) >= 11
    for name, record in results.items():
        assert record["schema"] == results_store.SCHEMA, name
        script = record["command"].split()[1]
        assert record["command"].startswith("python benchmarks/bench_"), name
        assert (REPO / script).is_file(), f"{name}: {script} does not exist"
        assert Path(script).stem == record["benchmark"] == "bench_" + name.split("-")[0], name
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", record["date"]), name
        assert record["machine"]["cores"] and record["figures"], name
        provenance = record["provenance"]
        assert re.fullmatch(re.escape(results_store.MEASURED) + r"(; command pinned on \d{4}-\d{2}-\d{2} .+)?"
                            r"(; figures\.[a-z_]+ computed on \d{4}-\d{2}-\d{2} from the stored .+)?",
                            provenance) or re.match(
            r"backfilled from README\.md at commit [0-9a-f]{40}: measured by `[^`]+` before results were stored",
            provenance), name
        data = json.dumps(record["setup"])
        assert str(REPO) not in data and "/home/" not in data, f"{name}: machine path in its setup"
    used = {name for name in results if name.startswith(("quality-", "baselines-", "input-", "synth-", "train-",
                                                         "report-", "ensemble-", "curve-", "scale-", "compare-",
                                                         "epoch-", "stall-", "tests-", "class-"))}
    assert used == set(results)


def test_a_changed_figure_changes_the_readme():
    """The check can fail: a re-measured figure shows up in the generated text."""
    results = results_store.load_results()
    name = "quality-improved-conv_blocks=3"  # today's improved.yaml, seed 0 (measured)
    results[name] = json.loads(json.dumps(dict(results[name])))
    results[name]["figures"]["test_rmse"] = 0.0959
    rendered = _render(results)
    assert "**0.0959**" in rendered and "**0.0969**" not in rendered


def _flat(text: str) -> str:
    """``text`` with its line wrapping undone, so a phrase can be found wherever the lines broke."""
    return " ".join(text.split())


def _remeasured(record, cpu_model: str = "Test CPU", platform: str = "Test platform") -> dict:
    """``record`` as its command would write it now: measured, with a machine record (a host is its
    CPU model and platform string)."""
    record = json.loads(json.dumps(dict(record)))
    record["provenance"] = results_store.MEASURED
    record["machine"] = {**record["machine"], "cpu_model": cpu_model, "platform": platform, "load_average": 0.5}
    return record


def test_backfilled_rows_are_marked_from_their_own_data():
    """A backfilled file's rows carry the dagger and 'not recorded' as their CPU in every table that
    shows them; the same file re-measured loses the mark with no list to edit."""
    results = results_store.load_results()
    backfilled = sorted(n for n, r in results.items() if r.backfilled)
    issue4 = "quality-improved-epochs=240-lr_schedule=constant"
    assert issue4 in backfilled and "input-sample-crop128" in backfilled
    label = "`improved.yaml` of issue 4"  # its row in docs/templates/quality.md.j2
    rendered = _render(results)
    row = next(line for line in rendered.splitlines() if line.startswith(f"| {label}"))
    assert BACKFILLED in row and "not recorded (backfilled)" in row
    assert f"`{issue4}.json`" in rendered  # the footnote
    for name in backfilled:
        results[name] = _remeasured(results[name])
    rendered = _render(results)
    assert f" {BACKFILLED} |" not in rendered and "Backfilled, not measured" not in rendered
    row = next(line for line in rendered.splitlines() if line.startswith(f"| {label}"))
    assert row.endswith("| Test CPU, 2 cores (0.5) |")


def test_the_papers_row_is_measured_and_set_beside_the_comparison():
    """The paper's configuration has one measured figure per seed in the quality table; the comparison's
    figure of the same file is named beside it with its commit, and a backfilled paper row would
    instead be marked and point to the comparison's measured figure."""
    results = results_store.load_results()
    paper = results["quality-paper"]
    assert not paper.backfilled and paper["setup"]["minutes"] == 0
    text = _flat(readme_tables.render_region("quality", results))
    compare = results["compare-paper-vs-improved"]["figures"]["runs"]["paper-sample"]
    assert f"{paper['figures']['test_rmse']:.4f} (seed 0)" in text
    assert f"test RMSE {compare['test_rmse']:.4f}" in text and "stays until" not in text
    assert "no budget" in text and "`quality-paper`" in text  # the 50-epoch rows are not called 20-minute ones
    results["quality-paper"] = {**paper, "provenance": "backfilled from README.md at commit x"}
    text = _flat(readme_tables.render_region("quality", results))
    assert "stays until its command re-measures it" in text


def test_finalists_show_missing_rows_their_load_and_the_target():
    """Issue 20's 20-minute table: a row not yet measured says so with its command, a measured row is
    compared with the float32 run of its seed, and the target sentence follows the medians."""
    results = results_store.load_results()
    base = results["quality-improved"]
    for name in FINALISTS:
        results.pop(name, None)
    results["quality-improved"] = base
    bf16 = json.loads(json.dumps(dict(base)))
    bf16["figures"]["test_rmse"] = base["figures"]["test_rmse"] - 0.0100
    bf16["figures"]["epochs"] = base["figures"]["epochs"] * 2
    results["quality-improved-precision=mixed_bfloat16"] = bf16
    text = readme_tables.render_region("finalists", results)
    assert "| a wider body (`width: 1.5`) | 0 | not run |" in text
    assert "--minutes 20 --set width=1.5" in text and "--set precision=mixed_bfloat16 --set seed=1" in text
    row = next(line for line in text.splitlines() if line.startswith("| bfloat16 compute (`precision"))
    assert "| -0.0100 | x2.00 |" in row
    assert f"bfloat16 compute: {bf16['figures']['test_rmse']:.4f} (1 seed)" in _flat(text)
    bf16["figures"]["test_rmse"] = 0.0900
    assert "(met; best median 0.0900)" in _flat(readme_tables.render_region("finalists", results))


def test_the_test_suite_table_shows_each_target_against_its_limit():
    """bench_tests' rows: a file not stored yet names its command; a stored one shows each target's
    wall time against issue 21's limit, its tests and its CPU."""
    results = {name: r for name, r in results_store.load_results().items() if not name.startswith("tests-")}
    text = readme_tables.render_region("tests", results)
    assert "| cold | not measured yet: `python benchmarks/bench_tests.py --cold` |" in text
    assert text.count("not measured yet") == 2 and NOT_RECORDED in text
    machine = {"cpu_model": "AMD EPYC", "cores": 2, "load_average": 0.4}
    setup = {"bytecode": "warm (an earlier run's)", "workers": "2", "sample_present": True,
             "target_seconds": {"test-fast": 45, "test": 360}}
    results["tests-warm"] = {
        "name": "tests-warm", "command": "python benchmarks/bench_tests.py", "date": "2026-12-07",
        "machine": machine, "setup": setup, "figures": {
            "test-fast": {"seconds": 44.6, "pytest_seconds": 40.1, "counts": {"passed": 570, "skipped": 1}},
            "test": {"seconds": 361.0, "pytest_seconds": 350.0, "counts": {"passed": 664}}}}
    text = readme_tables.render_region("tests", results)
    assert ("| warm (`python benchmarks/bench_tests.py`) | `make test-fast` | 45 s | 570 passed, 1 skipped | 40 s "
            "| 45 s: met | AMD EPYC, 2 cores (0.4) | 2026-12-07 |") in text
    assert "| `make test` | 6 min 1 s | 664 passed | 5 min 50 s | 6 min 0 s: missed |" in text
    assert text.count("not measured yet") == 1 and "the shared sample was there" in _flat(text)


def test_every_table_names_its_cpu():
    """Each region says which CPU its figures came from."""
    results = results_store.load_results()
    assert len(readme_tables.regions()) == 21
    for name in readme_tables.regions():
        text = readme_tables.render_region(name, results)
        assert "CPU" in text or NOT_RECORDED in text, name
        assert "Intel" in text or "AMD" in text or NOT_RECORDED in text, name


def test_a_ratio_never_mixes_machines():
    """Figures from two hosts (CPU model and platform string), or an unrecorded one, are not put into
    one ratio: machines sold under one CPU name ran 1.6x apart."""
    results = results_store.load_results()
    results["scale-n6000"] = _remeasured(results["scale-n6000"], "Other CPU")
    with pytest.raises(ValueError, match=r"scale\.md\.j2:\d+: scale-n6000 ran on Other CPU"):
        readme_tables.render_region("scale", results)
    results = results_store.load_results()
    assert "adds about" not in _flat(readme_tables.render_region("report", results))  # backfilled sky speed
    machine = results["report-default"]["machine"]
    results["synth-n2000-seed0"] = _remeasured(results["synth-n2000-seed0"], machine["cpu_model"], "another kernel")
    assert "adds about" not in _flat(readme_tables.render_region("report", results))  # same CPU name, other host
    results["synth-n2000-seed0"] = _remeasured(results["synth-n2000-seed0"], machine["cpu_model"], machine["platform"])
    assert "Generating the sky first adds about" in _flat(readme_tables.render_region("report", results))


def test_the_curve_claims_only_what_its_points_measure():
    """A curve whose larger points trained fewer epochs is not extrapolated to the method's asymptote,
    and an asymmetric interval is printed as an interval, never as +-."""
    results = results_store.load_results()
    text = _flat(readme_tables.render_region("learning-curve", results))
    assert "expected to reach" not in text and "not the method's asymptote" in text
    assert "0.0891-0.1094" in text and "0.1030 ±" not in text
    record = json.loads(json.dumps(dict(results["curve-learning_curve"])))
    for row in record["figures"]["sizes"]:
        row["epochs"] = "440"
    results["curve-learning_curve"] = record
    text = _flat(readme_tables.render_region("learning-curve", results))
    assert "**Extrapolated:**" in text and "not the method's asymptote" not in text


def test_regions_must_match_the_templates():
    results = results_store.load_results()
    texts = _pages()
    page = next(name for name, text in texts.items() if "<!-- results:train -->" in text)
    with pytest.raises(ValueError, match="has no template docs/templates/nonsense.md.j2"):
        readme_tables.render_pages({**texts, "README.md": texts["README.md"]
                                    + "\n<!-- results:nonsense -->\n<!-- /results:nonsense -->\n"}, results)
    without = re.sub(r"<!-- results:train -->.*?<!-- /results:train -->", "", texts[page], flags=re.S)
    with pytest.raises(ValueError, match="region for train"):
        readme_tables.render_pages({**texts, page: without}, results)
    twice = "<!-- results:train -->\n<!-- /results:train -->\n"
    with pytest.raises(ValueError, match="results:train is also in"):
        readme_tables.render_pages({**texts, "docs/extra.md": twice}, results)
    del results["train-quick"]
    missing = r"^docs/templates/train\.md\.j2:\d+: not measured yet: `train-quick\.json`"
    with pytest.raises(ValueError, match=missing) as caught:
        readme_tables.render_pages(texts, results)
    assert "\n" not in str(caught.value)


def test_a_broken_template_is_one_line_naming_its_file_and_line(tmp_path):
    """A misspelt key path in a region's template fails the render with the template's file and line."""
    import shutil

    templates = tmp_path / "templates"
    shutil.copytree(readme_tables.TEMPLATES, templates)
    text = (templates / "class.md.j2").read_text()
    (templates / "class.md.j2").write_text(text.replace('r("class-30x665")', 'r("class-30x665", "figures.runz")'))
    line = 1 + text.split('r("class-30x665")')[0].count("\n")
    with pytest.raises(ValueError, match=rf"class\.md\.j2:{line}: class-30x665\.json: no figures\.runz") as caught:
        readme_tables.render_pages(_pages(), results_store.load_results(), templates)
    assert "\n" not in str(caught.value)


def test_readme_tables_holds_no_content():
    """Issue 30: the regions' wording, row files and labels live in docs/templates/, not in Python."""
    source = (BENCHMARKS / "readme_tables.py").read_text()
    assert len(source.splitlines()) <= 250
    assert not re.search(r"\"(quality|baselines|curve|scale|synth)-", source)


def test_check_mode_exits_1_on_a_stale_page(tmp_path, capsys):
    """--check covers README.md and every docs page: a stale figure on a docs page fails it."""
    import shutil

    shutil.copy(REPO / "README.md", tmp_path / "README.md")
    shutil.copytree(REPO / "docs", tmp_path / "docs", ignore=shutil.ignore_patterns("*.png", "screenshots"))
    page = next(p for p in sorted((tmp_path / "docs").glob("*.md")) if "| all-ones | 0.8944 |" in p.read_text())
    original = page.read_text()
    page.write_text(original.replace("| all-ones | 0.8944 |", "| all-ones | 0.9 |"))
    args = ["--root", str(tmp_path)]
    assert readme_tables.main(["--check", *args]) == 1
    assert "+| all-ones | 0.8944 |" in capsys.readouterr().out
    assert readme_tables.main(args) == 0  # rewrites it
    assert readme_tables.main(["--check", *args]) == 0
    assert page.read_text() == original


def test_write_result_is_atomic_and_checks_its_name(tmp_path):
    path = results_store.write_result("demo-run", "python benchmarks/bench_demo.py --n 3", {"n": 3},
                                      {"rmse": np.float32(0.5), "rows": np.arange(2)}, results_dir=tmp_path)
    assert path == tmp_path / "demo-run.json" and [p.name for p in tmp_path.iterdir()] == ["demo-run.json"]
    record = results_store.load_results(tmp_path)["demo-run"]
    assert record["figures"] == {"rmse": 0.5, "rows": [0, 1]} and record["benchmark"] == "bench_demo"
    assert record["provenance"] == results_store.MEASURED and record["machine"]["cores"]
    for bad in ("norun", "demo/run", "-demo", "demo run"):
        with pytest.raises(ValueError, match="benchmark>-<label"):
            results_store.write_result(bad, "python x", {}, {}, results_dir=tmp_path)
    (tmp_path / "other-run.json").write_text(json.dumps({**record, "name": "renamed-run"}))
    with pytest.raises(ValueError, match="other-run.json: name 'renamed-run' differs"):
        results_store.load_results(tmp_path)


def test_paths_are_shown_relative_to_the_project():
    assert results_store.display_path(REPO / "parameters" / "sample.yaml") == "parameters/sample.yaml"
    assert results_store.display_path(REPO) == "."
    assert results_store.display_path(REPO.parent / "shared" / "data" / "galaxy-zoo-sample") == (
        "../shared/data/galaxy-zoo-sample")
    assert results_store.label("improved", "", None, False, "augment_shift=0", "a b/c") == (
        "improved-augment_shift=0-a_b_c")
    assert results_store.command_line("/x/benchmarks/bench_input.py", ["--data", "a b"]) == (
        "python benchmarks/bench_input.py --data 'a b'")


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_benchmark_can_store_its_result_elsewhere(script):
    """Each benchmark takes --results-dir (trial runs on a busy machine keep recorded figures) and --label."""
    done = subprocess.run([sys.executable, str(BENCHMARKS / f"{script}.py"), "--help"], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "--results-dir" in done.stdout and "--label" in done.stdout


def test_bench_tests_reads_pytests_summary_and_times_a_command(tmp_path, capsys):
    """bench_tests (the test suite's own timing): pytest's last summary line, with or without the
    minutes pytest adds past a minute, and the timing of a command with its output shown."""
    import bench_tests

    assert bench_tests.pytest_summary("...\n=== 663 passed, 1 skipped in 316.95s (0:05:16) ===\n") == {
        "counts": {"passed": 663, "skipped": 1}, "pytest_seconds": 316.95}
    assert bench_tests.pytest_summary("= 2 failed, 566 passed, 94 deselected in 31.77s =") == {
        "counts": {"failed": 2, "passed": 566, "deselected": 94}, "pytest_seconds": 31.77}
    assert bench_tests.pytest_summary("make: *** [Makefile:35: test] Error 1\n") == {}
    figures = bench_tests.time_target("test-fast", False,
                                      [sys.executable, "-c", "print('==== 3 passed in 0.25s ====')"])
    assert figures["counts"] == {"passed": 3} and figures["exit_status"] == 0 and figures["seconds"] > 0
    assert "3 passed" in capsys.readouterr().out


def test_bench_tests_clears_the_projects_bytecode_but_not_the_environments(tmp_path):
    import bench_tests

    for folder in ("galaxy_lib/__pycache__", "tests/__pycache__", ".venv/lib/x/__pycache__"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "m.cpython-311.pyc").write_bytes(b"")
    assert bench_tests.clear_bytecode(tmp_path) == 2
    assert [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("__pycache__")] == [".venv/lib/x/__pycache__"]


def test_bench_baselines_writes_its_result(kaggle_folder, tmp_path):
    """A real benchmark run end to end on 12 galaxies: figures, setup and command in the JSON."""
    import bench_baselines

    argv = ["-f", "parameters/smoke.yaml", "--set", f"data={kaggle_folder}", "--set", "synthetic=false",
            "--clusters", "2", "--results-dir", str(tmp_path), "--label", "tiny"]
    assert bench_baselines.main(argv) == 0
    record = results_store.load_results(tmp_path)["baselines-tiny"]
    assert record["command"].startswith("python benchmarks/bench_baselines.py -f parameters/smoke.yaml --set data=")
    assert set(record["figures"]["test"]) == {"all-zeros", "all-ones", "training mean", "central pixel, colour bins",
                                              "central pixel, k-means"}
    assert sum(record["setup"]["split"].values()) == 12 and record["setup"]["clusters"] == 2
    assert record["provenance"] == results_store.MEASURED


def test_bench_synth_writes_its_result(tmp_path):
    """bench_synth's small mode: the learnability figures and the generation speed land in the JSON."""
    import bench_synth

    argv = ["--n", "40", "--workers", "1", "--real", str(tmp_path / "absent"), "--results-dir", str(tmp_path)]
    bench_synth.main(argv)  # the targets are meant for 2,000 galaxies; 40 may miss them
    record = results_store.load_results(tmp_path)["synth-n40-seed0"]
    learn = record["figures"]["learnability"]
    assert learn["n_test"] == 10 and 0 < learn["noise_floor_rmse"] < learn["mean_rmse"]
    assert record["figures"]["generation"]["galaxies_per_s"] > 0 and record["figures"]["real_ridge"] is None
    assert record["setup"]["n"] == 40
    assert record["command"] == "python benchmarks/bench_synth.py " + shlex.join(argv)


@pytest.mark.slow
def test_bench_curve_stores_the_curve_its_fit_and_its_check(smoke_curve_report, tmp_path, monkeypatch):
    """bench_curve on the smoke learning-curve file: every point, the extrapolation to 61,578, the
    synthetic check and the conclusion land in one JSON. The points are those the session's smoke
    curve report trained (conftest) with the same ``run_curves``, copied into a project of this test's
    own: bench_curve reads the finished points rather than training them again."""
    import shutil

    import bench_curve

    root = tmp_path / "project"
    # the main curve's data (the report ran with --data smoke) and its validation curve's (smoke.yaml's own)
    for name in ("parameters", "smoke", "data/smoke", "runs/smoke-curve", "runs/smoke-curve-validation"):
        shutil.copytree(smoke_curve_report / name, root / name)
    (root / "pyproject.toml").write_text("")
    monkeypatch.setenv("GALAXY_LIB_ROOT", str(root))
    monkeypatch.chdir(root)
    argv = ["-f", "parameters/smoke_curve.yaml", "--set", "data=smoke", "--results-dir", str(tmp_path / "results"),
            "--figure", str(tmp_path / "fig.png")]
    trained = (root / "runs" / "smoke-curve" / "n00020-seed0" / "history.csv").stat().st_mtime_ns
    bench_curve.main(argv)
    record = results_store.load_results(tmp_path / "results")["curve-smoke-curve-data=smoke"]
    f = record["figures"]
    assert [p["n_train"] for p in f["points"]] == [20, 40, 84] and f["headline"]["n_train"] == 84
    assert f["extrapolation"]["target"] == 61_578 and f["extrapolation"]["low"] <= f["extrapolation"]["high"]
    assert f["without_smallest"] == []  # 3 sizes: none can be left out and still fit a 3-parameter law
    assert [c["n_train"] for c in f["validation"]["check"]["checked"]] == [84]
    assert "**Extrapolated:**" in f["conclusion"] and (tmp_path / "fig.png").stat().st_size > 1000
    assert record["setup"]["curve"]["sizes"] == "20,40,all" and record["setup"]["validation"]["fit_up_to"] == 30
    assert record["command"] == "python benchmarks/bench_curve.py " + shlex.join(argv)
    # finished points are read, not trained again
    assert (root / "runs" / "smoke-curve" / "n00020-seed0" / "history.csv").stat().st_mtime_ns == trained


def test_validation_screens_compare_on_validation_and_never_show_a_test_figure():
    """Issue 31's screens (``bench_quality --screen``) are compared by their 8-view validation RMSE
    against the first row, show no test figure, and stay out of the older screens' table, whose
    column is the test RMSE."""
    results = results_store.load_results()
    screens = sorted(name for name, rec in results.items() if rec["figures"].get("screen"))
    assert "quality-screen60-deep" in screens and len(screens) >= 2
    lever = next(name for name in screens if name != "quality-screen60-deep")
    base = results["quality-screen60-deep"]["figures"]["val_rmse_tta"]
    results[lever] = copy.deepcopy(results[lever])
    results[lever]["figures"]["val_rmse_tta"] = base + 0.0123
    text = readme_tables.render_region("chosen-on-validation", results)
    assert "| +0.0123 | not scored |" in text
    assert text.count("| not scored |") == len(screens)
    assert results[lever]["command"] in text and "--screen" in results[lever]["command"]
    # a pretrained finalist's minutes are its pretraining's and its own: 20 in all
    finalist = results["quality-improved_pretrained"]
    pre, own = finalist["setup"]["pretraining"], finalist["figures"]
    assert (f"{pre['epochs']} + {own['epochs']} ({pre['minutes']:.1f} + {own['training_minutes']:.1f} min; "
            f"pretrained in `{pre['init_weights']}`)") in text
    older = readme_tables.render_region("screens", results)  # its rows name their changes; ours all set conv_blocks=3
    assert "`conv_blocks=3`" not in older and "| 60 epochs |" in older
