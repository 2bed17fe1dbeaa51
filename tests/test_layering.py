"""The layering rule of ``galaxy_lib``, enforced so that it cannot quietly regress.

The library's tree reads as the pipeline, in this order of stages:

    core -> synth -> data -> model -> evaluation -> studies -> report -> entry

- core: the top-level modules (``config``, ``errors``, ``paths``, ``kaggle``, ``tree``, ``locks``,
  ``environment``, ``tf_setup``) that every stage may use;
- ``synth/`` (the synthetic sky), ``data/``, ``model/``, ``evaluation/`` (one run's metrics, baselines,
  figures), ``studies/`` (learning curves and comparisons: training and evaluation of several runs),
  ``report/`` (notebooks, papermill, HTML, JupyterLab);
- entry: ``cli`` and ``__main__``, which dispatch to every stage.

**A module imports only its own stage, earlier stages and the core, never a later stage**, and no two
modules import each other, directly or round a loop. Lazy imports inside functions count too: they
hide an upward dependency from the import-time cost but not from the design. The bottom of the core
imports (almost) nothing of the package: ``errors`` and ``kaggle`` nothing at all, ``paths`` (the file
helpers, which raise ``errors.DiskError``) only ``errors``.
"""

from __future__ import annotations

import ast
import re
import textwrap
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "galaxy_lib"
STAGES = ("core", "synth", "data", "model", "evaluation", "studies", "report", "classroom", "entry")
ENTRY = {"galaxy_lib.cli", "galaxy_lib.__main__"}
BOTTOM: dict[str, set[str]] = {
    "galaxy_lib.errors": set(),
    "galaxy_lib.kaggle": set(),
    "galaxy_lib.paths": {"galaxy_lib.errors"},
}
"""The bottom of the core and the only modules of the package each may import."""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def stage(module: str) -> str:
    """The stage of a module: its sub-package, or core / entry for the top-level modules."""
    if module in ENTRY:
        return "entry"
    parts = module.split(".")
    if len(parts) >= 3 or (len(parts) == 2 and (PACKAGE / parts[1]).is_dir()):
        if parts[1] not in STAGES:
            raise AssertionError(f"{module}: sub-package {parts[1]!r} is in no stage; add it to STAGES")
        return parts[1]
    return "core"


def package_sources() -> dict[str, str]:
    return {module_name(path): path.read_text() for path in sorted(PACKAGE.rglob("*.py"))}


def imports(source: str, modules: set[str]) -> set[str]:
    """The package's modules that ``source`` imports, anywhere in it (top level, functions,
    ``TYPE_CHECKING`` blocks): ``from galaxy_lib.x import y`` is module ``galaxy_lib.x.y`` when that is a
    module, else ``galaxy_lib.x``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "galaxy_lib")
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "galaxy_lib":
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in modules else node.module)
    return found & modules


def graph(sources: dict[str, str]) -> dict[str, set[str]]:
    modules = set(sources)
    # importing galaxy_lib.x.y also runs galaxy_lib.x's __init__, but that is Python's doing, not a
    # dependency the importer chose: only the named module counts
    return {name: imports(source, modules) - {name} for name, source in sources.items()}


def upward_imports(edges: dict[str, set[str]]) -> list[str]:
    """``"importer (stage) imports imported (later stage)"`` for every import that goes up."""
    rank = {name: i for i, name in enumerate(STAGES)}
    found = []
    for importer, targets in sorted(edges.items()):
        for target in sorted(targets):
            if rank[stage(target)] > rank[stage(importer)]:
                found.append(f"{importer} ({stage(importer)}) imports {target} ({stage(target)})")
            if importer in BOTTOM and target not in BOTTOM[importer]:
                allowed = " and ".join(sorted(BOTTOM[importer])) or "nothing of the package"
                found.append(f"{importer} must import {allowed}, imports {target}")
    return found


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles: strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_every_module_imports_only_its_own_stage_earlier_stages_and_the_core():
    assert upward_imports(graph(package_sources())) == []


def test_no_two_modules_import_each_other():
    assert cycles(graph(package_sources())) == []


def test_every_sub_package_is_a_stage():
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert packages == set(STAGES) - {"core", "entry"}


@pytest.mark.parametrize(("importer", "planted", "expected"), [
    ("galaxy_lib.config", "from galaxy_lib.report import build",
     "galaxy_lib.config (core) imports galaxy_lib.report.build (report)"),
    ("galaxy_lib.synth.sky", "from galaxy_lib.data.dataset import LABEL_FILES",
     "galaxy_lib.synth.sky (synth) imports galaxy_lib.data.dataset (data)"),
    ("galaxy_lib.evaluation.metrics", "    from galaxy_lib.studies import curve",
     "galaxy_lib.evaluation.metrics (evaluation) imports galaxy_lib.studies.curve (studies)"),
    ("galaxy_lib.kaggle", "from galaxy_lib.errors import DataError",
     "galaxy_lib.kaggle must import nothing of the package, imports galaxy_lib.errors"),
    ("galaxy_lib.paths", "    from galaxy_lib.config import Config",
     "galaxy_lib.paths must import galaxy_lib.errors, imports galaxy_lib.config"),
])
def test_a_planted_upward_import_is_caught(importer, planted, expected):
    """The check fails on the imports issue 21 removed (a lazy one, indented in a function, too)."""
    sources = package_sources()
    body = f"def later():\n{planted}\n" if planted.startswith(" ") else f"{planted}\n"
    sources[importer] += "\n" + body
    assert expected in upward_imports(graph(sources))


def test_a_planted_cycle_is_caught():
    sources = package_sources()
    sources["galaxy_lib.synth.catalogue"] += "\nfrom galaxy_lib.synth import sky\n"  # sky imports catalogue
    assert ["galaxy_lib.synth.catalogue", "galaxy_lib.synth.sky"] in [
        [m for m in c if m in ("galaxy_lib.synth.catalogue", "galaxy_lib.synth.sky")] for c in cycles(graph(sources))
    ]


ARCHITECTURE = PACKAGE.parent / "docs" / "architecture.md"


def documented_modules(text: str) -> dict[str, str]:
    """``{module: stage}`` as the layout table of ``docs/architecture.md`` names them: the first
    column is the stage's package (``core``, ``entry`` or a sub-package in backticks), the last the
    module names in backticks, outside the parenthesised remarks (which name functions, not modules)."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("| ") or len(cells) != 3 or cells[0] in ("package", "---"):
            continue
        package = cells[0].strip("`/")
        remarks_removed = re.sub(r"\([^)]*\)", "", cells[2])
        for name in re.findall(r"`([A-Za-z_]+)`", remarks_removed):
            module = f"galaxy_lib.{name}" if package in ("core", "entry") else f"galaxy_lib.{package}.{name}"
            found[module] = package
    return found


