"""Shared defense pieces: Boopathy et al.'s ε warm-up, the epoch cap, the CAM identity, half-Huber ReLU."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from bench.models import SmallCNN, half_huber_relu
from bench.running.training import seeded
from defenses.adversarial_training import pgd_step_size
from defenses.common import (
    BOOPATHY_MNIST_TOTAL_STEPS,
    BOOPATHY_MNIST_WARMUP,
    epochs_for,
    require_cam,
    resolve_eps,
    warmup_eps,
)


# ------------------------------------------------------------------------------------------------ ε schedule
def _boopathy_mnist(step: int, eps: float) -> float:
    """The official train.py's MNIST ``eps_val`` written out literally."""
    if step <= 2000:
        return 0.0
    if step <= 10000:
        return eps * (step - 2000) / 8000
    return eps


@pytest.mark.parametrize("step", [0, 1, 1999, 2000, 2001, 4000, 6000, 9999, 10000, 10001, 50000, 109999])
def test_warmup_reproduces_boopathy_mnist_schedule_at_full_length(step: int) -> None:
    got = warmup_eps(step, BOOPATHY_MNIST_TOTAL_STEPS, 0.3, *BOOPATHY_MNIST_WARMUP)
    assert got == pytest.approx(_boopathy_mnist(step, 0.3), abs=1e-12)


def test_warmup_scales_by_fraction_of_training() -> None:
    total = 110  # 1/1000 of the paper's steps: the ramp spans steps 2..10
    values = [warmup_eps(s, total, 0.3, *BOOPATHY_MNIST_WARMUP) for s in range(total)]
    assert values[:3] == [0.0, 0.0, 0.0]
    assert values[6] == pytest.approx(0.15)
    assert all(v == 0.3 for v in values[10:])
    assert all(b >= a for a, b in itertools.pairwise(values))  # monotone


def test_warmup_off_and_invalid() -> None:
    assert warmup_eps(0, 10, 0.1, 0.0, 0.0) == 0.1
    with pytest.raises(ValueError, match="start <= end"):
        warmup_eps(0, 10, 0.1, 0.6, 0.5)


def test_epochs_cap_and_eps_resolution(track) -> None:  # type: ignore[no-untyped-def]
    assert epochs_for(10, None) == 10
    assert epochs_for(10, 3) == 3
    assert epochs_for(0.25, 3) == 0.25  # quick mode stays quick
    with pytest.raises(ValueError, match="positive"):
        epochs_for(10, 0)
    assert resolve_eps(None, track) == track.threat.eps
    assert resolve_eps(0.1, track) == 0.1
    with pytest.raises(ValueError, match="non-negative"):
        resolve_eps(-0.1, track)


def test_pgd_step_size_rule() -> None:
    assert pgd_step_size(0.3, 10, None) == pytest.approx(0.075)  # 2.5·ε/steps (Madry et al.)
    assert pgd_step_size(0.0, 10, None) == 0.0
    assert pgd_step_size(0.3, 40, 0.01) == 0.01
    with pytest.raises(ValueError, match="at least one step"):
        pgd_step_size(0.3, 0, None)


# ------------------------------------------------------------------------------------------------ CAM identity
def test_cam_mean_equals_logits_for_gap_linear_head() -> None:
    with seeded(3):
        model = SmallCNN().eval()
        x = torch.rand(5, 1, 28, 28)
    with torch.no_grad():
        cam = model.cam(x)
        logits = model(x)
    assert cam.shape == (5, 10, 7, 7)
    torch.testing.assert_close(cam.mean(dim=(2, 3)), logits, atol=1e-5, rtol=1e-5)
    # and by the definition I_c = Σ_k W_ck A_k
    a = model.feature_map(x)
    manual = (model.classifier.weight[None, :, :, None, None] * a[:, None]).sum(dim=2)
    torch.testing.assert_close(cam, manual, atol=1e-5, rtol=1e-5)


class _BiasedHead(SmallCNN):
    """A CAM network whose logits are *not* the CAM mean (bias in the head)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) + 1.0


def test_require_cam_rejects_models_without_the_identity() -> None:
    require_cam(SmallCNN(), "x", (1, 28, 28))
    with pytest.raises(TypeError, match="cam"):
        require_cam(nn.Sequential(nn.Flatten(), nn.Linear(784, 10)), "x", (1, 28, 28))
    with pytest.raises(TypeError, match="violates"):
        require_cam(_BiasedHead(), "x", (1, 28, 28))


# ------------------------------------------------------------------------------------------------ half-Huber
@pytest.mark.parametrize("delta", [0.5, 0.25, 1.0])
def test_half_huber_relu_value_and_derivative(delta: float) -> None:
    x = torch.tensor([-2.0, -1e-3, 0.0, 0.1 * delta, 0.5 * delta, delta, 1.5 * delta, 3.0], dtype=torch.float64)
    expected = torch.where(x <= 0, torch.zeros_like(x), torch.where(x <= delta, x**2 / (2 * delta), x - delta / 2))
    xg = x.clone().requires_grad_(True)
    y = half_huber_relu(xg, delta)
    torch.testing.assert_close(y.detach(), expected)
    (grad,) = torch.autograd.grad(y.sum(), xg)
    torch.testing.assert_close(grad, x.clamp(0, delta) / delta)  # Woods et al.: clamp(x, 0, δ)/δ
    # C¹ at the knots: values and slopes meet at 0 and δ
    eps = 1e-7
    for knot in (0.0, delta):
        left = half_huber_relu(torch.tensor(knot - eps, dtype=torch.float64), delta)
        right = half_huber_relu(torch.tensor(knot + eps, dtype=torch.float64), delta)
        assert float(right - left) == pytest.approx(0.0, abs=1e-6)
