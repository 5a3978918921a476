"""minimal_radii: every finite radius is verified adversarial at exactly that RMSE, it is at most the per-sample
minimum of the attacks (the bisection only shortens), it matches the analytic distance on a linear model, it
stays within Woods et al.'s gradient budget (counted at the input), and it is never above the official
search's radius. The lazy L2,min search follows the official trajectory for fewer backward passes, within a
hard per-image cap; the bisection never lengthens a radius and stays adversarial."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn

from attacks.criteria import holds
from attacks.l2min import L2Min, l2min_search
from attacks.radii import DOMAIN, boundary_bisection, minimal_radii
from bench.data import TrackData
from bench.projection import rmse

pytestmark = pytest.mark.usefixtures("one_thread")
SMALL = {"steps": 40, "fab_steps": 10, "fab_targets": 2}


class CountBackward(torch.autograd.Function):
    """Identity whose backward counts the rows it sees: one per image per gradient evaluation."""

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


@pytest.fixture(scope="module")
def radii(standard_model: nn.Module, data: TrackData) -> tuple[Tensor, Tensor, object]:
    x, y = data.eval_x[:24], data.eval_y[:24]
    return x, y, minimal_radii(standard_model, x, y, generator=torch.Generator(), **SMALL)


def test_every_radius_is_verified(standard_model: nn.Module, radii: tuple[Tensor, Tensor, object]) -> None:
    x, y, result = radii
    with torch.no_grad():
        broken = ~holds("misclassify", standard_model(result.x_adv), y)
        wrong = standard_model(x).argmax(1) != y
    assert wrong.any() and result.verified.all()
    assert torch.equal(broken, result.verified)
    assert torch.allclose(result.radius, rmse(result.x_adv - x), atol=0)
    assert (result.radius[wrong] == 0).all() and torch.equal(result.x_adv[wrong], x[wrong])
    assert (result.radius[~wrong] > 0).all()
    assert float(result.x_adv.min()) >= 0 and float(result.x_adv.max()) <= 1


def test_radius_is_at_most_the_per_sample_minimum(radii: tuple[Tensor, Tensor, object]) -> None:
    _, _, result = radii
    best = torch.stack(list(result.per_attack.values())).min(0).values
    assert set(result.per_attack) == {"l2min", "fab"}
    refined = torch.tensor(result.details["refined"])
    assert refined.any() and (result.radius[refined] < best[refined]).all()
    assert torch.equal(result.radius[~refined], best[~refined])
    # every finite radius comes from one of the attacks (which one wins an image depends on the model's weights,
    # which depend on the CPU's float summation order: not a property)
    winners = {w for w in result.details["winner"] if w}
    assert winners and winners <= {"l2min", "fab"}
    for i, w in enumerate(result.details["winner"]):
        if w:
            assert result.per_attack[w][i] == best[i]
    # a refined input lies on the segment from x to the winning attack's input
    for i in refined.nonzero().squeeze(1).tolist():
        winner = result.details["winner"][i]
        t = result.radius[i] / result.per_attack[winner][i]
        assert 0 < t < 1


def test_lazy_search_is_the_official_one_for_fewer_gradients(standard_model: nn.Module, data: TrackData) -> None:
    x, y = data.eval_x[:40], data.eval_y[:40]
    with torch.no_grad():
        correct = standard_model(x).argmax(1) == y
    x, y = x[correct], y[correct]
    counted = Counted(standard_model)
    CountBackward.rows = 0
    eager = l2min_search(counted, x, y, steps=100)
    assert CountBackward.rows == 100 * len(x) == int(eager.gradient_evaluations.sum())
    CountBackward.rows = 0
    lazy = l2min_search(counted, x, y, steps=100, lazy_gradients=True)
    assert CountBackward.rows == int(lazy.gradient_evaluations.sum()) < 0.75 * 100 * len(x)
    # the same trajectory: float differences from the smaller backward batches could only make some diverge
    same = (lazy.radius - eager.radius).abs() <= 1e-5 * eager.radius
    assert same.float().mean() >= 0.9 and torch.equal(lazy.first_break, eager.first_break)
    cap = torch.arange(len(x)) * 2
    CountBackward.rows = 0
    capped = l2min_search(counted, x, y, steps=100, lazy_gradients=True, max_gradients=cap)
    assert CountBackward.rows == int(capped.gradient_evaluations.sum())
    assert (capped.gradient_evaluations <= cap).all() and (capped.gradient_evaluations == cap).any()
    uncapped = capped.gradient_evaluations < cap
    assert torch.allclose(capped.radius[uncapped], lazy.radius[uncapped], rtol=1e-5)


def test_bisection_never_lengthens_and_stays_adversarial(standard_model: nn.Module, data: TrackData) -> None:
    x, y = data.eval_x[:32], data.eval_y[:32]
    far = L2Min(DOMAIN, steps=20, momentum=0.0).perturb(standard_model, x, y, generator=torch.Generator())
    out = boundary_bisection(standard_model, x, far.x_adv, y, iterations=12)
    before, after = rmse(far.x_adv - x), rmse(out - x)
    with torch.no_grad():
        broken_before = ~holds("misclassify", standard_model(far.x_adv), y)
        broken_after = ~holds("misclassify", standard_model(out), y)
        wrong = ~holds("misclassify", standard_model(x), y)
    assert (after <= before).all() and (after < before).any()
    assert torch.equal(broken_after, broken_before)  # each adversarial input stays adversarial
    unchanged = ~broken_before | wrong  # nothing to refine: x_adv is not adversarial, or x itself is not
    assert unchanged.any() and torch.equal(out[unchanged], far.x_adv[unchanged])


def test_bisection_finds_the_boundary_along_the_ray() -> None:
    gen = torch.Generator().manual_seed(3)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 2)).eval()
    with torch.no_grad():
        model[1].weight.copy_(torch.randn((2, 64), generator=gen))
        model[1].bias.zero_()
        x = 0.5 + 0.05 * torch.rand((6, 1, 8, 8), generator=gen)
        y = model(x).argmax(1)
        w = model[1].weight
        v = (w[y] - w[1 - y]).view(-1, 1, 8, 8)
        margin = (x * v).flatten(1).sum(1)  # z_y − z_other, linear along any ray
        x_adv = x - (3 * margin / v.flatten(1).pow(2).sum(1)).view(-1, 1, 1, 1) * v  # margin −2·margin there
        t_star = 1 / 3  # the ray crosses the boundary at t = margin / (margin + 2·margin)
    out = boundary_bisection(model, x, x_adv, y, iterations=20)
    t = rmse(out - x) / rmse(x_adv - x)
    assert (t >= t_star - 1e-6).all() and (t <= t_star + 2**-20 + 1e-6).all()
    with torch.no_grad():
        assert (model(out).argmax(1) != y).all()


def test_linear_model_matches_the_analytic_distance() -> None:
    gen = torch.Generator().manual_seed(4)
    d = 64
    model = nn.Sequential(nn.Flatten(), nn.Linear(d, 2)).eval()
    with torch.no_grad():
        model[1].weight.copy_(torch.randn((2, d), generator=gen))
        model[1].bias.zero_()
    x = 0.5 + 0.05 * torch.rand((8, 1, 8, 8), generator=gen)
    with torch.no_grad():
        y = model(x).argmax(1)
        w = model[1].weight
        v = (w[y] - w[1 - y]).flatten(1)
        truth = (x.flatten(1) * v).sum(1).abs() / v.norm(dim=1) / math.sqrt(d)
    for use_fab in (True, False):
        result = minimal_radii(model, x, y, generator=torch.Generator(), use_fab=use_fab)
        assert (result.radius >= truth * (1 - 1e-5)).all()
        assert (result.radius <= truth * 1.001).all(), (result.radius / truth).tolist()


def test_btr_is_never_above_the_official_search(standard_model: nn.Module, data: TrackData) -> None:
    x, y = data.eval_x[:12], data.eval_y[:12]
    result = minimal_radii(standard_model, x, y, criterion="btr", generator=torch.Generator(), steps=40)
    woods = L2Min(DOMAIN, steps=40, criterion="btr").perturb(standard_model, x, y, generator=torch.Generator())
    assert set(result.per_attack) == {"l2min"} and woods.radius is not None
    assert (result.radius <= woods.radius).all() and (result.radius < woods.radius).any()
    # the lazy search is the official one (up to float differences from batching)
    same = (result.per_attack["l2min"] - woods.radius).abs() <= 1e-5 * woods.radius
    assert same.float().mean() >= 0.9
    with torch.no_grad():
        p = standard_model(result.x_adv).softmax(1).gather(1, y.view(-1, 1)).squeeze(1)
    assert (p[result.radius.isfinite()] <= 0.1).all()


def test_default_budget_is_within_woods_search(standard_model: nn.Module, data: TrackData) -> None:
    x, y = data.eval_x[:4], data.eval_y[:4]
    with torch.no_grad():
        attacked = int((standard_model(x).argmax(1) == y).sum())
    counted = Counted(standard_model)
    CountBackward.rows = 0
    result = minimal_radii(counted, x, y, generator=torch.Generator())
    details = result.details
    assert details["gradient_budget"] == 450 and details["l2min_gradient_cap"] == 450 - 2 * 50
    assert details["gradient_evaluations"] * attacked == pytest.approx(CountBackward.rows)  # our real backward rows
    assert 0 < details["gradient_evaluations"] <= details["gradient_evaluations_max"] <= 450
    assert CountBackward.rows <= 450 * attacked  # Woods' search: 451 per image
    CountBackward.rows = 0
    L2Min(DOMAIN).perturb(counted, x, y, generator=torch.Generator())
    assert CountBackward.rows == 450 * attacked  # (we skip the backward pass of the final evaluation)
    CountBackward.rows = 0
    tight = minimal_radii(counted, x, y, generator=torch.Generator(), gradient_budget=120, fab_steps=50)
    assert CountBackward.rows <= 120 * attacked and tight.details["gradient_evaluations_max"] <= 120


def test_bad_settings_raise(standard_model: nn.Module, data: TrackData) -> None:
    x, y = data.eval_x[:2], data.eval_y[:2]
    with pytest.raises(ValueError, match="budget"):
        minimal_radii(standard_model, x, y, generator=torch.Generator(), fab_steps=200, fab_targets=3)
    with pytest.raises(ValueError, match="not a valid"):
        minimal_radii(standard_model, x, y, generator=torch.Generator(), criterion="topk")
    with pytest.raises(ValueError, match="non-negative"):
        minimal_radii(standard_model, x, y, generator=torch.Generator(), bisection_iterations=-1)
