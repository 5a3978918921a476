"""Accuracy, its 95% interval, and the per-image worst case over several attacks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from torch import Tensor

from bench.results.intervals import wilson_interval
from bench.types import ScoreValue


def accuracy_score(name: str, correct: Sequence[bool] | Sequence[int] | Tensor, confidence: float = 0.95) -> ScoreValue:
    """Accuracy k/n of a 0/1 (or bool) per-image vector as a :class:`ScoreValue` with its Wilson interval.

    >>> s = accuracy_score("clean_accuracy", [1, 1, 0, 1])
    >>> s.value, s.n, round(s.ci_low, 4), round(s.ci_high, 4)
    (0.75, 4, 0.3006, 0.9544)
    """
    values = correct.detach().cpu().flatten().tolist() if isinstance(correct, Tensor) else list(correct)
    if any(v not in (0, 1) for v in values):
        raise ValueError("correct must hold only 0/1 or booleans")
    n = len(values)
    k = int(sum(bool(v) for v in values))
    lo, hi = wilson_interval(k, n, confidence)
    return ScoreValue(name, k / n, n, lo, hi)


@dataclass(frozen=True)
class WorstCase:
    """Per-image worst case over several attacks on their common image prefix (see :func:`worst_case`).

    Attributes:
        n: Images in the common prefix (the shortest vector's length).
        robust: Per image of the prefix: 1 when no attack broke it.
        accuracy: Per attack, its accuracy on the prefix.
        only: Per attack, images of the prefix that it alone breaks.
    """

    n: int
    robust: tuple[int, ...]
    accuracy: Mapping[str, float]
    only: Mapping[str, int]

    @property
    def value(self) -> float:
        """Worst-case robust accuracy on the prefix."""
        return sum(self.robust) / self.n


def worst_case(vectors: Mapping[str, Sequence[int] | Sequence[bool]]) -> WorstCase:
    """AutoAttack's per-image worst case (Croce & Hein 2020, https://arxiv.org/abs/2003.01690, §4: an image
    counts as robust only if *every* attack fails on it) over attacks run on different prefixes of the same
    image order: on the common prefix i < m = minₐ nₐ, ``robust_i = ∧ₐ r_{a,i}`` and the accuracy is
    ``(1/m) Σᵢ robust_i`` — never above the minimum of the attacks' accuracies on that prefix, and unlike a
    minimum of aggregates over different prefixes it neither compares different images nor misses images only
    one attack breaks.

    >>> w = worst_case({"a": [1, 1, 0, 1], "b": [0, 1, 1]})
    >>> (w.n, w.robust, w.value, dict(w.only))
    (3, (0, 1, 0), 0.3333333333333333, {'a': 1, 'b': 1})
    """
    if not vectors:
        raise ValueError("worst_case needs at least one attack's per-image robust vector")
    empty = sorted(name for name, v in vectors.items() if len(v) == 0)
    if empty:
        raise ValueError(f"worst_case: no images in the robust vector of {', '.join(empty)}")
    m = min(len(v) for v in vectors.values())
    rows = {name: [int(bool(r)) for r in list(v)[:m]] for name, v in vectors.items()}
    robust = tuple(int(all(col)) for col in zip(*rows.values(), strict=True))
    only = {
        name: sum(1 for i in range(m) if not rows[name][i] and all(rows[other][i] for other in rows if other != name))
        for name in rows
    }
    return WorstCase(m, robust, {name: sum(r) / m for name, r in rows.items()}, only)
