"""Differentiable explanation maps (our own batched code, no Captum).

The registered explainers use Captum where it has the method; these functions exist for the places that
need gradients *through* an explanation (Heo et al.'s adversarial model manipulation fine-tunes a model
on a loss of its own Grad-CAM/saliency maps: ``create_graph=True``), and as the independent reference the
tests compare Captum's output with. They never touch the model's mode or its parameters' ``requires_grad``
(callers decide: explainers run under :func:`bench.protocols.evaluation_mode`, the manipulation under
training), and they leave no hooks behind.

Shapes: ``x`` is ``(N, C, H, W)`` in [0, 1], ``target`` is ``(N,)`` class indices; input-level maps have
``x``'s shape, layer-level maps are ``(N, 1, h, w)``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bench.projection import rmse


def select(logits: Tensor, target: Tensor) -> Tensor:
    """``logits[i, target[i]]`` for every row.

    >>> select(torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([1, 0])).tolist()
    [2.0, 3.0]
    """
    if target.shape != (logits.shape[0],):
        raise ValueError(f"target must have shape ({logits.shape[0]},), got {tuple(target.shape)}")
    return logits.gather(1, target.view(-1, 1).to(logits.device)).squeeze(1)


def _input_leaf(x: Tensor) -> Tensor:
    return x.detach().requires_grad_(True)


def input_gradient_and_logits(
    model: nn.Module, x: Tensor, target: Tensor, *, create_graph: bool = False
) -> tuple[Tensor, Tensor]:
    """(∂f_c(x)/∂x, logits) for the ``target`` logit c of every sample (one forward, one backward pass).

    With ``create_graph`` both stay differentiable with respect to the parameters (double backpropagation).
    """
    with torch.enable_grad():
        xg = _input_leaf(x)
        logits = model(xg)
        (grad,) = torch.autograd.grad(select(logits, target).sum(), xg, create_graph=create_graph)
    return grad, logits


def input_gradient(model: nn.Module, x: Tensor, target: Tensor, *, create_graph: bool = False) -> Tensor:
    """∂f_c(x)/∂x for the ``target`` logit c of every sample (one forward, one backward pass)."""
    return input_gradient_and_logits(model, x, target, create_graph=create_graph)[0]


def saliency(model: nn.Module, x: Tensor, target: Tensor, *, create_graph: bool = False) -> Tensor:
    """SimpleGrad (Simonyan et al. 2014), as Captum's ``Saliency(abs=True)``: φ = |∂f_c/∂x|."""
    return input_gradient(model, x, target, create_graph=create_graph).abs()


def input_x_gradient(model: nn.Module, x: Tensor, target: Tensor, *, create_graph: bool = False) -> Tensor:
    """Input × gradient (Shrikumar et al. 2016): φ = x ⊙ ∂f_c/∂x."""
    return x * input_gradient(model, x, target, create_graph=create_graph)


def gauss_legendre(steps: int) -> tuple[Tensor, Tensor]:
    """Captum's ``gausslegendre`` rule on [0, 1]: alphas = (1 + t)/2, weights = w/2 for Legendre nodes (t, w).

    >>> a, w = gauss_legendre(2)
    >>> [round(v, 4) for v in a.tolist()], [round(v, 4) for v in w.tolist()]
    ([0.2113, 0.7887], [0.5, 0.5])
    """
    if steps < 2:
        raise ValueError(f"integrated gradients needs at least 2 steps, got {steps}")
    nodes, weights = np.polynomial.legendre.leggauss(steps)
    return torch.tensor(0.5 * (1 + nodes), dtype=torch.float64), torch.tensor(0.5 * weights, dtype=torch.float64)


