"""Sanity flags: :func:`make_flag` turns a check's finding into the record's :class:`~bench.types.Flag`. The
vocabulary (names, explanations, severities) is data in :mod:`bench.results.flags`, re-exported here; the checks
that raise them live in :mod:`bench.running.checks` and in the stages."""

from __future__ import annotations

import math
from collections.abc import Mapping

from bench.results.flags import EXPLANATIONS as EXPLANATIONS
from bench.results.flags import SEVERITY as SEVERITY
from bench.results.flags import Check as Check
from bench.types import Flag, Severity


def make_flag(
    check: Check, evidence: Mapping[str, float], *, detail: str = "", severity: Severity | None = None
) -> Flag:
    """The flag of ``check`` with its one-line explanation (plus an optional short ``detail``)."""
    message = EXPLANATIONS[check] + (f" ({detail})" if detail else "") + "."
    clean = {k: float(v) for k, v in evidence.items() if math.isfinite(float(v))}
    return Flag(name=check.value, message=message, severity=severity or SEVERITY[check], evidence=clean)
