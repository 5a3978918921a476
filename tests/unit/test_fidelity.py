"""Fidelity scores: RISE deletion/insertion against a direct per-image reference loop and against Quantus'
PixelFlipping, a synthetic model whose relevant pixels are known, faithfulness correlation identities, and the
``explain`` stage's record."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter
from torch import Tensor, nn

from bench.data import TrackData
from bench.plugins import SCORES
from bench.scores import fidelity
from bench.track import Track
from tests.stage_context import StageContext


# --------------------------------------------------------------------------------------------- reference
def rise_reference(model: nn.Module, img: Tensor, saliency: np.ndarray, step: int, mode: str) -> np.ndarray:
    """A transcription of RISE's ``CausalMetric.single_run`` for one image (numpy, in-place pixel moves)."""
    _, c, h, w = img.shape
    hw = h * w
    kern = fidelity.rise_kernel()
    with torch.no_grad():
        pred = model(img).softmax(1)
    top = int(pred.argmax(1))
    n_steps = (hw + step - 1) // step
    if mode == "del":
        start, finish = img.clone(), torch.zeros_like(img)
    else:
        start, finish = fidelity.blur(img, kern), img.clone()
    scores = np.empty(n_steps + 1)
    salient_order = np.flip(np.argsort(saliency.reshape(-1, hw), axis=1, kind="stable"), axis=-1)
    for i in range(n_steps + 1):
        with torch.no_grad():
            scores[i] = float(model(start).softmax(1)[0, top])
        if i < n_steps:
            coords = salient_order[:, step * i : step * (i + 1)]
            start_np = start.numpy().reshape(1, c, hw)
            start_np[0, :, coords] = finish.numpy().reshape(1, c, hw)[0, :, coords]
            start = torch.from_numpy(start_np.reshape(1, c, h, w).copy())
    return scores


def test_rise_kernel_is_gkern() -> None:
    grid = np.zeros((11, 11))
    grid[5, 5] = 1
    np.testing.assert_allclose(fidelity.rise_kernel().numpy(), gaussian_filter(grid, 5).astype(np.float32))
    flat = torch.full((1, 1, 30, 30), 0.5)
    assert torch.allclose(fidelity.blur(flat, fidelity.rise_kernel())[..., 5:-5, 5:-5], flat[..., 5:-5, 5:-5])


def test_auc_trapezoid() -> None:
    assert fidelity.auc(torch.full((3, 9), 0.7)).allclose(torch.full((3,), 0.7))
    line = torch.linspace(1, 0, 11)
    assert math.isclose(float(fidelity.auc(line)), 0.5, abs_tol=1e-6)
    np.testing.assert_allclose(float(fidelity.auc(torch.tensor([0.2, 0.9, 0.4, 0.1]))), (1.6 - 0.1 - 0.05) / 3)


def test_order_breaks_ties_like_rise() -> None:
    rel = torch.tensor([[[1.0, 3.0, 1.0], [3.0, 0.0, 1.0]]])
    expected = np.flip(np.argsort(rel.flatten(1).numpy(), axis=1, kind="stable"), axis=1)
    assert fidelity.salient_order(rel).tolist() == expected.tolist()


@pytest.fixture(scope="module")
def images(data: TrackData) -> Tensor:
    return data.eval_x[:12]


