"""Explainers: Captum-backed explainers against our own differentiable maps, CAM identities, SmoothGrad's
seeding, Woods et al.'s search, and clear errors."""

from __future__ import annotations

import pytest
import torch
from captum.attr import IntegratedGradients, Saliency
from torch import Tensor, nn

from bench.data import TrackData
from bench.explainers import functional as fn
from bench.explainers.base import Ranking, ranking, relevance
from bench.models import Head, SmallCNN
from bench.plugins import EXPLAINERS
from bench.projection import rmse
from bench.protocols import evaluation_mode
from bench.running.training import seeded


@pytest.fixture(scope="module")
def batch(data: TrackData, standard_model: nn.Module) -> tuple[Tensor, Tensor]:
    """Eight evaluation digits and the standard model's predictions on them."""
    x = data.eval_x[:8]
    with torch.no_grad():
        return x, standard_model(x).argmax(1)


def test_saliency_equals_captum_and_ours(standard_model: nn.Module, batch: tuple[Tensor, Tensor]) -> None:
    x, t = batch
    ours = EXPLAINERS.create("saliency").attribute(standard_model, x, t)
    with evaluation_mode(standard_model):
        captum = Saliency(standard_model).attribute(x.clone().requires_grad_(True), target=t, abs=True)
        own = fn.saliency(standard_model, x, t)
    assert ours.abs().sum() > 0
    torch.testing.assert_close(ours, captum, rtol=0, atol=0)
    torch.testing.assert_close(own, captum, rtol=1e-6, atol=1e-9)


