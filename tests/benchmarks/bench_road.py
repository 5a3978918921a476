"""ROAD benchmarks on 100 mnist5k evaluation images (the track's ``road_n``) and a trained reference model.

ROAD is bounded below by its imputations and model passes: 2·K imputed copies of every image (MoRF and LeRF at
K fractions) and one forward pass each. Rows: our ``road_curves`` (random tie-breaking, masks, one banded
solve per batch, curves) against a bare loop doing exactly that imputation and those passes on prebuilt masks
(goal ≤ 1.2×), and against Quantus 0.6.0's ROAD (MoRF only, one sparse solve per image and percentage) on the
same inputs and percentages (goal: faster, although ours also runs LeRF).

Run: ``python tests/benchmarks/bench_road.py`` (or ``run_all.py bench_road``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from bench.plugins import EXPLAINERS
from bench.scores import road

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_explanations import paired, trained_model
from common import Row, table

N = 100
FRACTIONS = [0.2, 0.4, 0.6, 0.8]
BATCH = 1000


def bare_road(model: nn.Module, x: Tensor, masks: Tensor, generator: torch.Generator) -> None:
    """The same imputation (one solve over every prebuilt mask) and the same forward passes, nothing else."""
    k2 = len(masks) // len(x)
    imputed = road.noisy_linear_impute(x.repeat(k2, 1, 1, 1), masks, generator=generator)
    with torch.no_grad():
        model(x)
        for start in range(0, len(imputed), BATCH):
            model(imputed[start : start + BATCH])


def quantus_road(model: nn.Module, x: Tensor, attributions: Tensor, cls: Tensor) -> dict[float, float]:
    """Quantus' ROAD (MoRF accuracy per percentage) with the same percentages and noise."""
    import quantus

    metric = quantus.ROAD(
        percentages=[round(100 * f) for f in FRACTIONS], noise=road.NOISE, normalise=False, abs=False,
        disable_warnings=True,
    )  # fmt: skip
    out = metric(
        model=model, x_batch=x.numpy(), y_batch=cls.numpy(), a_batch=attributions.unsqueeze(1).numpy(),
        device="cpu", batch_size=BATCH,
    )  # fmt: skip
    return dict(out)


def rows() -> list[Row]:
    """ROAD against its imputation + passes and against Quantus."""
    model, x_all = trained_model()
    x = x_all[:N]
    with torch.no_grad():
        cls = model(x).argmax(1)
    rel = EXPLAINERS.create("saliency").attribute(model, x, cls).sum(1)
    order = road.removal_order(rel, torch.Generator().manual_seed(0))
    masks = torch.cat([road.removal_masks(order, f, morf=d, shape=(28, 28)) for d in (True, False) for f in FRACTIONS])

    def ours() -> road.RoadCurves:
        return road.road_curves(model, x, rel, FRACTIONS, generator=torch.Generator().manual_seed(0), batch_size=BATCH)

    t_ours, t_bare = paired(ours, lambda: bare_road(model, x, masks, torch.Generator().manual_seed(0)), repeats=5)
    out = [
        Row(
            f"ROAD MoRF+LeRF, {N} imgs, K={len(FRACTIONS)} fractions",
            t_ours,
            t_bare,
            "s",
            "≤ 1.2 × bare loop",
            f"bare: one solve over 2K = {2 * len(FRACTIONS)} masks per image + their forward passes",
        )
    ]
    morf = ours().morf
    ours_acc = None
    theirs = quantus_road(model, x, rel, cls)
    with torch.no_grad():
        ours_acc = [
            float(
                (model(road.noisy_linear_impute(
                    x, road.removal_masks(order, f, morf=True, shape=(28, 28)),
                    generator=torch.Generator().manual_seed(1),
                )).argmax(1) == cls).float().mean()
            )
            for f in FRACTIONS
        ]  # fmt: skip
    diff = max(abs(theirs[round(100 * f)] - a) for f, a in zip(FRACTIONS, ours_acc, strict=True))
    t_ours_q, t_quantus = paired(ours, lambda: quantus_road(model, x, rel, cls), repeats=3)
    out.append(
        Row(
            "ROAD vs Quantus ROAD (same inputs, percentages)",
            t_ours_q,
            t_quantus,
            "s",
            "< 1 (faster than Quantus)",
            f"ours runs MoRF and LeRF, Quantus MoRF only; max |Δ accuracy| = {diff:.3f} (independent noise draws)",
        )
    )
    assert np.isfinite(morf.numpy()).all()
    return out


if __name__ == "__main__":
    torch.set_num_threads(1)
    print(table(rows()))
