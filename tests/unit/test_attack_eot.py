"""EOT averages the logits (hence the gradients) of independent draws of a randomised model."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from attacks.eot import EOT
from bench.plugins import ATTACKS
from bench.types import ThreatModel


class Cycling(nn.Module):
    """A "randomised" linear model whose k-th call uses weight W_k (k cycling): draws we can average by hand."""

    def __init__(self, weights: Tensor) -> None:
        super().__init__()
        self.weights = weights
        self.calls = 0

    def forward(self, x: Tensor) -> Tensor:
        w = self.weights[self.calls % len(self.weights)]
        self.calls += 1
        return x.flatten(1) @ w.T


def test_logits_and_gradients_are_averaged() -> None:
    gen = torch.Generator().manual_seed(0)
    weights = torch.randn((3, 4, 6), generator=gen)
    eot = EOT(Cycling(weights), draws=3)
    x = torch.rand((5, 1, 2, 3), generator=gen).requires_grad_(True)
    logits = eot(x)
    assert torch.allclose(logits, x.detach().flatten(1) @ weights.mean(0).T, atol=1e-6)
    (grad,) = torch.autograd.grad(logits[:, 2].sum(), x)
    assert torch.allclose(grad.flatten(1), weights.mean(0)[2].expand(5, -1), atol=1e-6)


def test_attacks_see_the_expected_model() -> None:
    """PGD against EOT(model) equals PGD against the averaged model when the draws cycle exactly."""
    gen = torch.Generator().manual_seed(1)
    weights = torch.randn((2, 3, 6), generator=gen)
    x = torch.rand((8, 1, 2, 3), generator=gen)
    average = nn.Sequential(nn.Flatten(), nn.Linear(6, 3, bias=False)).eval()
    with torch.no_grad():
        average[1].weight.copy_(weights.mean(0))
        y = average(x).argmax(1)
    attack = ATTACKS.create("pgd", ThreatModel.parse("linf:0.2"), steps=5, random_start=False, early_stop=False)
    through_eot = attack.perturb(EOT(Cycling(weights), draws=2), x, y, generator=torch.Generator())
    direct = attack.perturb(average, x, y, generator=torch.Generator())
    assert torch.allclose(through_eot.x_adv, direct.x_adv, atol=1e-6)
    assert torch.equal(through_eot.success, direct.success)


def test_needs_a_draw() -> None:
    with pytest.raises(ValueError, match="at least one draw"):
        EOT(nn.Identity(), draws=0)
