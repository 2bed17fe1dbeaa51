"""Finding what students handed in, and reading it safely (galaxy_lib.classroom.submissions).

Fake run folders of tiny files: nothing here trains, loads a model or imports TensorFlow."""

from __future__ import annotations

import io
import json
import os
import re
import stat
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from galaxy_lib.classroom import submissions as sub
from galaxy_lib.classroom.submissions import HALF_COPIED, NOTHING, RunEntry, find_submissions, half_copied, safe_name
from galaxy_lib.errors import DataError

# --- fake hand-ins -------------------------------------------------------------------------------


def keras_bytes(payload: bytes = b"weights") -> bytes:
    """A tiny stand-in for a .keras file: like the real one, a zip."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("model.weights.h5", payload)
    return buffer.getvalue()


def make_run(folder: Path, *, best: bytes | None = None, markers: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text("model: vgg6\nepochs: 2\n")
    if markers:
        (folder / "split.csv").write_text("GalaxyID,split\n1,train\n2,test\n")
        (folder / "history.csv").write_text("epoch,val_rmse\n1,0.2\n")
        (folder / "metrics.json").write_text('{"test_rmse": 0.1}')
        (folder / "best.keras").write_bytes(keras_bytes() if best is None else best)
    return folder


def make_report(folder: Path, run_dir: str) -> Path:
    """A report folder as the build leaves it, with its copies of the run's config and history."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.json").write_text(json.dumps({"name": folder.name, "run_dir": run_dir}))
    (folder / "report.html").write_text("<html>full</html>")
    (folder / "report_no_code.html").write_text("<html>no code</html>")
    (folder / "config.yaml").write_text("model: vgg6\n")
    (folder / "history.csv").write_text("epoch,val_rmse\n1,0.2\n")
    return folder


def hand_in(folder: Path, runs: tuple[str, ...] = ("default",), reports: tuple[str, ...] = ("default",)) -> Path:
    for name in runs:
        make_run(folder / "runs" / name)
    for name in reports:
        make_report(folder / "reports" / name, f"runs/{name}")
    return folder


