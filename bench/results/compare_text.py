"""``robex compare``'s output: plain-text tables and JSON of :class:`~bench.results.compare.Comparison`\ s."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from bench.results.compare import Comparison


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
                ci = f"[{unit.difference_text(res.ci_low)}, {unit.difference_text(res.ci_high)}]"
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
                    unit.text(r.value),
                    unit.text(r.other_value),
                    unit.difference_text(r.difference),
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
                    "unit": r.score.unit.value,
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