def test_integrated_gradients_equal_captum(standard_model: nn.Module, batch: tuple[Tensor, Tensor]) -> None:
    x, t = batch
    ours = EXPLAINERS.create("integrated_gradients", steps=12).attribute(standard_model, x, t)
    with evaluation_mode(standard_model):
        captum = IntegratedGradients(standard_model).attribute(
            x, baselines=torch.zeros_like(x), target=t, n_steps=12, method="gausslegendre"
        )
        own = fn.integrated_gradients(standard_model, x, t, steps=12, batch_size=40)  # several chunks
    torch.testing.assert_close(ours, captum, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(own, captum, rtol=1e-4, atol=1e-6)


def test_integrated_gradients_completeness(standard_model: nn.Module, batch: tuple[Tensor, Tensor]) -> None:
    """Σ IG ≈ f_c(x) − f_c(0) (Sundararajan et al.'s completeness axiom), to the quadrature's accuracy."""
    x, t = batch
    ig = fn.integrated_gradients(standard_model, x, t, steps=64)
    with torch.no_grad():
        gap = fn.select(standard_model(x), t) - fn.select(standard_model(torch.zeros_like(x)), t)
    torch.testing.assert_close(ig.flatten(1).sum(1), gap, rtol=0.02, atol=0.05)


def test_input_x_gradient_and_gradcam_equal_our_maps(standard_model: nn.Module, batch: tuple[Tensor, Tensor]) -> None:
    x, t = batch
    torch.testing.assert_close(
        EXPLAINERS.create("input_x_gradient").attribute(standard_model, x, t),
        fn.input_x_gradient(standard_model, x, t),
    )
    torch.testing.assert_close(
        EXPLAINERS.create("gradcam").attribute(standard_model, x, t), fn.gradcam(standard_model, x, t)
    )


def test_cam_mean_equals_logit(standard_model: nn.Module, batch: tuple[Tensor, Tensor]) -> None:
    """Boopathy et al.: with GAP + bias-free linear head, mean_{h,w} CAM_c = logit_c for every class."""
    x, _ = batch
    with torch.no_grad():
        cams = fn.class_activation_maps(standard_model, x)
        logits = standard_model(x)
    assert cams.shape == (8, 10, 7, 7)
    torch.testing.assert_close(cams.mean((2, 3)), logits, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("head", list(Head))
def test_gradcam_of_a_cam_network_is_relu_of_the_mean_head_weight_map(head: Head, batch: tuple[Tensor, Tensor]) -> None:
    """f_c = Σ_{k,h,w} W_{c,k,h,w} A_{k,h,w} (linear head; GAP: W_{c,k,h,w} = W_ck/HW), so ∂f_c/∂A_k = W_{c,k}
    and Grad-CAM = ReLU(Σ_k mean_{h,w}(W_{c,k}) A_k); for GAP that is ReLU(CAM_c)/HW."""
    x, t = batch
    with seeded(0):
        model = SmallCNN(head=head).eval()
    low = fn.gradcam_low(model, x, t)
    with torch.no_grad():
        a = model.feature_map(x)
        w = model.classifier.weight[t]  # (N, C) for GAP, (N, C·H·W) for the linear head
        per_channel = w.view(len(t), a.shape[1], -1).mean(-1) / (a.shape[2] * a.shape[3] if head is Head.GAP else 1)
        expected = (per_channel[:, :, None, None] * a).sum(1, keepdim=True).clamp_min(0)
    torch.testing.assert_close(low, expected, rtol=1e-5, atol=1e-6)
    if head is Head.GAP:
        cam = fn.class_activation_maps(model, x)[torch.arange(8), t].unsqueeze(1)
        torch.testing.assert_close(low, cam.clamp_min(0) / 49, rtol=1e-5, atol=1e-6)


def test_cam_explainer_upsamples_the_target_class_map(standard_model: nn.Module, batch: tuple[Tensor, Tensor]) -> None:
    x, t = batch
    maps = EXPLAINERS.create("cam").attribute(standard_model, x, t)
    assert maps.shape == x.shape
    # bilinear upsampling of a 7×7 map preserves its mean up to border effects: the mean stays close to the logit
    with torch.no_grad():
        logit = fn.select(standard_model(x), t)
    assert torch.allclose(maps.mean((1, 2, 3)), logit, rtol=0.15, atol=0.5)
    assert ranking(EXPLAINERS.create("cam")) is Ranking.SIGNED
    assert ranking(EXPLAINERS.create("saliency")) is Ranking.MAGNITUDE


def test_relevance_sums_channels() -> None:
    maps = torch.tensor([[[[1.0, -2.0]], [[-3.0, 1.0]]]])  # (1, 2, 1, 2)
    assert relevance(maps, Ranking.MAGNITUDE).tolist() == [[[4.0, 3.0]]]
    assert relevance(maps, Ranking.SIGNED).tolist() == [[[-2.0, -1.0]]]


def test_smoothgrad_is_seeded_and_tends_to_saliency(standard_model: nn.Module, batch: tuple[Tensor, Tensor]) -> None:
    x, t = batch
    sg = EXPLAINERS.create("smoothgrad", samples=4)
    a = sg.attribute(standard_model, x, t, generator=torch.Generator().manual_seed(1))
    b = sg.attribute(standard_model, x, t, generator=torch.Generator().manual_seed(1))
    c = sg.attribute(standard_model, x, t, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(a, c)
    state = torch.get_rng_state()
    tiny = EXPLAINERS.create("smoothgrad", samples=3, sigma=1e-7).attribute(standard_model, x, t)
    assert torch.equal(state, torch.get_rng_state()), "SmoothGrad moved the global RNG"
    torch.testing.assert_close(tiny, fn.saliency(standard_model, x, t), rtol=1e-3, atol=1e-6)


def test_woods_first_step_is_the_normalised_descent_direction(
    standard_model: nn.Module, batch: tuple[Tensor, Tensor]
) -> None:
    """With T = 1: δ = ρ·overshoot · (−∇CE)/RMSE(∇CE) (s₀ = E·1/1)."""
    x, t = batch
    with evaluation_mode(standard_model):
        adv = fn.woods_explanation(standard_model, x, t, rho=0.1, overshoot=5.0, steps=1)
        xg = x.clone().requires_grad_(True)
        loss = nn.functional.cross_entropy(standard_model(xg), t, reduction="sum")
        (g,) = torch.autograd.grad(loss, xg)
    expected = -g / (1e-8 + rmse(g)).view(-1, 1, 1, 1) * 0.5
    torch.testing.assert_close(adv - x, expected, rtol=1e-4, atol=1e-6)


def test_woods_explanation_stays_in_budget_and_moves_toward_target(
    standard_model: nn.Module, batch: tuple[Tensor, Tensor]
) -> None:
    x, pred = batch
    with torch.no_grad():
        logits = standard_model(x)
    runner_up = logits.scatter(1, pred.view(-1, 1), -1e9).argmax(1)
    delta = EXPLAINERS.create("woods").attribute(standard_model, x, runner_up)
    size = rmse(delta)
    # the search saturates the budget ρ = 0.1; it can overshoot by at most the largest step taken while inside it
    assert bool((size > 0.05).all()) and bool((size < 0.1 + 0.5 * 35 / 630).all())
    with torch.no_grad():
        p0 = logits.softmax(1).gather(1, runner_up.view(-1, 1))
        p1 = standard_model(x + delta).softmax(1).gather(1, runner_up.view(-1, 1))
    assert bool((p1 > p0).all())


def test_map_explainers_need_the_right_head(batch: tuple[Tensor, Tensor]) -> None:
    x, t = batch
    plain = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    with pytest.raises(TypeError, match="cam_layer"):
        EXPLAINERS.create("gradcam").attribute(plain, x, t)
    with pytest.raises(TypeError, match="cam"):
        EXPLAINERS.create("cam").attribute(plain, x, t)


def test_bad_options_raise() -> None:
    with pytest.raises(ValueError, match="steps"):
        EXPLAINERS.create("integrated_gradients", steps=1)
    with pytest.raises(ValueError, match="sigma"):
        EXPLAINERS.create("smoothgrad", sigma=0)
    with pytest.raises(ValueError, match="target"):
        fn.select(torch.zeros(2, 3), torch.zeros(3, dtype=torch.long))
