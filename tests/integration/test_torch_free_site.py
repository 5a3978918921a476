"""``robex leaderboard`` renders the site from the committed records without importing torch, captum or any
stage: a meta-path blocker in the child process makes each such import raise."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BLOCKED = (
    "torch",
    "torchvision",
    "timm",
    "captum",
    "autoattack",
    "bench.stages",
    "bench.scores",
    "bench.running",
)

BLOCKER = textwrap.dedent(
    f"""
    import importlib.abc
    import sys

    BLOCKED = {BLOCKED!r}


    class Blocker(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if any(name == b or name.startswith(b + ".") for b in BLOCKED):
                raise ImportError(f"{{name}} must not be imported while rendering the site")
            return None


    sys.meta_path.insert(0, Blocker())
    """
)


def _run(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    (tmp_path / "sitecustomize.py").write_text(BLOCKER, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300, check=False
    )


def test_the_blocker_blocks(tmp_path: Path) -> None:
    """The guard itself works: importing torch (or a stage) under it fails."""
    for module in ("torch", "bench.stages"):
        out = _run(f"import {module}", tmp_path)
        assert out.returncode != 0
        assert "must not be imported while rendering the site" in out.stderr


@pytest.mark.slow
def test_robex_leaderboard_renders_without_torch(tmp_path: Path) -> None:
    site = tmp_path / "site"
    code = f"import sys; from bench.cli import main; sys.exit(main(['leaderboard', '--site', {str(site)!r}]))"
    out = _run(code, tmp_path)
    assert out.returncode == 0, out.stderr
    assert (site / "index.html").is_file()
    assert (site / "claims.html").is_file()
    tracks = {p.name for p in (ROOT / "leaderboard" / "results").iterdir() if p.is_dir() and any(p.glob("*.json"))}
    assert tracks <= {p.name for p in site.iterdir() if p.is_dir()}
    # every committed record has its entry page
    for record in (ROOT / "leaderboard" / "results").glob("*/*.json"):
        if not record.name.startswith("_") and not record.name.endswith(".quick.json"):
            assert (site / record.parent.name / f"{record.stem}.html").is_file(), record
