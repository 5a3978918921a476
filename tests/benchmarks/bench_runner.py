"""Runner benchmarks: overhead per cached cell, peak memory of ``robex run --quick``, and how a track's
cost grows as entries are added (crafting linear, forward-only pair evaluations quadratic).

Run: ``python tests/benchmarks/bench_runner.py``
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.entries import Entry
from bench.frontends.api import run_track
from bench.manifest import parse_manifest
from bench.running.runner import RunSpec, plan_cells
from bench.track import load_track

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Row, table


def cached_cell_overhead(tmp: Path) -> Row:
    """Wall time of a fully cached quick run per cell vs the cold run per cell."""
    kw = dict(
        entries=["standard"],
        store=tmp / "s",
        results_root=tmp / "r",
        quick=True,
        device="cpu",
        executor_options={"show_progress": False},
    )
    cold = run_track("mnist5k", **kw)  # type: ignore[arg-type]
    n = len(cold.results)
    start = time.perf_counter()
    warm = run_track("mnist5k", **kw)  # type: ignore[arg-type]
    warm_s = time.perf_counter() - start
    assert warm.counts[0] == 0, "the second run recomputed cells"
    return Row(
        "runner: cached run / cold run (quick, standard)",
        warm_s / n * 1000,
        cold.wall_time_s / n * 1000,
        "ms",
        "≪ 1",
        f"{n} cells; {warm_s / n * 1000:.1f} ms per cached cell",
    )


PEAK_RSS = (
    "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, capture_output=True); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def peak_memory(tmp: Path) -> Row:
    """Peak RSS of ``robex run --quick`` (all baselines) vs a bare ``import torch`` process."""

    def rss(cmd: list[str]) -> float:
        # A fresh wrapper process per command: RUSAGE_CHILDREN is a maximum over every child ever waited
        # for, so measured in this process it would report whichever earlier child was largest.
        out = subprocess.run([sys.executable, "-c", PEAK_RSS, *cmd], check=True, capture_output=True, text=True)
        return int(out.stdout.split()[-1]) / 1024

    bare = rss([sys.executable, "-c", "import torch, torchvision; torch.zeros(1)"])
    ours = rss(
        [
            sys.executable,
            "-m",
            "bench",
            "run",
            "--quick",
            "--device",
            "cpu",
            "--store",
            str(tmp / "m"),
            "--results",
            str(tmp / "mr"),
            "--no-site",
        ]
    )
    return Row(
        "peak RSS: robex run --quick / bare torch import",
        ours,
        bare,
        "MiB",
        "report",
        "ru_maxrss of each command, measured by its own wrapper process",
    )


def growth() -> list[Row]:
    """New cells when a track grows from N to N+1 entries (exact, from the cell keys)."""
    track = load_track("mnist5k")
    base = {"title": "t", "authors": "a", "track": track.name}

    def manifest(i: int) -> dict[str, object]:  # distinct checkpoints, so no two entries share a cell
        ck = {"architecture": "small_cnn", "file": f"e{i}.safetensors", "sha256": f"{i:064x}"}
        return {**base, "name": f"e{i}", "checkpoint": ck}

    def keys(n: int) -> dict[str, set[str]]:
        entries = tuple(Entry(parse_manifest(manifest(i))).to_payload() for i in range(n))
        out: dict[str, set[str]] = {}
        for c in plan_cells(RunSpec(track=track.name, entries=entries, store="/nonexistent")):
            out.setdefault(c.stage, set()).add(c.key)
        return out

    rows = []
    for n in (4, 8, 16):
        before, after = keys(n), keys(n + 1)
        for stage in sorted(after):
            added = len(after[stage] - before.get(stage, set()))
            rows.append(
                Row(
                    f"growth N={n}→{n + 1}: new '{stage}' cells",
                    added,
                    1,
                    "cells",
                    "1 per entry" if added <= 1 else f"2N+1 = {2 * n + 1} forward-only pairs",
                )
            )
    return rows


def rows() -> list[Row]:
    """Every runner benchmark row (used by run_all.py)."""
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        return [cached_cell_overhead(tmp), peak_memory(tmp), *growth()]


if __name__ == "__main__":
    print(table(rows()))