def zip_folder(path: Path, folder: Path, prefix: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                archive.write(file, prefix + file.relative_to(folder).as_posix())
    return path


def zip_members(path: Path, members: dict[str, bytes], *, base: Path | None = None) -> Path:
    """A zip of ``base``'s files (an honest hand-in) plus ``members``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        if base is not None:
            for file in sorted(base.rglob("*")):
                if file.is_file():
                    archive.write(file, file.relative_to(base).as_posix())
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name), data)
    return path


def patch_central(path: Path, member: str, offset: int, fmt: str, value: int, local_offset: int | None = None) -> None:
    """Overwrite one field of ``member``'s central directory header (and of its local header)."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(member)
    name = member.encode()
    start = 0
    while True:
        start = data.index(b"PK\x01\x02", start)
        length = struct.unpack_from("<H", data, start + 28)[0]
        if bytes(data[start + 46:start + 46 + length]) == name:
            break
        start += 4
    if fmt == "H":
        value |= struct.unpack_from("<H", data, start + offset)[0]
    struct.pack_into(f"<{fmt}", data, start + offset, value)
    if local_offset is not None:
        if fmt == "H":
            value |= struct.unpack_from("<H", data, info.header_offset + local_offset)[0]
        struct.pack_into(f"<{fmt}", data, info.header_offset + local_offset, value)
    path.write_bytes(bytes(data))


def files_under(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")}


def rows(found: list[sub.Submission]) -> list[tuple[str, str, list[str], str]]:
    return [(s.student, s.source, [r.run for r in s.runs], s.problem) for s in found]


@pytest.fixture
def where(tmp_path: Path) -> tuple[Path, Path]:
    """SUBMISSIONS and the work folder (inside a separate --out)."""
    (tmp_path / "submissions").mkdir()
    return tmp_path / "submissions", tmp_path / "out" / "work"


# --- layouts -------------------------------------------------------------------------------------


def test_plain_layout_one_folder_per_student(where):
    root, work = where
    hand_in(root / "ada")
    hand_in(root / "bob", runs=("default", "improved"), reports=("improved",))
    hand_in(root / ".trash")  # hidden: not a student
    (root / "notes.txt").write_text("grades later")
    found = find_submissions(root, work)
    assert rows(found) == [("ada", "ada", ["default"], ""), ("bob", "bob", ["default", "improved"], "")]
    ada, bob = found[0].runs[0], found[1].runs
    assert ada.source == "ada/runs/default" and ada.run_dir == root.resolve() / "ada/runs/default"
    assert ada.report_dir == root.resolve() / "ada/reports/default" and ada.failed_report is None
    assert bob[0].report_dir is None and bob[1].report_dir == root.resolve() / "bob/reports/improved"
    assert all(r.problem == "" and r.part_of == "" for r in [ada, *bob])
    assert not work.exists()  # no zip: nothing written


def test_whole_checkout_below_a_sub_folder(where):
    root, work = where
    checkout = root / "cy" / "galaxy-zoo-main"
    make_run(checkout / "runs" / "default")
    (checkout / "runs/default/resume").mkdir()
    (checkout / "runs/default/resume/state.json").symlink_to("/etc/passwd")  # never read: not a problem
    (checkout / "runs/default/cache").mkdir()
    with open(checkout / "runs/default/cache/crops.npy", "wb") as f:
        f.truncate(3 * 2**30)
    make_run(checkout / "runs" / "other")
    (checkout / "runs/x3").mkdir()
    (checkout / "runs/x3/members.yaml").write_text("members: []\n")
    make_run(checkout / "runs/x3/seed0")
    make_run(checkout / "runs/x3/seed1")
    make_run(checkout / "runs/curve-a/n00150-seed0")
    (checkout / "runs/curve-a/curve.json").write_text("{}")
    make_report(checkout / "reports/mine", "runs/default")  # a report named otherwise: run_dir says whose
    make_report(checkout / "reports/other", "runs/x3/seed1")  # named like a run but built on another
    make_report(checkout / "reports/seedzero", "/home/cy/galaxy-zoo/runs/x3/seed0")  # a path on cy's laptop
    (checkout / "reports/default.failed").mkdir()
    (checkout / "reports/default.failed/failure.json").write_text('{"error": "boom"}')
    (checkout / "parameters").mkdir()
    (checkout / "parameters/default.yaml").write_text("epochs: 2\n")
    (checkout / "data/sample").mkdir(parents=True)
    (checkout / "data/sample/1.jpg").write_bytes(b"\xff\xd8")
    make_run(checkout / ".venv/lib/runs/fake")  # hidden: never searched
    (found,) = find_submissions(root, work)
    runs = {r.run: r for r in found.runs}
    assert (found.student, found.source, found.problem) == ("cy", "cy", "")
    assert list(runs) == ["curve-a/n00150-seed0", "default", "other", "x3/seed0", "x3/seed1"]
    reports = checkout.resolve() / "reports"
    assert runs["default"].report_dir == reports / "mine"
    assert runs["default"].failed_report == reports / "default.failed"
    assert runs["default"].problem == ""  # the link in resume/ and the 3 GB cache are not looked at
    assert runs["other"].report_dir is None
    assert runs["x3/seed1"].report_dir == reports / "other"
    assert runs["x3/seed0"].report_dir == reports / "seedzero"
    assert runs["x3/seed0"].part_of == "ensemble cy/galaxy-zoo-main/runs/x3"
    assert runs["curve-a/n00150-seed0"].part_of == "learning curve cy/galaxy-zoo-main/runs/curve-a"
    assert runs["x3/seed0"].source == "cy/galaxy-zoo-main/runs/x3/seed0"


def test_curve_markers_match_the_curve_module():
    from galaxy_lib.studies import curve

    assert (curve.SETUP_FILE, curve.ORDER_FILE) == sub.CURVE_MARKERS


def test_nbgrader_course_folder_and_submitted_folder(tmp_path):
    course = tmp_path / "course"
    hand_in(course / "submitted/ada/ps1")
    hand_in(course / "submitted/ada/ps2/galaxy-zoo")
    (course / "submitted/ada/ps2/timestamp.txt").write_text("2025-01-01")
    (course / "submitted/bob/ps1").mkdir(parents=True)
    hand_in(course / "source/ps1")  # the instructor's own: not a student
    (course / "gradebook.db").write_text("")
    expected = [
        ("ada", "submitted/ada/ps1", ["default"], ""),
        ("ada", "submitted/ada/ps2", ["default"], ""),
        ("bob", "submitted/bob/ps1", [], NOTHING),
    ]
    assert rows(find_submissions(course, tmp_path / "out/work")) == expected
    inner = rows(find_submissions(course / "submitted", tmp_path / "out/work"))
    assert inner == [(s, source.removeprefix("submitted/"), r, p) for s, source, r, p in expected]


def test_zips_of_each_layout(where, tmp_path):
    root, work = where
    zip_folder(root / "ada.zip", hand_in(tmp_path / "ada"))
    checkout = hand_in(tmp_path / "bob" / "galaxy-zoo")
    (checkout / "data").mkdir()
    (checkout / "data/1.jpg").write_bytes(b"\xff\xd8" * 100)
    (checkout / "runs/default/cache").mkdir()
    (checkout / "runs/default/cache/crops.npy").write_bytes(b"0" * 100)
    zip_folder(root / "bob.ZIP", tmp_path / "bob")
    zip_folder(root / "cy" / "handin.zip", hand_in(tmp_path / "cy"))  # a zip in a student's folder
    (root / "dan.tar.gz").write_bytes(b"\x1f\x8b")
    found = find_submissions(root, work)
    assert rows(found) == [
        ("ada", "ada.zip", ["default"], ""),
        ("bob", "bob.ZIP", ["default"], ""),
        ("cy", "cy/handin.zip", ["default"], ""),
        ("dan", "dan.tar.gz", [], "dan.tar.gz is not a folder or a .zip: not read"),
    ]
    ada, bob = found[0].runs[0], found[1].runs[0]
    assert ada.source == "ada.zip:runs/default" and ada.run_dir.is_relative_to(work.resolve())
    assert ada.report_dir == ada.run_dir.parent.parent / "reports/default" and ada.problem == ""
    assert (ada.run_dir / "best.keras").read_bytes() == keras_bytes()
    unpacked = files_under(bob.run_dir.parents[2])  # only the run and report folders come out of the zip
    assert "galaxy-zoo/runs/default/best.keras" in unpacked and "galaxy-zoo/reports/default/report.json" in unpacked
    assert not any(name.startswith("galaxy-zoo/data") or "cache" in name for name in unpacked)

    course = tmp_path / "course"
    zip_folder(course / "submitted/eve/ps1/handin.zip", hand_in(tmp_path / "eve"))
    (course / "submitted/eve/ps1/timestamp.txt").write_text("2025-01-01")
    (found,) = find_submissions(course, tmp_path / "out2/work")
    assert rows([found]) == [("eve", "submitted/eve/ps1/handin.zip", ["default"], "")]
    assert found.runs[0].source == "submitted/eve/ps1/handin.zip:runs/default" and found.runs[0].report_dir


# --- untrusted zips ------------------------------------------------------------------------------


@pytest.mark.parametrize(("member", "why"), [
    ("../evil.txt", "'..' in its path"),
    ("runs/../../evil.txt", "'..' in its path"),
    ("runs/default/../../../../../evil.txt", "'..' in its path"),  # inside a run folder: would be unpacked
    ("..\\evil.txt", "'..' in its path"),
    ("/tmp/evil.txt", "absolute path"),
    ("\\evil.txt", "absolute path"),
    ("C:/evil.txt", "drive letter"),
])
def test_zip_with_an_escaping_member_is_refused_and_nothing_is_written(where, tmp_path, member, why):
    root, work = where
    zip_members(root / "mal.zip", {member: b"pwned"}, base=hand_in(tmp_path / "honest"))
    before = files_under(tmp_path)
    (found,) = find_submissions(root, work)
    assert (found.student, found.runs) == ("mal", [])
    assert found.problem == f"zip member {member} refused: {why}"
    written = files_under(tmp_path) - before
    assert written <= {"out", "out/work", "out/work/mal.zip.unpacked.json"}  # the record of the refusal only
    assert not (tmp_path / "evil.txt").exists() and not Path("/tmp/evil.txt").exists()


def test_zip_with_a_link_member_is_refused(where, tmp_path):
    root, work = where
    base = hand_in(tmp_path / "honest", runs=(), reports=())
    make_run(base / "runs/default", markers=False)
    link = zipfile.ZipInfo("runs/default/best.keras")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(root / "mal.zip", "w") as archive:
        archive.write(base / "runs/default/config.yaml", "runs/default/config.yaml")
        archive.writestr(link, "/home/bob/runs/default/best.keras")
    (found,) = find_submissions(root, work)
    assert found.problem == "zip member runs/default/best.keras refused: a link" and found.runs == []
    assert [p.name for p in work.iterdir()] == ["mal.zip.unpacked.json"]


def test_zip_with_an_encrypted_member_is_refused(where, tmp_path):
    root, work = where
    path = zip_members(root / "mal.zip", {}, base=hand_in(tmp_path / "honest"))
    patch_central(path, "runs/default/best.keras", 8, "H", 0x1, local_offset=6)
    (found,) = find_submissions(root, work)
    assert found.problem == "zip member runs/default/best.keras refused: encrypted"


def test_zip_member_sizes_are_limited_declared_and_actual(where, tmp_path):
    root, work = where
    base = hand_in(tmp_path / "honest")
    zip_members(root / "big.zip", {"runs/default/last.keras": b"0" * 5000, "data/huge.bin": b"0" * 9000}, base=base)
    (found,) = find_submissions(root, work, max_file_bytes=4096)
    assert found.problem == "zip member runs/default/last.keras is 4.9 kB, over the 4.0 kB limit for a hand-in file"

    (root / "big.zip").unlink()
    zip_members(root / "many.zip", {"runs/default/a.bin": b"0" * 3000, "reports/default/b.bin": b"0" * 3000,
                                          "data/huge.bin": b"0" * 9000}, base=base)
    (found,) = find_submissions(root, work, max_total_bytes=4000)
    assert found.problem.startswith("zip unpacks to ") and "over the 3.9 kB limit for one hand-in" in found.problem

    # a member whose header declares less than it inflates to: caught while unpacking, nothing kept
    (root / "many.zip").unlink()
    path = zip_members(root / "liar.zip", {}, base=base)
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("runs/default/last.keras", b"0" * 100_000)
    patch_central(path, "runs/default/last.keras", 24, "I", 10, local_offset=22)
    (found,) = find_submissions(root, work)
    assert found.problem.startswith("zip member runs/default/last.keras ") and found.runs == []
    assert [p.name for p in work.iterdir()] == ["liar.zip.unpacked.json"]  # no copy, no staging folder left


def test_a_damaged_zip_is_one_line(where):
    root, work = where
    (root / "ada.zip").write_bytes(b"PK\x03\x04 not really")
    (found,) = find_submissions(root, work)
    assert found.problem.startswith("ada.zip is not a readable zip (") and "\n" not in found.problem


def test_zip_is_unpacked_again_only_when_it_changed(where, tmp_path):
    root, work = where
    path = zip_folder(root / "ada.zip", hand_in(tmp_path / "ada"))
    (first,) = find_submissions(root, work)
    best = first.runs[0].run_dir / "best.keras"
    inode = best.stat().st_ino
    (again,) = find_submissions(root, work)
    assert again.runs[0].run_dir == first.runs[0].run_dir and best.stat().st_ino == inode

    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))  # touched, same bytes
    find_submissions(root, work)
    assert best.stat().st_ino == inode
    record = json.loads((work / "ada.zip.unpacked.json").read_text())
    assert record["mtime_ns"] == path.stat().st_mtime_ns

    (tmp_path / "ada/runs/default/best.keras").write_bytes(keras_bytes(b"retrained"))
    zip_folder(path, tmp_path / "ada")
    (changed,) = find_submissions(root, work)
    assert (changed.runs[0].run_dir / "best.keras").read_bytes() == keras_bytes(b"retrained")

    zip_members(path, {"../evil": b"x"}, base=tmp_path / "ada")  # now refused: the old copy goes
    (refused,) = find_submissions(root, work)
    assert refused.problem.startswith("zip member ../evil refused") and not (work / "ada.zip").exists()

    path.unlink()  # no longer handed in: its record goes too
    assert find_submissions(root, work) == []
    assert list(work.iterdir()) == []


