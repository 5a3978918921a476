"""Gradient attacks (FGSM, TGSM, MI-FGSM, PGD): hand-computed results on a linear model, identities between
them, and a cross-check of PGD against torchattacks on the trained standard model."""

from __future__ import annotations

import pytest
import torch
import torchattacks
from torch import Tensor, nn

from bench.data import TrackData
from bench.plugins import ATTACKS
from bench.running.adversarial import momentum_iterative, pgd
from bench.types import Norm, ThreatModel

pytestmark = pytest.mark.usefixtures("one_thread")

D, K = 12, 4


@pytest.fixture(scope="module")
def linear() -> nn.Module:
    torch.manual_seed(3)
    model = nn.Sequential(nn.Flatten(), nn.Linear(D, K))
    with torch.no_grad():
        model[1].weight.mul_(8.0)  # logits move enough within small budgets for targets to be reachable
    return model.eval()


@pytest.fixture(scope="module")
def points(linear: nn.Module) -> tuple[Tensor, Tensor]:
    """Interior inputs labelled with the linear model's own prediction (all correctly classified)."""
    gen = torch.Generator().manual_seed(0)
    x = 0.3 + 0.4 * torch.rand((16, 1, 3, 4), generator=gen)
    with torch.no_grad():
        y = linear(x).argmax(1)
    return x, y


def _ce_gradient(model: nn.Module, x: Tensor, target: Tensor) -> Tensor:
    """∇ₓ CE(Wx + b, t) = Wᵀ(softmax(Wx + b) − e_t), written out by hand (no autograd)."""
    linear = model[1]
    p = (x.flatten(1) @ linear.weight.T + linear.bias).softmax(1)
    p[torch.arange(len(x)), target] -= 1
    return (p @ linear.weight).view_as(x)


def test_fgsm_matches_the_formula(linear: nn.Module, points: tuple[Tensor, Tensor]) -> None:
    x, y = points
    eps = 0.05
    out = ATTACKS.create("fgsm", ThreatModel.parse(f"linf:{eps}")).perturb(linear, x, y, generator=torch.Generator())
    expected = (x + eps * _ce_gradient(linear, x, y).sign()).clamp(0, 1)
    assert torch.allclose(out.x_adv, expected, atol=1e-6)
    l2 = ATTACKS.create("fgsm", ThreatModel.parse("l2:0.2")).perturb(linear, x, y, generator=torch.Generator())
    g = _ce_gradient(linear, x, y).flatten(1)
    expected_l2 = (x + 0.2 * (g / g.norm(dim=1, keepdim=True)).view_as(x)).clamp(0, 1)
    assert torch.allclose(l2.x_adv, expected_l2, atol=1e-6)


def test_tgsm_descends_towards_the_next_class(linear: nn.Module, points: tuple[Tensor, Tensor]) -> None:
    x, y = points
    eps = 0.05
    attack = ATTACKS.create("tgsm", ThreatModel.parse(f"linf:{eps}"))
    out = attack.perturb(linear, x, y, generator=torch.Generator())
    target = (y + 1) % K
    expected = (x - eps * _ce_gradient(linear, x, target).sign()).clamp(0, 1)
    assert torch.allclose(out.x_adv, expected, atol=1e-6)
    with torch.no_grad():
        assert torch.equal(out.success, linear(out.x_adv).argmax(1) == target)


def test_iterated_tgsm_reaches_the_target_more_often(linear: nn.Module, points: tuple[Tensor, Tensor]) -> None:
    x, y = points
    threat = ThreatModel.parse("linf:0.3")
    one = ATTACKS.create("tgsm", threat, steps=1).perturb(linear, x, y, generator=torch.Generator())
    many = ATTACKS.create("tgsm", threat, steps=10).perturb(linear, x, y, generator=torch.Generator())
    assert int(many.success.sum()) >= int(one.success.sum())
    assert many.success.any()


@pytest.mark.parametrize("norm", list(Norm))
def test_mifgsm_identities(linear: nn.Module, points: tuple[Tensor, Tensor], norm: Norm) -> None:
    """One step of MI-FGSM is FGSM; with μ = 0 it is the basic iterative method (PGD from x, α = ε/T)."""
    x, y = points
    threat = ThreatModel.parse(f"{norm.value}:0.1")
    one = momentum_iterative(linear, x, y, threat, steps=1, decay=1.0)
    fgsm = pgd(linear, x, y, threat, steps=1, step_size=0.1, random_init=False, generator=None)
    assert torch.allclose(one, fgsm, atol=1e-6)
    no_momentum = momentum_iterative(linear, x, y, threat, steps=5, decay=0.0)
    bim = pgd(linear, x, y, threat, steps=5, step_size=0.1 / 5, random_init=False, generator=None)
    assert torch.allclose(no_momentum, bim, atol=1e-6)
    if norm is Norm.L2:  # (ℓ∞: on a linear model the gradient signs never flip, so momentum cannot show)
        with_momentum = momentum_iterative(linear, x, y, threat, steps=5, decay=1.0)
        assert not torch.allclose(with_momentum, bim, atol=1e-6)  # the momentum term matters


def test_early_stop_never_weakens_pgd(standard_model: nn.Module, data: TrackData) -> None:
    x, y = data.eval_x[:200], data.eval_y[:200]
    threat = ThreatModel.parse("linf:0.1")
    outs = [
        ATTACKS.create("pgd", threat, steps=10, early_stop=flag).perturb(
            standard_model, x, y, generator=torch.Generator().manual_seed(1)
        )
        for flag in (False, True)
    ]
    late, early = outs
    assert bool((late.success & ~early.success).sum() <= 1)  # same trajectories; float noise at most
    assert int(early.success.sum()) >= int(late.success.sum())


@pytest.mark.parametrize(
    ("threat_text", "reference"), [("linf:0.08", torchattacks.PGD), ("l2:1.0", torchattacks.PGDL2)]
)
def test_pgd_agrees_with_torchattacks(
    standard_model: nn.Module, data: TrackData, threat_text: str, reference: type
) -> None:
    """Same model, inputs, ε, steps, step size and random start: robust accuracies within 1.5 points."""
    n, steps = 500, 20
    x, y = data.eval_x[:n], data.eval_y[:n]
    threat = ThreatModel.parse(threat_text)
    alpha = 2.5 * threat.eps / steps
    ours = ATTACKS.create("pgd", threat, steps=steps, step_size=alpha).perturb(
        standard_model, x, y, generator=torch.Generator().manual_seed(0)
    )
    ours_acc = 1 - ours.success.float().mean().item()
    torch.manual_seed(0)
    x_ref = reference(standard_model, eps=threat.eps, alpha=alpha, steps=steps, random_start=True)(x, y)
    with torch.no_grad():
        ref_acc = (standard_model(x_ref).argmax(1) == y).float().mean().item()
        clean = (standard_model(x).argmax(1) == y).float().mean().item()
    assert 0.05 < ref_acc < clean - 0.2, "ε must leave a non-trivial robust accuracy for the check to mean anything"
    assert abs(ours_acc - ref_acc) <= 0.015, (ours_acc, ref_acc)


def test_bad_settings_raise() -> None:
    threat = ThreatModel.parse("linf:0.1")
    for name, kwargs in [
        ("pgd", {"steps": 0}),
        ("pgd", {"step_size": -1.0}),
        ("tgsm", {"steps": 0}),
        ("mifgsm", {"decay": -1.0}),
    ]:
        with pytest.raises(ValueError, match="must be"):
            ATTACKS.create(name, threat, **kwargs)
