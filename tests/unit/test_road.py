"""ROAD (Rong et al. 2022): noisy linear imputation on hand-built images, the sparse system against its banded
solve and against Quantus' transcription of Rong et al.'s imputer, MoRF/LeRF on models whose relevant pixels
are known, both readouts on a hand-computed 2×2 case, the LeRF pixel count against Rong et al.'s rounding, the
predictions-kept headline unchanged by a temperature on the logits (the probability gap is not), and Quantus'
ROAD metric on identical inputs and masks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.sparse.linalg import spsolve
from torch import Tensor, nn

from bench.scores import road

WEIGHT = dict(road.NEIGHBOUR_WEIGHTS)


def weighted_mean(img: Tensor, r: int, c: int) -> float:
    """Σ w_j v_j / Σ w_j over the in-image neighbours of (r, c), written out from the weights table."""
    h, w = img.shape
    num = den = 0.0
    for (dr, dc), weight in WEIGHT.items():
        if 0 <= r + dr < h and 0 <= c + dc < w:
            num += weight * float(img[r + dr, c + dc])
            den += weight
    return num / den


def test_weights_are_rong_et_al() -> None:
    """1/6 for the four direct neighbours, 1/12 for the four diagonal ones (they sum to 1)."""
    for (dr, dc), weight in WEIGHT.items():
        assert weight == pytest.approx(1 / 6 if abs(dr) + abs(dc) == 1 else 1 / 12)
    assert len(WEIGHT) == 8
    assert sum(WEIGHT.values()) == pytest.approx(1.0)


@pytest.mark.parametrize(("r", "c"), [(2, 2), (0, 0), (0, 3), (4, 2)])
def test_one_removed_pixel_is_its_neighbours_weighted_mean(r: int, c: int) -> None:
    g = torch.Generator().manual_seed(3)
    img = torch.rand((5, 5), generator=g)
    missing = torch.zeros((1, 5, 5), dtype=torch.bool)
    missing[0, r, c] = True
    out = road.noisy_linear_impute(img.view(1, 1, 5, 5), missing, noise=0.0)
    assert float(out[0, 0, r, c]) == pytest.approx(weighted_mean(img, r, c), abs=1e-6)
    keep = ~missing[0]
    assert torch.equal(out[0, 0][keep], img[keep])


def test_noise_has_the_stated_scale_over_seeds() -> None:
    """Over 400 seeds the imputed value's mean is the weighted mean and its standard deviation is 0.01."""
    img = torch.rand((6, 6), generator=torch.Generator().manual_seed(0))
    missing = torch.zeros((1, 6, 6), dtype=torch.bool)
    missing[0, 3, 2] = True
    x = img.view(1, 1, 6, 6)
    gens = [torch.Generator().manual_seed(s) for s in range(400)]
    values = np.array([float(road.noisy_linear_impute(x, missing, generator=g)[0, 0, 3, 2]) for g in gens])
    expected = weighted_mean(img, 3, 2)
    assert abs(values.mean() - expected) < 4 * road.NOISE / math.sqrt(len(values))
    assert values.std(ddof=1) == pytest.approx(road.NOISE, rel=0.15)


def test_noise_needs_a_generator_and_an_all_removed_image_is_refused() -> None:
    x = torch.rand(1, 1, 4, 4)
    some = torch.zeros(1, 4, 4, dtype=torch.bool)
    some[0, 1, 1] = True
    with pytest.raises(ValueError, match="Generator"):
        road.noisy_linear_impute(x, some)
    with pytest.raises(ValueError, match="every pixel removed"):
        road.noisy_linear_impute(x, torch.ones(1, 4, 4, dtype=torch.bool), noise=0.0)


def test_removed_regions_satisfy_the_mean_value_equations() -> None:
    """With neighbouring pixels removed too, each imputed pixel equals the weighted mean of its neighbours'
    final values (the defining equations), in every channel."""
    g = torch.Generator().manual_seed(5)
    x = torch.rand((3, 2, 9, 7), generator=g)
    missing = torch.rand((3, 9, 7), generator=g) < 0.6
    out = road.noisy_linear_impute(x, missing, noise=0.0)
    for b, r, c in missing.nonzero().tolist():
        for ch in range(2):
            assert float(out[b, ch, r, c]) == pytest.approx(weighted_mean(out[b, ch], r, c), abs=1e-5)