# --- untrusted folders ---------------------------------------------------------------------------


def test_links_are_never_followed(where):
    root, work = where
    hand_in(root / "bob")
    ada = hand_in(root / "ada")
    (ada / "runs/default/best.keras").unlink()
    (ada / "runs/default/best.keras").symlink_to("../../../bob/runs/default/best.keras")
    cy = hand_in(root / "cy")
    (cy / "reports/default/report_no_code.html").unlink()
    (cy / "reports/default/report_no_code.html").symlink_to("/etc/passwd")
    (root / "dan").mkdir()
    (root / "dan/runs").symlink_to(root / "bob/runs")
    (root / "eve").symlink_to(root / "bob")
    found = {s.student: s for s in find_submissions(root, work)}
    assert found["ada"].runs[0].problem == (
        "runs/default/best.keras is a link, and links in a hand-in are not followed "
        "(it points to ../../../bob/runs/default/best.keras)")
    assert found["bob"].runs[0].problem == ""
    assert found["cy"].runs[0].problem.startswith("reports/default/report_no_code.html is a link")
    assert found["dan"].runs == [] and found["dan"].problem == f"{NOTHING}; links not followed: runs"
    assert found["eve"].runs == [] and found["eve"].problem.startswith("eve is a link")


def test_a_10_gb_file_is_the_runs_problem_and_never_read(where):
    root, work = where
    hand_in(root / "ada")
    with open(root / "ada/runs/default/best.keras", "r+b") as f:
        f.truncate(10 * 2**30)  # sparse: costs no disk
    (entry,) = find_submissions(root, work)[0].runs
    assert entry.problem == "runs/default/best.keras is 10.0 GB, over the 1.0 GB limit for a hand-in file"
    assert len(entry.fingerprint()) == 64  # from the file's size and time: the 10 GB are not read


