"""Helpers of the explain stage: explainers by name, attribution in batches, means with intervals, curves."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from bench.plugins import EXPLAINERS
from bench.protocols import Explainer
from bench.types import ScoreValue


def mean_interval(values: Tensor) -> tuple[float, float, float, int]:
    """(mean, 95% normal-approximation interval low, high, count) of the finite values.

    >>> mean_interval(torch.tensor([1.0, 3.0, float("nan")]))[0::3]
    (2.0, 2)
    """
    v = values[torch.isfinite(values)].double()
    n = int(v.numel())
    if n == 0:
        return math.nan, math.nan, math.nan, 0
    mean = float(v.mean())
    half = 1.96 * float(v.std(unbiased=True)) / math.sqrt(n) if n > 1 else 0.0
    return mean, mean - half, mean + half, n


def score(name: str, values: Tensor) -> ScoreValue | None:
    """A :class:`ScoreValue` with a 95% interval, or ``None`` when no value is finite."""
    mean, lo, hi, n = mean_interval(values)
    return None if n == 0 else ScoreValue(name, mean, n, lo, hi)


def json_float(v: float) -> float | None:
    return None if not math.isfinite(v) else round(v, 6)


def build_explainers(names: list[str], options: Mapping[str, Mapping[str, Any]]) -> dict[str, Explainer]:
    """Explainer objects by name, with per-explainer options from the stage settings."""
    unknown = sorted(set(options) - set(names))
    if unknown:
        raise ValueError(f"[stages.explain.options] names explainers that are not run: {unknown}")
    return {n: EXPLAINERS.create(n, **dict(options.get(n, {}))) for n in names}


def explain_in_batches(
    explainer: Explainer,
    model: nn.Module,
    x: Tensor,
    target: Tensor,
    generator: torch.Generator,
    batch_size: int,
) -> Tensor:
    """``explainer.attribute`` over chunks of ``x`` (bounds the memory of multi-sample explainers)."""
    return torch.cat(
        [
            explainer.attribute(model, x[i : i + batch_size], target[i : i + batch_size], generator=generator)
            for i in range(0, len(x), batch_size)
        ]
    )


def mean_curve(title: str, curves: Tensor, ylabel: str, x: list[float] | None = None) -> dict[str, Any]:
    """The mean of ``curves`` ``(n, K)`` as a plot: at ``x`` (default K equally spaced fractions of [0, 1])."""
    steps = curves.shape[1] - 1
    return {
        "title": title,
        "x": [round(i / steps, 6) for i in range(steps + 1)] if x is None else [round(v, 6) for v in x],
        "y": [round(float(v), 6) for v in curves.mean(0)],
        "xlabel": "fraction of pixels",
        "ylabel": ylabel,
    }
