"""ROAD: RemOve And Debias (Rong, Leemann, Borisov, Kasneci, Kasneci, ICML 2022,
https://arxiv.org/abs/2202.00449; reference code https://github.com/tleemann/road_evaluation).

Deletion metrics that overwrite pixels with a constant leak the *shape* of the removal mask to the model, so
they partly score the model's reaction to the mask rather than the explanation. ROAD removes pixels by **noisy
linear imputation** — each removed pixel becomes the weighted mean of its 8 neighbours (removed neighbours are
unknowns of the same linear system) plus small Gaussian noise — and evaluates both orders:

* MoRF (most relevant first): the most relevant pixels are removed; a faithful explanation makes the
  prediction fall fast (low AUC);
* LeRF (least relevant first): the least relevant pixels are removed; a faithful explanation keeps it (high AUC).

Two readouts of the same imputed images, per image so that entries can be compared with paired tests:

* **kept** (Rong et al.'s own quantity, accuracy-style): 1 where the model's argmax on the imputed image is
  still the class explained, else 0; the mean over images at a fraction is the share of predictions kept.
  It depends on the logits only through their argmax, so it does not move when the model's confidence is
  rescaled (logits divided by a temperature: same argmax, same curves for the same imputation noise);
* **probability**: the softmax probability of that class (their ``road_eval`` also reports a mean
  probability). It mixes fidelity with confidence: a model whose logits are divided by T > 1 has lower, flatter
  curves for the same explanation.

The gap ``AUC_LeRF − AUC_MoRF`` of either readout (higher = more faithful) is Blücher, Vielhaben & Strodthoff's
symmetric relevance gain (TMLR 2024, https://arxiv.org/abs/2401.06654), not a quantity Rong et al. define; it needs
both orders to agree, and a random ranking scores 0 in expectation.

robex's choices, stated: the class explained is the **predicted** class (Rong et al.'s ``road_eval`` counts
agreement with the label; on correctly classified images the two are the same); the removal fraction p removes
``int(p·H·W)`` pixels in MoRF, and in LeRF all but the ``int((1 − p)·H·W)`` most relevant — their rounding:
their LeRF at ``th_p`` keeps the ``int(th_p·H·W)`` most relevant pixels (``imputed_dataset.py``:
``salient_order[int(width*height*th_p):]`` removed), and our p is their 1 − th_p, so at 784 pixels and p = 0.2
MoRF removes 156 pixels and LeRF 157; the curves include p = 0 (the image itself); imputed values are not clipped
to [0, 1] (neither are theirs); ties in relevance are broken uniformly at random with a seeded generator (they add
1e-4·N(0, 1) jitter to the [0, 1]-rescaled map). All images of a batch and all fractions are imputed with **one**
sparse solve (a block-diagonal system), which is what makes ROAD cheap enough to run for every explainer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.linalg import solveh_banded
from scipy.sparse import coo_matrix, csc_matrix
from torch import Tensor

Model = Callable[[Tensor], Tensor]

#: Neighbour offsets (row, column) and weights of Rong et al.'s ``NoisyLinearImputer``
#: (``road/imputations.py: neighbors_weights``): 1/6 for the 4 direct neighbours, 1/12 for the 4 diagonal ones.
NEIGHBOUR_WEIGHTS: tuple[tuple[tuple[int, int], float], ...] = (
    ((1, 1), 1 / 12),
    ((0, 1), 1 / 6),
    ((-1, 1), 1 / 12),
    ((1, -1), 1 / 12),
    ((0, -1), 1 / 6),
    ((-1, -1), 1 / 12),
    ((1, 0), 1 / 6),
    ((-1, 0), 1 / 6),
)

#: Standard deviation of the Gaussian noise added to every imputed value (``NoisyLinearImputer(noise=0.01)``,
#: absolute, in the [0, 1] pixel space the imputation runs in before normalisation).
NOISE = 0.01


# ----------------------------------------------------------------------------------------------- imputation
def _equations(x: np.ndarray, missing: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The removed pixels' equations: (−diagonal, upper couplings (i, j, w) with i < j, right-hand side).

    Variables are the removed pixels in C order of ``missing``, so a coupling never spans two images and the
    system is block-diagonal; its bandwidth is at most W + 1 (a neighbour is at most one row and one column
    away, and the removed pixels between them are fewer than W + 1).
    """
    b_, c, h, w = x.shape
    if missing.shape != (b_, h, w):
        raise ValueError(f"missing must have shape {(b_, h, w)}, got {missing.shape}")
    # a one-pixel frame around every image, so that a neighbour is always flat index + a constant offset
    hp, wp = h + 2, w + 2
    inside = np.zeros((b_, hp, wp), dtype=bool)
    inside[:, 1:-1, 1:-1] = True
    padded = np.zeros((b_, hp, wp), dtype=bool)
    padded[:, 1:-1, 1:-1] = missing
    flat = np.flatnonzero(padded)
    m = len(flat)
    var = np.full(b_ * hp * wp, -1, dtype=np.int64)
    var[flat] = np.arange(m)
    inside_flat = inside.ravel()
    values = np.zeros((b_, c, hp, wp))
    values[:, :, 1:-1, 1:-1] = x
    values_flat = values.transpose(1, 0, 2, 3).reshape(c, -1)
    diag = np.zeros(m)
    rhs = np.zeros((m, c))
    upper: list[tuple[np.ndarray, np.ndarray, float]] = []
    for (dr, dc), weight in NEIGHBOUR_WEIGHTS:
        nb = flat + (dr * wp + dc)
        ok = inside_flat[nb]
        diag += weight * ok
        nb_var = var[nb]
        removed = nb_var >= 0
        if dr * wp + dc > 0:  # each pair once: the neighbour later in C order
            ids = np.flatnonzero(removed)
            upper.append((ids, nb_var[ids], weight))
        kept = np.flatnonzero(ok & ~removed)
        rhs[kept] += weight * values_flat[:, nb[kept]].T
    i = np.concatenate([u[0] for u in upper])
    j = np.concatenate([u[1] for u in upper])
    wv = np.concatenate([np.full(len(u[0]), u[2]) for u in upper])
    return diag, np.stack([i, j]), wv, rhs


