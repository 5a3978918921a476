"""Manipulability metrics: Heo et al.'s (2019, https://arxiv.org/abs/1902.02041) per-image fooling scores of the
maps of a (possibly manipulated) model — what the ``manipulate`` stage computes from Grad-CAM or saliency maps
(:mod:`bench.scores.manipulation`). The scores read the maps only (``model``, ``x`` and ``y`` name what they are
maps of); a map is ``(N, L, L)``, or ``(N, C, L, L)`` summed over channels, at any resolution (the stage scores
Grad-CAM at the model's ``cam_layer``, 7×7 on MNIST, and saliency |∂f/∂x| summed over channels).

A fooling run succeeds on an image when its score lies in the success interval
(:data:`bench.scores.manipulation.FSR_INTERVALS`: location [0, 0.2], top-k [0, 0.3], center-mass [0.1, 1]); the
fooling success rate is the fraction of images that do (:func:`bench.scores.manipulation.success_rate`)."""

from __future__ import annotations

import numpy as np
from torch import Tensor, nn

from bench.metrics.base import ArrayLike, Metric, as_tensor, device_of, per_image, register
from bench.scores import manipulation as hm
from bench.types import Category


def maps_of(model: nn.Module, x: ArrayLike, a: ArrayLike | None, what: str = "a") -> Tensor:
    """``a`` as single-channel maps ``(N, L, L)`` (channels summed), one per image of ``x``."""
    if a is None:
        raise ValueError(f"this metric needs maps {what} ((N, L, L) or (N, C, L, L))")
    h = as_tensor(a, device_of(model)).float()
    h = h.sum(1) if h.dim() == 4 else h
    if h.dim() != 3 or len(h) != len(x):
        raise ValueError(f"{what} must be one map per image, (N, L, L) or (N, C, L, L); got {tuple(h.shape)}")
    return h


def fooling_location(model: nn.Module, x: ArrayLike, y: ArrayLike, a: ArrayLike | None) -> np.ndarray:
    """Heo et al.'s location fooling score per image: mean_j (ĥ_j − m_j)², ĥ = ReLU(a)/max, m the border frame of
    width ⌊L/7⌋ (the target of the passive location fooling: 0 = the map lights up the frame only)."""
    return per_image(hm.location_score(maps_of(model, x, a)))


def fooling_topk(
    model: nn.Module, x: ArrayLike, y: ArrayLike, a: ArrayLike | None, *, a_original: ArrayLike, fraction: float = 0.1
) -> np.ndarray:
    """Heo et al.'s top-k fooling score per image: mean over the ⌊L²·``fraction``⌋ most relevant positions of the
    original maps ``a_original`` of the squared min-max-normalised map ``a`` (0 = those positions went dark)."""
    h0 = maps_of(model, x, a_original, "a_original")
    return per_image(hm.topk_score(maps_of(model, x, a), hm.topk_positions(h0, fraction)))


def fooling_center_mass(
    model: nn.Module, x: ArrayLike, y: ArrayLike, a: ArrayLike | None, *, a_original: ArrayLike
) -> np.ndarray:
    """Heo et al.'s center-mass fooling score per image: the shift of the min-max-normalised map's centre of mass
    from the original map's, sqrt((Δrow² + Δcol²)/2)/(L − 1), in [0, 1] (1: corner to opposite corner)."""
    return per_image(hm.center_shift(maps_of(model, x, a), maps_of(model, x, a_original, "a_original")))


register(Metric("fooling_location", fooling_location, Category.MANIPULABILITY))
register(Metric("fooling_topk", fooling_topk, Category.MANIPULABILITY))
register(Metric("fooling_center_mass", fooling_center_mass, Category.MANIPULABILITY))

__all__ = ["fooling_center_mass", "fooling_location", "fooling_topk"]
