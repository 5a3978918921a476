"""Explanation-score benchmarks on 1,000 mnist5k evaluation images and a trained reference model.

These metrics are bounded below by their model passes: RISE deletion/insertion need (steps + 1) forward
passes per image each, max-sensitivity one forward+backward per noise sample (plus one for φ(x)). Each row
times our batched code against a bare batched loop doing exactly those passes (same batch size), and against
the peer library on the same inputs and settings (Quantus 0.6.0 PixelFlipping; Captum's sensitivity_max),
checking the numbers agree. Goals: ≤ 1.2× the bare loop, faster than Quantus.

Run: ``python tests/benchmarks/bench_explanations.py`` (set ``OMP_WAIT_POLICY=PASSIVE`` on a shared machine:
with two busy cores, OpenMP's spinning barriers make small-batch passes erratic).
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from bench.data import load_track_data
from bench.models import build_architecture
from bench.plugins import EXPLAINERS
from bench.protocols import evaluation_mode
from bench.running.training import FitContext, seeded
from bench.scores import explanation_robustness as er
from bench.scores import fidelity
from bench.track import load_track

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Row, best_of, table

N = 1000
STEP = 28
BATCH = 1000
SAMPLES = 10


def paired(ours: Callable[[], object], reference: Callable[[], object], repeats: int = 7) -> tuple[float, float]:
    """Median wall times of ``ours`` and ``reference``, run alternately (after one warm-up each) so that the
    machine's load drifts affect both alike."""
    ours()
    reference()
    a, b = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        ours()
        a.append(time.perf_counter() - start)
        start = time.perf_counter()
        reference()
        b.append(time.perf_counter() - start)
    return statistics.median(a), statistics.median(b)


def trained_model() -> tuple[nn.Module, Tensor]:
    """The reference architecture trained 2 epochs on mnist5k (speed does not depend on accuracy), and 1,000
    evaluation images."""
    track = load_track("mnist5k")
    data = load_track_data(track)
    with seeded(0):
        model = build_architecture(track.architecture, track)
    budget = type(track.training)(**{**track.training.__dict__, "epochs": 2})
    fit = FitContext(track=track, train_x=data.train_x, train_y=data.train_y, budget=budget, seed=0)
    from bench.plugins import DEFENSES

    model = DEFENSES.create("standard", track).fit(model, fit).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model, data.eval_x[:N]


def bare_forward_passes(model: nn.Module, x: Tensor, passes: int) -> None:
    """``passes`` forward passes over ``x`` in batches of ``BATCH`` (inputs prebuilt: the passes alone)."""
    with torch.no_grad():
        for start in range(0, len(x), BATCH):
            xb = x[start : start + BATCH]
            for _ in range(passes):
                model(xb)


