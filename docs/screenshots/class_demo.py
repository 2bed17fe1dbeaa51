"""The class index screenshot of docs/instructors-running-a-class.md, from a demo class of real runs.

Needs ``runs/default`` and ``reports/default`` (``make report``) and Chromium at /usr/bin/chromium with
Playwright from PyPI. The demo class, built in a temporary folder:

- Ada hands in ``runs/default`` and its real report;
- Alan, Emmy and Vera hand in the same run with their weights perturbed by their own seeds (stand-ins
  for honest runs: ``benchmarks/bench_class.py`` builds its class the same way);
- Bob hands in Ada's folder (a copy), Carol a best.keras whose weights are garbage, Dan nothing, and
  Eve a run whose report failed in notebook 2.

Then ``python -m galaxy_lib class`` scores it on a synthetic key and Chromium photographs the page::

    python docs/screenshots/class_demo.py [--out docs/class_index_screenshot.png]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))


def hand_in(submissions: Path, student: str, run: Path, report: Path | None) -> Path:
    folder = submissions / student
    shutil.copytree(run, folder / "runs" / "default", ignore=shutil.ignore_patterns("resume", "cache", "figures"))
    if report is not None:
        shutil.copytree(report, folder / "reports" / "default")
    return folder


def build(work: Path) -> Path:
    from bench_class import build_class

    submissions = work / "submissions"
    ada = hand_in(submissions, "Ada", REPO / "runs" / "default", REPO / "reports" / "default")
    build_class(REPO / "runs" / "default", work / "honest", 4, first=1)
    for index, name in enumerate(("Alan", "Emmy", "Vera"), start=1):
        (work / "honest" / f"student{index:02d}").rename(submissions / name)
    shutil.copytree(ada, submissions / "Bob")
    carol = hand_in(submissions, "Carol", REPO / "runs" / "default", None)
    best = carol / "runs" / "default" / "best.keras"
    with zipfile.ZipFile(best) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    with zipfile.ZipFile(best, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, b"\0garbage" * 100 if name.endswith(".h5") else data)
    (submissions / "Dan").mkdir()
    eve = (work / "honest" / "student04").rename(submissions / "Eve")
    shutil.rmtree(eve / "reports" / "default")  # her report never built: notebook 2 failed
    failed = eve / "reports" / "default.failed"
    failed.mkdir(parents=True)
    (failed / "failure.json").write_text(json.dumps({"notebook": "02_train.ipynb",
                                                     "error": "NameError: name 'build_modle' is not defined"}))
    return submissions


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "class_index_screenshot.png")
    parser.add_argument("--width", type=int, default=1500)
    parser.add_argument("--height", type=int, default=1000)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    from galaxy_lib import cli
    from galaxy_lib.classroom import key

    with tempfile.TemporaryDirectory(prefix="class-demo-") as tmp:
        work = Path(tmp)
        class_key = key.hold_out_synthetic(work / "key", n=665, seed=7)
        submissions = build(work)
        status = cli.main(["class", str(submissions), "--key", str(class_key), "--out", str(work / "class")])
        if status:
            return status
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": args.width, "height": args.height})
            page.goto((work / "class" / "index.html").as_uri())
            page.screenshot(path=str(args.out))
            browser.close()
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