def integrated_gradients(
    model: nn.Module,
    x: Tensor,
    target: Tensor,
    *,
    steps: int = 32,
    baseline: Tensor | None = None,
    create_graph: bool = False,
    batch_size: int = 1024,
) -> Tensor:
    """Integrated gradients (Sundararajan et al. 2017) with Captum's Gauss–Legendre rule.

    φ = (x − b) ⊙ Σ_i w_i ∂f_c(b + α_i (x − b))/∂x, baseline b = 0 unless given. All ``steps`` points of
    every image go through the model in batches of at most ``batch_size`` inputs.
    """
    b = torch.zeros_like(x) if baseline is None else baseline.expand_as(x)
    alphas, weights = gauss_legendre(steps)
    alphas, weights = alphas.to(x.dtype).to(x.device), weights.to(x.dtype).to(x.device)
    total = torch.zeros_like(x)
    per = max(1, batch_size // max(1, len(x)))  # interpolation points per chunk
    for start in range(0, steps, per):
        a = alphas[start : start + per].view(-1, 1, 1, 1, 1)
        w = weights[start : start + per].view(-1, 1, 1, 1, 1)
        path = (b.unsqueeze(0) + a * (x - b).unsqueeze(0)).flatten(0, 1)
        grads = input_gradient(model, path, target.repeat(len(a)), create_graph=create_graph)
        total = total + (grads.view(len(a), *x.shape) * w).sum(0)
    return (x - b) * total


@contextlib.contextmanager
def capture_output(layer: nn.Module) -> Iterator[dict[str, Tensor]]:
    """Record ``layer``'s forward output under key ``"a"``; the hook is removed on exit, whatever happens."""
    store: dict[str, Tensor] = {}

    def hook(_module: nn.Module, _inputs: object, output: Tensor) -> None:
        store["a"] = output

    handle = layer.register_forward_hook(hook)
    try:
        yield store
    finally:
        handle.remove()


def cam_layer(model: nn.Module) -> nn.Module:
    """The model's ``cam_layer`` (the last spatial feature map), or a clear error."""
    layer = getattr(model, "cam_layer", None)
    if not isinstance(layer, nn.Module):
        raise TypeError(
            f"{type(model).__name__} has no `cam_layer`; Grad-CAM needs the module whose output is the last "
            "spatial feature map (see bench.models.SmallCNN.cam_layer)"
        )
    return layer


def gradcam_low_and_logits(
    model: nn.Module, x: Tensor, target: Tensor, *, create_graph: bool = False, relu: bool = True
) -> tuple[Tensor, Tensor]:
    """(Grad-CAM at ``cam_layer`` ``(N, 1, h, w)``, logits) from one hooked forward pass (see :func:`gradcam_low`)."""
    with torch.enable_grad():
        xg = _input_leaf(x)  # makes A part of the graph even when the parameters are frozen
        with capture_output(cam_layer(model)) as store:
            logits = model(xg)
        if "a" not in store:
            raise RuntimeError(f"{type(model).__name__}.cam_layer was not called in the forward pass")
        acts = store["a"]
        (grads,) = torch.autograd.grad(select(logits, target).sum(), acts, create_graph=create_graph)
    weights = grads.mean(dim=(2, 3), keepdim=True)
    out = (weights * acts).sum(dim=1, keepdim=True)
    out = F.relu(out) if relu else out
    return (out, logits) if create_graph else (out.detach(), logits.detach())


def gradcam_low(
    model: nn.Module, x: Tensor, target: Tensor, *, create_graph: bool = False, relu: bool = True
) -> Tensor:
    """Grad-CAM (Selvaraju et al. 2017) at the model's ``cam_layer``, shape ``(N, 1, h, w)``.

    α_k = mean_{h,w} ∂f_c/∂A_k, map = ReLU(Σ_k α_k A_k) — Captum's ``LayerGradCam(relu_attributions=True)``.
    """
    return gradcam_low_and_logits(model, x, target, create_graph=create_graph, relu=relu)[0]


def upsample(maps: Tensor, like: Tensor) -> Tensor:
    """Bilinear upsampling of ``(N, 1, h, w)`` maps to ``like``'s spatial size, repeated over its channels."""
    up = F.interpolate(maps, size=like.shape[-2:], mode="bilinear", align_corners=False)
    return up.expand(-1, like.shape[1], -1, -1).contiguous()


def gradcam(model: nn.Module, x: Tensor, target: Tensor, *, create_graph: bool = False) -> Tensor:
    """Grad-CAM upsampled to the input's shape (see :func:`gradcam_low`)."""
    return upsample(gradcam_low(model, x, target, create_graph=create_graph), x)


def class_activation_maps(model: nn.Module, x: Tensor) -> Tensor:
    """CAM of every class, ``(N, K, h, w)``: I_c = Σ_k W_ck A_k (Zhou et al. 2016; Boopathy et al. 2020).

    For a GAP + bias-free linear head mean_{h,w} I_c = f_c exactly. Needs a model exposing ``cam(x)``.
    """
    fn = getattr(model, "cam", None)
    if not callable(fn):
        raise TypeError(
            f"{type(model).__name__} has no `cam(x)`; CAM needs a global-average-pool + linear head "
            "(see bench.models.SmallCNN.cam)"
        )
    out = fn(x)
    if not isinstance(out, Tensor) or out.dim() != 4:
        raise ValueError(f"{type(model).__name__}.cam(x) must return (N, K, h, w)")
    return out


def cam(model: nn.Module, x: Tensor, target: Tensor) -> Tensor:
    """CAM of the ``target`` class, signed, upsampled to the input's shape."""
    maps = class_activation_maps(model, x)
    return upsample(maps.gather(1, target.view(-1, 1, 1, 1).expand(-1, 1, *maps.shape[2:])), x)


def woods_explanation(
    model: nn.Module,
    x: Tensor,
    target: Tensor,
    *,
    rho: float = 0.1,
    overshoot: float = 5.0,
    steps: int = 35,
) -> Tensor:
    """Woods et al. (2019) adversarial explanation g_explain (https://arxiv.org/abs/1906.02896; official
    ``_adv_images`` with ``encourage_labels=True``): a targeted search toward ``target`` inside an RMSE budget ρ.

    δ₀ = 0; for t = 0..T−1: d = −∇_δ CE(f(x+δ), c) while RMSE(δ) < ρ, else d = −δ; d ← d/(1e-8 + RMSE(d));
    δ ← δ + s_t d with s_t = ρ·overshoot·(T − t)/(T(T+1)/2). No clipping (as in the official code).
    Returns the explanation image x + δ; δ is the "why".
    """
    x = x.detach()
    delta = torch.zeros_like(x)
    size = rho * overshoot
    for step in range(steps):
        with torch.enable_grad():
            dg = delta.clone().requires_grad_(True)
            loss = F.cross_entropy(model(x + dg), target, reduction="none")
            (grad,) = torch.autograd.grad(loss.sum(), dg)
        within = (delta.pow(2).flatten(1).mean(1) < rho**2).view(-1, 1, 1, 1)
        direction = torch.where(within, -grad, -delta)
        direction = direction / (1e-8 + rmse(direction)).view(-1, 1, 1, 1)
        delta = delta + size * (steps - step) / (steps * (steps + 1) / 2) * direction
    return x + delta
