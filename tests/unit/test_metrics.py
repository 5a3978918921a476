"""The scores as a library (:mod:`bench.metrics`): every registered metric's contract, defaults that are the
``explain`` stage's, and a hand-computed tiny case per metric."""

from __future__ import annotations

import dataclasses
import inspect
import math
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor, nn

import bench.metrics as bm
from bench.explainers.functional import saliency
from bench.metrics import METRICS, track_settings
from bench.stages.explain.stage import ExplainSettings
from bench.track import Track
from bench.types import Category

pytestmark = pytest.mark.usefixtures("one_thread")


def sigmoid(v: float) -> float:
    return 1 / (1 + math.exp(-v))


class Sum(nn.Module):
    """Logits ``[k·Σx, 0]``: p(class 0) = σ(k·Σx), the logit of class 0 is k·Σx."""

    def __init__(self, k: float) -> None:
        super().__init__()
        self.k = k

    def forward(self, x: Tensor) -> Tensor:
        s = self.k * x.flatten(1).sum(1)
        return torch.stack([s, torch.zeros_like(s)], 1)


class TinyCam(nn.Module):
    """A CAM model: feature map A = x − 0.5 (one channel, full resolution), bias-free GAP head W = [[1], [−1]], so
    CAM_c = W_c·A and f_c = mean CAM_c."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.tensor([[1.0], [-1.0]]))

    def cam(self, x: Tensor) -> Tensor:
        return torch.einsum("nkhw,ck->nchw", x - 0.5, self.weight)

    def forward(self, x: Tensor) -> Tensor:
        return self.cam(x).mean((2, 3))


# ----------------------------------------------------------------------------------------------- the contract
def required(name: str, a: Tensor, track: Track) -> dict[str, Any]:
    """Settings a metric cannot default: the track's (``eps``) and reference maps (``a_original``)."""
    kw: dict[str, Any] = track_settings(name, track, quick=True)
    params = inspect.signature(METRICS.get(name).fn).parameters
    if "a_original" in params:
        kw["a_original"] = a.flip(-1)
    return kw


@pytest.mark.parametrize("name", METRICS.names())
def test_every_metric_returns_one_value_per_image_and_leaves_the_model_alone(
    name: str, track: Track, untrained_model: nn.Module, data: Any
) -> None:
    metric = METRICS.get(name)
    assert isinstance(metric, bm.Metric) and getattr(bm, name) is metric.fn, "exported as bench.metrics.<name>"
    assert isinstance(metric.category, Category) and (metric.fn.__doc__ or "").strip()
    x, y = data.eval_batch(4)
    a = saliency(untrained_model, x, y)
    kw = required(name, a, track)
    untrained_model.train()
    state = {k: v.clone() for k, v in untrained_model.state_dict().items()}
    values = metric(untrained_model, x, y, a, **kw)
    assert isinstance(values, np.ndarray) and values.shape == (4,) and values.dtype.kind == "f"
    assert untrained_model.training and all(p.requires_grad and p.grad is None for p in untrained_model.parameters())
    assert all(torch.equal(v, state[k]) for k, v in untrained_model.state_dict().items()), "the model is not modified"
    again = metric(untrained_model, x.numpy(), y.numpy(), a.numpy(), **kw)  # numpy in, same numbers out
    np.testing.assert_array_equal(values, again)


@pytest.mark.parametrize("name", METRICS.names())
def test_defaults_are_the_explain_stages(name: str) -> None:
    """A default written in the library must be the stage's (else a call would silently score differently)."""
    fields = {f.name: f for f in dataclasses.fields(ExplainSettings)}
    params = inspect.signature(METRICS.get(name).fn).parameters
    for kw, key in METRICS.get(name).explain_settings.items():
        assert kw in params and params[kw].kind is inspect.Parameter.KEYWORD_ONLY, f"{name}: {kw}"
        f = fields[key]
        factory: Any = f.default_factory
        stage_default = f.default if f.default is not dataclasses.MISSING else factory()
        mine = params[kw].default
        if mine is inspect.Parameter.empty:
            assert stage_default is None, f"{name}: {kw} has no default, the stage's {key} has one"
            continue
        assert (list(mine) if isinstance(mine, tuple) else mine) == stage_default, f"{name}: {kw} vs {key}"


def test_track_settings_are_the_tracks_resolved_explain_settings(track: Track) -> None:
    assert track_settings("deletion", track) == {"step": 28, "batch_size": 500}
    assert track_settings("faithfulness_correlation", "mnist5k") == {"runs": 50, "subset": 28, "batch_size": 500}
    assert track_settings("topk_kendall_tau", track)["eps"] == 0.1  # mnist5k's topk_eps, not the track's 0.3
    assert track_settings("discrepancy_ratio", track, quick=True) == {
        "eps": 0.3,
        "steps": 5,
        "kappa": 0.1,
        "gamma": 0.0,
    }
    assert track_settings("fooling_location", track) == {}


