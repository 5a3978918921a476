"""Explanation-robustness metrics on any model and images: Yeh et al.'s max-sensitivity of any explainer, and
Boopathy et al.'s CAM measures of a model with a class-activation-map head — what the ``explain`` stage computes
(:mod:`bench.scores.explanation_robustness`, :mod:`bench.stages.explain.boopathy`), with its defaults."""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import Tensor, nn

from bench.metrics.base import (
    ArrayLike,
    ExplainerLike,
    Metric,
    Seed,
    attributions,
    explain_function,
    generator_of,
    inputs,
    per_image,
    register,
)
from bench.protocols import evaluation_mode
from bench.scores import explanation_robustness as er
from bench.stages.explain.boopathy import boopathy
from bench.types import Category


def max_sensitivity(
    model: nn.Module,
    x: ArrayLike,
    y: ArrayLike,
    a: ArrayLike | None = None,
    *,
    explainer: ExplainerLike = "saliency",
    radius: float = 0.02,
    samples: int = 10,
    generator: Seed = 0,
    explain_seed: int = 0,
    batch_size: int = 500,
) -> np.ndarray:
    """Max-sensitivity per image (Yeh et al. 2019, https://arxiv.org/abs/1901.09392; Captum's ``sensitivity_max``;
    lower is more stable): max over ``samples`` draws δ ~ U[−``radius``, ``radius``]^d (from ``generator``) of
    ‖φ(x + δ) − φ(x)‖_F / ‖φ(x)‖_F, φ the ``explainer``'s map of class ``y`` — a registered name, an explainer object
    (its randomness seeded ``explain_seed`` on every call) or a function ``(model, x, target) -> maps``. ``a`` is
    φ(x) (computed when ``None``). Explainer calls of at most ``batch_size`` images."""
    xt, yt = inputs(model, x, y)
    explain = explain_function(explainer, explain_seed, batch_size)
    base = attributions(a, xt) if a is not None else None
    with evaluation_mode(model):
        values = er.max_sensitivity(
            lambda xb, tb: explain(model, xb, tb),
            xt,
            yt,
            radius=radius,
            samples=samples,
            generator=generator_of(generator),
            batch_size=2 * batch_size,
            expl=base,
        )
    return per_image(values)


def _boopathy(model: nn.Module, x: ArrayLike, y: ArrayLike, settings: dict[str, Any], generator: Seed) -> Any:
    xt, yt = inputs(model, x, y)
    with evaluation_mode(model):
        return boopathy(model, xt, yt, settings, float(settings["eps"]), generator_of(generator))


def topk_kendall_tau(
    model: nn.Module,
    x: ArrayLike,
    y: ArrayLike,
    a: ArrayLike | None = None,
    *,
    eps: float,
    k: int = 8,
    steps: int = 20,
    step_size: float | None = None,
    generator: Seed = 0,
) -> np.ndarray:
    """Boopathy et al.'s (2020, https://arxiv.org/abs/2006.14748) top-k CAM robustness per image (higher is more
    robust): Kendall τ_b between the CAM of the true class ``y`` before and after their top-k attack (ℓ∞ PGD within
    ``eps`` from a uniform random start drawn from ``generator``, ``steps`` sign steps of ``step_size`` — default
    2.5·eps/steps — pushing down the ``k`` most relevant CAM cells); NaN where the prediction changed. The model must
    expose ``cam(x)`` (a GAP/linear head, :class:`bench.models.CamNet`); ``a`` is not read (the CAM is the model's)."""
    settings = {
        "topk_k": k,
        "topk_steps": steps,
        "topk_step_size": 2.5 * eps / steps if step_size is None else step_size,
        "topk_eps": eps,
        "eps": eps,
        "discrepancy_steps": 0,  # the targeted attack is not needed
        "discrepancy_kappa": 0.1,
        "discrepancy_gamma": 0.0,
    }
    tau: Tensor = _boopathy(model, x, y, settings, generator)[0]
    return per_image(tau)


def discrepancy_ratio(
    model: nn.Module,
    x: ArrayLike,
    y: ArrayLike,
    a: ArrayLike | None = None,
    *,
    eps: float,
    steps: int = 20,
    kappa: float = 0.1,
    gamma: float = 0.0,
    generator: Seed = 0,
) -> np.ndarray:
    """Boopathy et al.'s 2-class ℓ1 CAM discrepancy D₂/HW of a successful targeted attack at ℓ∞ budget ``eps``,
    divided by its lower bound ½(f_y(x) − f_t(x)) per image (higher: a change of prediction drags the CAM further
    than it must); NaN where the attack failed. The target t is a uniformly random wrong class drawn from
    ``generator`` after a random start of the size of ``x`` (the draws of :func:`topk_kendall_tau` with the same
    generator, as the ``explain`` stage makes them); their ``min_pgd_attack`` for ``steps`` steps (margin ``kappa``;
    ``gamma`` > 0 adds the interpretability-sneaking term). Needs ``cam(x)``; ``a`` is not read."""
    settings = {
        "topk_k": 1,
        "topk_steps": 0,  # only the random start's draw, which the stage makes before the targets
        "topk_step_size": 0.0,
        "topk_eps": 0.0,
        "eps": eps,
        "discrepancy_steps": steps,
        "discrepancy_kappa": kappa,
        "discrepancy_gamma": gamma,
    }
    ratio: Tensor = _boopathy(model, x, y, settings, generator)[1]
    return per_image(ratio)


register(
    Metric(
        "max_sensitivity",
        max_sensitivity,
        Category.EXPLANATION_ROBUSTNESS,
        "max_sensitivity",
        {"radius": "sensitivity_radius", "samples": "sensitivity_samples", "batch_size": "batch_size"},
    )
)
register(
    Metric(
        "topk_kendall_tau",
        topk_kendall_tau,
        Category.EXPLANATION_ROBUSTNESS,
        "explanation_topk_kendall_tau",
        {"eps": "topk_eps", "k": "topk_k", "steps": "topk_steps", "step_size": "topk_step_size"},
        attributions=False,
    )
)
register(
    Metric(
        "discrepancy_ratio",
        discrepancy_ratio,
        Category.EXPLANATION_ROBUSTNESS,
        "explanation_discrepancy_ratio",
        {"eps": "eps", "steps": "discrepancy_steps", "kappa": "discrepancy_kappa", "gamma": "discrepancy_gamma"},
        attributions=False,
    )
)

__all__ = ["discrepancy_ratio", "max_sensitivity", "topk_kendall_tau"]
