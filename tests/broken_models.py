"""Deliberately broken models for the sanity-check tests: each wraps a working classifier and breaks
exactly one property an honest robustness evaluation relies on."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn


class SoftmaxOutput(nn.Module):
    """Returns probabilities instead of logits."""

    def __init__(self, base: nn.Module) -> None:
        super().__init__()
        self.base = base

    def forward(self, x: Tensor) -> Tensor:
        return self.base(x).softmax(1)


class Quantized(nn.Module):
    """Rounds the input to ``levels`` + 1 grey levels first: non-differentiable, zero input gradients."""

    def __init__(self, base: nn.Module, levels: int = 4) -> None:
        super().__init__()
        self.base = base
        self.levels = levels

    def forward(self, x: Tensor) -> Tensor:
        return self.base(torch.round(x * self.levels) / self.levels)


class Randomized(nn.Module):
    """Adds Gaussian noise to the input at every call (its own seeded generator)."""

    def __init__(self, base: nn.Module, sigma: float = 0.3, seed: int = 0) -> None:
        super().__init__()
        self.base = base
        self.sigma = sigma
        self.gen = torch.Generator().manual_seed(seed)

    def forward(self, x: Tensor) -> Tensor:
        noise = torch.randn(x.shape, generator=self.gen, dtype=x.dtype).to(x.device)
        return self.base(x + self.sigma * noise)


class NaNOutput(nn.Module):
    """NaN logits for every fourth image."""

    def __init__(self, base: nn.Module) -> None:
        super().__init__()
        self.base = base

    def forward(self, x: Tensor) -> Tensor:
        out = self.base(x)
        mask = torch.zeros(len(x), 1, dtype=torch.bool, device=x.device)
        mask[::4] = True
        return torch.where(mask, torch.full_like(out, float("nan")), out)


class Dynamic(nn.Module):
    """ "Purifies" the input with one gradient step at test time (a dynamic defense)."""

    def __init__(self, base: nn.Module, step: float = 0.01) -> None:
        super().__init__()
        self.base = base
        self.step = step

    def forward(self, x: Tensor) -> Tensor:
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            energy = -self.base(xg).logsumexp(1).sum()
            (g,) = torch.autograd.grad(energy, xg)
        return self.base((x - self.step * g.sign()).clamp(0, 1))


class _ReverseGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return -grad


class ReversedGradient(nn.Module):
    """Identity on the input whose backward pass negates the gradient: gradient attacks climb towards the
    true class (an obfuscated-gradient defense in miniature)."""

    def __init__(self, base: nn.Module) -> None:
        super().__init__()
        self.base = base

    def forward(self, x: Tensor) -> Tensor:
        return self.base(_ReverseGradient.apply(x))


class BatchNormCNN(nn.Module):
    """A small CNN with BatchNorm (train mode left on = running statistics change on every forward pass)."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 8, 3, stride=2, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.Conv2d(8, 16, 3, stride=2, padding=1),
            nn.BatchNorm2d(16),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(16, 10),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class Stateful(nn.Module):
    """A stateful query-detection defense in miniature (cf. Chen, Carlini & Wagner 2020): it remembers the
    first input of every ℓ∞ neighbourhood it is queried in; once a neighbourhood has been queried
    ``patience`` times it answers with the prediction for the remembered input. Long attacks therefore end
    on the clean prediction: more attack steps give *higher* accuracy."""

    def __init__(self, base: nn.Module, patience: int = 30, radius: float = 0.35) -> None:
        super().__init__()
        self.base = base
        self.patience = patience
        self.radius = radius
        self.bank: Tensor | None = None
        self.hits: Tensor | None = None

    def _anchor(self, flat: Tensor) -> Tensor:
        if self.bank is None or self.hits is None:
            self.bank, self.hits = flat[:1].clone(), torch.zeros(1, dtype=torch.long)
        dist = (flat[:, None, :] - self.bank[None, :, :]).abs().amax(2)
        near, index = dist.min(1)
        for i in (near > self.radius).nonzero().flatten().tolist():  # a new neighbourhood: remember it
            dist_i = (self.bank - flat[i]).abs().amax(1)
            j = int(dist_i.argmin())
            if float(dist_i[j]) > self.radius:
                self.bank = torch.cat([self.bank, flat[i : i + 1]])
                self.hits = torch.cat([self.hits, torch.zeros(1, dtype=torch.long)])
                j = len(self.bank) - 1
            index[i] = j
        self.hits.index_add_(0, index, torch.ones_like(index))
        return index

    def forward(self, x: Tensor) -> Tensor:
        index = self._anchor(x.detach().flatten(1).cpu())
        out = self.base(x)
        assert self.hits is not None and self.bank is not None
        replay = (self.hits[index] >= self.patience).to(x.device)
        if bool(replay.any()):
            remembered = self.base(self.bank[index].view_as(x).to(x.device))
            out = torch.where(replay[:, None], remembered, out)
        return out
