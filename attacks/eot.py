"""Expectation over Transformation (Athalye, Carlini, Wagner, ICML 2018, https://arxiv.org/abs/1802.00420).

For a randomised model (a defense with ``randomized = True``) every forward pass is one draw. ``EOT``
averages the logits of ``draws`` independent passes, so any attack run against it follows the gradient
of the expected logits (= the average of the per-draw gradients) and judges success on the averaged
prediction. Wrap the model once and hand the wrapper to any attack: no attack needs EOT code.

The draws are sequential forward passes of the same batch, not one pass of a ``draws``-times larger
batch: a defense that draws one transformation per *batch* would otherwise average nothing. The model's
own randomness is its business (EOT does not reseed it).
"""

from __future__ import annotations

from torch import Tensor, nn


class EOT(nn.Module):
    """``EOT(model, draws)(x) = (1/draws) Σ_k model(x)``, each call of ``model`` being a fresh draw.

    >>> import torch
    >>> eot = EOT(torch.nn.Linear(2, 3), draws=4)
    >>> torch.allclose(eot(torch.ones(1, 2)), eot.model(torch.ones(1, 2)))  # deterministic model: identity
    True
    """

    def __init__(self, model: nn.Module, draws: int) -> None:
        super().__init__()
        if draws < 1:
            raise ValueError(f"EOT needs at least one draw, got {draws}")
        self.model = model
        self.draws = draws

    def forward(self, x: Tensor) -> Tensor:
        total = self.model(x)
        for _ in range(self.draws - 1):
            total = total + self.model(x)
        return total / self.draws