def test_banded_solve_equals_the_sparse_system() -> None:
    g = torch.Generator().manual_seed(7)
    x = torch.rand((4, 1, 28, 28), generator=g).double().numpy()
    missing = (torch.rand((4, 28, 28), generator=g) < 0.9).numpy()
    a, b = road.imputation_system(x, missing)
    assert (abs(a - a.T)).max() == 0  # symmetric, as the Cholesky solve assumes
    np.testing.assert_allclose(road._solve(x, missing)[:, 0], spsolve(a, b[:, 0]), atol=1e-10)


def test_imputation_equals_quantus_transcription_of_rong_et_al() -> None:
    """Quantus 0.6.0's ``noisy_linear_imputation`` is "adapted from" Rong et al.'s imputer; at noise 0 both
    solve the same system, on 1- and 3-channel images."""
    perturb = pytest.importorskip("quantus.functions.perturb_func")
    g = torch.Generator().manual_seed(11)
    for channels in (1, 3):
        x = torch.rand((channels, 12, 10), generator=g)
        idx = torch.randperm(120, generator=g)[:70].sort().values.numpy()
        missing = torch.zeros(120, dtype=torch.bool)
        missing[torch.from_numpy(idx)] = True
        ours = road.noisy_linear_impute(x.unsqueeze(0).double(), missing.view(1, 12, 10), noise=0.0)[0]
        theirs = perturb.noisy_linear_imputation(x.double().numpy(), idx, noise=0.0)
        np.testing.assert_allclose(ours.numpy(), theirs, atol=1e-10)


# --------------------------------------------------------------------------------------------- curves
class OnePixel(nn.Module):
    """Two classes; class 1's logit is a·(x[r, c] − ½): the prediction depends on one pixel only."""

    def __init__(self, r: int, c: int, a: float = 20.0) -> None:
        super().__init__()
        self.r, self.c, self.a = r, c, a

    def forward(self, x: Tensor) -> Tensor:
        z = self.a * (x[:, 0, self.r, self.c] - 0.5)
        return torch.stack([torch.zeros_like(z), z], dim=1)


FRACTIONS = [0.1, 0.3, 0.5, 0.7, 0.9]


def test_morf_drops_at_the_first_removal_and_lerf_is_flat() -> None:
    g = torch.Generator().manual_seed(2)
    x = torch.rand((8, 1, 10, 10), generator=g) * 0.2  # dark background: imputing the pixel makes it dark
    x[:, 0, 4, 6] = 1.0
    model = OnePixel(4, 6)
    rel = torch.rand((8, 10, 10), generator=g) * 0.5
    rel[:, 4, 6] = 1.0  # the correct explanation ranks the pixel first
    rc = road.road_curves(model, x, rel, FRACTIONS, generator=torch.Generator().manual_seed(0))
    morf, lerf = rc.morf, rc.lerf
    p0 = torch.sigmoid(torch.tensor(10.0))
    assert torch.allclose(morf[:, 0], p0) and torch.allclose(lerf, p0.expand_as(lerf))
    assert bool((morf[:, 1:] < 0.01).all())  # gone at 10% removed and later
    gap = road.trapezoid_auc(lerf, [0.0, *FRACTIONS]) - road.trapezoid_auc(morf, [0.0, *FRACTIONS])
    assert bool((gap > 0.8).all())
    # predictions kept: the pixel going dark flips every prediction at 10%; LeRF never touches it
    assert torch.equal(rc.morf_kept, torch.tensor([1.0, 0, 0, 0, 0, 0]).expand(8, 6))
    assert torch.equal(rc.lerf_kept, torch.ones(8, 6))


