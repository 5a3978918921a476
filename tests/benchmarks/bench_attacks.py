"""Attack benchmarks on the trained standard mnist5k model (3 epochs, as the test fixture), CPU.

Rows (ratios measured side by side in one run, interleaved repeats, median of each):

1. PGD overhead: our ``pgd`` (40 steps, early stop off) / a bare PyTorch loop doing the same 40
   forward+backward passes with the same random start and projection, on 500 correctly classified images
   (so both do exactly the same passes; our base adds its two forward passes). Goal ≤ 1.10.
2. PGD end to end: our ``pgd`` with its defaults (early stop, correctly classified points only) /
   torchattacks' PGD with the same settings (ε = 0.3, 40 steps, α = 0.01, random start) on the first 500
   evaluation images. Goal < 1.0. Robust accuracies of both are in the note.
3. Radii for 1,000 images: gradient evaluations (backward rows, counted at the input: FAB-T's and the
   lazy L2,min's real backward passes) of ``minimal_radii`` / Woods et al.'s official 450-step L2,min
   search (eager: 451 per image); goal ≤ 1. Then the fraction of images whose radius is ≤ that search's
   (our ``L2Min``, run eagerly on the same images); goal ≥ 95%.

Run: ``python tests/benchmarks/bench_attacks.py`` (``--n-radii 200`` for a quicker run). One intra-op
thread: these are small-batch CPU passes on a shared machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
import torchattacks
from torch import Tensor, nn

from attacks.l2min import L2Min
from attacks.radii import DOMAIN, minimal_radii
from bench.data import load_track_data
from bench.models import build_architecture
from bench.plugins import ATTACKS, DEFENSES
from bench.running.training import FitContext, seeded
from bench.track import load_track

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Row, table

N_PGD = 500
STEPS = 40
ALPHA = 0.01


def trained_model() -> tuple[nn.Module, Tensor, Tensor]:
    """The standard defense trained 3 epochs on mnist5k, and the 1,000 evaluation images."""
    track = load_track("mnist5k")
    data = load_track_data(track)
    with seeded(track.seed):
        model = build_architecture(track.architecture, track)
    budget = type(track.training)(**{**track.training.__dict__, "epochs": 3})
    fit = FitContext(track=track, train_x=data.train_x, train_y=data.train_y, budget=budget, seed=track.seed)
    model = DEFENSES.create("standard", track).fit(model, fit).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model, data.eval_x, data.eval_y


def paired(ours: Callable[[], object], reference: Callable[[], object], repeats: int = 5) -> tuple[float, float]:
    """Median wall times of interleaved calls (one warm-up each)."""
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


def bare_pgd(model: nn.Module, x: Tensor, y: Tensor, eps: float, generator: torch.Generator) -> Tensor:
    """What one would write by hand: uniform start, 40 × (forward, backward, sign step, clamp)."""
    x_adv = (x + (torch.rand(x.shape, generator=generator) * 2 - 1) * eps).clamp(0, 1)
    for _ in range(STEPS):
        x_adv.requires_grad_(True)
        (grad,) = torch.autograd.grad(F.cross_entropy(model(x_adv), y), x_adv)
        x_adv = torch.min(torch.max(x_adv.detach() + ALPHA * grad.sign(), x - eps), x + eps).clamp(0, 1)
    return x_adv


class CountBackward(torch.autograd.Function):
    """Identity whose backward counts rows: one per image per gradient evaluation."""

    rows = 0

    @staticmethod
    def forward(ctx: object, x: Tensor) -> Tensor:
        return x.view_as(x)

    @staticmethod
    def backward(ctx: object, grad: Tensor) -> Tensor:
        CountBackward.rows += grad.shape[0]
        return grad


class Counted(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        return self.model(CountBackward.apply(x))


def pgd_rows(model: nn.Module, x_all: Tensor, y_all: Tensor) -> list[Row]:
    track = load_track("mnist5k")
    threat = track.threat
    with torch.no_grad():
        correct = model(x_all).argmax(1) == y_all
    xc, yc = x_all[correct][:N_PGD], y_all[correct][:N_PGD]
    plain = ATTACKS.create("pgd", threat, steps=STEPS, step_size=ALPHA, early_stop=False)
    t_ours, t_bare = paired(
        lambda: plain.perturb(model, xc, yc, generator=torch.Generator().manual_seed(0)),
        lambda: bare_pgd(model, xc, yc, threat.eps, torch.Generator().manual_seed(0)),
    )
    rows = [Row("pgd / bare loop, same 40 fwd+bwd passes (500 imgs)", t_ours, t_bare, "s", "≤ 1.10")]
    x, y = x_all[:N_PGD], y_all[:N_PGD]
    ours = ATTACKS.create("pgd", threat, steps=STEPS, step_size=ALPHA)
    reference = torchattacks.PGD(model, eps=threat.eps, alpha=ALPHA, steps=STEPS, random_start=True)
    robust: dict[str, float] = {}

    def run_ours() -> None:
        out = ours.perturb(model, x, y, generator=torch.Generator().manual_seed(0))
        robust["ours"] = 1 - out.success.float().mean().item()

    def run_reference() -> None:
        torch.manual_seed(0)
        x_ref = reference(x, y)
        with torch.no_grad():
            robust["ta"] = (model(x_ref).argmax(1) == y).float().mean().item()

    t_ours, t_ref = paired(run_ours, run_reference)
    note = f"robust acc ours {robust['ours']:.3f}, torchattacks {robust['ta']:.3f}"
    rows.append(Row("pgd / torchattacks PGD, eps 0.3, 40 steps (500 imgs)", t_ours, t_ref, "s", "< 1.0", note))
    eps = 0.1
    mid = ATTACKS.create("pgd", track.threat.__class__.parse(f"linf:{eps}"), steps=STEPS, step_size=ALPHA / 3)
    ref_mid = torchattacks.PGD(model, eps=eps, alpha=ALPHA / 3, steps=STEPS, random_start=True)

    def run_mid() -> None:
        out = mid.perturb(model, x, y, generator=torch.Generator().manual_seed(0))
        robust["ours"] = 1 - out.success.float().mean().item()

    def run_ref_mid() -> None:
        torch.manual_seed(0)
        x_ref = ref_mid(x, y)
        with torch.no_grad():
            robust["ta"] = (model(x_ref).argmax(1) == y).float().mean().item()

    t_ours, t_ref = paired(run_mid, run_ref_mid)
    note = f"robust acc ours {robust['ours']:.3f}, torchattacks {robust['ta']:.3f}"
    rows.append(Row("pgd / torchattacks PGD, eps 0.1, 40 steps (500 imgs)", t_ours, t_ref, "s", "< 1.0", note))
    return rows


def radii_rows(model: nn.Module, x: Tensor, y: Tensor) -> list[Row]:
    counted = Counted(model)
    CountBackward.rows = 0
    start = time.perf_counter()
    woods = L2Min(DOMAIN).perturb(counted, x, y, generator=torch.Generator())
    t_woods, g_woods = time.perf_counter() - start, CountBackward.rows
    CountBackward.rows = 0
    start = time.perf_counter()
    ours = minimal_radii(counted, x, y, generator=torch.Generator())
    t_ours, g_ours = time.perf_counter() - start, CountBackward.rows
    assert woods.radius is not None and ours.verified.all()
    n = len(x)
    # Woods' official search evaluates all n images (misclassified ones included) 451 times
    official = 451 * n
    attacked = woods.radius > 0
    le = (ours.radius <= woods.radius).float()
    lt = (ours.radius < woods.radius).float()
    mean_ours, mean_woods = ours.radius[attacked].mean().item(), woods.radius[attacked].mean().item()
    return [
        Row(
            f"radii: gradient evals / Woods 450-step ({n} imgs)",
            g_ours / n,
            official / n,
            "/img",
            "≤ 1",
            f"our L2Min run of that search: {g_woods / n:.0f}/img (skips misclassified + last backward); ours per "
            f"attacked image: mean {ours.details['gradient_evaluations']:.1f}, max "
            f"{ours.details['gradient_evaluations_max']}, cap {ours.details['gradient_budget']}",
        ),
        Row(
            f"radii: fraction ≤ Woods 450-step radius ({n} imgs)",
            le.mean().item(),
            0.95,
            "frac",
            "≥ 0.95 (ratio ≥ 1)",
            f"on the {int(attacked.sum())} correctly classified: {le[attacked].mean().item():.3f} "
            f"(strictly smaller: {lt[attacked].mean().item():.3f})",
        ),
        Row("radii: mean radius (RMSE), correctly classified", mean_ours, mean_woods, "rmse", "≤ 1"),
        Row(
            f"radii: wall time / Woods 450-step ({n} imgs)",
            t_ours,
            t_woods,
            "s",
            "(info)",
            "FAB-T 2 x 50 iterations, lazy L2,min's 451 no-grad forward passes, bisection's 18",
        ),
    ]


def rows(n_radii: int = 1000) -> list[Row]:
    """Every row of this benchmark."""
    torch.set_num_threads(1)
    model, x, y = trained_model()
    return pgd_rows(model, x, y) + radii_rows(model, x[:n_radii], y[:n_radii])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-radii", type=int, default=1000, help="images for the radii rows (default 1000)")
    args = parser.parse_args()
    print(table(rows(args.n_radii)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