def test_bad_inputs_are_refused_with_the_shape() -> None:
    model, x = Sum(1.0), torch.rand(2, 1, 3, 3)
    with pytest.raises(ValueError, match="needs attributions"):
        bm.deletion(model, x, [0, 0], None)
    with pytest.raises(ValueError, match=r"maps of the images.*\(2, 1, 2, 2\)"):
        bm.deletion(model, x, [0, 0], torch.rand(2, 1, 2, 2))
    with pytest.raises(ValueError, match="one class per image"):
        bm.deletion(model, x, [0], torch.rand(2, 3, 3))


# ----------------------------------------------------------------------------------------------- hand-computed cases
def test_deletion_hand_computed() -> None:
    """Two pixels of 1, the first more relevant; p = σ(k·Σx) with k = ln 3 falls 9/10 → 3/4 → 1/2 as they are zeroed:
    AUC = (0.45 + 0.75 + 0.25)/2 = 0.725. |a| ranks, so the sign of a does not matter."""
    x, a = torch.ones(1, 1, 1, 2), torch.tensor([[[[2.0, -1.0]]]])
    assert bm.deletion(Sum(math.log(3)), x, [0], a, step=1) == pytest.approx([0.725], abs=1e-6)
    assert bm.deletion(Sum(math.log(3)), x, [0], a, step=2) == pytest.approx([(0.9 + 0.5) / 2], abs=1e-6)


def test_insertion_hand_computed() -> None:
    """x = [0, 3, 0]; with a nearly flat 3×3 blur (σ = 100: weights 1/9) and zero padding every pixel blurs to 1/3.
    Inserting the middle first: Σx goes 1 → 11/3 → 10/3 → 3."""
    k = 0.5
    x, a = torch.tensor([[[[0.0, 3.0, 0.0]]]]), torch.tensor([[[[0.0, 1.0, 0.0]]]])
    p = [sigmoid(k * s) for s in (1.0, 11 / 3, 10 / 3, 3.0)]
    expected = (p[0] / 2 + p[1] + p[2] + p[3] / 2) / 3
    got = bm.insertion(Sum(k), x, [0], a, step=1, blur_size=3, blur_sigma=100.0)
    assert got == pytest.approx([expected], abs=1e-6)


@pytest.mark.parametrize(("name", "expected"), [("road_morf", "morf"), ("road_lerf", "lerf"), ("road", "gap")])
def test_road_hand_computed(name: str, expected: str) -> None:
    """A 3×3 image, 9 in the centre. MoRF removes int(0.12·9) = 1 pixel, the centre (the most relevant): imputed as
    the mean of its 8 zero neighbours, Σx = 0. LeRF keeps the int(0.88·9) = 7 most relevant (Rong et al.'s
    rounding), so it removes the two ranked last, corner a and edge b, solved jointly: a = (b/6 + 9/12) / (5/12)
    and b = (a/6 + 9/6) / (4/6) give a = b = 3, Σx = 15. AUC over [0, 0.12] = (p₀ + p₁)/2."""
    k = 0.1
    x = torch.zeros(1, 1, 3, 3)
    x[0, 0, 1, 1] = 9.0
    a = torch.tensor([[[[1.0, 2.0, 3.0], [4.0, 9.0, 5.0], [6.0, 7.0, 8.0]]]])
    p0, morf, lerf = sigmoid(0.9), 0.5, sigmoid(1.5)
    value = {"morf": (p0 + morf) / 2, "lerf": (p0 + lerf) / 2, "gap": (lerf - morf) / 2}[expected]
    got = getattr(bm, name)(Sum(k), x, [0], a, fractions=[0.12], noise=0.0)
    assert got == pytest.approx([value], abs=1e-6)


def test_faithfulness_correlation_hand_computed() -> None:
    """The logit is Σx, so setting a subset to the minimum drops it by Σ_S (x − min): attributions x − min correlate
    perfectly with the drops (ρ = 1), their negation perfectly against (ρ = −1), whatever the subsets."""
    x = torch.rand(1, 1, 4, 4, generator=torch.Generator().manual_seed(0)).repeat(2, 1, 1, 1)
    phi = x - x.flatten(1).min(1).values.view(-1, 1, 1, 1)
    a = torch.stack([phi[0], -phi[1]])
    got = bm.faithfulness_correlation(Sum(1.0), x, [0, 0], a, runs=10, subset=4, generator=3)
    assert got == pytest.approx([1.0, -1.0], abs=1e-5)


def test_max_sensitivity_hand_computed() -> None:
    """A constant map never moves (0); the map φ(x) = x moves by δ: max_j ‖δ_j‖/‖x‖ ≤ r·√d/√d = r for x = 1 on d
    pixels, and over 200 draws it comes close to that bound."""
    x, r = torch.ones(1, 1, 2, 2), 0.02
    assert bm.max_sensitivity(Sum(1.0), x, [0], explainer=lambda m, xb, t: torch.ones_like(xb)) == pytest.approx([0.0])
    got = bm.max_sensitivity(Sum(1.0), x, [0], explainer=lambda m, xb, t: xb.clone(), radius=r, samples=200)
    assert 0.7 * r < got[0] <= r + 1e-7