def test_the_architecture_table_names_every_module_in_its_stage():
    """docs/architecture.md's layout table cannot drift: a module added, moved or removed without
    the table fails here."""
    packages = {"galaxy_lib", *(f"galaxy_lib.{name}" for name in STAGES)}
    real = {name: stage(name) for name in package_sources() if name not in packages}
    assert documented_modules(ARCHITECTURE.read_text()) == real


def test_a_module_missing_from_the_table_is_caught():
    text = ARCHITECTURE.read_text().replace("`keras_patch` (", "(")
    assert "galaxy_lib.model.keras_patch" not in documented_modules(text)
    assert "galaxy_lib.model.network" in documented_modules(text)


# --- no private name across modules ------------------------------------------------------------------
#
# A leading underscore says "this module's own business": another module (a benchmark or a test
# included) that reaches for it ties itself to code free to change without notice, so it must use
# a public name instead. What counts, for the project's own modules (``galaxy_lib.*``, the scripts
# of ``benchmarks/`` and the helper modules of ``tests/``):
#
# - ``from M import _x``, with ``_x`` a private name: one leading underscore, not a ``__dunder__``;
# - ``M._x`` where ``M`` is a name this file bound to such a module or to a class or function of one
#   (``import M``, ``import M as m``, ``from galaxy_lib.x import module``, ``from M import Class``),
#   also inside a longer chain (``galaxy_lib.x._y``, ``Class._z``);
# - the same reached by a string: ``setattr(M, "_x", ...)``, ``getattr(M, "_x")``,
#   ``monkeypatch.setattr(M, "_x", ...)``, ``monkeypatch.setattr("galaxy_lib.x._y", ...)``.
#
# Not counted: ``self._x`` and ``cls._x`` (a class's own state), any ``obj._x`` on an object rather
# than a module (its type is not known here), a module's use of its own private names, dunders
# (``module.__name__``), and other projects' private names: Keras internals patched in
# ``galaxy_lib/model/keras_patch.py`` are the documented exception, fenced to the Keras versions
# checked there, as they cannot be made public from here.

ROOT = PACKAGE.parent
PRIVATE_SCOPES = ("galaxy_lib/**/*.py", "benchmarks/*.py", "tests/*.py")


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def project_modules() -> set[str]:
    """Importable names of the project's modules: ``galaxy_lib.*``, and the scripts of ``benchmarks/``
    and ``tests/`` by their bare names (each folder is put on ``sys.path``, not imported as a package)."""
    names = set(package_sources())
    names.update(path.stem for pattern in PRIVATE_SCOPES[1:] for path in ROOT.glob(pattern))
    return names