def test_a_named_pipe_does_not_hang_the_class(where):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no named pipes here")
    root, work = where
    hand_in(root / "ada")
    os.mkfifo(root / "ada/runs/default/metrics.json.pipe")
    hand_in(root / "bob")
    os.mkfifo(root / "bob/reports/default/notes")
    make_run(root / "cy/runs/default", best=b"")
    (root / "cy/runs/default/best.keras").unlink()
    os.mkfifo(root / "cy/runs/default/best.keras")
    ada, bob, cy = find_submissions(root, work)
    assert ada.runs[0].problem == "runs/default/metrics.json.pipe is not a regular file"
    assert bob.runs[0].problem == "reports/default/notes is not a regular file"
    assert cy.runs[0].problem == "runs/default/best.keras is not a regular file"
    assert half_copied(root / "cy/runs/default") == "best.keras is not a regular file"


def test_empty_folder_and_half_copied_runs(where):
    root, work = where
    (root / "dan").mkdir()
    hand_in(root / "ada", runs=("none", "empty", "cut", "config-only", "good"), reports=())
    (root / "ada/runs/none/best.keras").unlink()
    (root / "ada/runs/empty/best.keras").write_bytes(b"")
    (root / "ada/runs/cut/best.keras").write_bytes(keras_bytes()[:-10])
    for name in ("split.csv", "history.csv", "metrics.json", "best.keras"):
        (root / "ada/runs/config-only" / name).unlink()
    found = {s.student: s for s in find_submissions(root, work)}
    assert (found["dan"].runs, found["dan"].problem) == ([], NOTHING)
    problems = {r.run: r.problem for r in found["ada"].runs}
    assert problems == {
        "none": HALF_COPIED,
        "empty": "best.keras is empty (0 bytes): half-copied",
        "cut": "best.keras is cut short or damaged (not a complete .keras archive)",
        "config-only": HALF_COPIED,
        "good": "",
    }
    assert half_copied(root / "ada/runs/good") == "" and HALF_COPIED == "no best.keras: half-copied or never trained"


