"""minimal_radii: every finite radius is verified adversarial at exactly that RMSE, it is the per-sample
minimum of the attacks, it matches the analytic distance on a linear model, it stays within Woods et al.'s
gradient budget, and for ``btr`` it is the official search itself."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn

from attacks.criteria import holds
from attacks.l2min import L2Min
from attacks.radii import DOMAIN, minimal_radii
from bench.data import TrackData
from bench.protocols import rmse

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


def test_radius_is_the_per_sample_minimum(radii: tuple[Tensor, Tensor, object]) -> None:
    _, _, result = radii
    best = torch.stack(list(result.per_attack.values())).min(0).values
    assert set(result.per_attack) == {"l2min", "fab"}
    assert torch.equal(result.radius, best)
    # the warm-started search keeps its starting point, so it is never worse than FAB
    assert (result.per_attack["l2min"] <= result.per_attack["fab"]).all()
    assert {w for w in result.details["winner"] if w} <= {"l2min", "fab"}


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
    result = minimal_radii(model, x, y, generator=torch.Generator())
    assert (result.radius >= truth * (1 - 1e-5)).all()
    assert (result.radius <= truth * 1.02).all()


def test_btr_is_the_official_search(standard_model: nn.Module, data: TrackData) -> None:
    x, y = data.eval_x[:12], data.eval_y[:12]
    result = minimal_radii(standard_model, x, y, criterion="btr", generator=torch.Generator(), steps=40)
    woods = L2Min(DOMAIN, steps=40, criterion="btr").perturb(standard_model, x, y, generator=torch.Generator())
    assert set(result.per_attack) == {"l2min"}
    assert woods.radius is not None and torch.equal(result.radius, woods.radius)
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
    assert result.details["gradient_evaluations"] == 450
    assert 0 < CountBackward.rows <= 450 * attacked  # Woods' search: 451 per image
    CountBackward.rows = 0
    L2Min(DOMAIN).perturb(counted, x, y, generator=torch.Generator())
    assert CountBackward.rows == 450 * attacked  # (we skip the backward pass of the final evaluation)


def test_bad_settings_raise(standard_model: nn.Module, data: TrackData) -> None:
    x, y = data.eval_x[:2], data.eval_y[:2]
    with pytest.raises(ValueError, match="budget"):
        minimal_radii(standard_model, x, y, generator=torch.Generator(), fab_steps=200, fab_targets=3)
    with pytest.raises(ValueError, match="not a valid"):
        minimal_radii(standard_model, x, y, generator=torch.Generator(), criterion="topk")
