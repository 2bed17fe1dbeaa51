"""The two install routes and the two README commands stay consistent with each other."""

import re
import tomllib

import yaml

USER_PACKAGES = [
    "tensorflow", "jupyterlab", "papermill", "nbconvert", "pandas", "opencv-python-headless", "scikit-learn", "seaborn",
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
