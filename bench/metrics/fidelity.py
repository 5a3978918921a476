"""Fidelity metrics on any model, images and attributions: RISE deletion and insertion, ROAD, faithfulness
correlation — the functions of :mod:`bench.scores.fidelity` and :mod:`bench.scores.road` the ``explain`` stage calls,
with its defaults. ``y`` is the class whose probability (or logit) is followed: the class the attributions explain
(the ``explain`` stage explains, and so follows, the model's predicted class)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from torch import Tensor, nn

from bench.explainers.base import Ranking
from bench.metrics.base import (
    ArrayLike,
    Metric,
    Seed,
    attributions,
    generator_of,
    inputs,
    per_image,
    register,
    relevance_of,
)
from bench.protocols import evaluation_mode
from bench.scores import fidelity
from bench.scores import road as road_scores
from bench.types import Category

#: The ``explain`` stage's ROAD removal fractions and imputation noise (``[stages.explain]`` defaults).
ROAD_FRACTIONS: tuple[float, ...] = (0.2, 0.4, 0.6, 0.8)


def _curves(
    model: nn.Module,
    x: ArrayLike,
    y: ArrayLike,
    a: ArrayLike | None,
    step: int | None,
    blur_size: int,
    blur_sigma: float,
    ranking: Ranking | str,
    batch_size: int,
) -> tuple[Tensor, Tensor]:
    xt, yt = inputs(model, x, y)
    rel = relevance_of(attributions(a, xt), ranking)
    kernel = fidelity.rise_kernel(blur_size, blur_sigma)
    with evaluation_mode(model):
        deletion, insertion, _ = fidelity.causal_curves(
            model,
            xt,
            rel,
            step=xt.shape[-1] if step is None else step,
            kernel=kernel,
            batch_size=2 * batch_size,
            target=yt,
        )
    return deletion, insertion


def deletion(
    model: nn.Module,
    x: ArrayLike,
    y: ArrayLike,
    a: ArrayLike | None,
    *,
    step: int | None = None,
    ranking: Ranking | str = Ranking.MAGNITUDE,
    batch_size: int = 500,
) -> np.ndarray:
    """RISE deletion AUC per image (Petsiuk et al. 2018, https://arxiv.org/abs/1806.07421; lower is more faithful):
    softmax probability of class ``y`` as the most relevant pixels are set to 0, ``step`` pixels per step (default:
    the image width), AUC = (Σp − p₀/2 − p_N/2)/N. Relevance: |a| summed over channels (``ranking="signed"``: a
    summed, as for CAM). Model passes of ``2·batch_size`` images."""
    xt, yt = inputs(model, x, y)
    rel = relevance_of(attributions(a, xt), ranking)
    with evaluation_mode(model):
        curves, _ = fidelity.deletion_curves(
            model, xt, rel, step=xt.shape[-1] if step is None else step, batch_size=2 * batch_size, target=yt
        )
    return per_image(fidelity.auc(curves))


def insertion(
    model: nn.Module,
    x: ArrayLike,
    y: ArrayLike,
    a: ArrayLike | None,
    *,
    step: int | None = None,
    blur_size: int = 11,
    blur_sigma: float = 5.0,
    ranking: Ranking | str = Ranking.MAGNITUDE,
    batch_size: int = 500,
) -> np.ndarray:
    """RISE insertion AUC per image (higher is more faithful): probability of class ``y`` as the most relevant pixels
    are copied from the image into its blurred copy (RISE's ``blur_size``×``blur_size`` Gaussian, σ =
    ``blur_sigma``, zero padding), ``step`` pixels per step; same AUC and relevance as :func:`deletion`."""
    return per_image(fidelity.auc(_curves(model, x, y, a, step, blur_size, blur_sigma, ranking, batch_size)[1]))


def _road(
    model: nn.Module,
    x: ArrayLike,
    y: ArrayLike,
    a: ArrayLike | None,
    fractions: Sequence[float],
    noise: float,
    ranking: Ranking | str,
    generator: Seed,
    batch_size: int,
) -> tuple[Tensor, Tensor]:
    xt, yt = inputs(model, x, y)
    rel = relevance_of(attributions(a, xt), ranking)
    fr = [float(f) for f in fractions]
    with evaluation_mode(model):
        curves = road_scores.road_curves(
            model, xt, rel, fr, generator=generator_of(generator), noise=noise, target=yt, batch_size=2 * batch_size
        )
    return road_scores.trapezoid_auc(curves.morf, [0.0, *fr]), road_scores.trapezoid_auc(curves.lerf, [0.0, *fr])


def road(
    model: nn.Module,
    x: ArrayLike,
    y: ArrayLike,
    a: ArrayLike | None,
    *,
    fractions: Sequence[float] = ROAD_FRACTIONS,
    noise: float = road_scores.NOISE,
    ranking: Ranking | str = Ranking.MAGNITUDE,
    generator: Seed = 0,
    batch_size: int = 500,
) -> np.ndarray:
    """ROAD (Rong et al. 2022, https://arxiv.org/abs/2202.00449) per image: AUC_LeRF − AUC_MoRF of the probability
    of class ``y`` as ``fractions`` of the pixels are removed by noisy linear imputation (N(0, ``noise``²); the noise
    and the random order of tied pixels come from ``generator``), normalised trapezoid AUC over [0, *fractions]
    including the intact image. Higher is more faithful; the leaderboard's fidelity headline."""
    morf, lerf = _road(model, x, y, a, fractions, noise, ranking, generator, batch_size)
    return per_image(lerf - morf)


def road_morf(
    model: nn.Module,
    x: ArrayLike,
    y: ArrayLike,
    a: ArrayLike | None,
    *,
    fractions: Sequence[float] = ROAD_FRACTIONS,
    noise: float = road_scores.NOISE,
    ranking: Ranking | str = Ranking.MAGNITUDE,
    generator: Seed = 0,
    batch_size: int = 500,
) -> np.ndarray:
    """ROAD most-relevant-first AUC per image (lower is more faithful); see :func:`road`."""
    return per_image(_road(model, x, y, a, fractions, noise, ranking, generator, batch_size)[0])


def road_lerf(
    model: nn.Module,
    x: ArrayLike,
    y: ArrayLike,
    a: ArrayLike | None,
    *,
    fractions: Sequence[float] = ROAD_FRACTIONS,
    noise: float = road_scores.NOISE,
    ranking: Ranking | str = Ranking.MAGNITUDE,
    generator: Seed = 0,
    batch_size: int = 500,
) -> np.ndarray:
    """ROAD least-relevant-first AUC per image (higher is more faithful); see :func:`road`."""
    return per_image(_road(model, x, y, a, fractions, noise, ranking, generator, batch_size)[1])


def faithfulness_correlation(
    model: nn.Module,
    x: ArrayLike,
    y: ArrayLike,
    a: ArrayLike | None,
    *,
    runs: int = 100,
    subset: int | None = None,
    generator: Seed = 0,
    batch_size: int = 500,
) -> np.ndarray:
    """Faithfulness correlation per image (Bhatt et al. 2020, https://arxiv.org/abs/2005.00631; higher is more
    faithful): Pearson correlation, over ``runs`` random subsets of ``subset`` pixels (default: the image width;
    drawn from ``generator``), between the attribution mass Σ_{j∈S} a_j (signed, summed over channels) and the drop
    of the logit of class ``y`` when the subset is set to the image's minimum. NaN where either side is constant."""
    xt, yt = inputs(model, x, y)
    at = attributions(a, xt)
    n, _, h, w = xt.shape
    masks = fidelity.random_subsets(n, h * w, runs, w if subset is None else subset, generator_of(generator))
    with evaluation_mode(model):
        drops = fidelity.subset_logit_drops(model, xt, yt, masks, batch_size=2 * batch_size)
    return per_image(fidelity.faithfulness_correlation(at, masks, drops))


_STEP = {"step": "step", "batch_size": "batch_size"}
_ROAD = {"fractions": "road_fractions", "noise": "road_noise", "batch_size": "batch_size"}
register(Metric("deletion", deletion, Category.FIDELITY, "deletion_auc", _STEP))
register(
    Metric(
        "insertion",
        insertion,
        Category.FIDELITY,
        "insertion_auc",
        {**_STEP, "blur_size": "blur_size", "blur_sigma": "blur_sigma"},
    )
)
register(Metric("road", road, Category.FIDELITY, "road_gap", _ROAD))
register(Metric("road_morf", road_morf, Category.FIDELITY, "road_morf_auc", _ROAD))
register(Metric("road_lerf", road_lerf, Category.FIDELITY, "road_lerf_auc", _ROAD))
register(
    Metric(
        "faithfulness_correlation",
        faithfulness_correlation,
        Category.FIDELITY,
        "faithfulness_correlation",
        {"runs": "faithfulness_runs", "subset": "faithfulness_subset", "batch_size": "batch_size"},
    )
)

__all__ = ["deletion", "faithfulness_correlation", "insertion", "road", "road_lerf", "road_morf"]
