"""A track's explanations page: how far its explanation metrics agree, and which explainer is most faithful on
which model.

* Metric agreement per model, across its explainers (:mod:`bench.results.explainer_agreement`, the main view):
  for every pair of scores (one per family) a row, for every entry a column, Kendall τ between the rankings of
  that entry's explainers under the two scores, with each pair's median τ and how many entries reverse it.
* Metric agreement across models (:mod:`bench.results.agreement`): Kendall τ between the entry rankings of
  every pair of fidelity and explanation-robustness scores (one per family) as a heat matrix, Holm-adjusted
  p-values, and the entries whose rank moves by more than :data:`~bench.results.agreement.MAX_RANK_SHIFT`
  places between fidelity metrics beyond their 95% intervals, with their ranks.
* Explainers side by side: for every per-explainer column of a stage's ``details[<stage>]["table"]`` whose
  score the stage names in ``details[<stage>]["table_scores"]`` (column → score), a grid of entries ×
  explainers coloured within the grid (green = better in the score's direction), the best explainer of each
  entry marked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bench.results.agreement import MAX_RANK_SHIFT, Agreement, PairAgreement, agreement
from bench.results.explainer_agreement import ModelAgreement, explainer_values, per_model, summarise
from bench.results.ranking import Ranked
from bench.results.scores import ScoreInfo, info_for
from leaderboard.view.tables import page_path
from leaderboard.view.transfer import heat_level


@dataclass(frozen=True)
class GridCell:
    """One value of a heat grid: its text, colour bucket (``None``: no value), tooltip, and whether it is the
    best of its row."""

    text: str
    level: int | None
    tooltip: str
    best: bool = False


@dataclass(frozen=True)
class ExplainerGrid:
    """Entries (rows) × explainers (columns) for one per-explainer score."""

    column: str
    title: str
    arrow: str
    description: str
    explainers: tuple[str, ...]
    entries: tuple[str, ...]
    links: tuple[str, ...]
    rows: tuple[tuple[GridCell, ...], ...]
    best: tuple[str, ...]


@dataclass(frozen=True)
class Shift:
    """An entry flagged for moving between fidelity metrics."""

    entry: str
    href: str
    message: str


@dataclass(frozen=True)
class PerModelView:
    """Metric agreement across explainers: one row per pair of scores, one column per entry, then the pair's
    median τ and how many entries reverse it."""

    pairs: tuple[str, ...]
    pair_tips: tuple[str, ...]
    entries: tuple[str, ...]
    links: tuple[str, ...]
    rows: tuple[tuple[GridCell, ...], ...]
    medians: tuple[GridCell, ...]
    reversed: tuple[str, ...]
    dropped: tuple[str, ...]

    @property
    def empty(self) -> bool:
        """Whether no entry has two comparable per-explainer scores."""
        return not self.entries


@dataclass(frozen=True)
class ExplanationsPage:
    """Everything the track's explanations page shows."""

    metrics: tuple[str, ...]
    titles: tuple[str, ...]
    tau_rows: tuple[tuple[GridCell, ...], ...]
    entries: int
    shifts: tuple[Shift, ...]
    threshold: int
    grids: tuple[ExplainerGrid, ...]
    per_model: PerModelView
    dropped: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        """Whether there is nothing to show (no explanation metric, no explainer table)."""
        return not self.metrics and not self.grids


def tau_cell(pair: PairAgreement | None, tip: str, items: str) -> GridCell:
    """A τ on the heat scale (τ ∈ [−1, 1], red: reversed), or a dash with the reason."""
    if pair is None or pair.tau is None:
        why = f" (too few {items} with both: {pair.n})" if pair else ""
        return GridCell("—", None, f"{tip}{why}")
    if pair.pvalue_holm is not None:
        p = f", p = {pair.pvalue:.2g} (Holm-adjusted over the pairs: {pair.pvalue_holm:.2g})"
    elif pair.pvalue is not None:
        p = f", p = {pair.pvalue:.2g} (descriptive: uncorrected, not a test)"
    else:
        p = ""
    return GridCell(f"{pair.tau:+.2f}", heat_level((pair.tau + 1) / 2), f"{tip}: τ_b over {pair.n} {items}{p}")


def tau_matrix(ag: Agreement, infos: Mapping[str, ScoreInfo]) -> tuple[tuple[GridCell, ...], ...]:
    """The symmetric τ matrix (diagonal blank) with τ ∈ [−1, 1] mapped onto the heat scale (red: reversed)."""
    rows = []
    for a in ag.metrics:
        cells = []
        for b in ag.metrics:
            if a == b:
                cells.append(GridCell("", None, f"{a} vs {b}"))
                continue
            tip = f"Kendall τ_b between the rankings by {info_for(a, infos).title} and {info_for(b, infos).title}"
            cells.append(tau_cell(ag.tau(a, b), tip, "entries"))
        rows.append(tuple(cells))
    return tuple(rows)