def test_topk_kendall_tau_hand_computed() -> None:
    """No budget: the CAM cannot move, τ = 1. A budget that pushes both cells of x = [0.6, 0.7] down by 0.3: the
    CAM of class 0 becomes [−0.2, −0.1], f₀ < f₁, the prediction changed: NaN."""
    model, x = TinyCam(), torch.tensor([[[[0.6, 0.7]]]])
    assert bm.topk_kendall_tau(model, x, [0], eps=0.0, k=1, steps=3).tolist() == [1.0]
    assert math.isnan(bm.topk_kendall_tau(model, x, [0], eps=0.3, k=2, steps=1, step_size=1.0)[0])


def test_discrepancy_ratio_hand_computed() -> None:
    """x = 0.6: f₀ = 0.1, f₁ = −0.1, target 1 (the only wrong class). Each step moves x by 0.2·ε = 0.06 until the
    margin loss reaches −κ: 0.54, 0.48, 0.42 (2·0.42 − 1 < −0.1). At 0.42 the CAMs are ∓0.08: D₂/HW =
    ½(0.18 + 0.18) = 0.18, the bound ½(0.1 + 0.1) = 0.1, ratio 1.8. No step: the attack fails, NaN."""
    model, x = TinyCam(), torch.tensor([[[[0.6]]]])
    assert bm.discrepancy_ratio(model, x, [0], eps=0.3, steps=5, kappa=0.1) == pytest.approx([1.8], abs=1e-5)
    assert math.isnan(bm.discrepancy_ratio(model, x, [0], eps=0.3, steps=0)[0])


def test_fooling_location_hand_computed() -> None:
    """7×7 maps, frame width 1: a map on the frame only scores 0 (fooled), one on the interior only 1."""
    frame = torch.ones(7, 7)
    frame[1:-1, 1:-1] = 0
    maps = torch.stack([frame, 1 - frame])
    assert bm.fooling_location(Sum(1.0), torch.zeros(2, 1, 7, 7), [0, 0], maps).tolist() == pytest.approx([0.0, 1.0])


def test_fooling_topk_hand_computed() -> None:
    """The top ⌊49·0.1⌋ = 4 cells of 0..48 are 45..48; unchanged they score mean((v/48)²), darkened 0."""
    h0 = torch.arange(49.0).view(1, 7, 7)
    dark = h0.clone().flatten()
    dark[45:] = 0
    maps = torch.cat([h0, dark.view(1, 7, 7)])
    expected = sum((v / 48) ** 2 for v in (45, 46, 47, 48)) / 4
    got = bm.fooling_topk(Sum(1.0), torch.zeros(2, 1, 7, 7), [0, 0], maps, a_original=h0.repeat(2, 1, 1))
    assert got.tolist() == pytest.approx([expected, 0.0], abs=1e-6)


def test_fooling_center_mass_hand_computed() -> None:
    """Mass moved from one corner to the opposite one: shift √((2² + 2²)/2)/(3 − 1) = 1; unmoved: 0."""
    a = torch.zeros(1, 3, 3)
    a[0, 0, 0] = 1.0
    b = torch.zeros(1, 3, 3)
    b[0, 2, 2] = 1.0
    got = bm.fooling_center_mass(
        Sum(1.0), torch.zeros(2, 1, 3, 3), [0, 0], torch.cat([a, a]), a_original=torch.cat([b, a])
    )
    assert got.tolist() == pytest.approx([1.0, 0.0], abs=1e-6)


def test_model_randomization_hand_computed() -> None:
    """An explainer that ignores the model (φ = x) scores 1 whatever is randomised — the failure the check exists to
    catch. φ = |first layer's weights of unit 0| depends on the bottom layer only: randomising the top layer leaves
    it (ρ = 1), randomising both changes it."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(144, 16), nn.ReLU(), nn.Linear(16, 3))
    x = torch.rand(2, 1, 12, 12, generator=torch.Generator().manual_seed(1))
    before = {k: v.clone() for k, v in model.state_dict().items()}

    def input_itself(m: nn.Module, xb: Tensor, t: Tensor) -> Tensor:
        return xb.clone()

    def bottom_weights(m: nn.Module, xb: Tensor, t: Tensor) -> Tensor:
        layer = m.get_submodule("1")
        assert isinstance(layer, nn.Linear)
        return layer.weight[0].abs().view(1, 1, 12, 12).expand_as(xb).clone()

    assert bm.model_randomization(model, x, [0, 1], explainer=input_itself).tolist() == [1.0, 1.0]
    assert bm.model_randomization(model, x, [0, 1], explainer=input_itself, similarity="ssim") == pytest.approx(1.0)
    assert bm.model_randomization(model, x, [0, 1], explainer=bottom_weights, layers=1).tolist() == [1.0, 1.0]
    assert (bm.model_randomization(model, x, [0, 1], explainer=bottom_weights, layers=2) < 0.5).all()
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items()), "randomises a copy"
    with pytest.raises(ValueError, match=r"layers must lie in \[1, 2\]"):
        bm.model_randomization(model, x, [0, 1], explainer=input_itself, layers=3)
