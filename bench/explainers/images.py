"""Small PNG renderings of inputs and explanation maps for the leaderboard's galleries.

The record convention is ``details[<stage>]["gallery"] = [{"caption": str, "images": [{"label": str,
"png": "<base64 PNG>"}], "scale": {...}}]``; these helpers produce the ``"png"`` strings (native resolution, 28×28
or 32×32) and, for rows of maps, the ``"scale"`` the leaderboard draws as a colour bar (``colormap``: a matplotlib
colormap name; ``low``/``high``: what its ends stand for; ``meaning``: what the colour measures).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image
from torch import Tensor

LEVELS = 64  # colours per heat map: plenty for 28×28 maps, and a small palette chunk


def _encode(array: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG", optimize=True)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def input_png(image: Tensor) -> str:
    """An input image ``(C, H, W)`` in [0, 1] (values outside are clipped), as base64 PNG.

    >>> import torch
    >>> base64.b64decode(input_png(torch.zeros(1, 2, 2)))[:4]
    b'\\x89PNG'
    """
    if image.dim() != 3:
        raise ValueError(f"expected (C, H, W), got {tuple(image.shape)}")
    arr = (image.detach().float().clamp(0, 1).cpu().numpy() * 255).round().astype(np.uint8)
    return _encode(arr[0] if arr.shape[0] == 1 else np.transpose(arr, (1, 2, 0)))


def _palette_png(values: np.ndarray, cmap: str) -> str:
    """Values in [0, 1] as a palette PNG with ``LEVELS`` colours of ``cmap`` (a fraction of an RGB PNG's size)."""
    from matplotlib import colormaps

    index = (np.clip(values, 0.0, 1.0) * (LEVELS - 1)).round().astype(np.uint8)
    palette = (colormaps[cmap](np.linspace(0.0, 1.0, LEVELS))[:, :3] * 255).round().astype(np.uint8)
    img = Image.fromarray(index, mode="P")
    img.putpalette(palette.flatten().tolist())
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def map_png(heat: Tensor, *, signed: bool = False) -> str:
    """A relevance map ``(H, W)`` as a colour PNG: ``inferno`` on [min(0, φ), max φ] for unsigned maps,
    ``coolwarm`` on [−max|φ|, max|φ|] for signed ones (Boopathy et al.'s CAM colours)."""
    if heat.dim() != 2:
        raise ValueError(f"expected (H, W), got {tuple(heat.shape)}")
    h = heat.detach().double().cpu().numpy()
    if signed:
        scale = float(np.abs(h).max()) or 1.0
        return _palette_png(0.5 + 0.5 * h / scale, "coolwarm")
    lo = min(0.0, float(h.min()))
    span = float(h.max()) - lo or 1.0
    return _palette_png((h - lo) / span, "inferno")


UNSIGNED_SCALE = {
    "colormap": "inferno",
    "low": "0 (or the map's most negative value)",
    "high": "the map's largest value",
    "meaning": "relevance of each pixel to the explained class, scaled per image",
}
SIGNED_SCALE = {
    "colormap": "coolwarm",
    "low": "−max |relevance| (against the class)",
    "high": "+max |relevance| (for the class)",
    "meaning": "signed relevance of each pixel to the explained class, scaled per image; the middle colour is 0",
}


def gallery_row(
    caption: str, labels: Sequence[str], pngs: Sequence[str], scale: dict[str, str] | None = None
) -> dict[str, Any]:
    """One gallery row in the record's format (``scale``: the colour bar of a row of maps)."""
    if len(labels) != len(pngs):
        raise ValueError("one label per image")
    row: dict[str, Any] = {
        "caption": caption,
        "images": [{"label": lab, "png": p} for lab, p in zip(labels, pngs, strict=True)],
    }
    if scale is not None:
        row["scale"] = dict(scale)
    return row


def input_row(caption: str, images: Tensor, labels: Sequence[str]) -> dict[str, Any]:
    """A row of input images ``(N, C, H, W)``."""
    return gallery_row(caption, labels, [input_png(img) for img in images])


def map_row(caption: str, maps: Tensor, labels: Sequence[str], *, signed: bool = False) -> dict[str, Any]:
    """A row of relevance maps ``(N, H, W)`` with the colour scale :func:`map_png` draws them in."""
    scale = SIGNED_SCALE if signed else UNSIGNED_SCALE
    return gallery_row(caption, labels, [map_png(m, signed=signed) for m in maps], scale)
