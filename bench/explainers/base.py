"""What the explanation scores need to know about a map besides its values: how to rank its pixels."""

from __future__ import annotations

from enum import StrEnum

from torch import Tensor

from bench.protocols import Explainer


class Ranking(StrEnum):
    """How a map orders pixels by relevance (deletion/insertion, top-k).

    ``MAGNITUDE``: |φ| summed over channels (gradient maps, as Captum and Quantus aggregate them); ``SIGNED``:
    φ summed over channels, so negative evidence ranks last (CAM).
    """

    MAGNITUDE = "magnitude"
    SIGNED = "signed"


def ranking(explainer: Explainer) -> Ranking:
    """The explainer's :class:`Ranking` (``MAGNITUDE`` for explainers that do not declare one)."""
    value = getattr(type(explainer), "ranking", Ranking.MAGNITUDE)
    return Ranking(value)


def relevance(maps: Tensor, how: Ranking) -> Tensor:
    """Per-pixel relevance ``(N, H, W)`` of ``(N, C, H, W)`` maps.

    >>> import torch
    >>> relevance(torch.tensor([[[[-2.0, 1.0]]]]), Ranking.MAGNITUDE).tolist()
    [[[2.0, 1.0]]]
    >>> relevance(torch.tensor([[[[-2.0, 1.0]]]]), Ranking.SIGNED).tolist()
    [[[-2.0, 1.0]]]
    """
    return (maps if how is Ranking.SIGNED else maps.abs()).sum(1)
