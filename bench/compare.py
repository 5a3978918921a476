"""Compare entries from their records: ranking, per-image results, and every score's difference with its
significance on the same evaluation images (``robex compare``).

Accuracies with per-image 0/1 results in the record (``details["clean"]["correct"]``,
``details["pgd"]["robust"]``, ``details["autoattack"]["robust"]``, or any per-image list whose mean is the
score) are compared with McNemar's exact test on the images both records share, with the interval that
inverts the same conditional test; real-valued per-image results with a paired bootstrap; scores kept only as
a value with an interval with an unpaired normal approximation from the two intervals (see
:mod:`bench.scores.paired`). Intervals are at 1 − α, so each agrees with its own (unadjusted) test.

Multiplicity: the tested scores of one comparison (one entry against one other) are a family; the ``*`` /
``significant`` / "X better" marks use Holm's adjusted p-values within it (:func:`bench.scores.paired.holm`),
which keeps the chance of any false mark in that comparison at most α.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from bench.records import Record, load_records, read_record, record_path
from bench.scores.paired import PairedResult, difference_from_intervals, holm, mcnemar_exact, paired_bootstrap
from bench.types import ScoreSpec

# The leaderboard's default sort: the first of these that a track's records have (AutoAttack is the ranking
# number; PGD stands in while a track has no AutoAttack stage).
DEFAULT_SORT: tuple[str, ...] = ("autoattack_accuracy", "pgd_accuracy", "clean_accuracy")

# Where the cross-team conventions keep per-image 0/1 results (same image order: the first n of the subset).
PER_IMAGE: Mapping[str, tuple[str, str]] = {
    "clean_accuracy": ("clean", "correct"),
    "pgd_accuracy": ("pgd", "robust"),
    "autoattack_accuracy": ("autoattack", "robust"),
    "robust_accuracy": ("finalize:robust_accuracy", "robust"),
}


# ------------------------------------------------------------------------------------------ score metadata
@dataclass(frozen=True)
class ScoreInfo:
    """What the comparison and the leaderboard need to know about a score (a registered
    :class:`~bench.types.ScoreSpec`, or a placeholder for a score no installed plug-in registers)."""

    name: str
    title: str
    higher_is_better: bool | None
    unit: str
    category: str
    description: str
    primary: bool
    order: int

    @classmethod
    def from_spec(cls, spec: ScoreSpec) -> ScoreInfo:
        """From registered metadata."""
        return cls(
            name=spec.name,
            title=spec.title,
            higher_is_better=spec.higher_is_better,
            unit=spec.unit.value,
            category=spec.category.value,
            description=spec.description,
            primary=spec.primary,
            order=spec.order,
        )

    @classmethod
    def unknown(cls, name: str) -> ScoreInfo:
        """A score found in a record but registered by no installed plug-in (direction unknown)."""
        return cls(
            name=name,
            title=name,
            higher_is_better=None,
            unit="score",
            category="other",
            description="No installed plug-in registers this score; its direction and unit are unknown.",
            primary=False,
            order=10_000,
        )


def score_infos(specs: Iterable[ScoreSpec] | None = None) -> dict[str, ScoreInfo]:
    """Metadata of every registered score (or of ``specs``), by name."""
    if specs is None:
        from bench.plugins import SCORES

        specs = [s for _, s in SCORES.items()]
    return {s.name: ScoreInfo.from_spec(s) for s in specs}


def info_for(name: str, infos: Mapping[str, ScoreInfo]) -> ScoreInfo:
    """``infos[name]`` or the placeholder for an unregistered score."""
    return infos.get(name) or ScoreInfo.unknown(name)


def ordered_scores(names: Iterable[str], infos: Mapping[str, ScoreInfo]) -> list[ScoreInfo]:
    """Metadata of ``names`` in column order (order, then name; unregistered scores last)."""
    return sorted((info_for(n, infos) for n in set(names)), key=lambda s: (s.order, s.name))


# ------------------------------------------------------------------------------------------ records
def find_record(results_root: str | Path, name: str, *, track: str | None = None, quick: bool = False) -> Record:
    """The record of entry ``name`` (``<name>.quick.json`` with ``quick``); ``track`` disambiguates."""
    root = Path(results_root)
    if track is not None:
        path = record_path(root, track, name, quick=quick)
        if not path.is_file():
            raise FileNotFoundError(f"no record for entry {name!r} on track {track!r} ({path})")
        return read_record(path)
    suffix = ".quick.json" if quick else ".json"
    found = sorted(p for p in root.glob(f"*/{name}{suffix}") if p.is_file())
    if not found:
        hint = " (add --quick for a smoke-run record)" if not quick and any(root.glob(f"*/{name}.quick.json")) else ""
        raise FileNotFoundError(f"no record for entry {name!r} under {root}{hint}")
    if len(found) > 1:
        tracks = ", ".join(p.parent.name for p in found)
        raise ValueError(f"entry {name!r} has records on several tracks ({tracks}); pass --track")
    return read_record(found[0])


def track_records(results_root: str | Path, track: str, *, quick: bool = False) -> list[Record]:
    """Records of one track, full runs only (or quick runs only with ``quick``)."""
    return [r for r in load_records(results_root, track) if r.quick == quick]


# ------------------------------------------------------------------------------------------ ranking
@dataclass(frozen=True)
class Ranked:
    """A record's place on its track: ``rank`` is ``None`` when it is not ranked, ``reason`` says why."""

    record: Record
    rank: int | None
    reason: str


