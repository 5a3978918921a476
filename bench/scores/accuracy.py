"""Accuracy, its 95% interval, rates and paired accuracy differences with theirs, and the per-image worst case
over several attacks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from torch import Tensor

from bench.results.intervals import rate_interval, wilson_interval
from bench.results.paired import mcnemar_difference_interval
from bench.types import ScoreValue


def accuracy_score(name: str, correct: Sequence[bool] | Sequence[int] | Tensor, confidence: float = 0.95) -> ScoreValue:
    """Accuracy k/n of a 0/1 (or bool) per-image vector as a :class:`ScoreValue` with its Wilson interval.

    >>> s = accuracy_score("clean_accuracy", [1, 1, 0, 1])
    >>> s.value, s.n, round(s.ci_low, 4), round(s.ci_high, 4)
    (0.75, 4, 0.3006, 0.9544)
    """
    values = _bits(correct)
    n = len(values)
    k = sum(values)
    lo, hi = wilson_interval(k, n, confidence)
    return ScoreValue(name, k / n, n, lo, hi)


def rate_score(name: str, rate: float, n: int, confidence: float = 0.95) -> ScoreValue:
    """A rate recorded as a fraction of ``n`` images (e.g. a fooling success rate) with its Wilson interval.

    >>> s = rate_score("manipulation_fsr", 0.9, 100)
    >>> s.value, s.n, round(s.ci_low, 4), round(s.ci_high, 4)
    (0.9, 100, 0.8256, 0.9448)
    """
    if n <= 0:
        return ScoreValue(name, rate, n)  # no images, no interval
    lo, hi = rate_interval(rate, n, confidence)
    return ScoreValue(name, rate, n, lo, hi)


def _bits(correct: Sequence[bool] | Sequence[int] | Tensor) -> list[int]:
    values = correct.detach().cpu().flatten().tolist() if isinstance(correct, Tensor) else list(correct)
    if any(v not in (0, 1) for v in values):
        raise ValueError("correct must hold only 0/1 or booleans")
    return [int(bool(v)) for v in values]


def accuracy_difference_score(
    name: str,
    reference: Sequence[bool] | Sequence[int] | Tensor,
    other: Sequence[bool] | Sequence[int] | Tensor,
    confidence: float = 0.95,
) -> ScoreValue:
    """acc(reference) − acc(other) of two models on the *same* images (per-image 0/1 correctness, paired) with
    the interval that agrees with McNemar's exact test (:func:`bench.results.paired.mcnemar_difference_interval`:
    b images only ``reference`` gets right, c only ``other``; (b − c)/n with the conditional Clopper–Pearson
    interval mapped to the difference).

    >>> s = accuracy_difference_score("cost", [1, 1, 1, 1, 1, 0], [1, 1, 0, 0, 0, 0])  # b = 3, c = 0
    >>> round(s.value, 4), s.n, round(s.ci_low, 4), round(s.ci_high, 4)  # π ∈ [0.025^(1/3), 1]: (3/6)(2π − 1)
    (0.5, 6, -0.2076, 0.5)
    """
    a, b = _bits(reference), _bits(other)
    if len(a) != len(b) or not a:
        raise ValueError(f"paired correctness vectors must be non-empty and of one length, got {len(a)}, {len(b)}")
    only_a = sum(1 for u, v in zip(a, b, strict=True) if u and not v)
    only_b = sum(1 for u, v in zip(a, b, strict=True) if v and not u)
    lo, hi = mcnemar_difference_interval(only_a, only_b, len(a), confidence)
    return ScoreValue(name, (only_a - only_b) / len(a), len(a), lo, hi)


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
