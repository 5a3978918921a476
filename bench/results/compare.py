"""Compare entries from their records: per-image results and every score's difference with its significance
on the same evaluation images (``robex compare``; its text and JSON in :mod:`bench.results.compare_text`).

Accuracies with per-image 0/1 results in the record (``details["clean"]["correct"]``,
``details["pgd"]["robust"]``, ``details["autoattack"]["robust"]``, or any per-image list whose mean is the
score) are compared with McNemar's exact test on the images both records share, with the interval that
inverts the same conditional test; real-valued per-image results with a paired bootstrap; scores kept only as
a value with an interval with an unpaired normal approximation from the two intervals (see
:mod:`bench.results.paired`). Intervals are at 1 − α, so each agrees with its own (unadjusted) test.

Multiplicity: the tested scores of one comparison (one entry against one other) are a family; the ``*`` /
``significant`` / "X better" marks use Holm's adjusted p-values within it (:func:`bench.results.paired.holm`),
which keeps the chance of any false mark in that comparison at most α.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from bench.results.paired import PairedResult, difference_from_intervals, holm, mcnemar_exact, paired_bootstrap
from bench.results.records import Record, load_records, read_record, record_path
from bench.results.scores import ScoreInfo, ordered_scores, score_infos
from bench.track import DEFAULT_TRACK

# Where the cross-team conventions keep per-image 0/1 results (same image order: the first n of the subset).
PER_IMAGE: Mapping[str, tuple[str, str]] = {
    "clean_accuracy": ("clean", "correct"),
    "pgd_accuracy": ("pgd", "robust"),
    "autoattack_accuracy": ("autoattack", "robust"),
    "robust_accuracy": ("finalize:robust_accuracy", "robust"),
}


# ------------------------------------------------------------------------------------------ records
def find_record(results_root: str | Path, name: str, *, track: str | None = None, quick: bool = False) -> Record:
    """The record of entry ``name`` (``<name>.quick.json`` with ``quick``). Without ``track``, an entry with
    records on several tracks resolves to the default track's record when it has one; otherwise pass ``track``."""
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
        default = [p for p in found if p.parent.name == DEFAULT_TRACK]
        if default:
            return read_record(default[0])
        tracks = ", ".join(p.parent.name for p in found)
        raise ValueError(f"entry {name!r} has records on several tracks ({tracks}); pass --track")
    return read_record(found[0])


def find_record_in(
    roots: Sequence[Path], name: str, *, track: str | None = None, quick: bool = False
) -> tuple[Record, Path]:
    """The record of entry ``name`` in the first of ``roots`` that holds one (:func:`find_record`), and that root;
    ``FileNotFoundError`` names every folder searched."""
    misses = []
    for root in roots:
        try:
            return find_record(root, name, track=track, quick=quick), root
        except FileNotFoundError as exc:
            misses.append(str(exc))
    raise FileNotFoundError("; ".join(misses) if len(misses) == 1 else "; and ".join(misses))


def baseline_records(roots: Sequence[Path], record: Record) -> list[Record]:
    """The baselines' records of ``record``'s track (quick ones for a quick record) in the first of ``roots`` that
    holds any, ``record``'s own entry left out."""
    for root in roots:
        found = [
            r
            for r in track_records(root, record.track, quick=record.quick)
            if r.entry.baseline and r.name != record.name
        ]
        if found:
            return found
    return []


def track_records(results_root: str | Path, track: str, *, quick: bool = False) -> list[Record]:
    """Records of one track, full runs only (or quick runs only with ``quick``)."""
    return [r for r in load_records(results_root, track) if r.quick == quick]


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
