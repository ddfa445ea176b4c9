"""The shape of the code: imports follow the layers (docs/architecture.md), and no function in
src/ or analysis/ grows past 60 lines or 8 parameters (ruff checks statements, branches and
arguments too; this checks what ruff has no rule for)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

# lowest first; a module may import from its own layer or below
LAYERS = [
    {"versions", "ranks", "registry", "config"},
    {"tracking", "slurm"},
    {"data"},
    {"model"},
    {"eval"},
    {"world"},
    {"pipeline", "cli"},
    {"ablations"},
    {"analysis"},
]
LEVEL = {name: i for i, layer in enumerate(LAYERS) for name in layer}


def package_of(path: Path) -> str:
    rel = path.relative_to(ROOT)
    if rel.parts[0] == "analysis":
        return "analysis"
    parts = rel.relative_to("src/limalab").with_suffix("").parts
    return "versions" if parts[0] == "__init__" else parts[0]  # the package root: the lowest layer


def imported(tree: ast.AST) -> set[str]:
    """The limalab packages (and analysis) a module imports, at any depth of the module."""
    out = set()
    for node in ast.walk(tree):
        names = (
            [node.module]
            if isinstance(node, ast.ImportFrom) and node.module
            else [a.name for a in node.names]
            if isinstance(node, ast.Import)
            else []
        )
        for name in names:
            if name.startswith("limalab."):
                out.add(name.split(".")[1])
            elif name == "analysis" or name.startswith("analysis."):
                out.add("analysis")
    return out


def modules() -> list[Path]:
    return sorted((ROOT / "src" / "limalab").rglob("*.py")) + sorted(
        (ROOT / "analysis").rglob("*.py")
    )


def test_imports_follow_the_layers() -> None:
    wrong = []
    for path in modules():
        pkg = package_of(path)
        assert pkg in LEVEL, f"{path}: package {pkg!r} has no layer in docs/architecture.md"
        for dep in imported(ast.parse(path.read_text())) - {pkg}:
            if LEVEL[dep] > LEVEL[pkg]:
                wrong.append(f"{path.relative_to(ROOT)} ({pkg}) imports {dep}")
    assert not wrong, "\n".join(wrong)


def test_functions_stay_small() -> None:
    big = []
    for path in modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                a = node.args
                params = [*a.posonlyargs, *a.args, *a.kwonlyargs]
                n = len(params) - (1 if params and params[0].arg in ("self", "cls") else 0)
                if lines > 60 or n > 8:
                    big.append(
                        f"{path.relative_to(ROOT)}:{node.lineno} {node.name}: {lines} lines, {n} "
                        "parameters"
                    )
    assert not big, "\n".join(big)