def test_curves_match_rise_reference_loop(standard_model: nn.Module, images: Tensor) -> None:
    g = torch.Generator().manual_seed(0)
    rel = torch.rand((len(images), 28, 28), generator=g)
    rel[:, :10, :10] = 0.5  # ties, broken as RISE does
    deletion, insertion, cls = fidelity.causal_curves(standard_model, images, rel, step=28, batch_size=5)
    assert deletion.shape == insertion.shape == (12, 29)
    for i in range(len(images)):
        ref_del = rise_reference(standard_model, images[i : i + 1], rel[i].numpy(), 28, "del")
        ref_ins = rise_reference(standard_model, images[i : i + 1], rel[i].numpy(), 28, "ins")
        np.testing.assert_allclose(deletion[i].numpy(), ref_del, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(insertion[i].numpy(), ref_ins, rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        assert torch.equal(cls, standard_model(images).argmax(1))
    # a step that does not divide HW: N = ⌈784/100⌉ = 8, last step moves the remaining 84 pixels
    d8, i8, _ = fidelity.causal_curves(standard_model, images[:2], rel[:2], step=100)
    assert d8.shape == i8.shape == (2, 9)
    for curve, mode in ((d8, "del"), (i8, "ins")):
        ref = rise_reference(standard_model, images[:1], rel[0].numpy(), 100, mode)
        np.testing.assert_allclose(curve[0].numpy(), ref, rtol=1e-5, atol=1e-6)
    # the deletion-only path gives the same curves
    alone, cls_alone = fidelity.deletion_curves(standard_model, images, rel, step=28, batch_size=7)
    torch.testing.assert_close(alone, deletion)
    assert torch.equal(cls_alone, cls)


def test_deletion_curve_matches_quantus_pixel_flipping(standard_model: nn.Module, images: Tensor) -> None:
    """Quantus 0.6.0 PixelFlipping returns the curve after each step (steps 1..N); with the same order (continuous
    attributions, no ties), step and a black (= per-image minimum = 0 for MNIST) baseline it must equal ours.
    We compare curves, not Quantus' AUC: that calls ``np.trapz``, which NumPy 2.4 removed."""
    quantus = pytest.importorskip("quantus")
    g = torch.Generator().manual_seed(1)
    attributions = torch.rand((len(images), 1, 28, 28), generator=g)
    deletion, _, cls = fidelity.causal_curves(standard_model, images, attributions.sum(1), step=28)
    metric = quantus.PixelFlipping(
        features_in_step=28, perturb_baseline="black", normalise=False, abs=False, disable_warnings=True
    )
    theirs = metric(
        model=standard_model.eval(),
        x_batch=images.numpy(),
        y_batch=cls.numpy(),
        a_batch=attributions.numpy(),
        device="cpu",
        softmax=True,
        batch_size=len(images),
    )
    np.testing.assert_allclose(np.asarray(theirs), deletion[:, 1:].numpy(), rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------------------------- synthetic
class KnownPixels(nn.Module):
    """Class 1's logit depends only on the pixels in ``mask``: a·(mean_S x − m₀); class 0's logit is 0."""

    def __init__(self, mask: Tensor, a: float = 40.0, m0: float = 0.6) -> None:
        super().__init__()
        self.register_buffer("mask", mask.float())
        self.a, self.m0 = a, m0

    def forward(self, x: Tensor) -> Tensor:
        mean_s = (x.sum(1) * self.mask).flatten(1).sum(1) / self.mask.sum()
        z = self.a * (mean_s - self.m0)
        return torch.stack([torch.zeros_like(z), z], dim=1)


def test_correct_explanation_beats_random_on_deletion_and_insertion() -> None:
    g = torch.Generator().manual_seed(3)
    mask = torch.rand((28, 28), generator=g) < 0.15  # the truly relevant pixels
    x = torch.rand((64, 1, 28, 28), generator=g)
    x = torch.where(mask, 0.5 + 0.5 * x, x)  # relevant pixels bright: class 1 predicted, blur removes it
    model = KnownPixels(mask).eval()
    correct = mask.float().expand(64, 28, 28) + 1e-3 * torch.rand((64, 28, 28), generator=g)
    random = torch.rand((64, 28, 28), generator=g)
    d_ok, i_ok, cls = fidelity.causal_curves(model, x, correct, step=28)
    d_rnd, i_rnd, _ = fidelity.causal_curves(model, x, random, step=28)
    assert bool((cls == 1).all())
    assert float(fidelity.auc(d_ok).mean()) < float(fidelity.auc(d_rnd).mean()) - 0.1
    assert float(fidelity.auc(i_ok).mean()) > float(fidelity.auc(i_rnd).mean()) + 0.2
    # the saliency of this model is exactly the mask, so the gradient explainer wins as well
    from bench.plugins import EXPLAINERS

    sal = EXPLAINERS.create("saliency").attribute(model, x, cls).sum(1)
    d_sal, i_sal, _ = fidelity.causal_curves(model, x, sal + 1e-3 * torch.rand(sal.shape, generator=g), step=28)
    assert float(fidelity.auc(d_sal).mean()) < float(fidelity.auc(d_rnd).mean()) - 0.1
    assert float(fidelity.auc(i_sal).mean()) > float(fidelity.auc(i_rnd).mean()) + 0.2


# --------------------------------------------------------------------------------------------- Bhatt et al.
def test_faithfulness_is_one_for_exact_attributions_of_a_linear_model() -> None:
    """For f_c = w·x and φ = w ⊙ (x − min x): Δ_r = Σ_{S_r} φ exactly, so the correlation is 1."""
    g = torch.Generator().manual_seed(4)
    w = torch.randn((2, 784), generator=g)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 2, bias=True))
    with torch.no_grad():
        model[1].weight.copy_(w)
    x = torch.rand((6, 1, 28, 28), generator=g)
    target = torch.tensor([0, 1, 0, 1, 1, 0])
    masks = fidelity.random_subsets(6, 784, 50, 28, g)
    assert bool((masks.sum(-1) == 28).all())
    drops = fidelity.subset_logit_drops(model, x, target, masks, batch_size=64)
    phi = w[target].view(6, 1, 28, 28) * (x - x.flatten(1).min(1).values.view(6, 1, 1, 1))
    corr = fidelity.faithfulness_correlation(phi, masks, drops)
    torch.testing.assert_close(corr, torch.ones(6), rtol=0, atol=1e-5)
    noise = fidelity.faithfulness_correlation(torch.rand(phi.shape, generator=g), masks, drops)
    assert float(noise.abs().mean()) < 0.4


def test_pearson_rows_matches_numpy() -> None:
    g = torch.Generator().manual_seed(5)
    a, b = torch.rand((4, 30), generator=g), torch.rand((4, 30), generator=g)
    expected = [np.corrcoef(a[i].numpy(), b[i].numpy())[0, 1] for i in range(4)]
    np.testing.assert_allclose(fidelity.pearson_rows(a, b).numpy(), expected, rtol=1e-5)


def test_bad_inputs_raise(standard_model: nn.Module, images: Tensor) -> None:
    with pytest.raises(ValueError, match="relevance"):
        fidelity.causal_curves(standard_model, images, torch.rand(3, 28, 28), step=28)
    with pytest.raises(ValueError, match="step"):
        fidelity.causal_curves(standard_model, images, torch.rand(12, 28, 28), step=0)
    with pytest.raises(ValueError, match="subset"):
        fidelity.random_subsets(2, 10, 3, 11, torch.Generator())


# --------------------------------------------------------------------------------------------- the stage
def _json_native(obj: Any) -> bool:
    if isinstance(obj, dict):
        return all(isinstance(k, str) and _json_native(v) for k, v in obj.items())
    if isinstance(obj, list):
        return all(_json_native(v) for v in obj)
    if isinstance(obj, float):
        return math.isfinite(obj)
    return obj is None or isinstance(obj, (str, int, bool))


def test_explain_stage_record(track: Track, data: TrackData, standard_model: nn.Module) -> None:
    ctx = StageContext("explain", track, data, standard_model)
    out = ctx.stage.run(ctx)
    names = {s.name for s in out.scores}
    assert {"deletion_auc", "insertion_auc", "faithfulness_correlation", "max_sensitivity"} <= names
    assert "explanation_topk_kendall_tau" in names
    for s in out.scores:
        assert s.name in SCORES and math.isfinite(s.value) and s.n > 0
    d = out.details
    assert _json_native(dict(d))
    assert [r["explainer"] for r in d["table"]] == list(track.explainers)
    primary = next(r for r in d["table"] if r["explainer"] == d["primary"])
    assert primary["deletion"] == pytest.approx(next(s.value for s in out.scores if s.name == "deletion_auc"), abs=1e-6)
    # ROAD for every explainer, both readouts; the primary's numbers are the scores, gap = LeRF − MoRF
    for row in d["table"]:
        for prefix in ("road", "road_kept"):
            gap = row[f"{prefix}_lerf"] - row[f"{prefix}_morf"]
            assert row[f"{prefix}_gap"] == pytest.approx(gap, abs=2e-6), row["explainer"]
        # predictions kept: a share in [0, 1] per fraction, so its AUCs are too (the intact image counts as kept)
        assert all(0.0 <= row[f"road_kept_{o}"] <= 1.0 for o in ("morf", "lerf")), row
    by_name = {s.name: s for s in out.scores}
    assert d["table_scores"]["road_kept_gap"] == "road_kept_gap"
    for key, name in d["table_scores"].items():
        if key.startswith("road"):
            assert primary[key] == pytest.approx(by_name[name].value, abs=1e-6)
            assert by_name[name].n == d["road"]["images"] == min(ctx.settings["road_n"], ctx.settings["n"])
    for curve_name in ("road_morf_saliency", "road_kept_lerf_saliency"):
        road_curve = d["curves"][curve_name]
        assert road_curve["x"] == [0.0, *d["road"]["fractions"]] and len(road_curve["y"]) == len(road_curve["x"])
    assert d["curves"]["road_kept_lerf_saliency"]["y"][0] == 1.0  # the intact image: every prediction kept
    curve = d["curves"]["deletion_saliency"]
    assert len(curve["x"]) == len(curve["y"]) == 29 and curve["x"][0] == 0 and curve["x"][-1] == 1
    rows = d["gallery"]
    assert len(rows) == 1 + len(track.explainers) + 2
    assert all(len(r["images"]) == ctx.settings["gallery"] and r["caption"] for r in rows)
    assert d["boopathy"]["targeted"]["bound_violations"] == 0
    # per-image τ (None where the prediction changed) averages to the score, over the images that kept it
    tau = d["boopathy"]["topk"]["tau"]
    kept = [v for v in tau if v is not None]
    assert len(tau) == d["boopathy"]["topk"]["images"] and len(kept) == d["boopathy"]["topk"]["prediction_kept"]
    kendall = next(s for s in out.scores if s.name == "explanation_topk_kendall_tau")
    assert kendall.n == len(kept) and kendall.value == pytest.approx(sum(kept) / len(kept), abs=1e-5)
    ratio = next(s for s in out.scores if s.name == "explanation_discrepancy_ratio")
    assert ratio.value >= 1 - 1e-4 and ratio.n == d["boopathy"]["targeted"]["ratio_images"]
    assert "γ = 0" in d["boopathy"]["targeted"]["attack"]
    assert ctx.progressed[-1] == (5, 5)
