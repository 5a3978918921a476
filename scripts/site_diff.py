"""Render the site from the same committed records with an earlier robex and with this checkout, and compare.

A refactor must not change what a user sees: every page, badge and data file is compared byte for byte, except
cell keys (``provenance.cell_keys``: cache addresses, which a change of the runner may move). Exit 0 when the
two sites agree, 1 with the differing files listed otherwise.

    python scripts/site_diff.py                 # base: the merge-base of HEAD and main
    python scripts/site_diff.py --base ee3450c  # any commit
"""

from __future__ import annotations

import argparse
import difflib
import logging
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CELL_KEY = re.compile(r"\b[0-9a-f]{64}\b")  # sha256-shaped strings; cell keys among them
log = logging.getLogger("site_diff")


def render(checkout: Path, records: Path, out: Path) -> None:
    """``python -m bench leaderboard`` of ``checkout`` on ``records`` into ``out``."""
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    cmd = [sys.executable, "-m", "bench", "leaderboard", "--results", str(records), "--site", str(out)]
    subprocess.run(cmd, cwd=checkout, env=env, check=True, capture_output=True)


def differences(a: Path, b: Path, cell_keys: set[str]) -> list[str]:
    """Files that differ between the two sites (cell keys masked), with the first differing lines."""
    out = []
    names = {p.relative_to(a) for p in a.rglob("*") if p.is_file()} | {
        p.relative_to(b) for p in b.rglob("*") if p.is_file()
    }
    for rel in sorted(names - {Path(".robex-site.json")}):
        pa, pb = a / rel, b / rel
        if not (pa.is_file() and pb.is_file()):
            out.append(f"{rel}: only in {'the base' if pa.is_file() else 'this checkout'}")
            continue
        ta, tb = (CELL_KEY.sub(lambda m: "<key>" if m[0] in cell_keys else m[0], p.read_text()) for p in (pa, pb))
        if ta != tb:
            diff = difflib.unified_diff(ta.splitlines(), tb.splitlines(), lineterm="", n=0)
            out.append(f"{rel}:\n" + "\n".join(list(diff)[2:8]))
    return out


def main() -> int:
    """Render both sites and compare them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default=None, help="commit to compare with (default: merge-base of HEAD and main)")
    parser.add_argument("--records", default=str(ROOT / "leaderboard" / "results"), help="records folder")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    git = ["git", "-C", str(ROOT)]
    base = args.base or subprocess.check_output([*git, "merge-base", "HEAD", "main"], text=True).strip()
    records = Path(args.records).resolve()
    keys = {k for p in records.glob("*/*.json") for k in CELL_KEY.findall(p.read_text())}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        subprocess.run([*git, "worktree", "add", "--detach", str(work / "base"), base], check=True, capture_output=True)
        try:
            render(work / "base", records, work / "before")
            render(ROOT, records, work / "after")
            diffs = differences(work / "before", work / "after", keys)
        finally:
            subprocess.run([*git, "worktree", "remove", "--force", str(work / "base")], check=True)
    for d in diffs:
        log.info("%s", d)
    log.info("%s: %d differing files against %s", "DIFFERENT" if diffs else "same site", len(diffs), base[:12])
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
