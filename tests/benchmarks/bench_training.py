"""Training throughput: robex's engine running a defense's objective vs a bare PyTorch loop of the same passes.

Both train the track's architecture on the same mnist5k images (through the track's augmentation) with the same
batch size, optimiser (Adam), number of steps and passes per step (``standard``: one forward+backward; ``pgd_at``:
the inner PGD's forward+backward passes plus the outer one), so the ratio is what the engine, the defense's
bookkeeping (ε warm-up, seeded generators, progress callbacks) and the attack base cost on top of the arithmetic.
Throughput is images × forward+backward passes per second; the row reports ours / bare (goal ≥ 0.9).

Run: ``python tests/benchmarks/bench_training.py``
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bench.data import load_track_data
from bench.models import build_architecture
from bench.plugins import DEFENSES
from bench.running.augment import parse_augmentation
from bench.running.training import FitContext
from bench.track import load_track

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Row, table

STEPS = 24  # optimiser steps per measurement
REPEATS = 3


def _bare_pgd(model: nn.Module, x: Tensor, y: Tensor, eps: float, steps: int, gen: torch.Generator) -> Tensor:
    alpha = 2.5 * eps / steps
    xa = (x + (torch.rand(x.shape, generator=gen) * 2 - 1) * eps).clamp(0, 1)
    for _ in range(steps):
        xa.requires_grad_(True)
        (g,) = torch.autograd.grad(F.cross_entropy(model(xa), y), xa)
        xa = torch.min(torch.max(xa.detach() + alpha * g.sign(), x - eps), x + eps).clamp(0, 1)
    return xa.detach()


def bare_loop(
    model: nn.Module, x: Tensor, y: Tensor, batch: int, inner_steps: int, eps: float, augment: str = "none"
) -> None:
    """The same optimiser steps as the engine (with the track's augmentation), as the shortest PyTorch loop."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    shift = parse_augmentation(augment)
    for i in range(STEPS):
        xb, yb = shift(x[i * batch : (i + 1) * batch], gen), y[i * batch : (i + 1) * batch]
        if inner_steps:
            model.eval()
            for p in model.parameters():
                p.requires_grad_(False)
            xb = _bare_pgd(model, xb, yb, eps, inner_steps, gen)
            for p in model.parameters():
                p.requires_grad_(True)
        model.train()
        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def throughput_row(defense: str, hyperparameters: dict[str, object], inner_steps: int) -> Row:
    track = load_track("mnist5k")
    data = load_track_data(track)
    budget = track.training
    n = STEPS * budget.batch_size
    x, y = data.train_x[:n], data.train_y[:n]
    budget = dataclasses.replace(budget, epochs=1.0)  # STEPS steps over exactly n images
    recipe = DEFENSES.create(defense, track, **hyperparameters)

    def ours() -> None:
        fit = FitContext(track=track, train_x=x, train_y=y, budget=budget, seed=0)
        recipe.fit(build_architecture(track.architecture, track), fit)

    def bare() -> None:
        bare_loop(
            build_architecture(track.architecture, track),
            x,
            y,
            budget.batch_size,
            inner_steps,
            track.threat.eps,
            budget.augment,
        )

    timings = _interleaved({"ours": ours, "bare": bare})
    passes = n * (inner_steps + 1)
    return Row(
        f"training throughput / bare loop ({defense})",
        passes / timings["ours"],
        passes / timings["bare"],
        "img/s",
        "≥ 0.9",
        f"{STEPS} Adam steps of {budget.batch_size} mnist5k images, {inner_steps + 1} fwd+bwd passes per image",
    )


def _interleaved(fns: dict[str, Callable[[], None]]) -> dict[str, float]:
    """Median wall time of each function, alternating them so load changes hit both alike."""
    for fn in fns.values():
        fn()  # warm-up
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(REPEATS):
        for k, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - start)
    return {k: sorted(v)[len(v) // 2] for k, v in times.items()}


def rows() -> list[Row]:
    """The benchmark rows of this module."""
    return [
        throughput_row("standard", {}, 0),
        throughput_row("pgd_at", {"steps": 5, "warmup_end": 0.0, "warmup_start": 0.0, "epochs": None}, 5),
    ]


if __name__ == "__main__":
    print(table(rows()))
