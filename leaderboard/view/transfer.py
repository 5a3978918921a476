"""The transfer matrix of a track: heatmap cells and per-entry transfer lines from ``details["transfer"]``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bench.results import Unit
from bench.results.records import Record
from leaderboard.view.tables import page_path
from leaderboard.view.text import finite_number, scalar_text

HEAT_LEVELS = 10


@dataclass(frozen=True)
class HeatCell:
    """One (source, target) accuracy of the transfer matrix."""

    text: str
    level: int | None
    tooltip: str
    diagonal: bool = False


@dataclass(frozen=True)
class Heatmap:
    """A track's transfer matrix: rows are sources (where examples were crafted), columns targets."""

    attack: str
    eps: str
    names: tuple[str, ...]
    links: tuple[str, ...]
    columns: tuple[str, ...]
    column_links: tuple[str, ...]
    rows: tuple[tuple[HeatCell, ...], ...]

    @property
    def empty(self) -> bool:
        """Whether no record holds transfer results."""
        return not self.names


def transfer_matrix(records: Sequence[Record]) -> tuple[dict[tuple[str, str], float], str, str]:
    """``{(source, target): accuracy}`` from every record's ``details["transfer"]`` (a target's own
    ``as_target`` wins over a source's ``as_source``), with the attack and ε they state."""
    matrix: dict[tuple[str, str], float] = {}
    attack, eps = "", ""
    for r in records:
        t = r.details.get("transfer")
        if not isinstance(t, Mapping):
            continue
        attack = attack or str(t.get("attack") or "")
        if not eps and t.get("eps") is not None:
            eps = scalar_text(t.get("eps"))
        as_source = t.get("as_source")
        if isinstance(as_source, Mapping):
            for target, v in as_source.items():
                if finite_number(v) is not None:
                    matrix.setdefault((r.name, str(target)), float(v))
    for r in records:
        t = r.details.get("transfer")
        as_target = t.get("as_target") if isinstance(t, Mapping) else None
        if isinstance(as_target, Mapping):
            for source, v in as_target.items():
                if finite_number(v) is not None:
                    matrix[(str(source), r.name)] = float(v)
    return matrix, attack, eps


def heat_legend() -> tuple[tuple[int, str], ...]:
    """``(level, text)`` of every colour of the heatmap, for its legend.

    >>> heat_legend()[0], heat_legend()[-1]
    ((0, '0%'), (10, '100%'))
    """
    return tuple((level, f"{100 * level // HEAT_LEVELS}%") for level in range(HEAT_LEVELS + 1))


def heat_level(value: float) -> int:
    """Colour bucket 0..HEAT_LEVELS of an accuracy in [0, 1].

    >>> heat_level(0.0), heat_level(0.55), heat_level(1.0)
    (0, 6, 10)
    """
    return max(0, min(HEAT_LEVELS, round(value * HEAT_LEVELS)))


def heatmap(records: Sequence[Record], order: Sequence[str]) -> Heatmap:
    """The transfer heatmap of a track's records (entries in ``order`` first, other sources after)."""
    matrix, attack, eps = transfer_matrix(records)
    if not matrix:
        return Heatmap(attack, eps, (), (), (), (), ())
    pages = {r.name: page_path(r) for r in records}
    involved = {s for s, _ in matrix} | {t for _, t in matrix}
    names = [n for n in order if n in involved] + sorted(involved - set(order))
    sources = [n for n in names if any((n, t) in matrix for t in names)]
    targets = [n for n in names if any((s, n) in matrix for s in names)]
    rows = []
    for s in sources:
        cells = []
        for t in targets:
            v = matrix.get((s, t))
            tip = f"crafted on {s}, evaluated on {t}" + (" (white-box)" if s == t else "")
            cells.append(
                HeatCell(Unit.FRACTION.text(v), None, tip, s == t)
                if v is None
                else HeatCell(Unit.FRACTION.text(v), heat_level(v), f"{tip}: accuracy {Unit.FRACTION.text(v)}", s == t)
            )
        rows.append(tuple(cells))
    return Heatmap(
        attack,
        eps,
        tuple(sources),
        tuple(pages.get(s, "") for s in sources),
        tuple(targets),
        tuple(pages.get(t, "") for t in targets),
        tuple(rows),
    )


@dataclass(frozen=True)
class TransferLine:
    """One line of an entry's transfer row or column."""

    name: str
    href: str
    text: str
    level: int
    value: float | None = None


def transfer_lines(
    matrix: Mapping[tuple[str, str], float], name: str, pages: Mapping[str, str]
) -> tuple[list[TransferLine], list[TransferLine]]:
    """An entry's transfer column (it as target, by source) and row (it as source, by target)."""
    by_target, by_source = index_matrix(matrix)
    return transfer_line_items(by_target.get(name, {}), pages), transfer_line_items(by_source.get(name, {}), pages)


def index_matrix(
    matrix: Mapping[tuple[str, str], float],
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]]]:
    """``({target: {source: v}}, {source: {target: v}})`` of a transfer matrix."""
    by_target: dict[str, dict[str, float]] = {}
    by_source: dict[str, dict[str, float]] = {}
    for (s, t), v in matrix.items():
        by_target.setdefault(t, {})[s] = v
        by_source.setdefault(s, {})[t] = v
    return by_target, by_source


def transfer_line_items(values: Mapping[str, float], pages: Mapping[str, str]) -> list[TransferLine]:
    """One line per counterpart (sorted), its accuracy as percent and its heat level."""
    return [
        TransferLine(k, pages.get(k, ""), Unit.FRACTION.text(v), heat_level(v), v) for k, v in sorted(values.items())
    ]


def lowest_text(lines: Sequence[TransferLine]) -> str:
    """The lowest accuracy of an entry's transfer lines and whose it is, ``1.2% (fgsm_at)``; ``""`` without any.

    >>> lowest_text([TransferLine("a", "", "50.0%", 5, 0.5), TransferLine("b", "", "1.2%", 0, 0.012)])
    '1.2% (b)'
    """
    known = [t for t in lines if t.value is not None]
    if not known:
        return ""
    low = min(known, key=lambda t: (t.value, t.name))
    return f"{low.text} ({low.name})"