def dropped_text(dropped: Sequence[tuple[str, str]], infos: Mapping[str, ScoreInfo]) -> tuple[str, ...]:
    """One line per family member kept: ``"ROAD gap (predictions kept) stands for ROAD MoRF AUC, …"``.

    >>> from bench.results.scores import score_infos
    >>> dropped_text([("road_gap", "road_kept_gap"), ("road_morf_auc", "road_kept_gap")], score_infos())
    ('ROAD gap (predictions kept) stands for ROAD gap (probability), ROAD MoRF AUC',)
    """
    by_kept: dict[str, list[str]] = {}
    for d, k in dropped:
        titles = by_kept.setdefault(info_for(k, infos).title, [])
        if (title := info_for(d, infos).title) not in titles:
            titles.append(title)
    return tuple(f"{k} stands for {', '.join(v)}" for k, v in by_kept.items())


def per_model_view(placed: Sequence[Ranked], infos: Mapping[str, ScoreInfo]) -> PerModelView:
    """The per-model agreement of the placed records (leaderboard order)."""
    models: dict[str, ModelAgreement] = {m.entry: m for m in per_model([p.record for p in placed], infos)}
    order = [p.record for p in placed if p.record.name in models]
    summary = summarise(list(models.values()), infos)
    pairs, tips, rows, medians, reversed_ = [], [], [], [], []
    for s in summary:
        ta, tb = info_for(s.a, infos).title, info_for(s.b, infos).title
        pairs.append(f"{ta} vs {tb}")
        tips.append(f"Kendall τ_b between the explainer rankings by {ta} and {tb}, per entry")
        rows.append(
            tuple(tau_cell(models[r.name].tau(s.a, s.b), f"{r.name}: {ta} vs {tb}", "explainers") for r in order)
        )
        if s.median is None:
            medians.append(GridCell("—", None, "no entry has a τ for this pair"))
        else:
            tip = f"median over {s.entries} entries, range {s.low:+.2f} to {s.high:+.2f}"
            medians.append(GridCell(f"{s.median:+.2f}", heat_level((s.median + 1) / 2), tip))
        reversed_.append(f"{s.reversed} of {s.entries}")
    dropped = dropped_text([d for m in models.values() for d in m.dropped], infos)
    return PerModelView(
        tuple(pairs), tuple(tips), tuple(r.name for r in order), tuple(page_path(r) for r in order), tuple(rows),
        tuple(medians), tuple(reversed_), dropped,
    )  # fmt: skip


def _tables(placed: Sequence[Ranked]) -> dict[str, dict[str, tuple[str, dict[str, float]]]]:
    """``{score: {entry: (column, {explainer: value})}}`` from every stage table that names its scores."""
    out: dict[str, dict[str, tuple[str, dict[str, float]]]] = {}
    for p in placed:
        for score, found in explainer_values(p.record).items():
            out.setdefault(score, {})[p.record.name] = found
    return out


def explainer_grid(
    score: str, by_entry: Mapping[str, tuple[str, Mapping[str, float]]], placed: Sequence[Ranked],
    infos: Mapping[str, ScoreInfo],
) -> ExplainerGrid:  # fmt: skip
    """One score's grid: rows in leaderboard order, explainers in first-appearance order."""
    info = info_for(score, infos)
    sign = -1.0 if info.higher_is_better is False else 1.0
    order = [p.record for p in placed if p.record.name in by_entry]
    explainers: list[str] = []
    for r in order:
        explainers.extend(e for e in by_entry[r.name][1] if e not in explainers)
    everything = [v for r in order for v in by_entry[r.name][1].values()]
    lo, hi = (min(everything), max(everything)) if everything else (0.0, 0.0)
    rows, best = [], []
    for r in order:
        values = by_entry[r.name][1]
        top = max(values, key=lambda e: sign * values[e])
        best.append(top)
        cells = []
        for e in explainers:
            v = values.get(e)
            if v is None:
                cells.append(GridCell("—", None, f"{r.name}: no {e}"))
                continue
            frac = 0.5 if hi == lo else (v - lo) / (hi - lo)
            level = heat_level(frac if sign > 0 else 1 - frac)
            cells.append(
                GridCell(info.unit.text(v), level, f"{r.name}, {e}: {info.title} {info.unit.text(v)}", e == top)
            )
        rows.append(tuple(cells))
    column = next(iter(by_entry.values()))[0] if by_entry else score
    return ExplainerGrid(
        column, info.title, info.arrow, info.description, tuple(explainers), tuple(r.name for r in order),
        tuple(page_path(r) for r in order), tuple(rows), tuple(best),
    )  # fmt: skip


def explanations_page(placed: Sequence[Ranked], infos: Mapping[str, ScoreInfo]) -> ExplanationsPage:
    """The explanations page of one track's placed records (leaderboard order)."""
    records = [p.record for p in placed]
    ag = agreement(records, infos)
    pages = {r.name: page_path(r) for r in records}
    shifts = tuple(Shift(s.entry, pages.get(s.entry, ""), s.message) for s in ag.shifts)
    tables = _tables(placed)
    scores = [i.name for i in sorted((info_for(s, infos) for s in tables), key=lambda i: (i.order, i.name))]
    grids = tuple(explainer_grid(s, tables[s], placed, infos) for s in scores)
    titles = tuple(info_for(m, infos).title for m in ag.metrics)
    return ExplanationsPage(
        ag.metrics, titles, tau_matrix(ag, infos), len(ag.entries), shifts, MAX_RANK_SHIFT, grids,
        per_model_view(placed, infos), dropped_text(ag.dropped, infos),
    )  # fmt: skip
