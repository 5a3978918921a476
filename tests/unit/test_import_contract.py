"""Import contracts, read from the source with ``ast`` (every import, module-level or inside a function):

* ``leaderboard`` imports from ``bench`` only the results layer (``bench.results``);
* the results layer, and everything it imports transitively, imports neither torch (nor a library built on
  it) nor any stage, score kernel, runner or other part of the harness that computes.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIRST_PARTY = ("bench", "leaderboard", "defenses", "attacks")
HEAVY = ("torch", "torchvision", "timm", "captum", "autoattack", "torchattacks", "quantus", "ray")
COMPUTING = (
    "bench.stages",
    "bench.scores",
    "bench.running",
    "bench.models",
    "bench.data",
)


def _module_file(module: str) -> Path | None:
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@cache
def direct_imports(module: str) -> frozenset[str]:
    """Every module ``module`` names in an import statement (with ``from x import y`` as ``x.y`` when that is
    a module, else ``x``)."""
    path = _module_file(module)
    if path is None:
        return frozenset()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names if _module_file(f"{base}.{a.name}"))
    return frozenset(out)


def closure(module: str) -> set[str]:
    """``module`` and every first-party module it imports, transitively (with their parent packages)."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        parts = m.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))  # importing a.b runs a/__init__
        todo.extend(i for i in direct_imports(m) if i.split(".")[0] in FIRST_PARTY)
    return seen


def _modules(package: str) -> list[str]:
    root = ROOT / package.replace(".", "/")
    return sorted(
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__") for p in root.rglob("*.py")
    )


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


@pytest.mark.parametrize("module", _modules("leaderboard"))
def test_leaderboard_imports_only_the_results_layer(module: str) -> None:
    harness = sorted(i for i in direct_imports(module) if _within(i, ("bench",)) and not _within(i, ("bench.results",)))
    assert not harness, f"{module} imports {harness}; the leaderboard may import only bench.results"


@pytest.mark.parametrize("module", [*_modules("bench/results"), *_modules("leaderboard"), "bench.frontends.publish"])
def test_nothing_reachable_from_the_results_layer_computes(module: str) -> None:
    reached = closure(module)
    external = {i for m in reached for i in direct_imports(m)}
    heavy = sorted(i for i in external if _within(i, HEAVY))
    computing = sorted(m for m in reached if _within(m, COMPUTING))
    assert not heavy, f"{module} reaches {heavy}"
    assert not computing, f"{module} reaches {computing}"


def test_the_contract_sees_a_violation() -> None:
    """The checker is not vacuous: the runner reaches torch and the stages."""
    reached = closure("bench.frontends.api")
    assert any(_within(i, ("torch",)) for m in reached for i in direct_imports(m))
    assert any(_within(m, ("bench.running.runner",)) for m in reached)