def bare_forward_backward(model: nn.Module, x: Tensor, target: Tensor) -> None:
    """SAMPLES + 1 forward+backward passes (input gradients) per image: the perturbed copies in batches of
    ``BATCH`` inputs (``BATCH // SAMPLES`` images × SAMPLES copies, max-sensitivity's batch shape), then x."""
    per = max(1, BATCH // SAMPLES)
    for start in range(0, len(x), per):
        xg = x[start : start + per].repeat_interleave(SAMPLES, 0).requires_grad_(True)
        tb = target[start : start + per].repeat_interleave(SAMPLES, 0)
        torch.autograd.grad(model(xg).gather(1, tb.view(-1, 1)).sum(), xg)
    for start in range(0, len(x), BATCH):
        xg = x[start : start + BATCH].clone().requires_grad_(True)
        torch.autograd.grad(model(xg).gather(1, target[start : start + BATCH].view(-1, 1)).sum(), xg)


def quantus_deletion(model: nn.Module, x: Tensor, attributions: Tensor, cls: Tensor) -> np.ndarray:
    """Quantus' PixelFlipping curve (steps 1..N) with our settings; curves, since its AUC needs np.trapz."""
    import quantus

    metric = quantus.PixelFlipping(
        features_in_step=STEP, perturb_baseline="black", normalise=False, abs=False, disable_warnings=True
    )
    out = metric(
        model=model,
        x_batch=x.numpy(),
        y_batch=cls.numpy(),
        a_batch=attributions.unsqueeze(1).numpy(),
        device="cpu",
        softmax=True,
        batch_size=BATCH,
    )
    return np.asarray(out)


def rows() -> list[Row]:
    """Deletion/insertion and max-sensitivity against their passes and their peers."""
    model, x = trained_model()
    steps = math.ceil(x.shape[-1] * x.shape[-2] / STEP)
    with torch.no_grad():
        cls = model(x).argmax(1)
    saliency = EXPLAINERS.create("saliency")
    rel = saliency.attribute(model, x, cls).sum(1)
    rel = rel + 1e-7 * torch.rand(rel.shape, generator=torch.Generator().manual_seed(0))  # no ties: same order

    out: list[Row] = []
    t_ours, t_bare = paired(
        lambda: fidelity.causal_curves(model, x, rel, step=STEP, batch_size=BATCH),
        lambda: bare_forward_passes(model, x, 2 * (steps + 1)),
    )
    out.append(
        Row(
            f"deletion+insertion, {N} imgs, {STEP} px/step (N={steps})",
            t_ours,
            t_bare,
            "s",
            "≤ 1.2 × bare loop",
            f"bare: 2·(N+1) = {2 * (steps + 1)} forward passes per image; ours needs 2N+1",
        )
    )
    t_del, t_del_bare = paired(
        lambda: fidelity.deletion_curves(model, x, rel, step=STEP, batch_size=BATCH),
        lambda: bare_forward_passes(model, x, steps + 1),
    )
    out.append(Row("deletion alone vs bare loop", t_del, t_del_bare, "s", "≤ 1.2 × bare loop", "N+1 passes"))

    ours_curves, _ = fidelity.deletion_curves(model, x, rel, step=STEP, batch_size=BATCH)
    theirs = quantus_deletion(model, x, rel, cls)
    t_del_q, t_quantus = paired(
        lambda: fidelity.deletion_curves(model, x, rel, step=STEP, batch_size=BATCH),
        lambda: quantus_deletion(model, x, rel, cls),
        repeats=3,
    )
    diff = float(np.abs(theirs - ours_curves[:, 1:].numpy()).max())
    out.append(
        Row(
            "deletion vs Quantus PixelFlipping (same curve)",
            t_del_q,
            t_quantus,
            "s",
            "< 1 (faster than Quantus)",
            f"max |Δcurve| = {diff:.1e}",
        )
    )

    def explain(inputs: Tensor, target: Tensor) -> Tensor:
        return saliency.attribute(model, inputs, target)

    with evaluation_mode(model):
        t_sens, t_sens_bare = paired(
            lambda: er.max_sensitivity(
                explain, x, cls, radius=0.02, samples=SAMPLES, generator=torch.Generator().manual_seed(0),
                batch_size=BATCH,
            ),
            lambda: bare_forward_backward(model, x, cls),
        )  # fmt: skip
    out.append(
        Row(
            f"max-sensitivity (saliency), {N} imgs, {SAMPLES} samples",
            t_sens,
            t_sens_bare,
            "s",
            "≤ 1.2 × bare loop",
            f"bare: {SAMPLES}+1 forward+backward passes per image",
        )
    )
    try:
        from captum.metrics import sensitivity_max

        def captum_explain(inputs: Tensor | tuple[Tensor, ...], target: Tensor) -> Tensor | tuple[Tensor, ...]:
            return (explain(inputs[0], target),) if isinstance(inputs, tuple) else explain(inputs, target)

        with evaluation_mode(model):
            t_captum = best_of(
                lambda: sensitivity_max(
                    captum_explain, x, n_perturb_samples=SAMPLES, target=cls, max_examples_per_batch=BATCH
                ),
                repeats=1,
            )
        out.append(Row("max-sensitivity vs Captum sensitivity_max", t_sens, t_captum, "s", "(reference)", ""))
    except ImportError:  # pragma: no cover - captum is a dependency
        pass
    return out


if __name__ == "__main__":
    torch.set_num_threads(2)
    print(table(rows()))
