"""Defense objectives checked against hand computations, literal transcriptions of the papers' code, and
reference implementations (torch's KL divergence, soft-label cross-entropy, exact Jacobians)."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bench.plugins import DEFENSES
from bench.projection import rmse
from bench.running.training import FitContext, seeded
from bench.track import load_track
from defenses.activation_sensitivity import (
    activation_change,
    activation_modules,
    jacobian_frobenius_sq,
    recorded_activations,
)
from defenses.distillation import soft_cross_entropy
from defenses.input_gradient import VARIANTS, gradient_penalty, paper_lambda, per_example_coefficient
from defenses.interpretability_aware import cam_discrepancy_one_class, cam_discrepancy_train
from defenses.lipschitz import adaptive_integral, adaptive_psi, smoothed_output, woods_l2_adversarial
from defenses.trades import trades_kl


def _tiny(seed: int = 0) -> nn.Module:
    with seeded(seed):
        return nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.Tanh(), nn.Linear(8, 4)).double()


def _batch(n: int = 6, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 3, 4, generator=g, dtype=torch.float64), torch.randint(4, (n,), generator=g)


# ------------------------------------------------------------------------------------------ input gradient
def test_coefficient_mapping_matches_papers_md() -> None:
    assert per_example_coefficient(56234.13) == pytest.approx(109.83, abs=0.01)  # MNIST doubleback
    assert per_example_coefficient(1e4) == pytest.approx(19.53, abs=0.01)  # SVHN
    assert per_example_coefficient(562.34) == pytest.approx(1.098, abs=0.001)  # notMNIST
    assert paper_lambda(per_example_coefficient(1234.5)) == pytest.approx(1234.5)


def test_doubleback_equals_the_papers_code_form() -> None:
    """mean CE + λ·l2_loss(∂ mean CE/∂X) (Ross & Doshi-Velez's TF code, l2_loss = ½Σv²) equals
    mean_n[CE_n + λ/(2N)‖∇CE_n‖²] with our per-example coefficient at that batch size N."""
    model, (x, y) = _tiny(), _batch()
    lam, n = 37.0, len(y)
    xg = x.clone().requires_grad_(True)
    mean_ce = F.cross_entropy(model(xg), y)
    (g,) = torch.autograd.grad(mean_ce, xg)
    paper = mean_ce + lam * 0.5 * g.pow(2).sum()
    logits, sq = gradient_penalty(model, x, y, VARIANTS.get("doubleback").penalised)
    ours = F.cross_entropy(logits, y) + per_example_coefficient(lam, batch=n) * sq.mean()
    torch.testing.assert_close(ours, paper.detach())


def test_penalised_gradients_by_hand_for_a_linear_softmax_model() -> None:
    """z = Wx: ∇ₓCE(y) = Wᵀ(p − e_y); ∇ₓ mean_k(−log p_k) = Wᵀ(p − 1/K)."""
    with seeded(2):
        lin = nn.Linear(5, 3, bias=False).double()
    x = torch.rand(4, 5, dtype=torch.float64)
    y = torch.tensor([0, 2, 1, 2])
    p = F.softmax(lin(x), dim=1).detach()
    w = lin.weight.detach()
    _, sq_db = gradient_penalty(lin, x, y, VARIANTS.get("doubleback").penalised)
    _, sq_ins = gradient_penalty(lin, x, y, VARIANTS.get("insensitive").penalised)
    torch.testing.assert_close(sq_db, ((p - F.one_hot(y, 3)) @ w).pow(2).sum(1))
    torch.testing.assert_close(sq_ins, ((p - 1 / 3) @ w).pow(2).sum(1))


def test_gradient_penalty_is_differentiable_in_the_parameters() -> None:
    model, (x, y) = _tiny(), _batch()
    _, sq = gradient_penalty(model, x, y, VARIANTS.get("doubleback").penalised)
    grads = torch.autograd.grad(sq.sum(), list(model.parameters()))
    assert all(float(g.abs().sum()) > 0 for g in grads)


# ------------------------------------------------------------------------------------------ TRADES
def test_trades_kl_matches_torch_kl_div() -> None:
    g = torch.Generator().manual_seed(0)
    nat, adv = torch.randn(5, 7, generator=g), torch.randn(5, 7, generator=g)
    reference = F.kl_div(F.log_softmax(adv, 1), F.softmax(nat, 1), reduction="none").sum(1)
    torch.testing.assert_close(trades_kl(adv, nat), reference)
    assert float(trades_kl(nat, nat).abs().max()) < 1e-6


# ------------------------------------------------------------------------------------------ distillation
def test_soft_cross_entropy_is_torch_cross_entropy_at_temperature() -> None:
    g = torch.Generator().manual_seed(0)
    z, t = torch.randn(6, 10, generator=g), 50.0
    q = F.softmax(torch.randn(6, 10, generator=g), 1)
    torch.testing.assert_close(soft_cross_entropy(z, q, t), F.cross_entropy(z / t, q))


# ------------------------------------------------------------------------------------------ Boopathy CAM
def _cams(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    nat, adv = (
        torch.randn(3, 4, 2, 2, generator=g, dtype=torch.float64),
        torch.randn(3, 4, 2, 2, generator=g, dtype=torch.float64),
    )
    return nat, adv, adv.mean(dim=(2, 3)), torch.tensor([0, 3, 1])


def test_d_train_by_loops() -> None:
    nat, adv, logits_adv, y = _cams()
    got = cam_discrepancy_train(adv, nat, logits_adv, y)
    for n in range(3):
        p = torch.softmax(logits_adv[n], 0)
        others = [i for i in range(4) if i != int(y[n])]
        z = sum(float(p[i]) for i in others)
        expected = float((adv[n, y[n]] - nat[n, y[n]]).abs().sum())
        expected += sum(float(p[i]) / z * float((adv[n, i] - nat[n, i]).abs().sum()) for i in others)
        assert float(got[n]) == pytest.approx(expected)
    one = cam_discrepancy_one_class(adv, nat, logits_adv, y)
    for n in range(3):
        assert float(one[n]) == pytest.approx(float((adv[n, y[n]] - nat[n, y[n]]).abs().sum()))


def test_d_train_bounds_the_logit_change() -> None:
    """‖I_c(x′) − I_c(x)‖₁ ≥ HW·|f_c(x′) − f_c(x)| when f is the CAM mean (Boopathy et al.'s key bound)."""
    nat, adv, logits_adv, y = _cams(4)
    hw = nat.shape[2] * nat.shape[3]
    logits_nat = nat.mean(dim=(2, 3))
    bound = hw * (logits_adv - logits_nat).gather(1, y[:, None]).abs().squeeze(1)
    assert bool((cam_discrepancy_one_class(adv, nat, logits_adv, y) >= bound - 1e-9).all())
    assert bool((cam_discrepancy_train(adv, nat, logits_adv, y) >= bound - 1e-9).all())


def test_d_train_weights_carry_gradient() -> None:
    """No stop-gradient on p̃ (the official code's softmax weights are part of the graph)."""
    nat, adv, _, y = _cams()
    logits = torch.zeros(3, 4, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(cam_discrepancy_train(adv, nat, logits, y).sum(), logits)
    assert float(g.abs().sum()) > 0


# ------------------------------------------------------------------------------------------ Woods
def test_adaptive_psi_integrator_sequence() -> None:
    """R ← max(0, R + clip(−ln(L/1.5), −0.01, 1)), written out step by step."""
    steps = [
        (2.0, 0.0),  # above target, R already 0: stays 0
        (1.5, 0.0),  # at target: no change
        (1.5 / math.exp(0.4), 0.4),  # below target: + ln(1.5/L) = 0.4
        (0.01, 1.4),  # far below: clipped at ε_better = 1
        (3.0, 1.39),  # above: clipped at −ε_worse = −0.01
    ]
    r = 0.0
    for loss, expected in steps:
        r = adaptive_integral(r, loss, 1.5, 1.0, 0.01)
        assert r == pytest.approx(expected)
    assert adaptive_psi(r, 220.0, 0.02) == pytest.approx(220.0 * math.exp(0.02 * 1.39))


def test_smoothed_output_selects_random_logit_or_margin() -> None:
    g = torch.Generator().manual_seed(0)
    z = torch.randn(400, 5, generator=g)
    y = torch.randint(5, (400,), generator=g)
    fair = smoothed_output(z, y, 0.0, torch.Generator().manual_seed(1))
    assert bool(((fair[:, None] == z).any(dim=1)).all())  # always one of the logits
    others = z.masked_fill(F.one_hot(y, 5).bool(), float("-inf")).max(1).values
    margin = z.gather(1, y[:, None]).squeeze(1) - others
    torch.testing.assert_close(smoothed_output(z, y, 1.0, torch.Generator().manual_seed(1)), margin)
    mixed = smoothed_output(z, y, 0.2, torch.Generator().manual_seed(1))
    frac_margin = float((mixed == margin).float().mean())
    assert 0.12 < frac_margin < 0.3  # ζ = 0.2 of the batch (plus rare coincidences)


def test_woods_l2_attack_stays_in_budget_and_perturbs_half() -> None:
    model, (x, y) = _tiny(), _batch(64)
    x_adv = woods_l2_adversarial(model, x, y, 0.01, 7, True, torch.Generator().manual_seed(0))
    r = rmse(x_adv - x)
    assert float(r.max()) <= 0.01 + 1e-9  # step sizes sum to ε
    moved = r > 0
    assert 16 < int(moved.sum()) < 48  # a random half
    assert float(r[moved].min()) > 0.005
    # it increases the loss of the perturbed images
    with torch.no_grad():
        before = F.cross_entropy(model(x), y, reduction="none")[moved]
        after = F.cross_entropy(model(x_adv), y, reduction="none")[moved]
    assert float((after - before).mean()) > 0


# ------------------------------------------------------------------------------------------ activations
def test_jacobian_estimator_is_unbiased() -> None:
    model = _tiny()
    x = _batch(2)[0].requires_grad_(True)
    logits = model(x)
    est = jacobian_frobenius_sq(logits, x, 3000, torch.Generator().manual_seed(0))
    exact = (
        sum(
            torch.autograd.functional.jacobian(lambda v: model(v.unsqueeze(0)).squeeze(0), x[i].detach()).pow(2).sum()
            for i in range(2)
        )
        / 2
    )
    assert float(est.detach()) == pytest.approx(float(exact), rel=0.08)


def test_recorded_activations_and_change() -> None:
    with seeded(0):
        model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
    assert len(activation_modules(model)) == 2
    x = torch.rand(5, 3)
    with recorded_activations(model) as acts:
        model(x)
        model(x + 0.1)
    assert len(acts) == 4
    assert all(not m._forward_hooks for m in model.modules())  # hooks removed
    expected = ((acts[0] - acts[2]).abs().mean() + (acts[1] - acts[3]).abs().mean()) / 2
    torch.testing.assert_close(activation_change(acts[:2], acts[2:]), expected)
    with pytest.raises(TypeError, match="no activation modules"):
        activation_modules(nn.Linear(2, 2))


# ------------------------------------------------------------------------------------------ engine runs
def _fit(track, data, budget_epochs: float) -> FitContext:  # type: ignore[no-untyped-def]
    budget = dataclasses.replace(track.training, epochs=budget_epochs, batch_size=16)
    return FitContext(track=track, train_x=data.train_x[:32], train_y=data.train_y[:32], budget=budget, seed=0)


def test_epochs_hyperparameter_caps_training_and_is_recorded(track, data) -> None:  # type: ignore[no-untyped-def]
    defense = DEFENSES.create("pgd_at", track, epochs=0.5, steps=1)
    fit = _fit(track, data, 1.0)
    defense.fit(defense.build_model(), fit)
    assert fit.runs == [{"epochs": 0.5, "steps": 1, "lr": track.training.lr, "augment": track.training.augment}]
    fit = _fit(track, data, 0.5)  # the budget caps it (quick mode)
    DEFENSES.create("pgd_at", track, epochs=4, steps=1).fit(defense.build_model(), fit)
    assert fit.runs[0]["epochs"] == 0.5


def test_distillation_trains_teacher_then_student(track, data) -> None:  # type: ignore[no-untyped-def]
    defense = DEFENSES.create("distillation", track, teacher_epochs=1.0, epochs=0.5)
    fit = _fit(track, data, 1.0)
    student = defense.fit(defense.build_model(), fit)
    assert [r["steps"] for r in fit.runs] == [2, 1]
    assert not student.training
    with pytest.raises(RuntimeError, match="teacher"):
        defense.loss(student, data.train_x[:4], data.train_y[:4], None)  # type: ignore[arg-type]


def test_variant_and_hyperparameter_validation(track) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(KeyError, match="did you mean"):
        DEFENSES.create("input_gradient", track, variant="doubleback_")
    with pytest.raises(KeyError, match="unknown interpretability_aware variant"):
        DEFENSES.create("interpretability_aware", track, variant="int3")
    with pytest.raises(ValueError, match="temperature"):
        DEFENSES.create("distillation", track, temperature=0)
    with pytest.raises(ValueError, match="keep"):
        DEFENSES.create("activation_sensitivity", track, keep=0)
    with pytest.raises(ValueError, match="zeta"):
        DEFENSES.create("lipschitz", track, zeta=1.5)
    with pytest.raises(ValueError, match="does not use activation"):
        DEFENSES.create("lipschitz", load_track("cifar10")).build_model()