def imputation_system(x: np.ndarray, missing: np.ndarray) -> tuple[csc_matrix, np.ndarray]:
    """Rong et al.'s linear system for the removed pixels of a batch of images (block-diagonal over images).

    For every removed pixel i with in-image neighbours N(i) (weights w of :data:`NEIGHBOUR_WEIGHTS`):

        Σ_{j∈N(i)} w_ij · x_i  −  Σ_{j∈N(i), removed} w_ij · x_j  =  Σ_{j∈N(i), kept} w_ij · v_j

    i.e. x_i is the weighted mean of its in-image neighbours, removed ones being unknowns too. This is their
    ``setup_sparse_system`` with both sides negated (theirs: A_ii = −Σ w, A_ij = w_ij, b_i = −Σ w_ij v_j).
    The matrix is symmetric (w depends on |offset| only) and weakly diagonally dominant, strictly in every
    row next to a kept pixel, so it is positive definite unless an image has every pixel removed.

    Args:
        x: images ``(B, C, H, W)``.
        missing: ``(B, H, W)`` boolean, True where the pixel is removed.

    Returns:
        (A ``(M, M)`` CSC, b ``(M, C)``) for the M removed pixels in C order of ``missing``.
    """
    diag, pairs, wv, rhs = _equations(x, missing)
    m = len(diag)
    idx = np.arange(m)
    rows = np.concatenate([idx, pairs[0], pairs[1]])
    cols = np.concatenate([idx, pairs[1], pairs[0]])
    vals = np.concatenate([diag, -wv, -wv])
    return coo_matrix((vals, (rows, cols)), shape=(m, m)).tocsc(), rhs