def test_fingerprint_changes_with_what_scoring_reads_only(where):
    root, work = where
    ada = hand_in(root / "ada")

    def fingerprint() -> str:
        return find_submissions(root, work)[0].runs[0].fingerprint()

    first = fingerprint()
    assert fingerprint() == first
    best = ada / "runs/default/best.keras"
    os.utime(best, ns=(0, 10**9))  # a new copy of the same bytes
    (ada / "runs/default/last.keras").write_bytes(b"not scored")
    (ada / "runs/default/figures").mkdir()
    (ada / "runs/default/figures/x.png").write_bytes(b"png")
    (ada / "reports/default/report.html").write_text("<html>changed</html>")
    assert fingerprint() == first
    best.write_bytes(keras_bytes(b"weightz"))  # same size, other content
    second = fingerprint()
    assert second != first
    (ada / "reports/default/report_no_code.html").write_text("<html>answers</html>")
    assert fingerprint() not in (first, second)
    entry = RunEntry("ada", "default", ada / "runs/default", "ada/runs/default", None, None)
    assert entry.fingerprint() != fingerprint()  # without its report


def test_out_folder_inside_submissions_is_skipped(where):
    root, _ = where
    hand_in(root / "ada")
    out = root / "class"
    hand_in(out / "ada")  # the class page's copies of the reports, even a run
    found = find_submissions(root, out / "work", out=out)
    assert rows(found) == [("ada", "ada", ["default"], "")]
    hand_in(root / "work-here")
    assert [s.student for s in find_submissions(root, root / "work-here")] == ["ada", "class"]


def test_students_in_name_order_and_safe_names(where):
    root, work = where
    for name in ("carl", "Bob", "ada", "José García"):
        hand_in(root / name)
    assert [s.student for s in find_submissions(root, work)] == ["ada", "Bob", "carl", "José García"]
    assert safe_name("ada") == "ada" and safe_name("ada-2.b_c") == "ada-2.b_c"
    for unsafe in ("José García", "../x", "", ".hidden", "a/b", "con", "x\ny", "a" * 200):
        name = safe_name(unsafe)
        # a folder name on every file system: a letter or digit, then at most 79 of these characters
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,79}", name) and name not in (".", ".."), unsafe
    assert safe_name("José García").startswith("Jos_Garc_a-")
    assert safe_name("a/b") != safe_name("a_b") and safe_name("a b") != safe_name("a?b")


def test_missing_submissions_folder_is_one_line(tmp_path):
    with pytest.raises(DataError, match="no such folder of submissions"):
        find_submissions(tmp_path / "nowhere", tmp_path / "work")


def test_module_does_not_import_tensorflow():
    code = ("import sys, galaxy_lib.classroom.submissions; "
            "sys.exit(int(any(m in sys.modules for m in ('tensorflow', 'keras'))))")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