def private_uses(where: str, source: str, modules: set[str]) -> list[str]:
    """``"<where>:<line>: <what>"`` for every private name of another project module that ``source``
    uses (see the rules above); ``modules`` are the project's importable module names."""

    def ours(module: str) -> bool:
        return module in modules or module.split(".")[0] == "galaxy_lib"

    tree = ast.parse(source)
    bound: dict[str, str] = {}  # local name -> the project module it is bound to
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if ours(alias.name):
                    local = alias.asname or alias.name.split(".")[0]
                    bound[local] = alias.name if alias.asname else local
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and ours(node.module):
            for alias in node.names:
                if is_private(alias.name):
                    found.append(f"{where}:{node.lineno}: from {node.module} import {alias.name}")
                else:  # a module, a class or a function of the project: its private parts are its own
                    bound[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and is_private(node.attr):
            chain, value = [node.attr], node.value
            while isinstance(value, ast.Attribute):
                chain.append(value.attr)
                value = value.value
            if isinstance(value, ast.Name) and value.id in bound:
                found.append(f"{where}:{node.lineno}: {'.'.join([value.id, *reversed(chain)])}")
        elif isinstance(node, ast.Call) and node.args and isinstance(node.func, ast.Name | ast.Attribute):
            name = node.func.id if isinstance(node.func, ast.Name) else node.func.attr
            if name not in ("setattr", "getattr", "delattr", "hasattr"):
                continue
            first, rest = node.args[0], node.args[1:]
            if isinstance(first, ast.Name) and first.id in bound and rest and isinstance(rest[0], ast.Constant) \
                    and isinstance(rest[0].value, str) and is_private(rest[0].value):
                found.append(f"{where}:{node.lineno}: {name}({first.id}, {rest[0].value!r})")
            elif isinstance(first, ast.Constant) and isinstance(first.value, str) and "." in first.value:
                module, _, attr = first.value.rpartition(".")
                if is_private(attr) and ours(module):
                    found.append(f"{where}:{node.lineno}: {name}({first.value!r})")
    return sorted(set(found))


def test_no_module_uses_a_private_name_of_another():
    """Across ``galaxy_lib/``, ``benchmarks/`` and ``tests/``: a private name used from another module
    fails here (make it public with a docstring, or test through the public API)."""
    modules = project_modules()
    found = []
    for pattern in PRIVATE_SCOPES:
        for path in sorted(ROOT.glob(pattern)):
            found += private_uses(path.relative_to(ROOT).as_posix(), path.read_text(), modules)
    assert found == []


@pytest.mark.parametrize(("planted", "expected"), [
    ("import results_store\nok = results_store._NAME.fullmatch('x')\n", "results_store._NAME"),
    ("from galaxy_lib.model.train import _compile\n", "from galaxy_lib.model.train import _compile"),
    ("from galaxy_lib.model import train\ntrain._compile(model, config)\n", "train._compile"),
    ("import galaxy_lib.model.train\ngalaxy_lib.model.train._compile(m, c)\n", "galaxy_lib.model.train._compile"),
    ("import results_store as store\nstore._NAME\n", "store._NAME"),
    ("from galaxy_lib.model.runs import RunFolder\nRunFolder._fields\n", "RunFolder._fields"),
    ("def test(monkeypatch):\n    from galaxy_lib import locks\n    monkeypatch.setattr(locks, '_acquire', 1)\n",
     "setattr(locks, '_acquire')"),
    ("def test(monkeypatch):\n    monkeypatch.setattr('galaxy_lib.locks._held', {})\n",
     "setattr('galaxy_lib.locks._held')"),
])
def test_a_planted_private_use_from_a_benchmark_is_caught(planted, expected):
    """The check fails on what issue 30 removed (``train._compile``, ``results_store._NAME``)."""
    source = (ROOT / "benchmarks" / "bench_epoch.py").read_text() + "\n" + planted
    found = private_uses("benchmarks/bench_epoch.py", source, project_modules())
    assert any(line.endswith(f": {expected}") for line in found), found


def test_what_is_not_a_private_use():
    """A class's own state, dunders, another project's internals and a module's own names pass."""
    source = textwrap.dedent("""
        import os
        import keras
        import results_store
        from galaxy_lib import __version__
        from galaxy_lib.model import train

        class Box:
            _count = 0
            def grow(self):
                self._count += 1
                type(self)._count = 2
                return Box._count

        def _own():
            return train.__name__, results_store.__doc__, os._exit, keras.src._tf_keras, _own
    """)
    assert private_uses("benchmarks/bench_x.py", source, project_modules()) == []
