"""The declared dependencies are exactly what robex's packages import (read from the source with ``ast``)."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bench", "leaderboard", "defenses", "attacks")
# Imported but reached through a declared dependency on purpose: timm pulls the torch build the user installed
# (pyproject: "never pin another torch here").
THROUGH = {"torch": "timm"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].strip().lower().replace("_", "-")


def _imported_distributions() -> dict[str, set[str]]:
    """Distribution name → modules of ours that import it (third-party, top-level imports only)."""
    dists = packages_distributions()
    out: dict[str, set[str]] = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    tops = [a.name.split(".")[0] for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    tops = [node.module.split(".")[0]]
                else:
                    continue
                for top in tops:
                    if top in sys.stdlib_module_names or top in PACKAGES:
                        continue
                    for dist in dists.get(top, [top]):
                        out.setdefault(dist.lower().replace("_", "-"), set()).add(str(path.relative_to(ROOT)))
    return out


def _declared() -> tuple[set[str], set[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    runtime = {_name(r) for r in project["dependencies"]}
    optional = {_name(r) for name, reqs in project["optional-dependencies"].items() if name != "dev" for r in reqs}
    return runtime, optional


def test_everything_imported_is_declared() -> None:
    runtime, optional = _declared()
    undeclared = {
        d: sorted(files)
        for d, files in _imported_distributions().items()
        if d not in runtime | optional and THROUGH.get(d) not in runtime
    }
    assert not undeclared, f"imported but not declared in pyproject: {undeclared}"


def test_everything_declared_is_imported() -> None:
    runtime, _ = _declared()
    unused = runtime - set(_imported_distributions())
    assert not unused, f"declared but imported nowhere in {PACKAGES}: {sorted(unused)}"
