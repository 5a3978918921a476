"""Adebayo et al.'s model-randomisation sanity check (https://arxiv.org/abs/1810.03292) of any explainer on any
model: what the ``randomization`` stage computes (:mod:`bench.scores.randomization`)."""

from __future__ import annotations

import copy

import numpy as np
from torch import nn

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
from bench.scores.randomization import SIMILARITIES, Similarity, parametrised_layers, randomize_layer
from bench.types import Category


def model_randomization(
    model: nn.Module,
    x: ArrayLike,
    y: ArrayLike,
    a: ArrayLike | None = None,
    *,
    explainer: ExplainerLike = "saliency",
    similarity: Similarity | str = Similarity.SPEARMAN,
    layers: int | None = None,
    generator: Seed = 0,
    explain_seed: int = 0,
    batch_size: int = 500,
) -> np.ndarray:
    """Similarity per image between the ``explainer``'s maps of class ``y`` on the model (``a``; computed when
    ``None``) and on a copy whose top ``layers`` layers (default: all of them) are re-initialised, cascading from the
    top (seeds from ``generator``); ``similarity`` ``"spearman"`` (rank correlation of |maps|) or ``"ssim"``. Lower
    passes the sanity check; an explainer that ignores the model scores 1. The model itself is not modified; the
    explainer (a registered name, an object seeded ``explain_seed`` on every call, or a function) is called with
    the same seed on both models."""
    xt, yt = inputs(model, x, y)
    explain = explain_function(explainer, explain_seed, batch_size)
    with evaluation_mode(model):
        reference = attributions(a, xt) if a is not None else explain(model, xt, yt)
    randomized = copy.deepcopy(model).eval()
    order = list(reversed(parametrised_layers(randomized, xt[:1])))
    count = len(order) if layers is None else int(layers)
    if not order or not 1 <= count <= len(order):
        raise ValueError(f"layers must lie in [1, {len(order)}] (the model's layers with parameters), got {layers}")
    gen = generator_of(generator)
    for _, layer in order[:count]:
        randomize_layer(layer, gen)
    with evaluation_mode(randomized):
        maps = explain(randomized, xt, yt)
    return per_image(SIMILARITIES[Similarity(similarity)](reference, maps))


register(Metric("model_randomization", model_randomization, Category.RANDOMIZATION, "randomization_spearman"))

__all__ = ["model_randomization"]
