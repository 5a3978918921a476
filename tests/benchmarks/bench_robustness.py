"""Robustness-score benchmarks (ratios measured side by side in one run):

- one ``transfer`` pair cell (load the target model and the source's crafted 8-bit sets from the store,
  evaluate every set) / the bare forward passes over the same tensors already in memory: the pair cells are
  forward-only, so the ratio is the cell's overhead; goal ≤ 1.5;
- exact ARA from 1,000 sorted radii / Woods' 1000-bin ``histc`` version on the same radii (both are tiny;
  the exact one must not cost more); goal ≤ 1.

Run: ``python tests/benchmarks/bench_robustness.py`` (one intra-op thread).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from bench.entries import load_entries
from bench.frontends.api import run_track
from bench.models import build_architecture
from bench.running.runner import CellContext, RunSpec, all_keys, plan_cells
from bench.running.training import seeded
from bench.scores.ara import ara_exact, ara_histogram
from bench.stages.transfer import TransferStage
from bench.track import load_track

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from common import Row, best_of, table

from tests.checkpoint_entries import write_checkpoint_entry


def transfer_rows() -> list[Row]:
    """A pair cell against the bare forward passes it has to do."""
    from attacks.transfer import transfer_correct

    track = load_track("mnist5k")
    with tempfile.TemporaryDirectory() as tmp:
        with seeded(0):
            model = build_architecture(track.architecture, track)
        folder = write_checkpoint_entry(Path(tmp) / "entries", "bench_entry", model)
        store = Path(tmp) / "store"
        run_track(
            "mnist5k",
            entries=["bench_entry"],
            extra_entries=[folder],
            store=store,
            results_root=Path(tmp) / "results",
            stages=["craft"],
            device="cpu",
            executor_options={"show_progress": False},
        )
        spec = RunSpec(
            track="mnist5k",
            entries=tuple(e.to_payload() for e in load_entries(track, ["bench_entry"], [folder])),
            store=str(store),
            stages=("craft", "transfer"),
        )
        cells = plan_cells(spec)
        pair = next(c for c in cells if c.stage == "transfer")
        keys = all_keys(cells)
        stage = TransferStage()
        ours = best_of(lambda: stage.run(CellContext(spec, pair, keys)), repeats=5)
        ctx = CellContext(spec, pair, keys)
        crafted = ctx.dependency("craft")
        target = ctx.model()
        _, y = ctx.eval_batch(int(crafted.details["n"]))
        sets = [crafted.tensors[label] for label in crafted.details["labels"]]
        n_images = sum(len(s) for s in sets)

        def bare() -> None:
            for images in sets:
                transfer_correct(target, images, y)

        reference = best_of(bare, repeats=5)
    return [
        Row(
            f"transfer pair cell / bare forward passes ({n_images} imgs)",
            ours,
            reference,
            "s",
            "≤ 1.5",
            "includes loading the model and the crafted sets",
        )
    ]


def ara_rows() -> list[Row]:
    """Exact ARA against Woods' binned version on the same 1,000 radii."""
    rng = np.random.default_rng(0)
    radii = rng.gamma(2.0, 0.02, 1000)
    ours = best_of(lambda: ara_exact(radii, 10), repeats=20)
    reference = best_of(lambda: ara_histogram(radii, 10), repeats=20)
    return [Row("exact ARA / Woods 1000-bin histc ARA (1000 radii)", ours, reference, "s", "≤ 1")]


def rows() -> list[Row]:
    """Every row of this module."""
    torch.set_num_threads(1)
    return transfer_rows() + ara_rows()


if __name__ == "__main__":
    print(table(rows()))