def _solve(x: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """Solution ``(M, C)`` of :func:`imputation_system`, by banded Cholesky (LAPACK ``pbsv``): the same
    symmetric positive definite matrix, stored by its ≤ W + 2 diagonals, which is cheaper than a general
    sparse LU for these grid systems."""
    diag, pairs, wv, rhs = _equations(x, missing)
    u = int((pairs[1] - pairs[0]).max()) if pairs.shape[1] else 0
    ab = np.zeros((u + 1, len(diag)), order="F")  # LAPACK's column-major band storage, no copy
    ab[u] = diag
    ab[u + pairs[0] - pairs[1], pairs[1]] = -wv
    return np.asarray(solveh_banded(ab, rhs, overwrite_ab=True, check_finite=False))


def noisy_linear_impute(
    x: Tensor, missing: Tensor, *, noise: float = NOISE, generator: torch.Generator | None = None
) -> Tensor:
    """Rong et al.'s noisy linear imputation of the ``missing`` pixels of every image, all in one solve.

    Each removed pixel gets the solution of :func:`imputation_system` (the weighted mean of its 8 neighbours:
    1/6 direct, 1/12 diagonal, weights renormalised over the neighbours inside the image; removed neighbours
    solved jointly) plus ``noise`` · N(0, 1) (``noise`` = 0.01 by default, as their ``NoisyLinearImputer``),
    independently per pixel and channel; kept pixels are unchanged. All channels of a pixel are removed
    together.

    Args:
        x: ``(B, C, H, W)`` images.
        missing: ``(B, H, W)`` boolean mask of removed pixels.
        noise: standard deviation of the added noise (0 for the plain linear imputation).
        generator: the noise's random generator (required when ``noise`` > 0).

    Raises:
        ValueError: an image with every pixel removed (nothing to impute from: the system is singular).
    """
    if noise > 0 and generator is None:
        raise ValueError("noisy imputation needs an explicit torch.Generator")
    miss = missing.detach().cpu().numpy().astype(bool)
    full = miss.reshape(len(miss), -1).all(1)
    if full.any():
        raise ValueError(f"images {np.nonzero(full)[0].tolist()} have every pixel removed: nothing to impute from")
    out = x.detach().clone()
    if not miss.any():
        return out
    solution = torch.from_numpy(_solve(x.detach().cpu().double().numpy(), miss)).to(out.dtype)
    if noise > 0:
        solution = solution + noise * torch.randn(solution.shape, generator=generator, dtype=out.dtype)
    img, rows, cols = (torch.from_numpy(v) for v in np.nonzero(miss))
    out[img, :, rows, cols] = solution.to(out.device)
    return out


# ----------------------------------------------------------------------------------------------- orders
def removal_order(relevance: Tensor, generator: torch.Generator) -> Tensor:
    """Pixel indices ``(N, HW)`` by decreasing relevance, ties in random order (seeded).

    A random permutation first, then a stable sort by relevance: pixels of equal relevance keep the random
    order (Rong et al. break ties with 1e-4 jitter on the rescaled map; this is the same without a scale).

    >>> removal_order(torch.tensor([[[0.5, 2.0], [0.0, 1.0]]]), torch.Generator().manual_seed(0)).tolist()
    [[1, 3, 0, 2]]
    """
    flat = relevance.flatten(1)
    perm = torch.stack([torch.randperm(flat.shape[1], generator=generator) for _ in range(len(flat))])
    keyed = flat.gather(1, perm)
    idx = torch.argsort(keyed, dim=1, descending=True, stable=True)
    return perm.gather(1, idx)


def removed_count(pixels: int, fraction: float, *, morf: bool) -> int:
    """How many of ``pixels`` are removed at ``fraction``: ``int(fraction·pixels)`` most relevant (MoRF), or all
    but the ``int((1 − fraction)·pixels)`` most relevant (LeRF, Rong et al.'s rounding at their th_p = 1 − p;
    1 − p is rounded to 12 decimals first, so that 1 − 0.8 is their 0.2).

    >>> [removed_count(784, p, morf=True) for p in (0.2, 0.4, 0.6, 0.8)]
    [156, 313, 470, 627]
    >>> [removed_count(784, p, morf=False) for p in (0.2, 0.4, 0.6, 0.8)]
    [157, 314, 471, 628]
    """
    if morf:
        return int(pixels * fraction)
    return pixels - int(pixels * round(1.0 - fraction, 12))


def removal_masks(order: Tensor, fraction: float, *, morf: bool, shape: tuple[int, int]) -> Tensor:
    """``(N, H, W)`` masks of the pixels removed at ``fraction``: the first :func:`removed_count` of ``order``
    (MoRF) or its last as many (LeRF).

    >>> order = torch.tensor([[3, 1, 0, 2]])
    >>> removal_masks(order, 0.5, morf=True, shape=(2, 2)).int().tolist()
    [[[0, 1], [0, 1]]]
    >>> removal_masks(order, 0.5, morf=False, shape=(2, 2)).int().tolist()
    [[[1, 0], [1, 0]]]
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"removal fractions must lie in [0, 1), got {fraction}")
    n, hw = order.shape
    k = removed_count(hw, fraction, morf=morf)
    picked = order[:, :k] if morf else order[:, hw - k :]
    mask = torch.zeros(n, hw, dtype=torch.bool)
    mask.scatter_(1, picked.cpu(), True)
    return mask.view(n, *shape)


def trapezoid_auc(curves: Tensor, fractions: Sequence[float]) -> Tensor:
    """Normalised trapezoid area ∫ p df / (f_last − f_first) of curves sampled at ``fractions``, last dim.

    >>> trapezoid_auc(torch.tensor([[1.0, 0.5, 0.0]]), [0.0, 0.5, 1.0]).tolist()
    [0.5]
    >>> round(trapezoid_auc(torch.tensor([1.0, 1.0, 0.0]), [0.0, 0.2, 1.0]).item(), 6)
    0.6
    """
    f = torch.tensor(list(fractions), dtype=torch.float64)
    if f.numel() != curves.shape[-1] or f.numel() < 2 or bool((f.diff() <= 0).any()):
        raise ValueError(f"need ≥ 2 increasing fractions matching the curves' length, got {list(fractions)}")
    c = curves.double()
    area = ((c[..., 1:] + c[..., :-1]) / 2 * f.diff()).sum(-1)
    return (area / (f[-1] - f[0])).float()


def gap(lerf: Tensor, morf: Tensor, fractions: Sequence[float]) -> Tensor:
    """Per-image symmetric relevance gain (Blücher et al. 2024, https://arxiv.org/abs/2401.06654):
    AUC_LeRF − AUC_MoRF of curves sampled at ``fractions`` (:func:`trapezoid_auc`).

    >>> gap(torch.tensor([[1.0, 1.0, 1.0]]), torch.tensor([[1.0, 0.0, 0.0]]), [0.0, 0.5, 1.0]).tolist()
    [0.75]
    """
    return trapezoid_auc(lerf, fractions) - trapezoid_auc(morf, fractions)


# ----------------------------------------------------------------------------------------------- curves
@dataclass(frozen=True)
class RoadCurves:
    """Per-image ROAD curves ``(n, 1 + K)`` at removal fraction 0 and each of the K fractions: the softmax
    probability of the class explained, and whether the model's argmax is still that class (1.0 / 0.0)."""

    morf: Tensor
    lerf: Tensor
    morf_kept: Tensor
    lerf_kept: Tensor


def _readout(logits: Tensor, cls: Tensor) -> tuple[Tensor, Tensor]:
    """(softmax probability of ``cls``, 1.0 where the argmax is ``cls``) per row."""
    prob = logits.softmax(1).gather(1, cls.view(-1, 1)).squeeze(1)
    return prob, (logits.argmax(1) == cls).float()


def road_curves(
    model: Model,
    x: Tensor,
    relevance: Tensor,
    fractions: Sequence[float],
    *,
    generator: torch.Generator,
    noise: float = NOISE,
    target: Tensor | None = None,
    batch_size: int = 1000,
) -> RoadCurves:
    """ROAD MoRF and LeRF curves ``(n, 1 + K)`` of ``target`` (default: the predicted class) at removal fraction
    0 (the image) and at each of the K ``fractions`` (increasing, in (0, 1)): its softmax probability and
    whether it is still the argmax.

    Per chunk of ``batch_size`` images both orders and all fractions are imputed by one sparse solve
    (:func:`noisy_linear_impute`) and classified in batches of ``batch_size``. The imputations depend on ``x``,
    ``relevance`` and ``generator`` only, never on the model: two models evaluated with equally seeded
    generators see the same imputed images.
    """
    n, _, h, w = x.shape
    if relevance.shape != (n, h, w):
        raise ValueError(f"relevance must have shape {(n, h, w)}, got {tuple(relevance.shape)}")
    fr = [float(f) for f in fractions]
    if not fr or any(not 0.0 < f < 1.0 for f in fr) or sorted(set(fr)) != fr:
        raise ValueError(f"ROAD fractions must be increasing values in (0, 1), got {fr}")
    order = removal_order(relevance, generator)
    k = len(fr)
    out = {name: torch.empty(n, k + 1) for name in ("morf", "lerf", "morf_kept", "lerf_kept")}
    with torch.no_grad():
        logits = torch.cat([model(x[i : i + batch_size]) for i in range(0, n, batch_size)])
        cls = logits.argmax(1) if target is None else target
        p0, kept0 = (v.cpu() for v in _readout(logits, cls))
        for name in ("morf", "lerf"):
            out[name][:, 0], out[f"{name}_kept"][:, 0] = p0, kept0
        for start in range(0, n, batch_size):
            sl = slice(start, start + batch_size)
            xb, ob, cb = x[sl], order[sl], cls[sl]
            m = len(xb)
            masks = torch.cat(
                [removal_masks(ob, f, morf=direction, shape=(h, w)) for direction in (True, False) for f in fr]
            )
            imputed = noisy_linear_impute(xb.repeat(2 * k, 1, 1, 1), masks, noise=noise, generator=generator)
            targets = cb.repeat(2 * k)
            chunks = [
                _readout(model(imputed[i : i + batch_size]), targets[i : i + batch_size])
                for i in range(0, len(imputed), batch_size)
            ]
            probs = torch.cat([c[0] for c in chunks]).view(2, k, m)
            kept = torch.cat([c[1] for c in chunks]).view(2, k, m)
            for d, name in enumerate(("morf", "lerf")):
                out[name][sl, 1:] = probs[d].t().cpu()
                out[f"{name}_kept"][sl, 1:] = kept[d].t().cpu()
    return RoadCurves(**out)
