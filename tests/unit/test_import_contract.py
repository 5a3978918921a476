"""Import contracts, read from the source with ``ast`` (every import, module-level or inside a function):

* ``leaderboard`` imports from ``bench`` only the results layer (``bench.results``);
* the results layer, and everything it imports transitively, imports neither torch (nor a library built on
  it) nor any stage, score kernel, runner or other part of the harness that computes;
* no module imports or calls a loader that can run code or evaluate strings from the bytes it reads (pickle,
  ``torch.load``, torch's export deserialiser, sympy, ``eval``...) outside the listed trusted places.
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


# ------------------------------------------------------------------------------ no deserialiser on untrusted bytes
# Loaders that can run code or evaluate strings from the bytes they read. robex reads artifacts, cells and records
# with safetensors, json and its own graph parser (bench.graph_format); none of these may appear in its source
# outside the trusted places listed with their reason.
CODE_LOADERS = (
    "pickle",
    "_pickle",
    "cPickle",
    "marshal",
    "shelve",
    "dill",
    "cloudpickle",
    "joblib",
    "sympy",
    "torch.load",
    "torch.jit.load",
    "torch.serialization",
    "torch.export.load",
    "torch.export.unflatten",
    "torch._export.serde",
    "torch.export.pt2_archive",
    "numpy.load",
    "np.load",
)
CODE_BUILTINS = ("eval", "exec", "compile", "__import__")
TRUSTED_LOADERS = {
    ("bench.data", "pickle"): "the user's own CIFAR-10 batches (python-pickle layout), never an artifact",
}


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def code_loaders(module: str) -> set[str]:
    """The code-running loaders ``module`` imports or calls (by dotted name) and the builtins it calls."""
    path = _module_file(module)
    assert path is not None
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        elif isinstance(node, ast.Call):
            name = _dotted(node.func)
            names = [name] if name else []
            if isinstance(node.func, ast.Name) and node.func.id in CODE_BUILTINS:
                found.add(node.func.id)
        found.update(f for n in names for f in CODE_LOADERS if _within(n, (f,)))
    return found


@pytest.mark.parametrize("module", [m for p in FIRST_PARTY for m in _modules(p)])
def test_no_module_loads_bytes_with_a_deserialiser_that_runs_code(module: str) -> None:
    bad = sorted(f for f in code_loaders(module) if (module, f) not in TRUSTED_LOADERS)
    assert not bad, f"{module} uses {bad}: artifacts and cells are read with safetensors, json and bench.graph_format"


def test_the_loader_scan_sees_a_violation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The scan is not vacuous: each spelling of a code loader is found."""
    source = (
        "import pickle\nfrom torch._export.serde.serialize import deserialize\nfrom torch import load\n"
        "import torch\ntorch.jit.load('m')\neval('1')\nx = torch.export.unflatten(p)\n"
    )
    (tmp_path / "evilmod.py").write_text(source)
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    expected = {"pickle", "torch._export.serde", "torch.load", "torch.jit.load", "eval", "torch.export.unflatten"}
    assert code_loaders("evilmod") == expected


@pytest.mark.parametrize(("module", "loader"), sorted(TRUSTED_LOADERS))
def test_every_trusted_loader_exception_is_still_needed(module: str, loader: str) -> None:
    assert loader in code_loaders(module), f"{module} no longer uses {loader}: drop it from TRUSTED_LOADERS"