def sort_score(records: Sequence[Record], candidates: Sequence[str] = DEFAULT_SORT) -> str | None:
    """The first score of ``candidates`` that any record has (the default sort), else ``None``."""
    return next((c for c in candidates if any(c in r.scores for r in records)), None)


def unranked_reason(record: Record, score: str | None, *, include_quick: bool = False) -> str:
    """Why ``record`` is not ranked ("" when it is); ``include_quick`` ranks quick-mode records among
    themselves (``robex submit --quick``)."""
    if record.quick and not include_quick:
        return "quick run"
    if record.status == "failed":
        return "failed"
    fails = sorted(f.name for f in record.flags if f.severity == "fail")
    if fails:
        return "flagged: " + ", ".join(fails)
    if score is None or score not in record.scores:
        return f"no {score or 'ranking score'}"
    return ""


def ranking(
    records: Sequence[Record], score: str | None, higher_is_better: bool = True, *, include_quick: bool = False
) -> list[Ranked]:
    """Competition ranking ("1, 2, 2, 4") of the clean records by ``score``; unranked records follow.

    A record is ranked when it is a full (not quick) run, did not fail, carries no ``fail``-severity flag
    and has ``score``. Ties (equal values) share a rank; order within a tie is by entry name.
    """

    def key(r: Record) -> tuple[bool, float, str]:
        v = r.score(score) if score else None
        if v is None or math.isnan(v):
            return (True, 0.0, r.name)
        return (False, -v if higher_is_better else v, r.name)

    ordered = sorted(records, key=key)
    out: list[Ranked] = []
    rank = 0
    previous: float | None = None
    position = 0
    for r in ordered:
        reason = unranked_reason(r, score, include_quick=include_quick)
        if reason:
            continue
        position += 1
        value = r.score(score) if score else None
        if value != previous:
            rank = position
            previous = value
        out.append(Ranked(r, rank, ""))
    reasons = {r.name: unranked_reason(r, score, include_quick=include_quick) for r in ordered}
    out.extend(Ranked(r, None, reasons[r.name]) for r in ordered if reasons[r.name])
    return out


# ------------------------------------------------------------------------------------------ per-image results
def _numeric_list(value: Any, length: int) -> np.ndarray | None:
    if not isinstance(value, list) or len(value) != length or not value:
        return None
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        return None
    arr = np.asarray(value, dtype=np.float64)
    return arr if np.isfinite(arr).all() else None


def per_image(record: Record, score: str) -> np.ndarray | None:
    """Per-image results behind ``score`` (in eval-subset order), or ``None`` when the record has none.

    The conventional location (:data:`PER_IMAGE`) is used when it holds ``n`` values; otherwise any
    ``details[<stage>][<key>]`` list of ``n`` numbers whose mean equals the score is used when exactly one
    such list exists.
    """
    s = record.scores.get(score)
    if s is None:
        return None
    where = PER_IMAGE.get(score)
    if where is not None:
        section = record.details.get(where[0])
        arr = _numeric_list(section.get(where[1]), s.n) if isinstance(section, dict) else None
        if arr is not None:
            return arr
    candidates: list[np.ndarray] = []
    for section in record.details.values():
        if not isinstance(section, dict):
            continue
        for value in section.values():
            arr = _numeric_list(value, s.n)
            if arr is None or abs(float(arr.mean()) - s.value) > 1e-9 * max(1, abs(s.value)):
                continue
            if not any(np.array_equal(arr, c) for c in candidates):
                candidates.append(arr)
    return candidates[0] if len(candidates) == 1 else None


def is_binary(values: np.ndarray) -> bool:
    """Whether every value is 0 or 1."""
    return bool(np.isin(values, (0.0, 1.0)).all())


