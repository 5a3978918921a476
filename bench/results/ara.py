"""Woods et al.'s accuracy-robustness area (ARA) from per-image minimal radii, in numpy only: the one formula
the ``ara`` stage (through :func:`bench.scores.ara.ara_exact`), its bootstrap interval and the claims page
(a paired bootstrap of two entries' ARA on the same images) share.

Woods, Chen & Teuscher, Nature Machine Intelligence 2019 (https://arxiv.org/abs/1906.02896); for n images with
minimal adversarial radii ε*_i, A(ε) = (1/n)·#{i : ε*_i > ε} and ARA = ∫₀^∞ max(0, A(ε) − 1/K) dε.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def checked_radii(radii: ArrayLike, num_classes: int) -> NDArray[np.float64]:
    """``radii`` as a float64 array, refused when it is empty, not finite or negative, or ``num_classes`` < 2."""
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2, got {num_classes}")
    r = np.asarray(radii, np.float64)
    if r.ndim < 1 or r.shape[-1] == 0:
        raise ValueError(f"radii must be a non-empty array of images, got shape {r.shape}")
    if not np.all(np.isfinite(r)):
        raise ValueError(
            f"radii must be finite ({int((~np.isfinite(r)).sum())} are not): a failed search has no radius"
        )
    if np.any(r < 0):
        raise ValueError("radii must be non-negative")
    return r


def ara_of_radii(radii: ArrayLike, num_classes: int, axis: int = -1) -> NDArray[np.float64] | float:
    """Exact ARA of the radii along ``axis`` (several resamples at once when ``radii`` has more axes).

    With ε*_(1) ≤ … ≤ ε*_(n) and ε*_(0) = 0:
    ARA = Σ_{j=0}^{n−1} (ε*_(j+1) − ε*_(j)) · max(0, (n − j)/n − 1/K).

    >>> ara_of_radii([0.0, 0.1, 0.2, 0.4], num_classes=2)  # A = 3/4 on [0, .1): area (3/4 − 1/2)·0.1
    0.025
    >>> ara_of_radii([[0.2] * 5, [0.0] * 5], num_classes=10).round(12).tolist()  # r·(1 − 1/K); all broken: 0
    [0.18, 0.0]
    """
    r = np.sort(np.moveaxis(checked_radii(radii, num_classes), axis, -1), axis=-1)
    n = r.shape[-1]
    zero = np.zeros((*r.shape[:-1], 1))
    widths = np.diff(np.concatenate((zero, r), axis=-1), axis=-1)
    above = np.clip((n - np.arange(n)) / n - 1.0 / num_classes, 0.0, None)
    out = np.sum(widths * above, axis=-1)
    return float(out) if out.ndim == 0 else out
