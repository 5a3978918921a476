"""Small text helpers of the view model: slugs, safe links, score intervals, scalars from details."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
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
    """A scalar from a record's details as table text (floats to 4 significant digits, ``—`` for none)."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else "—"
    if isinstance(value, str | int | bool):
        return str(value)
    return json.dumps(value, sort_keys=True, default=str)


def sections(record: Record) -> list[tuple[str, Mapping[str, Any]]]:
    """``(stage, details)`` pairs of a record whose details are mappings, sorted by stage name."""
    return [(k, v) for k, v in sorted(record.details.items()) if isinstance(v, Mapping)]
