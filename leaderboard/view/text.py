"""Small text helpers of the view model: slugs, safe links, score intervals, scalars from details."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from bench.results.records import Record
from bench.results.scores import ScoreInfo

SLUG = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,63}$")


def slug(name: str) -> str:
    """A file-name-safe form of an entry or track name: the name itself when it is a slug, else a hash.

    >>> slug("pgd_at"), slug("../../etc/passwd")
    ('pgd_at', 'x-3754d6cb3a38')
    """
    if SLUG.match(name):
        return name
    return "x-" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:12]


def safe_url(url: str) -> str:
    """``url`` when it is an http(s) URL with a host and no whitespace or control characters, else ``""``.

    >>> safe_url("https://arxiv.org/abs/1706.06083"), safe_url("javascript:alert(1)"), safe_url("http:/x")
    ('https://arxiv.org/abs/1706.06083', '', '')
    """
    text = url.strip()
    if not text or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in text):
        return ""
    try:
        parts = urlsplit(text)
    except ValueError:
        return ""
    return text if parts.scheme.lower() in ("http", "https") and parts.netloc else ""


def interval_text(record: Record, info: ScoreInfo) -> str:
    """``95% CI low–high, n = N`` (or just ``n = N``) for a score's tooltip."""
    s = record.scores.get(info.name)
    if s is None:
        return ""
    n = f"n = {s.n}"
    if s.ci_low is None or s.ci_high is None:
        return n
    return f"95% CI {info.unit.text(s.ci_low)} – {info.unit.text(s.ci_high)}, {n}"


def compact_interval(record: Record, info: ScoreInfo) -> str:
    """A score's 95% interval as shown under its value, ``[61.0, 65.2]`` (percent signs dropped: the value above
    carries the unit), or ``""`` without one.

    >>> from bench.results.records import EntryInfo, Provenance, ScoreRecord
    >>> from bench.results.scores import score_infos
    >>> r = Record(track="t", entry=EntryInfo(name="e", title="E", authors="A", kind="recipe"),
    ...            scores={"clean_accuracy": ScoreRecord(value=0.63, n=9, ci_low=0.61, ci_high=0.652)},
    ...            provenance=Provenance(seed=0, track_version="1", track_sha256="", subset_sha256=""))
    >>> compact_interval(r, score_infos()["clean_accuracy"])
    '[61.0, 65.2]'
    """
    s = record.scores.get(info.name)
    if s is None or s.ci_low is None or s.ci_high is None:
        return ""
    return "[" + ", ".join(info.unit.text(v).removesuffix("%") for v in (s.ci_low, s.ci_high)) + "]"


def finite_number(value: Any) -> float | None:
    """``value`` as a finite float, else ``None`` (booleans are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    f = float(value)
    return f if math.isfinite(f) else None


def scalar_text(value: Any) -> str:
    """A value from a record's details as table text: a scalar as itself (floats to 4 significant digits, ``—``
    for none), anything else summarised by :func:`value_summary` (never raw JSON)."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else "—"
    if isinstance(value, str | int | bool):
        return str(value)
    return value_summary(value)


SUMMARY_LIMIT = 160  # characters: a longer summary of a mapping or list is replaced by a count of its items
SHORT_LIST = 6  # lists of at most this many numbers are shown in full


def _numbers_summary(values: Sequence[float | None]) -> str:
    """Many numbers in words: how many, and how many ones (0/1 results) or the mean of the finite ones."""
    n = len(values)
    finite = [v for v in values if v is not None]
    missing = f", {n - len(finite)} not finite" if len(finite) < n else ""
    if not finite:
        return f"{n} values, none finite"
    if all(v in (0.0, 1.0) for v in finite):
        ones = int(sum(finite))
        return f"{n} values, {ones} ones ({100 * ones / len(finite):.1f}%){missing}"
    return f"{n} values, mean {sum(finite) / len(finite):.4g}{missing}"


def value_summary(value: Any, limit: int = SUMMARY_LIMIT) -> str:
    """A value of a record's details for a table cell, never as raw JSON: scalars as :func:`scalar_text` gives
    them; a list of at most :data:`SHORT_LIST` numbers, or of short strings, comma-separated; a longer list of
    numbers as its length with its count of ones (0/1 per-image results) or its mean; a mapping as ``key: value``
    pairs; anything longer than ``limit`` characters as the count of its items and its first keys.

    >>> value_summary([1, 0, 1, 1, 0, 1, 1, 1]), value_summary([0.5, 0.25, 0.75, 1.0, 0.5, 0.0, 0.5])
    ('8 values, 6 ones (75.0%)', '7 values, mean 0.5')
    >>> value_summary([0.0, 0.2]), value_summary(["cam", "saliency"]), value_summary([])
    ('0, 0.2', 'cam, saliency', 'none')
    >>> value_summary({"after": [0.5] * 500, "control": [1, 0] * 250})
    'after: 500 values, mean 0.5; control: 500 values, 250 ones (50.0%)'
    >>> value_summary({f"k{i}": i for i in range(40)})
    '40 entries: k0, k1, k2, k3, …'
    """
    if value is None or isinstance(value, str | int | float | bool):
        return scalar_text(value)
    if isinstance(value, Mapping):
        if not value:
            return "none"
        text = "; ".join(f"{k}: {value_summary(v, limit)}" for k, v in value.items())
        if len(text) <= limit:
            return text
        keys = [str(k) for k in value]
        return f"{len(keys)} entries: {', '.join(keys[:4])}{', …' if len(keys) > 4 else ''}"
    if isinstance(value, list | tuple):
        if not value:
            return "none"
        if all(isinstance(v, int | float) for v in value):
            if len(value) <= SHORT_LIST:
                return ", ".join(scalar_text(v) for v in value)
            return _numbers_summary([float(v) if isinstance(v, bool) else finite_number(v) for v in value])
        nested = any(isinstance(v, Mapping | list | tuple) for v in value)
        text = (" | " if nested else ", ").join(value_summary(v, limit) for v in value)
        return text if len(text) <= limit else f"{len(value)} items"
    return f"a {type(value).__name__}"


def sections(record: Record) -> list[tuple[str, Mapping[str, Any]]]:
    """``(stage, details)`` pairs of a record whose details are mappings, sorted by stage name."""
    return [(k, v) for k, v in sorted(record.details.items()) if isinstance(v, Mapping)]
