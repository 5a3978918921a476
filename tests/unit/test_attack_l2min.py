"""Woods et al.'s L2,min search: the exact official algorithm (checked against a line-by-line transcription
of the official ``_adv_images`` (``wwoods/adversarial-explanations-cifar``) where clipping cannot matter),
the analytic minimal distance on linear models in RMSE units, both criteria, and the first-half sanity check;
the lazy-gradient variant is the same search, and its per-sample gradient cap is a hard bound."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attacks.l2min import LateBreakError, l2min_search
from attacks.radii import DOMAIN
from bench.data import TrackData
from bench.plugins import ATTACKS

pytestmark = pytest.mark.usefixtures("one_thread")
SHAPE = (1, 8, 8)
D = math.prod(SHAPE)


def linear_model(num_classes: int, seed: int) -> nn.Module:
    gen = torch.Generator().manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(D, num_classes))
    with torch.no_grad():
        model[1].weight.copy_(torch.randn((num_classes, D), generator=gen))
        model[1].bias.copy_(torch.randn((num_classes,), generator=gen))
    return model.eval()


def interior_points(model: nn.Module, n: int) -> tuple[Tensor, Tensor]:
    """Points near 0.5 labelled with the model's prediction (so all are correctly classified)."""
    gen = torch.Generator().manual_seed(1)
    x = 0.5 + 0.05 * torch.rand((n, *SHAPE), generator=gen)
    with torch.no_grad():
        y = model(x).argmax(1)
    return x, y


