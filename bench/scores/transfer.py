"""Transfer-robustness bookkeeping: attack labels, the source × target matrix and each row's summary.

Ross & Doshi-Velez (AAAI 2018, https://arxiv.org/abs/1711.09404): every model is evaluated on the
adversarial examples crafted on every model; the diagonal is white-box, the off-diagonal entries are
black-box transfer. An entry's row (as target) is summarised by the mean and the worst (minimum) accuracy
over the *other* sources.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

Matrix = dict[str, dict[str, float]]  # source -> target -> accuracy


def parse_eps(value: float | int | str) -> float:
    """A budget from a track file: a number or a rational string such as ``"8/255"``.

    >>> parse_eps("8/255") == 8 / 255, parse_eps(0.3)
    (True, 0.3)
    """
    try:
        eps = float(Fraction(value)) if isinstance(value, str) else float(value)
    except (ValueError, ZeroDivisionError) as exc:
        raise ValueError(f"budget must be a number or a fraction like '8/255', got {value!r}") from exc
    if not (eps > 0 and math.isfinite(eps)):
        raise ValueError(f"budget must be positive and finite, got {value!r}")
    return eps


@dataclass(frozen=True)
class RowSummary:
    """Summary of one target's accuracies over the *other* sources.

    Attributes:
        mean: Mean accuracy over the other sources (``None`` when there are none).
        worst: Minimum accuracy over the other sources.
        worst_source: The source attaining ``worst`` (ties: alphabetical first).
        sources: The other sources, sorted.
    """

    mean: float | None
    worst: float | None
    worst_source: str | None
    sources: tuple[str, ...]


def summarize_row(as_target: Mapping[str, float], entry: str) -> RowSummary:
    """Mean and worst accuracy of ``entry`` on examples from every source except itself.

    >>> summarize_row({"a": 0.9, "b": 0.5, "c": 0.7}, entry="a")
    RowSummary(mean=0.6, worst=0.5, worst_source='b', sources=('b', 'c'))
    >>> summarize_row({"a": 0.9}, entry="a").mean is None
    True
    """
    others = {s: float(a) for s, a in sorted(as_target.items()) if s != entry}
    if not others:
        return RowSummary(None, None, None, ())
    worst_source = min(others, key=lambda s: (others[s], s))
    return RowSummary(sum(others.values()) / len(others), others[worst_source], worst_source, tuple(others))


def mean_over_sources(vectors: Sequence[Sequence[int]]) -> list[float]:
    """Per image, the share of the sources whose transferred example the target resists: the mean of the
    sources' 0/1 robust vectors. Its mean over the images is the mean over the sources of their accuracies (the
    row's ``mean``), so a bootstrap over images of this vector is an interval of that mean.

    >>> mean_over_sources([[1, 1, 0, 0], [1, 0, 1, 0]])
    [1.0, 0.5, 0.5, 0.0]
    """
    if not vectors or len({len(v) for v in vectors}) != 1:
        raise ValueError("mean_over_sources needs one or more robust vectors of one length")
    return [sum(col) / len(vectors) for col in zip(*vectors, strict=True)]


def transfer_matrix(pairs: Mapping[tuple[str, str], float]) -> Matrix:
    """``{source: {target: accuracy}}`` from ``{(source, target): accuracy}``.

    >>> transfer_matrix({("a", "b"): 0.5, ("a", "a"): 0.1})
    {'a': {'a': 0.1, 'b': 0.5}}
    """
    out: Matrix = {}
    for (source, target), acc in sorted(pairs.items()):
        out.setdefault(source, {})[target] = float(acc)
    return out


def update_matrix(matrix: Mapping[str, Mapping[str, float]], pairs: Mapping[tuple[str, str], float]) -> Matrix:
    """A copy of ``matrix`` with the (source, target) cells in ``pairs`` added or replaced (an incremental
    update: adding one entry to N contributes its row and column, 2N + 1 cells).

    >>> update_matrix({"a": {"a": 0.1}}, {("a", "b"): 0.5, ("b", "a"): 0.6, ("b", "b"): 0.2})
    {'a': {'a': 0.1, 'b': 0.5}, 'b': {'a': 0.6, 'b': 0.2}}
    """
    out: Matrix = {s: dict(row) for s, row in matrix.items()}
    for (source, target), acc in sorted(pairs.items()):
        out.setdefault(source, {})[target] = float(acc)
    return {s: dict(sorted(row.items())) for s, row in sorted(out.items())}


def column(matrix: Mapping[str, Mapping[str, float]], target: str) -> dict[str, float]:
    """The accuracies of ``target`` on each source's examples (its row of the leaderboard).

    >>> column({"a": {"b": 0.5}, "c": {"b": 0.7, "a": 0.2}}, "b")
    {'a': 0.5, 'c': 0.7}
    """
    return {s: float(row[target]) for s, row in sorted(matrix.items()) if target in row}
