"""A track's explanations page: how far its explanation metrics agree, and which explainer is most faithful on
which model.

* Metric agreement (:mod:`bench.results.agreement`): Kendall τ between the entry rankings of every pair of
  fidelity and explanation-robustness scores as a heat matrix, and the entries whose rank moves by more than
  :data:`~bench.results.agreement.MAX_RANK_SHIFT` places between the fidelity metrics, with their ranks.
* Explainers side by side: for every per-explainer column of a stage's ``details[<stage>]["table"]`` whose
  score the stage names in ``details[<stage>]["table_scores"]`` (column → score), a grid of entries ×
  explainers coloured within the grid (green = better in the score's direction), the best explainer of each
  entry marked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bench.results.agreement import MAX_RANK_SHIFT, Agreement, agreement
from bench.results.ranking import Ranked
from bench.results.scores import ScoreInfo, info_for
from leaderboard.view.tables import page_path
from leaderboard.view.text import finite_number, sections
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
class ExplanationsPage:
    """Everything the track's explanations page shows."""

    metrics: tuple[str, ...]
    titles: tuple[str, ...]
    tau_rows: tuple[tuple[GridCell, ...], ...]
    entries: int
    shifts: tuple[Shift, ...]
    threshold: int
    grids: tuple[ExplainerGrid, ...]

    @property
    def empty(self) -> bool:
        """Whether there is nothing to show (no explanation metric, no explainer table)."""
        return not self.metrics and not self.grids


def tau_matrix(ag: Agreement, infos: Mapping[str, ScoreInfo]) -> tuple[tuple[GridCell, ...], ...]:
    """The symmetric τ matrix (diagonal blank) with τ ∈ [−1, 1] mapped onto the heat scale (red: reversed)."""
    rows = []
    for a in ag.metrics:
        cells = []
        for b in ag.metrics:
            pair = None if a == b else ag.tau(a, b)
            if pair is None or pair.tau is None:
                why = "" if a == b else f" (too few entries with both: {pair.n})" if pair else ""
                cells.append(GridCell("—" if a != b else "", None, f"{a} vs {b}{why}"))
                continue
            p = f", p = {pair.pvalue:.2g}" if pair.pvalue is not None else ""
            tip = f"Kendall τ_b between the rankings by {info_for(a, infos).title} and {info_for(b, infos).title}"
            cells.append(GridCell(f"{pair.tau:+.2f}", heat_level((pair.tau + 1) / 2), f"{tip}: {pair.n} entries{p}"))
        rows.append(tuple(cells))
    return tuple(rows)


def _tables(placed: Sequence[Ranked]) -> dict[str, dict[str, tuple[str, dict[str, float]]]]:
    """``{score: {entry: (column, {explainer: value})}}`` from every stage table that names its scores."""
    out: dict[str, dict[str, tuple[str, dict[str, float]]]] = {}
    for p in placed:
        for _, sec in sections(p.record):
            names, rows = sec.get("table_scores"), sec.get("table")
            if not isinstance(names, Mapping) or not isinstance(rows, list):
                continue
            for column, score in names.items():
                values = {
                    str(r["explainer"]): v
                    for r in rows
                    if isinstance(r, Mapping) and "explainer" in r and (v := finite_number(r.get(column))) is not None
                }
                if values:
                    out.setdefault(str(score), {})[p.record.name] = (str(column), values)
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
    return ExplanationsPage(ag.metrics, titles, tau_matrix(ag, infos), len(ag.entries), shifts, MAX_RANK_SHIFT, grids)
