"""Training-time data augmentation named by a track's ``[training] augment`` (``"none"``, ``"translate:2"``).

Every defense trained on the track sees the same augmentation (the training engine applies it to each batch
before the defense's objective), so a recipe's number never depends on whether its author remembered to augment.
Random draws come from the engine's CPU generator, so the augmented batches are identical on every device.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from bench.registry import Registry

Augmentation = Callable[[Tensor, torch.Generator], Tensor]
AUGMENTATIONS: Registry[Callable[[int], Augmentation]] = Registry("augmentation")


def translate(x: Tensor, shifts: Tensor) -> Tensor:
    """Shift each image by whole pixels with zero fill: ``out[i, :, r, c] = x[i, :, r − dy_i, c − dx_i]`` (0 where
    that falls outside the image); ``shifts`` is an ``(N, 2)`` integer tensor of ``(dy, dx)``.

    >>> x = torch.arange(9.0).view(1, 1, 3, 3)
    >>> translate(x, torch.tensor([[1, -1]]))[0, 0].tolist()
    [[0.0, 0.0, 0.0], [1.0, 2.0, 0.0], [4.0, 5.0, 0.0]]
    """
    k = int(shifts.abs().max()) if shifts.numel() else 0
    if k == 0:
        return x
    h, w = x.shape[-2:]
    padded = F.pad(x, (k, k, k, k))
    out = torch.empty_like(x)
    for i, (dy, dx) in enumerate(shifts.tolist()):
        out[i] = padded[i, :, k - dy : k - dy + h, k - dx : k - dx + w]
    return out


@AUGMENTATIONS.register("none")
def no_augmentation(_: int = 0) -> Augmentation:
    """The batch as drawn."""
    return lambda x, generator: x


@AUGMENTATIONS.register("translate")
def random_translation(pixels: int) -> Augmentation:
    """Independent uniform integer shifts in ``[−pixels, pixels]`` on each axis per image, zero fill (the
    classic MNIST augmentation, e.g. Simard, Steinkraus & Platt 2003, https://doi.org/10.1109/ICDAR.2003.1227801,
    used here in its simplest form)."""
    if pixels < 1:
        raise ValueError(f"translate needs a positive number of pixels, got {pixels}")

    def apply(x: Tensor, generator: torch.Generator) -> Tensor:
        shifts = torch.randint(-pixels, pixels + 1, (len(x), 2), generator=generator)
        return translate(x, shifts)

    return apply


def parse_augmentation(spec: str) -> Augmentation:
    """``"name"`` or ``"name:int"`` → the augmentation (unknown names raise with the registered ones).

    >>> parse_augmentation("translate:2")(torch.ones(4, 1, 8, 8), torch.Generator().manual_seed(0)).shape
    torch.Size([4, 1, 8, 8])
    """
    name, _, arg = spec.partition(":")
    try:
        value = int(arg) if arg else 0
    except ValueError as exc:
        raise ValueError(f"augmentation {spec!r}: the argument after ':' must be an integer") from exc
    return AUGMENTATIONS.get(name.strip())(value)
