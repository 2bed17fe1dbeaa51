"""A synthetic class scored on the instructor's galaxies (issue 29): `python -m galaxy_lib class`.

Five students hand in what a course produces: ada an honest run of the assignment, grace a changed
architecture (a third convolution block), bob ada's run folder copied, carol a run whose best.keras is
corrupted, dan an empty folder; eve hands in a zip with a member that climbs out of its folder. The
students' sky is a small synthetic one and the key is set aside from it with `sample --synthetic`.
Two tiny models are trained (32-pixel inputs, one epoch): the rest are copies.
"""

from __future__ import annotations

import csv
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from galaxy_lib import cli
from galaxy_lib.classroom import key as class_key
from galaxy_lib.classroom.score import score_class
from galaxy_lib.config import load_config
from galaxy_lib.synth import sky

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _hand_in(student_root: Path, run: Path, *, answered: int = 0, notebooks: bool = True) -> None:
    """``runs/default`` (the trained folder) and ``reports/default`` as a report build leaves them."""
    shutil.copytree(run, student_root / "runs" / "default", ignore=shutil.ignore_patterns("resume", "cache"))
    report = student_root / "reports" / "default"
    report.mkdir(parents=True)
    names = ["01_data.ipynb", "02_train.ipynb", "03_evaluate.ipynb"] if notebooks else ["01_data.ipynb"]
    for name in names:
        (report / name).write_text("{}")
    (report / "report.json").write_text(json.dumps({
        "name": "default", "run_dir": "runs/default", "notebooks": [{"notebook": n, "seconds": 1.0} for n in names],
        "answers": {"exercises": 9, "answered": answered, "predicted": answered}}))
    (report / "report_no_code.html").write_text(f"<html><body><h1>{student_root.name}</h1>"
                                                "<script>document.title='ran'</script></body></html>")


@pytest.fixture(scope="module")
def classroom(tmp_path_factory) -> dict[str, Path]:
    from galaxy_lib.model import train

    root = tmp_path_factory.mktemp("classroom")
    students = load_config(REPO / "parameters" / "smoke.yaml",
                           {"data": str(root / "sky"), "synthetic_n": 60, "epochs": 1, "bootstrap": 20,
                            "auc_min_positives": 2}, environment=False)
    sky.generate(root / "sky", n=60, seed=0, progress=False)
    key = class_key.hold_out_synthetic(root / "key", n=24, seed=5, students=students)
    ada = train.train(students.replace(student="ada"), root / "trained" / "ada", verbose=False)
    grace = train.train(students.replace(student="grace", conv_blocks=3, image_size=64), root / "trained" / "grace",
                        verbose=False)
    for run in (ada, grace):  # each with its own test figure, as notebook 3 leaves it
        (run / "metrics.json").write_text(json.dumps({"test_rmse": 0.2, "n_test": 12}))

    submissions = root / "submissions"
    _hand_in(submissions / "ada", ada, answered=4)
    _hand_in(submissions / "grace", grace, answered=9, notebooks=False)
    shutil.copytree(submissions / "ada", submissions / "bob")  # a copied run
    _hand_in(submissions / "carol", grace)
    best = submissions / "carol" / "runs" / "default" / "best.keras"
    with zipfile.ZipFile(best) as archive:  # a whole archive whose weights are garbage
        members = {name: archive.read(name) for name in archive.namelist()}
    with zipfile.ZipFile(best, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, b"\x00garbage" * 100 if name.endswith(".h5") else data)
    (submissions / "dan").mkdir()
    with zipfile.ZipFile(submissions / "eve.zip", "w") as archive:
        archive.writestr("runs/default/config.yaml", "seed: 0\n")
        archive.writestr("../evil.txt", "outside")
    assignment = root / "assignment.yaml"
    assignment.write_text((REPO / "parameters" / "smoke.yaml").read_text() + "synthetic_n: 60\nepochs: 1\n")
    return {"root": root, "submissions": submissions, "key": key, "assignment": assignment, "ada": ada}


def _listing(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_size for p in sorted(folder.rglob("*"))}