class MeanOf(nn.Module):
    """Class 1's logit is a·(mean of x over S − m₀): relevance is known (S), and the response is graded."""

    def __init__(self, mask: Tensor, a: float = 30.0, m0: float = 0.4) -> None:
        super().__init__()
        self.mask = mask.float()
        self.a, self.m0 = a, m0

    def forward(self, x: Tensor) -> Tensor:
        z = self.a * ((x[:, 0] * self.mask).flatten(1).sum(1) / self.mask.sum() - self.m0)
        return torch.stack([torch.zeros_like(z), z], dim=1)


def test_random_attribution_lies_between_morf_and_lerf_of_the_correct_one() -> None:
    g = torch.Generator().manual_seed(4)
    h = w = 14
    support = torch.zeros(h, w, dtype=torch.bool)
    support[3:9, 4:11] = True
    x = torch.rand((16, 1, h, w), generator=g) * 0.1
    x[:, 0][:, support] = 0.9
    model = MeanOf(support)
    correct = support.float().expand(16, h, w) + 0.01 * torch.rand((16, h, w), generator=g)
    random = torch.rand((16, h, w), generator=g)
    f = [0.0, *FRACTIONS]

    def aucs(rel: Tensor) -> tuple[float, float]:
        rc = road.road_curves(model, x, rel, FRACTIONS, generator=torch.Generator().manual_seed(1))
        return float(road.trapezoid_auc(rc.morf, f).mean()), float(road.trapezoid_auc(rc.lerf, f).mean())

    morf_c, lerf_c = aucs(correct)
    morf_r, lerf_r = aucs(random)
    assert morf_c < morf_r < lerf_c
    assert morf_c < lerf_r < lerf_c
    assert lerf_c - morf_c > lerf_r - morf_r


