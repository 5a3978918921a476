"""Metric agreement per model, across its explainers: do two explanation metrics pick the same explainers?

A fidelity metric exists to say which explanation of a model is more faithful, so the agreement that matters is
between the *explainer* rankings it produces on one model (the across-model view, :mod:`bench.results.agreement`,
also compares models, whose confidence moves every probability readout). Every stage that writes a per-explainer
table names the score each column measures (``details[<stage>]["table"]`` rows with an ``explainer`` and
``details[<stage>]["table_scores"]``: column → score); for each entry, Kendall's τ_b between the explainers'
oriented values under every pair of fidelity and explanation-robustness scores, one score per family
(:func:`bench.results.agreement.one_per_family`). With a handful of explainers per model τ is **descriptive**:
scipy's p-value is kept for reference and never corrected or tested. :func:`summarise` gives each pair's median τ
over the entries and how many entries reverse it (τ < 0).

Pure and torch-free: it reads records' details and the scores' metadata only.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bench.results.agreement import METRIC_CATEGORIES, PairAgreement, one_per_family, oriented, pair_agreement
from bench.results.records import Record
from bench.results.scores import ScoreInfo, info_for, ordered_scores


@dataclass(frozen=True)
class ModelAgreement:
    """One entry's agreement across its explainers: the scores compared (one per family), the explainers, τ for
    every pair (descriptive p-values), and the family members left out (score, the member kept)."""

    entry: str
    metrics: tuple[str, ...]
    explainers: tuple[str, ...]
    pairs: tuple[PairAgreement, ...]
    dropped: tuple[tuple[str, str], ...] = ()

    def tau(self, a: str, b: str) -> PairAgreement | None:
        """The pair (a, b) in either order."""
        return next((p for p in self.pairs if {p.a, p.b} == {a, b}), None)


@dataclass(frozen=True)
class PairSummary:
    """One pair of scores over the entries: the median, lowest and highest τ, over how many entries, and how many
    of them order their explainers in reverse (τ < 0)."""

    a: str
    b: str
    median: float | None
    low: float | None
    high: float | None
    entries: int
    reversed: int


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    f = float(value)
    return f if math.isfinite(f) else None


def explainer_values(record: Record) -> dict[str, tuple[str, dict[str, float]]]:
    """``{score: (column, {explainer: value})}`` from every stage table of ``record`` that names its scores (rows
    without an explainer or a finite value are skipped; a score with no value is left out)."""
    out: dict[str, tuple[str, dict[str, float]]] = {}
    for _, section in sorted(record.details.items()):
        if not isinstance(section, Mapping):
            continue
        names, rows = section.get("table_scores"), section.get("table")
        if not isinstance(names, Mapping) or not isinstance(rows, list):
            continue
        for column, score in names.items():
            values = {
                str(r["explainer"]): v
                for r in rows
                if isinstance(r, Mapping) and "explainer" in r and (v := _finite(r.get(column))) is not None
            }
            if values:
                out[str(score)] = (str(column), values)
    return out


def model_agreement(record: Record, infos: Mapping[str, ScoreInfo]) -> ModelAgreement | None:
    """``record``'s agreement across its explainers, ``None`` when its tables hold fewer than two scores of the
    compared categories."""
    values = explainer_values(record)
    present = [n for n in values if info_for(n, infos).category in METRIC_CATEGORIES]
    metrics, dropped = one_per_family([i.name for i in ordered_scores(present, infos)], infos)
    if len(metrics) < 2:
        return None
    table: dict[str, dict[str, float]] = {}
    for m in metrics:
        direction = info_for(m, infos).higher_is_better
        for explainer, v in values[m][1].items():
            table.setdefault(explainer, {})[m] = oriented(v, direction)
    pairs = tuple(pair_agreement(table, a, b) for a, b in itertools.combinations(metrics, 2))
    return ModelAgreement(record.name, metrics, tuple(table), pairs, dropped)


def per_model(records: Sequence[Record], infos: Mapping[str, ScoreInfo]) -> tuple[ModelAgreement, ...]:
    """:func:`model_agreement` of every rankable record (full run, no ``fail`` flag) that has one, in order."""
    out = (model_agreement(r, infos) for r in records if not r.exclusion())
    return tuple(m for m in out if m is not None)


def summarise(models: Sequence[ModelAgreement], infos: Mapping[str, ScoreInfo]) -> tuple[PairSummary, ...]:
    """Every pair of scores that some entry compares, in column order of (a, b), with its τ over the entries.

    >>> m = ModelAgreement("x", ("a", "b"), ("e1", "e2", "e3"), (PairAgreement("a", "b", -0.5, None, 3),))
    >>> summarise([m, m], {})[0].median, summarise([m, m], {})[0].reversed
    (-0.5, 2)
    """
    order = {i.name: k for k, i in enumerate(ordered_scores({s for m in models for s in m.metrics}, infos))}
    found: dict[tuple[str, str], list[float]] = {}
    for m in models:
        for p in m.pairs:
            key = (p.a, p.b) if order.get(p.a, 0) <= order.get(p.b, 0) else (p.b, p.a)
            taus = found.setdefault(key, [])
            if p.tau is not None:
                taus.append(p.tau)
    out = []
    for (a, b), taus in sorted(found.items(), key=lambda kv: (order.get(kv[0][0], 0), order.get(kv[0][1], 0))):
        if not taus:
            out.append(PairSummary(a, b, None, None, None, 0, 0))
            continue
        out.append(
            PairSummary(a, b, statistics.median(taus), min(taus), max(taus), len(taus), sum(t < 0 for t in taus))
        )
    return tuple(out)
