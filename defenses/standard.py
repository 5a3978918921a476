"""``standard``: plain cross-entropy training, the undefended reference."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from bench.plugins import DEFENSES
from bench.protocols import Defense, DefenseCard, TrainState


@DEFENSES.register("standard")
class Standard(Defense):
    """Minimise mean cross-entropy on clean training images."""

    card = DefenseCard(
        title="Standard training (no defense): cross-entropy minimisation by gradient descent",
        authors="Yann LeCun, Léon Bottou, Yoshua Bengio, Patrick Haffner (the reference CNN recipe)",
        venue="Proceedings of the IEEE 1998",
        year=1998,
        url="https://doi.org/10.1109/5.726791",
        summary="Mean cross-entropy on clean images; the undefended reference every defense is compared with.",
        fidelity="Exact: plain cross-entropy on the track's reference architecture, optimiser and budget "
        "(no defense). The citation names the classical recipe; the architecture is the track's.",
    )

    def loss(self, model: nn.Module, x: Tensor, y: Tensor, state: TrainState) -> Tensor:
        """Mean cross-entropy."""
        return F.cross_entropy(model(x), y)
