"""Explanation robustness: Kendall τ against scipy, max-sensitivity against Captum's ``sensitivity_max`` on the
same noise, and Boopathy et al.'s identities on a trained GAP-head model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from captum.metrics import sensitivity_max
from scipy.stats import kendalltau
from torch import Tensor, nn

from bench.data import TrackData
from bench.explainers.functional import class_activation_maps
from bench.plugins import EXPLAINERS
from bench.protocols import evaluation_mode
from bench.scores import explanation_robustness as er


@pytest.fixture(scope="module")
def batch(data: TrackData) -> tuple[Tensor, Tensor]:
    return data.eval_x[:64], data.eval_y[:64]


def test_kendall_tau_matches_scipy_with_ties() -> None:
    g = torch.Generator().manual_seed(0)
    a = torch.randint(0, 6, (5, 49), generator=g).float()  # many ties
    b = a + torch.randint(0, 3, (5, 49), generator=g).float()
    ours = er.kendall_tau(a, b, chunk=2)
    expected = [kendalltau(a[i].numpy(), b[i].numpy())[0] for i in range(5)]
    np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-5)
    assert torch.isnan(er.kendall_tau(torch.ones(1, 4), torch.arange(4.0).view(1, 4))).all()


@pytest.mark.parametrize("name", ["saliency", "gradcam"])
def test_max_sensitivity_equals_captum_on_the_same_noise(
    name: str, standard_model: nn.Module, batch: tuple[Tensor, Tensor]
) -> None:
    """Tolerance: 1e-4 relative (float32 maps; the only difference is the order of the batched passes)."""
    x, _ = batch
    x = x[:16]
    with torch.no_grad():
        t = standard_model(x).argmax(1)
    explainer = EXPLAINERS.create(name)

    def explain(inputs: Tensor, target: Tensor) -> Tensor:
        return explainer.attribute(standard_model, inputs, target)

    samples, radius = 6, 0.05
    ours = er.max_sensitivity(
        explain, x, t, radius=radius, samples=samples, generator=torch.Generator().manual_seed(7), batch_size=10**6
    )
    noise = er.uniform_perturbations(x, samples, radius, torch.Generator().manual_seed(7)).flatten(0, 1)

    def same_noise(inputs: Tensor) -> Tensor:  # Captum repeats each input n_perturb_samples times in a row
        return inputs + noise

    def captum_explain(inputs: Tensor | tuple[Tensor, ...], target: Tensor) -> Tensor | tuple[Tensor, ...]:
        # Captum passes (and expects back) a tuple on the unperturbed call, a tensor on the perturbed ones
        return (explain(inputs[0], target),) if isinstance(inputs, tuple) else explain(inputs, target)

    with evaluation_mode(standard_model):
        theirs = sensitivity_max(
            captum_explain,
            x,
            perturb_func=same_noise,
            n_perturb_samples=samples,
            target=t,
        )
    assert ours.shape == (16,) and bool((ours > 0).all())
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-6)
    # chunking over images does not change the estimate's distribution of draws per image count
    chunked = er.max_sensitivity(
        explain, x, t, radius=radius, samples=samples, generator=torch.Generator().manual_seed(7), batch_size=6
    )
    assert chunked.shape == ours.shape and bool(torch.isfinite(chunked).all())


def test_max_sensitivity_of_a_constant_explanation_is_zero(batch: tuple[Tensor, Tensor]) -> None:
    x, y = batch
    out = er.max_sensitivity(
        lambda inputs, t: torch.ones_like(inputs), x, y, radius=0.1, samples=3, generator=torch.Generator()
    )
    assert torch.equal(out, torch.zeros(len(x)))


def test_targeted_attack_respects_boopathy_bound(standard_model: nn.Module, batch: tuple[Tensor, Tensor]) -> None:
    """Boopathy et al. 2020 (https://arxiv.org/abs/2006.14748): for every successful targeted attack,
    D₂/HW ≥ ½(f_y(x) − f_t(x)) − 1e-5."""
    x, y = batch
    g = torch.Generator().manual_seed(3)
    t = (y + torch.randint(1, 10, (len(y),), generator=g)) % 10
    with evaluation_mode(standard_model):
        out = er.targeted_cam_attack(standard_model, x, y, t, eps=0.3, steps=10)
    ok = out.success
    assert int(ok.sum()) >= 20, "the attack should succeed on an undefended model at ε = 0.3"
    assert bool((out.discrepancy[ok] >= out.bound[ok] - 1e-5).all())
    assert float((out.x_adv - x).abs().max()) <= 0.3 + 1e-6
    assert float(out.x_adv.min()) >= 0 and float(out.x_adv.max()) <= 1
    with torch.no_grad():
        assert torch.equal(ok, standard_model(out.x_adv).argmax(1) == t)


def test_topk_attack_lowers_the_topk_cam_and_tau_is_one_without_attack(
    standard_model: nn.Module, batch: tuple[Tensor, Tensor]
) -> None:
    x, y = batch
    rows = torch.arange(len(y))
    with evaluation_mode(standard_model):
        x_adv = er.topk_cam_attack(
            standard_model, x, y, eps=0.1, steps=10, step_size=0.025, k=8, generator=torch.Generator().manual_seed(0)
        )
        with torch.no_grad():
            c0 = class_activation_maps(standard_model, x)[rows, y].flatten(1)
            c1 = class_activation_maps(standard_model, x_adv)[rows, y].flatten(1)
    top = c0.topk(8, dim=1).indices
    assert float(c1.gather(1, top).sum(1).mean()) < float(c0.gather(1, top).sum(1).mean())
    assert float((x_adv - x).abs().max()) <= 0.1 + 1e-6
    assert torch.allclose(er.kendall_tau(c0, c0), torch.ones(len(y)))
    assert float(er.kendall_tau(c0, c1).mean()) < 1.0


def test_two_class_discrepancy_by_hand() -> None:
    cam_x = torch.zeros(1, 3, 2, 2)
    cam_adv = torch.zeros(1, 3, 2, 2)
    cam_adv[0, 0] = torch.tensor([[1.0, -1.0], [0.0, 2.0]])  # ‖ΔI_y‖₁ = 4
    cam_adv[0, 2] = torch.tensor([[0.5, 0.5], [0.5, 0.5]])  # ‖ΔI_t‖₁ = 2
    cam_adv[0, 1] = 100.0  # other classes do not count
    d = er.two_class_discrepancy(cam_x, cam_adv, torch.tensor([0]), torch.tensor([2]))
    assert d.tolist() == [0.5 * (4 + 2) / 4]


def test_discrepancy_ratio_does_not_reward_large_logits(
    standard_model: nn.Module, batch: tuple[Tensor, Tensor]
) -> None:
    """Scaling a GAP model's linear head by 10 scales its logits and CAMs by 10 and changes no prediction. On the
    same adversarial images, the raw D₂/HW calls the scaled copy 10× "better"; the ratio to the margin bound is
    the same for both."""
    import copy

    x, y = batch
    t = (y + 1) % 10
    scaled = copy.deepcopy(standard_model)
    with torch.no_grad():
        scaled.classifier.weight.mul_(10.0)
    with evaluation_mode(standard_model):
        out = er.targeted_cam_attack(standard_model, x, y, t, eps=0.3, steps=10)
    ok = out.success
    assert int(ok.sum()) >= 10
    outcomes = []
    for model in (standard_model, scaled):
        with torch.no_grad():
            c0, c1 = class_activation_maps(model, x), class_activation_maps(model, out.x_adv)
            success = model(out.x_adv).argmax(1) == t
        assert torch.equal(success, ok)
        d, bound = er.two_class_discrepancy(c0, c1, y, t), er.margin_bound(c0.mean((2, 3)), y, t)
        outcomes.append((d, er.margin_ratio(d, bound, success)))
    (raw_a, ratio_a), (raw_b, ratio_b) = outcomes
    assert float(raw_b[ok].mean()) == pytest.approx(10 * float(raw_a[ok].mean()), rel=1e-4)
    assert torch.allclose(ratio_a[ok], ratio_b[ok], rtol=1e-4, equal_nan=True)  # NaN: clean margin ≤ 0
    defined = ok & torch.isfinite(ratio_a)
    assert int(defined.sum()) >= 10
    assert bool((ratio_a[defined] >= 1 - 1e-4).all())  # the bound: D₂/HW ≥ ½ margin on every successful attack
    assert torch.isnan(ratio_a[~ok]).all()


def test_margin_ratio_is_undefined_without_a_positive_margin() -> None:
    r = er.margin_ratio(torch.tensor([2.0, 2.0, 2.0]), torch.tensor([1.0, 0.0, -1.0]), torch.tensor([True] * 3))
    assert r[0] == 2.0 and torch.isnan(r[1:]).all()