def test_the_class_gets_its_rows_and_flags_and_nothing_is_written_outside_out(classroom):
    root, submissions = classroom["root"], classroom["submissions"]
    before = _listing(submissions)
    outside = sorted(p.name for p in root.iterdir())
    out = root / "out"
    result = score_class(submissions, classroom["key"], out, assignment=classroom["assignment"], progress=False)
    rows = {row.student: row for row in result.rows}
    assert sorted(rows) == ["ada", "bob", "carol", "dan", "eve", "grace"]
    kinds = {name: {flag.kind for flag in row.flags} for name, row in rows.items()}

    ada, bob = rows["ada"], rows["bob"]
    assert ada.scored and ada.galaxies == 24 and ada.rmse_low <= ada.rmse <= ada.rmse_high
    assert ada.gain == pytest.approx(ada.mean_rmse - ada.rmse)
    assert ada.own_test_rmse == 0.2 and ada.epochs == 1 and ada.answers["answered"] == 4
    assert ada.changes == {} and ada.model_source == "configuration" and ada.notebooks == "ok"
    assert ada.report and (out / ada.report).is_file()
    # bob handed in ada's run: the same predictions, and a run trained under ada's name
    assert "copy" in kinds["bob"] and "copy" in kinds["ada"]
    assert any("identical to ada / default" in f.reason for f in bob.flags)
    assert any("trained as student 'ada'" in f.reason for f in bob.flags)
    assert bob.rmse == ada.rmse
    # grace changed the architecture (and so the input): scored through her own preprocessing, not a copy
    grace = rows["grace"]
    assert grace.scored and grace.changes == {"image_size": [32, 64], "conv_blocks": [2, 3]}
    assert grace.parameters is not None and ada.parameters is not None and grace.parameters != ada.parameters
    assert "copy" not in kinds["grace"] and grace.rmse != ada.rmse
    assert grace.notebooks.startswith("missing") and "notebooks" in kinds["grace"]
    assert grace.answers["answered"] == 9
    # carol's model is half a file; dan handed in nothing; eve's zip climbs out of its folder
    assert not rows["carol"].scored and "best.keras cannot be loaded" in rows["carol"].problem
    assert "unscorable" in kinds["carol"]
    assert not rows["dan"].scored and "handed in nothing" in rows["dan"].problem
    assert not rows["eve"].scored and "../evil.txt" in rows["eve"].problem
    assert not (root / "evil.txt").exists() and not (submissions / "evil.txt").exists()
    # the students' folders are untouched and everything written is under --out
    assert _listing(submissions) == before
    assert sorted(p.name for p in root.iterdir()) == sorted([*outside, "out"])
    page = (out / "index.html").read_text()
    assert "ada" in page and "could not be scored" in page
    with (out / "class.csv").open() as handle:
        assert sorted(r["student"] for r in csv.DictReader(handle)) == ["ada", "bob", "carol", "dan", "eve", "grace"]
    # the key's images decoded once per preprocessing (32 and 64 pixels), not once per student
    assert result.scored_now == 4 and result.from_cache == 0 and result.decoded == 2


def test_rescoring_scores_only_what_changed(classroom, tmp_path):
    submissions = tmp_path / "submissions"
    shutil.copytree(classroom["submissions"] / "ada", submissions / "ada")
    (submissions / "dan").mkdir()
    out = tmp_path / "out"
    first = score_class(submissions, classroom["key"], out, progress=False)
    assert (first.scored_now, first.from_cache) == (1, 0)
    again = score_class(submissions, classroom["key"], out, progress=False)
    assert (again.scored_now, again.from_cache) == (0, 1)
    assert [r.to_dict() for r in again.rows] == [r.to_dict() for r in first.rows]
    shutil.copytree(submissions / "ada", submissions / "bob")  # one more hand-in
    late = score_class(submissions, classroom["key"], out, progress=False)
    assert (late.scored_now, late.from_cache) == (1, 1)
    assert all("copy" in {f.kind for f in r.flags} for r in late.rows if r.student in ("ada", "bob"))
    shutil.rmtree(submissions / "bob")  # withdrawn: its row, copy flag and copied report go
    final = score_class(submissions, classroom["key"], out, progress=False)
    assert [r.student for r in final.rows] == ["ada", "dan"]
    assert "copy" not in {f.kind for f in final.rows[0].flags}
    assert not (out / "students" / "bob").exists() or not any((out / "students" / "bob").rglob("*.html"))


