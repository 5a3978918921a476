"""Model-randomisation sanity check (Adebayo, Gilmer, Muelly, Goodfellow, Hardt, Kim, NeurIPS 2018, "Sanity Checks
for Saliency Maps", https://arxiv.org/abs/1810.03292).

An explanation meant to show what a model learned must change when what the model learned is destroyed. The check
re-initialises the model's weights — **cascading** from the top layer (the logits) down to the first, as the paper
does — and compares every explainer's map of the trained model with its map of each randomised copy, per image, by

* the Spearman rank correlation of the absolute maps (summed over channels), the paper's main measure
  (:func:`rank_similarity`);
* SSIM (Wang, Bovik, Sheikh, Simoncelli 2004, https://doi.org/10.1109/TIP.2003.819861) of the absolute maps, each
  divided by its maximum (:func:`ssim`).

A map that stays similar once every layer is random does not depend on the learned weights: the paper finds this for
Guided Backprop and Guided Grad-CAM, and for gradient ⊙ input where the input dominates the map (MNIST's black
background zeroes the same pixels whatever the weights).

robex's choices, stated: the layers are the modules with parameters of their own, in the order the forward pass runs
them (found with forward hooks; modules that hold parameters but do not run come last, i.e. are treated as the top);
re-initialising a layer calls its ``reset_parameters`` (PyTorch's default initialisation, as Quantus'
``ModelParameterRandomisation``) under a forked global RNG seeded from an explicit generator, and a layer without
``reset_parameters`` gets N(0, s²) values, s its trained tensor's standard deviation. The rank correlation of a
constant map with a non-constant one is 0 (no monotone relation) and of two constant maps 1 (identical rankings: all
ties), so every image has a value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from enum import StrEnum

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter1d
from torch import Tensor, nn

from bench.scores.manipulation import spearman_rows

#: SSIM constants of Wang et al. (2004): K₁, K₂, the Gaussian window's size and σ.
SSIM_K1, SSIM_K2, SSIM_WINDOW, SSIM_SIGMA = 0.01, 0.03, 11, 1.5


# ----------------------------------------------------------------------------------------------- similarity
def absolute_maps(maps: Tensor) -> Tensor:
    """|φ| summed over channels, ``(N, H, W)``, from ``(N, C, H, W)`` maps (``(N, H, W)`` maps: |φ|).

    >>> absolute_maps(torch.tensor([[[[-1.0, 2.0]], [[3.0, -4.0]]]])).tolist()
    [[[4.0, 6.0]]]
    """
    return maps.abs().sum(1) if maps.dim() == 4 else maps.abs()


def _constant_rows(a: Tensor) -> Tensor:
    flat = a.flatten(1)
    return flat.amax(1) == flat.amin(1)


def rank_similarity(a: Tensor, b: Tensor) -> Tensor:
    """Spearman rank correlation of |a| and |b| per image (Adebayo et al.'s "Spearman rank correlation with absolute
    value"): ρ = Pearson(rank(|a_i|), rank(|b_i|)) over pixels, average ranks for ties; 0 when exactly one of the two
    maps is constant, 1 when both are.

    >>> a = torch.tensor([[[1.0, -3.0, 2.0]], [[1.0, 1.0, 1.0]], [[0.0, 0.0, 0.0]]])
    >>> b = torch.tensor([[[3.0, 2.0, 1.0]], [[1.0, 2.0, 3.0]], [[5.0, 5.0, 5.0]]])
    >>> rank_similarity(a, b).tolist()
    [-0.5, 0.0, 1.0]
    """
    ra, rb = absolute_maps(a), absolute_maps(b)
    if ra.shape != rb.shape:
        raise ValueError(f"maps must match, got {tuple(a.shape)} and {tuple(b.shape)}")
    ca, cb = _constant_rows(ra).cpu(), _constant_rows(rb).cpu()
    rho = torch.nan_to_num(spearman_rows(ra, rb).cpu(), nan=0.0)
    return torch.where(ca & cb, torch.ones_like(rho), torch.where(ca | cb, torch.zeros_like(rho), rho))


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> Tensor:
    """The 1-D factor of SSIM's normalised ``size``×``size`` Gaussian window (scikit-image's
    ``gaussian_weights=True``: ``scipy.ndimage.gaussian_filter`` of a centred delta, truncated at 3.5σ, which is
    the outer product of this kernel with itself).

    >>> w = gaussian_window()
    >>> tuple(w.shape), round(float(w.sum()), 6), bool(w[5] == w.max())
    ((11,), 1.0, True)
    """
    delta = np.zeros(size)
    delta[size // 2] = 1.0
    return torch.from_numpy(gaussian_filter1d(delta, sigma, truncate=3.5))


def ssim(a: Tensor, b: Tensor) -> Tensor:
    """SSIM (Wang et al. 2004) of |a| and |b| per image, each map divided by its maximum first (a zero map stays 0).

    SSIM = mean over the window positions of (2μ_aμ_b + C₁)(2σ_ab + C₂) / ((μ_a² + μ_b² + C₁)(σ_a² + σ_b² + C₂)),
    local moments under an 11×11 Gaussian window (σ = 1.5), C₁ = (0.01·L)², C₂ = (0.03·L)², data range L = 1,
    positions where the window lies inside the map ("valid"; scikit-image's ``structural_similarity`` with
    ``gaussian_weights=True, use_sample_covariance=False, data_range=1``).

    >>> m = torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    >>> ssim(m, 3 * m).tolist()  # the same map up to scale
    [1.0, 1.0]
    """
    ra, rb = absolute_maps(a).double(), absolute_maps(b).double()
    if ra.shape != rb.shape:
        raise ValueError(f"maps must match, got {tuple(a.shape)} and {tuple(b.shape)}")
    if min(ra.shape[-2:]) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs maps of at least {SSIM_WINDOW}×{SSIM_WINDOW} pixels, got {tuple(ra.shape[-2:])}")

    def scaled(m: Tensor) -> Tensor:
        top = m.flatten(1).amax(1).view(-1, 1, 1)
        return torch.where(top > 0, m / torch.where(top > 0, top, torch.ones_like(top)), m).unsqueeze(1)

    u, v = scaled(ra), scaled(rb)
    rows = gaussian_window().to(u.device).view(1, 1, 1, SSIM_WINDOW).expand(5, 1, 1, -1)
    # the five local moments by one separable grouped convolution: E[u], E[v], E[u²], E[v²], E[uv]
    stacked = torch.cat([u, v, u * u, v * v, u * v], 1)
    moments = F.conv2d(F.conv2d(stacked, rows, groups=5), rows.transpose(2, 3), groups=5)
    mu_u, mu_v, uu, vv, uv = moments.unbind(1)
    var_u, var_v, cov = uu - mu_u**2, vv - mu_v**2, uv - mu_u * mu_v
    c1, c2 = SSIM_K1**2, SSIM_K2**2
    index = ((2 * mu_u * mu_v + c1) * (2 * cov + c2)) / ((mu_u**2 + mu_v**2 + c1) * (var_u + var_v + c2))
    return index.flatten(1).mean(1).float().cpu()


class Similarity(StrEnum):
    """Adebayo et al.'s similarities between a trained and a randomised model's maps."""

    SPEARMAN = "spearman"
    SSIM = "ssim"


SIMILARITIES: Mapping[Similarity, Callable[[Tensor, Tensor], Tensor]] = {
    Similarity.SPEARMAN: rank_similarity,
    Similarity.SSIM: ssim,
}


# ----------------------------------------------------------------------------------------------- randomisation
def parametrised_layers(model: nn.Module, x: Tensor) -> list[tuple[str, nn.Module]]:
    """``(name, module)`` of every module with parameters of its own, in the order one forward pass on ``x`` first
    runs them; modules that hold parameters but do not run come last, in ``named_modules`` order."""
    owners = [(n, m) for n, m in model.named_modules() if any(True for _ in m.parameters(recurse=False))]
    order: list[nn.Module] = []

    def hook(module: nn.Module, _inputs: object, _output: object) -> None:
        if not any(module is seen for seen in order):
            order.append(module)

    handles = [m.register_forward_hook(hook) for _, m in owners]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    rank = {id(m): i for i, m in enumerate(order)}
    return sorted(owners, key=lambda nm: rank.get(id(nm[1]), len(order)))


def randomize_layer(layer: nn.Module, generator: torch.Generator) -> None:
    """Re-initialise ``layer``'s own parameters in place: its ``reset_parameters`` under a forked global RNG seeded
    from ``generator`` (buffers such as BatchNorm statistics are reset with it), else N(0, s²) per tensor with s the
    tensor's standard deviation."""
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    params = list(layer.parameters(recurse=False))
    reset = getattr(layer, "reset_parameters", None)
    with torch.no_grad():
        if callable(reset):
            devices = sorted({p.device.index or 0 for p in params if p.device.type == "cuda"})
            with torch.random.fork_rng(devices=devices):
                torch.manual_seed(seed)
                reset()
            return
        local = torch.Generator().manual_seed(seed)
        for p in params:
            std = float(p.detach().float().std()) if p.numel() > 1 else 1.0
            p.copy_((torch.randn(p.shape, generator=local) * std).to(p))


def cascading_randomization(model: nn.Module, x: Tensor, generator: torch.Generator) -> Iterator[tuple[str, nn.Module]]:
    """Adebayo et al.'s cascading randomisation, in place: re-initialise the layers of :func:`parametrised_layers`
    one at a time from the top (the last to run) down to the first, yielding ``(layer name, model)`` after each, so
    the k-th model has its top k layers random and the last one every layer. Pass a copy of the trained model."""
    layers = parametrised_layers(model, x)
    if not layers:
        raise ValueError(f"{type(model).__name__} has no layer with parameters to randomise")
    for name, layer in reversed(layers):
        randomize_layer(layer, generator)
        yield name or type(layer).__name__, model