# ------------------------------------------------------------------------------------------ comparisons
@dataclass(frozen=True)
class ScoreComparison:
    """One score of ``entry`` against ``other``: the values, the test of their difference (``entry − other``)
    or, when no test applies, a note saying why."""

    score: ScoreInfo
    value: float | None
    other_value: float | None
    result: PairedResult | None
    note: str = ""
    p_adjusted: float | None = None  # Holm-adjusted within the comparison (set by :func:`compare_records`)

    @property
    def difference(self) -> float | None:
        """``entry − other``: the paired test's difference when there is one, else of the two values."""
        if self.result is not None:
            return self.result.difference
        if self.value is None or self.other_value is None:
            return None
        return self.value - self.other_value

    @property
    def p_marked(self) -> float | None:
        """The p-value the marks use: Holm-adjusted when set, else the test's own."""
        if self.result is None:
            return None
        return self.p_adjusted if self.p_adjusted is not None else self.result.p_value

    def significant(self, alpha: float) -> bool:
        """Whether the difference is significant at ``alpha`` (after the comparison's Holm correction)."""
        p = self.p_marked
        return p is not None and p < alpha

    def better(self, alpha: float) -> Literal["entry", "other"] | None:
        """Which side is significantly better (direction from the score's metadata), else ``None``."""
        if self.result is None or not self.significant(alpha) or self.score.higher_is_better is None:
            return None
        if self.result.difference == 0:
            return None
        entry_higher = self.result.difference > 0
        return "entry" if entry_higher == self.score.higher_is_better else "other"


@dataclass(frozen=True)
class Comparison:
    """Every score of ``entry`` against ``other`` on one track."""

    track: str
    entry: str
    other: str
    same_images: bool
    alpha: float
    rows: tuple[ScoreComparison, ...]
    correction: str = "holm"

    @property
    def tested(self) -> int:
        """Number of tested scores: the size of the Holm family."""
        return sum(1 for r in self.rows if r.result is not None)


def compare_score(
    entry: Record,
    other: Record,
    info: ScoreInfo,
    *,
    same_images: bool,
    resamples: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
) -> ScoreComparison:
    """One score: McNemar (paired 0/1), paired bootstrap (paired reals), intervals, or a note; intervals at
    ``confidence``; the p-value unadjusted (:func:`compare_records` adds Holm's)."""
    a, b = entry.scores.get(info.name), other.scores.get(info.name)
    va, vb = (a.value if a else None), (b.value if b else None)
    if a is None or b is None:
        missing = entry.name if a is None else other.name
        return ScoreComparison(info, va, vb, None, f"{missing} has no {info.name}")
    pa, pb = (per_image(entry, info.name), per_image(other, info.name)) if same_images else (None, None)
    if pa is not None and pb is not None:
        m = min(len(pa), len(pb))
        xa, xb = pa[:m], pb[:m]
        result = (
            mcnemar_exact(xa, xb, confidence=confidence)
            if is_binary(xa) and is_binary(xb)
            else paired_bootstrap(xa, xb, resamples=resamples, seed=seed, confidence=confidence)
        )
        note = "" if len(pa) == len(pb) else f"paired on the first {m} images both records share"
        return ScoreComparison(info, va, vb, result, note)
    if None not in (a.ci_low, a.ci_high, b.ci_low, b.ci_high):
        result = difference_from_intervals(
            a.value,
            (float(a.ci_low), float(a.ci_high)),  # type: ignore[arg-type]
            b.value,
            (float(b.ci_low), float(b.ci_high)),  # type: ignore[arg-type]
            confidence=confidence,
        )
        return ScoreComparison(info, va, vb, result, "no per-image results: from the two 95% intervals")
    return ScoreComparison(
        info, va, vb, None, "no per-image results and no interval in the records: difference not tested"
    )