def test_the_command_line_scores_a_class_and_names_bad_input_in_one_line(classroom, tmp_path, capsys):
    submissions = tmp_path / "submissions"
    shutil.copytree(classroom["submissions"] / "ada", submissions / "ada")
    out = tmp_path / "class"
    status = cli.main(["class", str(submissions), "--key", str(classroom["key"]), "--out", str(out),
                       "--assignment", str(classroom["assignment"]),
                       "--reference", f"paper={classroom['ada']}"])
    assert status == 0
    printed = capsys.readouterr().out
    assert "1 students, 1 rows: 1 runs scored on the key" in printed and "index.html" in printed
    assert "reference" in (out / "index.html").read_text()
    assert cli.main(["class", str(submissions), "--key", str(tmp_path / "nokey"), "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and "nokey" in error and error.count("\n") == 1
    assert cli.main(["class", str(submissions), "--key", str(classroom["key"]), "--out", str(out),
                     "--reference", "paper"]) == 2
    assert "NAME=RUN_FOLDER" in capsys.readouterr().err


def test_the_held_back_galaxies_are_never_in_the_students_sky(classroom):
    key = class_key.read_key(classroom["key"])
    students = {int(p.stem) for p in (classroom["root"] / "sky" / "images_training_rev1").glob("*.jpg")}
    assert len(students) == 60 and not students & set(key.ids.tolist())
    assert np.isfinite(key.training_mean).all()


def test_untrusted_models_and_damaged_records_give_that_row_its_reason(classroom, tmp_path):
    from galaxy_lib.model import network

    keras = network.keras
    submissions = tmp_path / "submissions"
    for name in ("lambda", "shape", "history", "huge", "base", "overlap"):
        shutil.copytree(classroom["submissions"] / "ada", submissions / name)
    run = "runs/default"
    inputs = keras.Input((32, 32, 3))
    hidden = keras.layers.GlobalAveragePooling2D()(inputs)
    custom = keras.Model(inputs, keras.layers.Lambda(lambda x: x[:, :1] * 0 + 0.5)(keras.layers.Dense(37)(hidden)))
    custom.save(submissions / "lambda" / run / "best.keras")  # needs code to load: refused in safe mode
    keras.Model(inputs, keras.layers.Dense(10, activation="sigmoid")(hidden)).save(
        submissions / "shape" / run / "best.keras")
    (submissions / "history" / run / "history.csv").write_text("epoch,loss\n1,not a number,3\n")
    with open(submissions / "huge" / run / "split.csv", "r+b") as handle:
        handle.truncate(10 * 2**30)  # a sparse 10 GB file: no disk used, never read
    config = submissions / "base" / run / "config.yaml"
    config.write_text(f"base: {tmp_path / 'secret.yaml'}\n" + config.read_text())  # a file outside SUBMISSIONS
    (tmp_path / "secret.yaml").write_text("not: a config\n")
    split = submissions / "overlap" / run / "split.csv"
    lines = split.read_text().splitlines()
    train_id = next(line.split(",")[0] for line in lines[1:] if line.endswith(",train"))
    key_id = int(class_key.read_key(classroom["key"]).ids[0])
    split.write_text("\n".join([*lines, f"{train_id},test", f"{key_id},train"]) + "\n")
    result = score_class(submissions, classroom["key"], tmp_path / "out", progress=False)
    rows = {row.student: row for row in result.rows}
    assert "names a 'base' file" in rows["base"].problem
    overlap = {f.kind: f.reason for f in rows["overlap"].flags}
    assert rows["overlap"].scored and f"first: {train_id}" in overlap["split-overlap"]
    assert f"first: {key_id}" in overlap["key-leak"]
    assert "needs custom code" in rows["lambda"].problem and not rows["lambda"].scored
    assert "outputs of shape (10,)" in rows["shape"].problem
    history = rows["history"]
    assert history.scored and history.epochs is None
    assert any(f.kind == "damaged" and "history.csv" in f.reason for f in history.flags)
    assert "10.0 GB" in rows["huge"].problem and not rows["huge"].scored
    assert all("\n" not in row.problem for row in rows.values())


def test_a_name_on_a_run_is_flagged_only_when_it_is_a_classmates():
    from galaxy_lib.classroom.rows import ClassRow
    from galaxy_lib.classroom.score import name_flags

    rows = [ClassRow("a123", trained_as="Ada Lovelace"),  # a student number and the name typed: fine
            ClassRow("grace", trained_as="grace"), ClassRow("carol", trained_as="Grace"),  # carol has grace's run
            ClassRow("x1", trained_as="Emmy"), ClassRow("x2", trained_as="emmy"),  # one name on two hand-ins
            ClassRow("dan")]
    name_flags(rows)
    flagged = {row.student: [f.reason for f in row.flags if f.kind == "copy"] for row in rows}
    assert flagged["a123"] == [] and flagged["grace"] == [] and flagged["dan"] == []
    assert flagged["carol"] == ["trained as student 'Grace' (its config.yaml): grace's name, handed in by carol"]
    assert "a name on x2's hand-in too" in flagged["x1"][0] and "x1's" in flagged["x2"][0]
