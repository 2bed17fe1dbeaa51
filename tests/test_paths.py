"""The file helpers' path display (:func:`galaxy_lib.paths.display_path`) through symbolic links.

Sharing one copy of the data between checkouts through a link (``../shared`` -> another disk) is
common; a stored result or a report must still name the path as the project sees it, not the
link's target on this machine (issue 30).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from galaxy_lib.paths import display_path


@pytest.fixture
def linked_project(tmp_path: Path) -> Path:
    """``tmp_path/work/project`` with ``data`` and the sibling ``../shared`` symbolic links to
    folders on 'another disk' (``tmp_path/disk``)."""
    disk = tmp_path / "disk"
    (disk / "shared" / "data" / "sample").mkdir(parents=True)
    (disk / "big" / "galaxies").mkdir(parents=True)
    project = tmp_path / "work" / "project"
    (project / "runs").mkdir(parents=True)
    (tmp_path / "work" / "shared").symlink_to(disk / "shared", target_is_directory=True)
    (project / "data").symlink_to(disk / "big", target_is_directory=True)
    return project


def test_a_path_through_a_linked_folder_is_shown_relative_to_the_project(linked_project: Path):
    disk = linked_project.parents[1] / "disk"
    assert display_path(linked_project / "data" / "galaxies", linked_project) == "data/galaxies"
    assert display_path(linked_project / "runs" / "smoke", linked_project) == "runs/smoke"
    assert display_path(linked_project / "runs" / ".." / "data", linked_project) == "data"  # normalised
    shared = linked_project.parent / "shared" / "data" / "sample"
    assert display_path(shared, linked_project, beside=True) == "../shared/data/sample"
    assert display_path(linked_project.parent, linked_project, beside=True) == ".."
    assert display_path(shared, linked_project) == str(shared)  # not beside: as given, never the target
    assert str(disk) not in display_path(shared, linked_project)
    # the link's target itself is outside the project and shown as it is
    assert display_path(disk / "big", linked_project, beside=True) == str(disk / "big")


def test_relative_paths_are_taken_from_the_project_not_resolved(linked_project: Path, monkeypatch):
    monkeypatch.chdir(linked_project.parents[1])  # anywhere: relative paths are read from the root
    monkeypatch.setenv("GALAXY_LIB_ROOT", str(linked_project))
    assert display_path("data/galaxies") == "data/galaxies"
    assert display_path("../shared/data/sample") == "../shared/data/sample"  # as given outside
    assert display_path(Path("data") / "galaxies", beside=True) == "data/galaxies"


def test_the_project_reached_through_a_link_is_still_the_project(tmp_path: Path):
    project = tmp_path / "project"
    (project / "runs").mkdir(parents=True)
    (tmp_path / "alias").symlink_to(project, target_is_directory=True)
    assert display_path(tmp_path / "alias" / "runs", project) == "runs"  # resolved comparison
    assert display_path(project / "runs", tmp_path / "alias") == "runs"  # a root given through a link
    assert display_path(project, project) == "."


def test_results_store_shows_the_shared_data_through_a_link(linked_project: Path, monkeypatch):
    """The benchmarks' display (``results_store.display_path``) is this function of the checkout
    with ``beside``: the shared sample behind a link stays ``../shared/...``."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))  # not a package
    import results_store

    monkeypatch.setattr(results_store, "REPO", linked_project)
    sample = linked_project.parent / "shared" / "data" / "sample"
    assert results_store.display_path(sample) == "../shared/data/sample"
    assert results_store.display_path(linked_project) == "."
    monkeypatch.chdir(linked_project)
    assert results_store.display_path("runs") == "runs"  # relative to where the benchmark runs
    assert os.path.isabs(results_store.display_path(linked_project.parents[2]))


def test_records_are_written_in_one_layout_and_read_back(tmp_path: Path):
    """atomic_write_json: two-space indent and a final newline (one line with indent None); a value
    JSON cannot hold raises before anything is written, so the earlier record stays."""
    from galaxy_lib.paths import atomic_write_json, read_json_object

    record = tmp_path / "deep" / "record.json"
    atomic_write_json(record, {"rmse": 0.1, "seeds": [0, 1]})
    assert record.read_text() == '{\n  "rmse": 0.1,\n  "seeds": [\n    0,\n    1\n  ]\n}\n'
    atomic_write_json(record, {"path": tmp_path}, indent=None, default=str)
    assert record.read_text() == f'{{"path": "{tmp_path}"}}\n'
    with pytest.raises(TypeError):
        atomic_write_json(record, {"path": tmp_path})
    assert read_json_object(record) == {"path": str(tmp_path)}
    assert [p.name for p in record.parent.iterdir()] == ["record.json"]  # no temporary file left
