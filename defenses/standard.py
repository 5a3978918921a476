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
        title="Standard training (no defense)",
        authors="—",
        venue="",
        year=0,
        url="",
        summary="Mean cross-entropy on clean images; the undefended reference every defense is compared with.",
        fidelity="Exact.",
    )

    def loss(self, model: nn.Module, x: Tensor, y: Tensor, state: TrainState) -> Tensor:
        """Mean cross-entropy."""
        return F.cross_entropy(model(x), y)