def analytic_rmse(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    """min_{j≠y} (z_y − z_j)/‖w_y − w_j‖₂, divided by √D: the exact RMSE to the decision boundary. Checks
    that the closest boundary point x − (z_y − z_j)·v/‖v‖², v = w_y − w_j, lies inside [0, 1]."""
    with torch.no_grad():
        w, b = model[1].weight, model[1].bias
        z = x.flatten(1) @ w.T + b
        out = []
        for i in range(len(x)):
            pairs = [((z[i, y[i]] - z[i, j]) / (w[y[i]] - w[j]).norm(), j) for j in range(len(b)) if j != int(y[i])]
            dist, j = min(pairs)
            v = w[y[i]] - w[j]
            closest = x[i].flatten() - (z[i, y[i]] - z[i, j]) * v / v.pow(2).sum()
            assert float(closest.min()) >= 0 and float(closest.max()) <= 1, "the analytic check needs x* in [0, 1]"
            out.append(dist)
        return torch.stack(out) / math.sqrt(D)


def official_transcription(
    model: nn.Module, x: Tensor, y: Tensor, steps: int, eps: float, momentum: float, btr: bool
) -> tuple[Tensor, Tensor]:
    """The official ``_adv_images(use_l2min=True or 'btr')`` line by line (no clipping); returns (x_adv, first)."""
    deltas = torch.zeros_like(x).requires_grad_()
    mom = torch.zeros_like(x)
    first_ok = torch.full((len(x),), 999 + steps, dtype=torch.int)
    best = torch.zeros_like(x)
    best_sqr = torch.full((len(x),), 1e30)
    for step in range(steps + 1):
        guesses = model(x + deltas)
        loss = F.cross_entropy(guesses, y, reduction="none")
        grads = torch.autograd.grad(loss.sum(), deltas)[0].detach()
        if btr:
            sm = guesses.softmax(1)
            follow = (sm.gather(1, y.unsqueeze(1))[:, 0] > 1 / sm.size(1)).float()
        else:
            follow = (guesses.argmax(1) == y).float()
        is_ok = follow == 0
        first_ok[is_ok * (first_ok > step)] = step
        ddist = deltas.detach().pow(2).mean((1, 2, 3))
        set_best = is_ok * (ddist < best_sqr)
        best[set_best] = deltas.detach()[set_best]
        best_sqr[set_best] = ddist[set_best]
        if step == steps:
            return x + best, first_ok
        ss = eps * (steps - step) / (steps * (steps + 1) / 2)
        f = follow.view(-1, 1, 1, 1)
        sdir = f * grads + (1 - f) * -deltas.detach()
        sdir /= 1e-8 + sdir.pow(2).mean((1, 2, 3)).sqrt().view(-1, 1, 1, 1)
        if momentum > 0:
            mom = mom.mul_(momentum).add_(sdir, alpha=1 - momentum)
            sdir = mom.clone()
        deltas.data.add_(sdir, alpha=ss)
    raise AssertionError


@pytest.mark.parametrize(("criterion", "momentum"), [("misclassify", 0.9), ("btr", 0.9), ("misclassify", 0.0)])
def test_matches_the_official_search(criterion: str, momentum: float) -> None:
    model = linear_model(4, seed=0)
    x, y = interior_points(model, 6)
    ref_x, ref_first = official_transcription(model, x, y, 60, 2.0, momentum, criterion == "btr")
    ours = l2min_search(
        model, x, y, criterion=criterion, steps=60, total_length=2.0, momentum=momentum, lower=-1e9, upper=1e9
    )
    # The same trajectory up to float summation order (which differs between CPUs' kernels): every iterate
    # agrees to well under the schedule's smallest step, so no step went another way. A different branch
    # (following the gradient instead of −δ, or keeping another best iterate) moves by at least one step.
    smallest_step = 2.0 / (60 * 61 / 2)  # the last step length of the linearly decaying schedule (RMSE units)
    assert (ours.x_adv - ref_x).abs().max() < 0.1 * smallest_step
    assert torch.equal(ours.first_break.int(), ref_first)
    assert torch.allclose(ours.radius, (ref_x - x).pow(2).mean((1, 2, 3)).sqrt(), atol=0.1 * smallest_step / 8)


@pytest.mark.parametrize(("num_classes", "criterion"), [(2, "misclassify"), (2, "btr"), (3, "misclassify")])
def test_linear_model_radius_is_the_analytic_distance(num_classes: int, criterion: str) -> None:
    model = linear_model(num_classes, seed=num_classes)
    x, y = interior_points(model, 8)
    truth = analytic_rmse(model, x, y)
    out = ATTACKS.create("l2min", DOMAIN, criterion=criterion).perturb(model, x, y, generator=torch.Generator())
    assert out.radius is not None and out.success.all()
    assert (out.radius >= truth * (1 - 1e-5)).all(), "a radius below the true minimal distance is impossible"
    assert (out.radius <= truth * 1.02).all(), (out.radius / truth).tolist()
    assert out.details["n_late"] == 0


def test_btr_radius_is_never_below_the_misclassification_distance() -> None:
    model = linear_model(3, seed=5)
    x, y = interior_points(model, 8)
    out = ATTACKS.create("l2min", DOMAIN, criterion="btr").perturb(model, x, y, generator=torch.Generator())
    assert out.radius is not None
    assert (out.radius >= analytic_rmse(model, x, y) * (1 - 1e-5)).all()
    with torch.no_grad():
        p = model(out.x_adv).softmax(1).gather(1, y.view(-1, 1)).squeeze(1)
    assert (p <= 1 / 3).all()


def test_first_half_check_flags_or_raises() -> None:
    model = linear_model(2, seed=2)
    x, y = interior_points(model, 4)
    flagged = ATTACKS.create("l2min", DOMAIN, steps=20, total_length=1e-4).perturb(
        model, x, y, generator=torch.Generator()
    )
    assert flagged.details["late"] == [True] * 4 and flagged.details["n_late"] == 4
    assert flagged.radius is not None and flagged.radius.isinf().all() and not flagged.success.any()
    with pytest.raises(LateBreakError, match="first half"):
        ATTACKS.create("l2min", DOMAIN, steps=20, total_length=1e-4, on_late="raise").perturb(
            model, x, y, generator=torch.Generator()
        )
    fine = ATTACKS.create("l2min", DOMAIN, steps=20, on_late="raise").perturb(model, x, y, generator=torch.Generator())
    assert fine.details["late"] == [False] * 4 and all(0 <= f <= 10 for f in fine.details["first_break"])


def test_points_already_broken_get_radius_zero(standard_model: nn.Module, data: TrackData) -> None:
    x, y = data.eval_x[:64], data.eval_y[:64]
    with torch.no_grad():
        wrong = standard_model(x).argmax(1) != y
    assert wrong.any()
    out = ATTACKS.create("l2min", DOMAIN, steps=30, momentum=0.0).perturb(
        standard_model, x, y, generator=torch.Generator()
    )
    assert out.radius is not None
    assert (out.radius[wrong] == 0).all() and torch.equal(out.x_adv[wrong], x[wrong])
    assert all(out.details["first_break"][i] is None for i in wrong.nonzero().squeeze(1).tolist())
    assert (out.radius[~wrong] > 0).all()


@pytest.mark.parametrize("criterion", ["misclassify", "btr"])
def test_lazy_gradients_are_the_same_search(criterion: str) -> None:
    """One image at a time (every pass then sees the same one-row batch, so no float differences from batch
    composition), the lazy search is the eager one bit for bit, for fewer gradient evaluations."""
    model = linear_model(3, seed=3)
    x, y = interior_points(model, 6)
    for i in range(len(x)):
        xi, yi = x[i : i + 1], y[i : i + 1]
        eager = l2min_search(model, xi, yi, criterion=criterion, steps=100)
        lazy = l2min_search(model, xi, yi, criterion=criterion, steps=100, lazy_gradients=True)
        assert torch.equal(lazy.x_adv, eager.x_adv) and torch.equal(lazy.radius, eager.radius)
        assert torch.equal(lazy.first_break, eager.first_break) and lazy.radius.isfinite().all()
        assert eager.gradient_evaluations.tolist() == [100]
        # the property holds at steps 0..first_break-1, then about half of the remaining steps
        assert int(lazy.first_break) <= int(lazy.gradient_evaluations) < 75


def test_gradient_cap_is_a_hard_bound_per_sample() -> None:
    model = linear_model(3, seed=3)
    x, y = interior_points(model, 6)
    cap = torch.tensor([0, 1, 3, 10, 30, 1000])
    for lazy in (True, False):
        out = l2min_search(model, x, y, steps=100, lazy_gradients=lazy, max_gradients=cap)
        spent = out.gradient_evaluations
        assert (spent <= cap).all()
        if not lazy:  # eager: one evaluation per step until the cap
            assert spent.tolist() == cap.clamp(max=100).tolist()
        assert int(spent[0]) == 0 and out.radius[0].isinf()  # no gradient, no move: x is never adversarial
        finite = out.radius.isfinite()
        with torch.no_grad():
            assert (model(out.x_adv[finite]).argmax(1) != y[finite]).all()
    with pytest.raises(ValueError, match="non-negative"):
        l2min_search(model, x, y, steps=10, lazy_gradients=True, max_gradients=-1)


def test_bad_settings_raise() -> None:
    for kwargs in [{"steps": 0}, {"total_length": 0.0}, {"momentum": 1.0}, {"criterion": "topk"}, {"on_late": "x"}]:
        with pytest.raises(ValueError, match=r"must|not a valid"):
            ATTACKS.create("l2min", DOMAIN, **kwargs)