def test_ties_are_broken_by_the_seeded_generator() -> None:
    flat = torch.zeros(1, 4, 4)
    a = road.removal_order(flat, torch.Generator().manual_seed(0))
    b = road.removal_order(flat, torch.Generator().manual_seed(0))
    c = road.removal_order(flat, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert sorted(a[0].tolist()) == list(range(16))


def test_bad_fractions_are_refused() -> None:
    x = torch.rand(1, 1, 4, 4)
    for bad in ([0.5, 0.2], [0.0, 0.5], [1.0], []):
        with pytest.raises(ValueError, match="fractions"):
            road.road_curves(OnePixel(0, 0), x, torch.rand(1, 4, 4), bad, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("pixels", [784, 100, 1024, 3 * 7])
@pytest.mark.parametrize("fraction", [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])
def test_lerf_pixel_count_is_rong_et_al_rounding(pixels: int, fraction: float) -> None:
    """Their LeRF at th_p removes ``salient_order[int(width*height*th_p):]`` (road/imputed_dataset.py): all but the
    int(th_p·HW) most relevant; our p is their 1 − th_p (th_p as the decimal they would pass, e.g. 0.2 for p = 0.8).
    MoRF removes their ``salient_order[:int(width*height*th_p)]`` with th_p = p."""
    th_p = float(f"{1 - fraction:.1f}")
    order = torch.arange(pixels).flip(0).view(1, -1)  # any permutation: only the count matters here
    lerf = road.removal_masks(order, fraction, morf=False, shape=(1, pixels))
    morf = road.removal_masks(order, fraction, morf=True, shape=(1, pixels))
    assert int(lerf.sum()) == pixels - int(pixels * th_p)
    assert int(morf.sum()) == int(pixels * fraction)
    # LeRF removes the tail of the order, MoRF its head
    assert bool(lerf.view(-1)[order[0, pixels - int(lerf.sum()) :]].all())
    assert bool(morf.view(-1)[order[0, : int(morf.sum())]].all())


def test_lerf_and_morf_counts_at_the_track_fractions() -> None:
    """784 pixels at 20/40/60/80%: int(156.8) = 156 … for MoRF, 784 − int(627.2) = 157 … for LeRF."""
    assert [road.removed_count(784, p, morf=True) for p in (0.2, 0.4, 0.6, 0.8)] == [156, 313, 470, 627]
    assert [road.removed_count(784, p, morf=False) for p in (0.2, 0.4, 0.6, 0.8)] == [157, 314, 471, 628]


def test_both_readouts_on_a_hand_computed_two_by_two_image() -> None:
    """Pixels a = (0, 0) = 1, b = (0, 1) = 0.2, c = (1, 0) = 0.2, d = (1, 1) = 0.8; the model's class-1 logit is
    20·(a − ½); relevance a > d > b > c; fractions ¼ and ½ (one and two pixels, both orders), no noise.

    MoRF ¼ removes a: a = (b/6 + c/6 + d/12)/(5/12) = 0.32 → logit −3.6, class 0 (not kept).
    MoRF ½ removes a and d: by symmetry a = d and a·(5/12) − d/12 = (b + c)/6, so a = 0.2 → logit −6.
    LeRF ¼ removes c, LeRF ½ removes c and b: a stays 1 → logit 10, kept.
    Kept curves [1, 0, 0] and [1, 1, 1] at [0, ¼, ½]: AUCs (½·¼)/½ = 0.25 and 1, gap 0.75.
    """
    x = torch.tensor([[[[1.0, 0.2], [0.2, 0.8]]]])
    rel = torch.tensor([[[4.0, 2.0], [1.0, 3.0]]])
    rc = road.road_curves(OnePixel(0, 0), x, rel, [0.25, 0.5], generator=torch.Generator().manual_seed(0), noise=0.0)
    assert rc.morf_kept.tolist() == [[1.0, 0.0, 0.0]] and rc.lerf_kept.tolist() == [[1.0, 1.0, 1.0]]

    def sigmoid(z: float) -> float:
        return 1 / (1 + math.exp(-z))

    assert rc.morf[0].tolist() == pytest.approx([sigmoid(10), sigmoid(-3.6), sigmoid(-6)], rel=1e-5)
    assert rc.lerf[0].tolist() == pytest.approx([sigmoid(10)] * 3, rel=1e-6)
    f = [0.0, 0.25, 0.5]
    assert road.trapezoid_auc(rc.morf_kept, f).tolist() == [0.25]
    assert road.gap(rc.lerf_kept, rc.morf_kept, f).tolist() == [0.75]
    p_morf = ((sigmoid(10) + sigmoid(-3.6)) / 2 * 0.25 + (sigmoid(-3.6) + sigmoid(-6)) / 2 * 0.25) / 0.5
    assert float(road.gap(rc.lerf, rc.morf, f)[0]) == pytest.approx(sigmoid(10) - p_morf, rel=1e-5)


class Tempered(nn.Module):
    """``model``'s logits divided by ``t``: every prediction and every gradient direction unchanged."""

    def __init__(self, model: nn.Module, t: float) -> None:
        super().__init__()
        self.model, self.t = model, t

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x) / self.t


@pytest.mark.parametrize("t", [2.0, 10.0])
def test_headline_does_not_move_when_the_logits_are_divided_by_a_temperature(t: float) -> None:
    """A seeded MLP on random 10×10 images, its saliency maps (computed on each model) as the relevance, the same
    seeded imputations: the predictions-kept curves are identical at T = 1 and T; the probability gap is not. The
    About page's word on the other fidelity columns is checked too: faithfulness correlation (logit drops) keeps
    its value, RISE deletion (a probability) moves."""
    from bench.explainers.base import ranking, relevance
    from bench.plugins import EXPLAINERS
    from bench.scores import fidelity

    torch.manual_seed(0)
    g = torch.Generator().manual_seed(6)
    base = nn.Sequential(nn.Flatten(), nn.Linear(100, 32), nn.ReLU(), nn.Linear(32, 4))
    with torch.no_grad():
        for prm in base.parameters():
            prm.copy_(torch.randn(prm.shape, generator=g) * 0.6)
    x = torch.rand((40, 1, 10, 10), generator=g)
    f = [0.0, *FRACTIONS]

    def curves(model: nn.Module) -> road.RoadCurves:
        with torch.no_grad():
            pred = model(x).argmax(1)
        e = EXPLAINERS.create("saliency")
        rel = relevance(e.attribute(model, x, pred, generator=torch.Generator().manual_seed(0)), ranking(e))
        return road.road_curves(model, x, rel, FRACTIONS, generator=torch.Generator().manual_seed(3), target=pred)

    def faithfulness_and_deletion(model: nn.Module) -> tuple[float, float]:
        with torch.no_grad():
            pred = model(x).argmax(1)
        maps = EXPLAINERS.create("saliency").attribute(model, x, pred, generator=torch.Generator().manual_seed(0))
        masks = fidelity.random_subsets(len(x), 100, 20, 10, torch.Generator().manual_seed(2))
        faith = fidelity.faithfulness_correlation(maps, masks, fidelity.subset_logit_drops(model, x, pred, masks))
        rel = relevance(maps, ranking(EXPLAINERS.create("saliency")))
        deletion, _, _ = fidelity.causal_curves(model, x, rel, step=10, kernel=fidelity.rise_kernel(3, 1.0))
        return float(faith.nanmean()), float(fidelity.auc(deletion).mean())

    cool, hot = curves(base.eval()), curves(Tempered(base, t).eval())
    (faith_cool, del_cool), (faith_hot, del_hot) = (
        faithfulness_and_deletion(base),
        faithfulness_and_deletion(Tempered(base, t)),
    )
    assert faith_hot == pytest.approx(faith_cool, abs=1e-4) and abs(del_hot - del_cool) > 0.01
    assert torch.equal(cool.morf_kept, hot.morf_kept) and torch.equal(cool.lerf_kept, hot.lerf_kept)
    kept = road.gap(cool.lerf_kept, cool.morf_kept, f).mean()
    assert float(kept) == float(road.gap(hot.lerf_kept, hot.morf_kept, f).mean())
    assert 0.0 < float(cool.morf_kept[:, 1:].mean()) < 1.0  # the removals do flip some predictions
    prob_cool = float(road.gap(cool.lerf, cool.morf, f).mean())
    prob_hot = float(road.gap(hot.lerf, hot.morf, f).mean())
    assert abs(prob_cool - prob_hot) > 0.02, (prob_cool, prob_hot)  # the probability readout moves


# --------------------------------------------------------------------------------------------- Quantus ROAD
def test_quantus_road_agrees_on_identical_inputs_and_masks(standard_model: nn.Module, data: object) -> None:
    """Quantus 0.6.0 ROAD scores, per percentage, the fraction of images whose prediction after MoRF removal
    equals ``y_batch``. At noise 0, with continuous attributions (no ties, so the same removal order) and
    ``y_batch`` = the clean prediction, it must equal the same indicator computed from our imputation."""
    quantus = pytest.importorskip("quantus")
    x = data.eval_x[:16]  # type: ignore[attr-defined]
    g = torch.Generator().manual_seed(9)
    attributions = torch.rand((16, 1, 28, 28), generator=g)
    with torch.no_grad():
        pred = standard_model(x).argmax(1)
    percentages = [10, 30, 50, 70, 90]
    metric = quantus.ROAD(percentages=percentages, noise=0.0, normalise=False, abs=False, disable_warnings=True)
    theirs = metric(
        model=standard_model.eval(),
        x_batch=x.numpy(),
        y_batch=pred.numpy(),
        a_batch=attributions.numpy(),
        device="cpu",
        batch_size=16,
    )
    order = road.removal_order(attributions.sum(1), torch.Generator().manual_seed(0))
    ours = {}
    for p in percentages:
        masks = road.removal_masks(order, p / 100, morf=True, shape=(28, 28))
        imputed = road.noisy_linear_impute(x, masks, noise=0.0)
        with torch.no_grad():
            ours[p] = float((standard_model(imputed).argmax(1) == pred).float().mean())
    assert set(theirs) == set(percentages)
    for p in percentages:
        assert theirs[p] == pytest.approx(ours[p], abs=1e-9), p
    assert ours[10] > ours[90]  # removing 90% of the pixels changes predictions: not a constant
