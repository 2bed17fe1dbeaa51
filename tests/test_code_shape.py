"""No function in ``galaxy_lib`` over :data:`MAX_LINES` lines, so that each one does one job a reader can
hold in mind (issue 30). Cheap: the sources are parsed, nothing is imported.

A function's length runs from its first decorator (or ``def``) to its last line, docstring and comments
included: what a reader has to scroll through. Nested functions and methods count on their own, and also
inside the function that holds them.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "galaxy_lib"
MAX_LINES = 80

ALLOWED: dict[str, str] = {
    # "module:function": why it may be longer. Only flat tables belong here (a long literal that reads as
    # a list, not as steps), each with its reason. Stale entries fail the test below. Empty: none is needed.
}


def function_lengths(source: str, module: str) -> dict[str, int]:
    """``{"module:qualified.name": lines}`` for every function and method in ``source``."""
    lengths: dict[str, int] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    first = min([child.lineno, *(d.lineno for d in child.decorator_list)])
                    lengths[f"{module}:{name}"] = child.end_lineno - first + 1
                visit(child, f"{name}.")
            else:
                visit(child, prefix)

    visit(ast.parse(source), "")
    return lengths


def package_lengths() -> dict[str, int]:
    lengths: dict[str, int] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        lengths |= function_lengths(path.read_text(), module)
    return lengths


def test_no_function_in_the_package_is_over_the_limit():
    too_long = {name: n for name, n in package_lengths().items() if n > MAX_LINES and name not in ALLOWED}
    assert not too_long, (f"functions over {MAX_LINES} lines (split them by job, or add a flat table to "
                          f"ALLOWED with its reason): " + ", ".join(f"{k} ({v})" for k, v in sorted(too_long.items())))


def test_every_allowed_function_is_still_over_the_limit():
    """An entry whose function was shortened, renamed or removed is dropped, not kept as a licence."""
    lengths = package_lengths()
    stale = [name for name in ALLOWED if lengths.get(name, 0) <= MAX_LINES]
    assert not stale, f"delete from ALLOWED (no longer over {MAX_LINES} lines, or gone): {', '.join(stale)}"


def test_the_measure_counts_decorators_docstrings_and_nested_functions():
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_LINES - 3))
    source = (f'@decorator\ndef outer():\n    """Doc."""\n{body}\n\n\n'
              "class C:\n    def method(self):\n        def inner():\n            pass\n")
    lengths = function_lengths(source, "m")
    assert lengths == {"m:outer": MAX_LINES, "m:C.method": 3, "m:C.method.inner": 2}
    longer = source.replace("@decorator\n", "@decorator\n@another\n")
    assert function_lengths(longer, "m")["m:outer"] == MAX_LINES + 1
