"""Explanation fidelity: RISE deletion/insertion AUC (Petsiuk, Das, Saenko, BMVC 2018) and faithfulness
correlation (Bhatt, Weller, Moura, IJCAI 2020): https://arxiv.org/abs/1806.07421,
https://arxiv.org/abs/2005.00631.

Everything is batched over the whole image set: the model runs on ``(steps + 1)`` versions of every image
for deletion/insertion and ``runs`` versions for faithfulness correlation, and nothing else runs per image.

Deviation from RISE, stated: RISE works on the *normalised* image tensor, so its deletion substrate
(``zeros_like``) is the dataset mean colour and its blur pads with the mean. robex models take [0, 1]
pixels and normalise inside, so our substrate is 0 in pixel space (black — MNIST's background) and the blur
zero-pads in pixel space.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter
from torch import Tensor

Model = Callable[[Tensor], Tensor]


# ----------------------------------------------------------------------------------------------- formulas
def auc(curves: Tensor) -> Tensor:
    """RISE's normalised trapezoid area of curves sampled at N+1 equally spaced points of [0, 1].

    AUC = (Σ_{i=0}^{N} p_i − p_0/2 − p_N/2) / N   (``eclique/RISE: evaluation.py: auc``), along the last dim.

    >>> auc(torch.tensor([1.0, 0.5, 0.0])).item()
    0.5
    >>> auc(torch.tensor([[1.0, 1.0], [0.0, 1.0]])).tolist()
    [1.0, 0.5]
    """
    if curves.shape[-1] < 2:
        raise ValueError("a curve needs at least two points")
    n = curves.shape[-1] - 1
    return (curves.sum(-1) - curves[..., 0] / 2 - curves[..., -1] / 2) / n


def rise_kernel(size: int = 11, sigma: float = 5.0) -> Tensor:
    """RISE's blur kernel (``gkern``): ``scipy.ndimage.gaussian_filter`` of a centred delta on a size×size grid.

    scipy reflects at the grid's edges, so this is not a truncated Gaussian, but it sums to 1 like one.

    >>> k = rise_kernel()
    >>> tuple(k.shape), round(float(k.sum()), 6), bool(k[5, 5] == k.max())
    ((11, 11), 1.0, True)
    """
    grid = np.zeros((size, size))
    grid[size // 2, size // 2] = 1.0
    return torch.from_numpy(gaussian_filter(grid, sigma).astype(np.float32))


def blur(x: Tensor, kernel: Tensor) -> Tensor:
    """Per-channel convolution with ``kernel``, zero padding ``size // 2`` (RISE's ``blur``)."""
    c = x.shape[1]
    weight = kernel.to(x.dtype).to(x.device).expand(c, 1, *kernel.shape).contiguous()
    return F.conv2d(x, weight, padding=kernel.shape[-1] // 2, groups=c)


def salient_order(relevance: Tensor) -> Tensor:
    """Pixel indices ``(N, HW)`` by decreasing relevance, as RISE's ``np.flip(np.argsort(exp))``.

    A stable ascending sort reversed, so equal relevance goes to the *higher* index first.

    >>> salient_order(torch.tensor([[[0.5, 2.0], [0.5, 1.0]]])).tolist()
    [[1, 3, 2, 0]]
    """
    return torch.argsort(relevance.flatten(1), dim=1, stable=True).flip(1)


def ranks(order: Tensor) -> Tensor:
    """Inverse permutation: ``ranks[i, order[i, j]] = j`` (the step at which each pixel moves).

    >>> ranks(torch.tensor([[2, 0, 1]])).tolist()
    [[1, 2, 0]]
    """
    out = torch.empty_like(order)
    out.scatter_(1, order, torch.arange(order.shape[1], device=order.device).expand_as(order).contiguous())
    return out


def pearson_rows(a: Tensor, b: Tensor) -> Tensor:
    """Pearson correlation of each row of ``a`` with the same row of ``b``; NaN where either row is constant.

    >>> pearson_rows(torch.tensor([[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]]), torch.tensor([[2.0, 4.0, 7.0], [1.0, 2.0, 3.0]]))
    tensor([0.9934,    nan])
    """
    a = a.double() - a.double().mean(-1, keepdim=True)
    b = b.double() - b.double().mean(-1, keepdim=True)
    denom = a.norm(dim=-1) * b.norm(dim=-1)
    corr = (a * b).sum(-1) / denom
    return torch.where(denom > 0, corr, torch.full_like(corr, float("nan"))).float()


# ----------------------------------------------------------------------------------------------- RISE
def _predict(model: Model, x: Tensor, batch_size: int) -> Tensor:
    with torch.no_grad():
        return torch.cat([model(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])


def _gather_prob(logits: Tensor, cls: Tensor) -> Tensor:
    return logits.softmax(1).gather(1, cls.view(-1, 1)).squeeze(1)


def _check(x: Tensor, relevance: Tensor, step: int) -> int:
    n, _, h, w = x.shape
    if relevance.shape != (n, h, w):
        raise ValueError(f"relevance must have shape {(n, h, w)}, got {tuple(relevance.shape)}")
    if step < 1:
        raise ValueError(f"step must be a positive number of pixels, got {step}")
    return math.ceil(h * w / step)


def causal_curves(
    model: Model,
    x: Tensor,
    relevance: Tensor,
    *,
    step: int,
    kernel: Tensor | None = None,
    batch_size: int = 1000,
    target: Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """RISE deletion and insertion curves of every image (``CausalMetric.evaluate``), batched.

    c = argmax f(x) (the predicted class; ``target`` when given), p = softmax probability of c. With
    N = ⌈HW/step⌉ and pixels in decreasing ``relevance`` (all channels of a pixel move together):

    * deletion: p at x with the first i·step pixels set to 0, i = 0..N;
    * insertion: p at blur(x) with the first i·step pixels copied back from x, i = 0..N
      (blur: RISE's 11×11, σ = 5 kernel unless ``kernel`` is given).

    Deletion's i = 0 and insertion's i = N are x itself, so the prediction pass is reused for them: the
    model runs on 2N + 1 batches of the images in total.

    Returns:
        (deletion curves ``(n, N+1)``, insertion curves ``(n, N+1)``, predicted classes ``(n,)``).
    """
    steps = _check(x, relevance, step)
    n, _, h, w = x.shape
    logits = _predict(model, x, batch_size)
    cls = logits.argmax(1) if target is None else target.to(logits.device)
    p_x = _gather_prob(logits, cls)
    rank = ranks(salient_order(relevance)).view(n, 1, h, w)
    blurred = blur(x, rise_kernel() if kernel is None else kernel)
    zeros = torch.zeros((), dtype=x.dtype, device=x.device)
    deletion = torch.empty(n, steps + 1, device=x.device)
    insertion = torch.empty(n, steps + 1, device=x.device)
    deletion[:, 0] = p_x
    insertion[:, steps] = p_x
    with torch.no_grad():
        for start in range(0, n, batch_size):
            sl = slice(start, start + batch_size)
            xb, bb, rb, cb = x[sl], blurred[sl], rank[sl], cls[sl]
            for i in range(steps):
                moved_del = rb < (i + 1) * step  # pixels deleted after step i+1
                deletion[sl, i + 1] = _gather_prob(model(torch.where(moved_del, zeros, xb)), cb)
                moved_ins = rb < i * step  # pixels inserted after step i
                insertion[sl, i] = _gather_prob(model(torch.where(moved_ins, xb, bb)), cb)
    return deletion, insertion, cls


def deletion_curves(
    model: Model, x: Tensor, relevance: Tensor, *, step: int, batch_size: int = 1000, target: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Deletion curves alone (see :func:`causal_curves`): N + 1 passes; (curves ``(n, N+1)``, classes)."""
    steps = _check(x, relevance, step)
    n, _, h, w = x.shape
    logits = _predict(model, x, batch_size)
    cls = logits.argmax(1) if target is None else target.to(logits.device)
    rank = ranks(salient_order(relevance)).view(n, 1, h, w)
    zeros = torch.zeros((), dtype=x.dtype, device=x.device)
    deletion = torch.empty(n, steps + 1, device=x.device)
    deletion[:, 0] = _gather_prob(logits, cls)
    with torch.no_grad():
        for start in range(0, n, batch_size):
            sl = slice(start, start + batch_size)
            xb, rb, cb = x[sl], rank[sl], cls[sl]
            for i in range(steps):
                deletion[sl, i + 1] = _gather_prob(model(torch.where(rb < (i + 1) * step, zeros, xb)), cb)
    return deletion, cls


# ----------------------------------------------------------------------------------------------- Bhatt et al.
def random_subsets(n: int, features: int, runs: int, size: int, generator: torch.Generator) -> Tensor:
    """Boolean masks ``(n, runs, features)``, each selecting ``size`` features uniformly without replacement."""
    if not 0 < size <= features:
        raise ValueError(f"subset size must lie in [1, {features}], got {size}")
    scores = torch.rand((n, runs, features), generator=generator)
    idx = scores.topk(size, dim=-1).indices
    mask = torch.zeros((n, runs, features), dtype=torch.bool)
    mask.scatter_(-1, idx, True)
    return mask


def subset_logit_drops(model: Model, x: Tensor, target: Tensor, masks: Tensor, *, batch_size: int = 1000) -> Tensor:
    """Δ_r = f_c(x) − f_c(x with the pixels of subset r set to the image's minimum), logits; ``(n, runs)``.

    The baseline is Quantus' ``perturb_baseline="black"`` (the per-image minimum). ``masks`` is
    ``(n, runs, H·W)``; all channels of a selected pixel are replaced.
    """
    n, _, h, w = x.shape
    runs = masks.shape[1]
    masks = masks.to(x.device).view(n, runs, 1, h, w)
    base = x.flatten(1).min(1).values.view(n, 1, 1, 1)
    ref = _predict(model, x, batch_size).gather(1, target.view(-1, 1)).squeeze(1)
    drops = torch.empty(n, runs, device=x.device)
    per = max(1, batch_size // runs)
    with torch.no_grad():
        for start in range(0, n, per):
            sl = slice(start, start + per)
            xb = x[sl].unsqueeze(1)
            pert = torch.where(masks[sl], base[sl].unsqueeze(1), xb).flatten(0, 1)
            out = model(pert)
            out = out.view(-1, runs, out.shape[1])
            picked = out.gather(2, target[sl].view(-1, 1, 1).expand(-1, runs, 1)).squeeze(2)
            drops[sl] = ref[sl].unsqueeze(1) - picked
    return drops


def faithfulness_correlation(attributions: Tensor, masks: Tensor, drops: Tensor) -> Tensor:
    """Bhatt et al.'s faithfulness correlation per image: Pearson( {Σ_{j∈S_r} φ_j}_r , {Δ_r}_r ).

    ``attributions`` are signed maps ``(n, C, H, W)`` (summed over channels), ``masks`` ``(n, runs, H·W)``,
    ``drops`` ``(n, runs)`` from :func:`subset_logit_drops`. NaN where a row is constant. Quantus'
    ``normalise=True`` divides φ by max|φ|, which a correlation ignores.

    >>> phi = torch.tensor([[[[1.0, 2.0, 3.0]]]])
    >>> masks = torch.tensor([[[True, False, False], [False, True, True], [True, True, False]]])
    >>> faithfulness_correlation(phi, masks, torch.tensor([[1.0, 5.0, 3.0]])).tolist()
    [1.0]
    """
    phi = attributions.sum(1).flatten(1).to(drops.device)
    sums = (masks.to(phi.device).to(phi.dtype) * phi.unsqueeze(1)).sum(-1)
    return pearson_rows(sums, drops)