def compare_records(
    entry: Record,
    other: Record,
    *,
    infos: Mapping[str, ScoreInfo] | None = None,
    alpha: float = 0.05,
    resamples: int = 2000,
    seed: int = 0,
) -> Comparison:
    """Every score either record has, ``entry − other``, paired on the evaluation images they share; intervals
    at 1 − ``alpha``; Holm's correction across the tested scores (see the module docstring).

    Records are paired only when they come from the same track and the same evaluation subset
    (``provenance.subset_sha256``); per-image lists are then in the same image order.
    """
    if entry.track != other.track:
        raise ValueError(f"cannot compare {entry.name!r} on {entry.track!r} with {other.name!r} on {other.track!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    infos = score_infos() if infos is None else infos
    same = entry.provenance.subset_sha256 == other.provenance.subset_sha256
    rows = [
        compare_score(entry, other, info, same_images=same, resamples=resamples, seed=seed, confidence=1 - alpha)
        for info in ordered_scores([*entry.scores, *other.scores], infos)
    ]
    tested = [i for i, r in enumerate(rows) if r.result is not None]
    adjusted = holm([rows[i].result.p_value for i in tested])  # type: ignore[union-attr]
    for i, p in zip(tested, adjusted, strict=True):
        rows[i] = dataclasses.replace(rows[i], p_adjusted=p)
    return Comparison(entry.track, entry.name, other.name, same, alpha, tuple(rows))


# ------------------------------------------------------------------------------------------ output
def format_value(value: float | None, unit: str) -> str:
    """A score for humans: fractions as percent, the rest with 4 significant digits.

    >>> format_value(0.9123, "fraction"), format_value(0.01234567, "rmse"), format_value(None, "score")
    ('91.2%', '0.01235', '—')
    """
    if value is None or math.isnan(value):
        return "—"
    return f"{100 * value:.1f}%" if unit == "fraction" else f"{value:.4g}"


def format_difference(value: float | None, unit: str) -> str:
    """A signed difference: percentage points for fractions.

    >>> format_difference(0.0123, "fraction"), format_difference(-0.5, "score"), format_difference(0.0, "score")
    ('+1.2 pp', '-0.5', '+0')
    """
    if value is None or math.isnan(value):
        return "—"
    return f"{100 * value:+.1f} pp" if unit == "fraction" else f"{value:+.4g}"


def format_p(p: float | None) -> str:
    """A p-value for humans.

    >>> format_p(0.0000012), format_p(0.0312), format_p(None)
    ('<0.0001', '0.031', '—')
    """
    if p is None:
        return "—"
    return "<0.0001" if p < 1e-4 else f"{p:.2g}" if p < 0.01 else f"{p:.3f}"


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def format_text(comparisons: Sequence[Comparison]) -> str:
    """Plain-text tables, one per compared pair (``*`` marks a difference whose Holm-adjusted p is below α)."""
    blocks = []
    for c in comparisons:
        paired = "paired on the same evaluation images" if c.same_images else "DIFFERENT evaluation subsets: unpaired"
        head = (
            f"{c.entry} vs {c.other} on {c.track} ({paired}; difference = {c.entry} − {c.other}; α = {c.alpha}; "
            f"* = Holm-adjusted p < α across the {c.tested} tested scores)"
        )
        level = f"{100 * (1 - c.alpha):g}% CI of difference"
        rows = [["score", c.entry, c.other, "difference", level, "p", "p (Holm)", "", "test"]]
        for r in c.rows:
            res, unit = r.result, r.score.unit
            ci = "—"
            if res is not None and res.ci_low is not None and res.ci_high is not None:
                ci = f"[{format_difference(res.ci_low, unit)}, {format_difference(res.ci_high, unit)}]"
            test = ""
            if res is not None:
                test = res.method + (f" (n={res.n})" if res.n else "")
                if res.only_a is not None:
                    test += f", discordant {res.only_a}/{res.only_b}"
            if r.note:
                test = f"{test}; {r.note}" if test else r.note
            better = r.better(c.alpha)
            mark = "*" if r.significant(c.alpha) else ""
            mark += {"entry": f" {c.entry} better", "other": f" {c.other} better", None: ""}[better]
            rows.append(
                [
                    r.score.title,
                    format_value(r.value, unit),
                    format_value(r.other_value, unit),
                    format_difference(r.difference, unit),
                    ci,
                    format_p(res.p_value if res else None),
                    format_p(r.p_adjusted),
                    mark,
                    test,
                ]
            )
        blocks.append(head + "\n" + _table(rows))
    return "\n\n".join(blocks)


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def to_json(comparisons: Sequence[Comparison]) -> list[dict[str, Any]]:
    """JSON-native form (numbers as numbers, no NaN)."""
    out = []
    for c in comparisons:
        scores = []
        for r in c.rows:
            res = r.result
            scores.append(
                {
                    "score": r.score.name,
                    "title": r.score.title,
                    "unit": r.score.unit,
                    "higher_is_better": r.score.higher_is_better,
                    "value": _finite(r.value),
                    "other_value": _finite(r.other_value),
                    "difference": _finite(r.difference),
                    "ci_low": _finite(res.ci_low) if res else None,
                    "ci_high": _finite(res.ci_high) if res else None,
                    "p_value": _finite(res.p_value) if res else None,
                    "p_holm": _finite(r.p_adjusted),
                    "n": res.n if res else None,
                    "method": res.method if res else None,
                    "discordant": [res.only_a, res.only_b] if res and res.only_a is not None else None,
                    "significant": r.significant(c.alpha),
                    "better": r.better(c.alpha),
                    "note": r.note,
                }
            )
        out.append(
            {
                "track": c.track,
                "entry": c.entry,
                "other": c.other,
                "same_images": c.same_images,
                "alpha": c.alpha,
                "confidence": 1 - c.alpha,
                "correction": c.correction,
                "tested": c.tested,
                "scores": scores,
            }
        )
    return out


def dumps(comparisons: Sequence[Comparison]) -> str:
    """:func:`to_json` as indented, key-sorted JSON text."""
    return json.dumps(to_json(comparisons), indent=2, sort_keys=True, allow_nan=False)
