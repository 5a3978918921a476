"""Every ```python block of the README runs as written (the ```bash counterpart is ``test_readme_commands.py``): each
block in a fresh interpreter, from an empty folder, with the repository on ``PYTHONPATH``, and leaves the
repository's ``git status`` as it was."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"


def readme_python_blocks(text: str) -> list[str]:
    """The source of every ```python block, in order."""
    blocks: list[str] = []
    current: list[str] | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if current is None and stripped == "```python":
            current = []
        elif current is not None and stripped.startswith("```"):
            blocks.append("\n".join(current) + "\n")
            current = None
        elif current is not None:
            current.append(line)
    return blocks


BLOCKS = readme_python_blocks(README.read_text(encoding="utf-8"))


def missing_requirement(block: str) -> str | None:
    """Why a block cannot run in this checkout, or ``None``: only the published-checkpoint example may be skipped,
    when the clone does not hold the checkpoint it loads."""
    if "load_baseline(" in block and not any((REPO / "leaderboard" / "checkpoints" / "mnist5k").glob("pgd_at.*")):
        return "loads the published checkpoint leaderboard/checkpoints/mnist5k/pgd_at.*, which this checkout lacks"
    return None


def _git_status() -> str:
    done = subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True, check=False)
    return done.stdout if done.returncode == 0 else ""


def test_the_parser_finds_the_blocks() -> None:
    text = "x\n```python\nprint(1)\n\nprint(2)\n```\n```bash\nls\n```\n```python\nimport os\n```\n"
    assert readme_python_blocks(text) == ["print(1)\n\nprint(2)\n", "import os\n"]
    assert any("from bench.metrics import" in b for b in BLOCKS), "the README shows the scores as a library"


@pytest.mark.slow
@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i + 1}" for i in range(len(BLOCKS))])
def test_every_readme_python_block_runs_as_written(block: str, tmp_path: Path) -> None:
    reason = missing_requirement(block)
    if reason is not None:
        pytest.skip(reason)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    before = _git_status()
    done = subprocess.run(
        [sys.executable, "-c", block], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"README block failed:\n{block}\n{done.stdout}\n{done.stderr}"
    assert done.stdout.strip(), "every README example prints what it shows"
    assert _git_status() == before, "a README example changed the repository"
