"""What ``robex verify`` checks and reports: one :class:`ScoreCheck` per re-run score, the tolerance rule,
and the :class:`VerifyReport`.

Tolerance of a score with record value p (on N images) and re-run value v (on the first m images):

* With the record's own per-image results (``details[<stage>]`` 0/1 or real lists), the record *already
  states* the value on those m images, p_m; the check is |v − p_m| ≤ slack, where ``slack`` (default 0.02,
  absolute for fractions, relative otherwise) only absorbs non-determinism (kernels, batch composition).
  The record is also checked for consistency: p must equal the mean of its per-image results.
* Otherwise |v − p| ≤ z·σ·sqrt(|1/m − 1/N|) + slack. The evaluation subset is a seeded random
  permutation, so the first m and the first N images are nested simple random samples and
  Var(mean_m − mean_N) = σ²·|1/m − 1/N|. σ is sqrt(p(1 − p)) for fractions, else recovered from the
  record's 95% interval (σ = (high − low)/(2·1.96)·sqrt(N)); without an interval only the slack applies.
  z defaults to 3.29 (two-sided 99.9%), so an honest record fails a given check about once in a thousand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bench.types import Unit

if TYPE_CHECKING:
    from bench.results.records import Record


@dataclass(frozen=True)
class ScoreCheck:
    """One score of the record against its re-run."""

    score: str
    title: str
    unit: str
    recorded: float
    recorded_n: int
    expected: float
    rerun: float | None
    rerun_n: int | None
    tolerance: float
    basis: str
    ok: bool
    note: str = ""


@dataclass
class VerifyReport:
    """Every check of one record; ``ok`` when all passed and at least one score was checked."""

    entry: str
    track: str
    n: int
    checks: list[ScoreCheck] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    weights_match: bool | None = None

    @property
    def ok(self) -> bool:
        """Whether the record passed."""
        return not self.errors and bool(self.checks) and all(c.ok for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        """JSON-native form."""
        return {
            "entry": self.entry,
            "track": self.track,
            "n": self.n,
            "ok": self.ok,
            "weights_match": self.weights_match,
            "checks": [c.__dict__ for c in self.checks],
            "notes": self.notes,
            "errors": self.errors,
        }

    def summary(self) -> str:
        """A text table and the verdict."""
        rows = [["score", "recorded", "expected on re-run images", "re-run", "tolerance", "basis", ""]]
        for c in self.checks:
            rows.append(
                [
                    c.title,
                    f"{Unit.of(c.unit).text(c.recorded)} (n={c.recorded_n})",
                    Unit.of(c.unit).text(c.expected),
                    f"{Unit.of(c.unit).text(c.rerun)} (n={c.rerun_n})" if c.rerun is not None else "—",
                    f"±{_tol_text(c.tolerance, c.unit)}",
                    c.basis + (f"; {c.note}" if c.note else ""),
                    "ok" if c.ok else "MISMATCH",
                ]
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = [f"verify {self.entry} on {self.track} (first {self.n} evaluation images)"]
        lines += ["  ".join(x.ljust(w) for x, w in zip(r, widths, strict=True)).rstrip() for r in rows]
        lines += [f"note: {n}" for n in self.notes]
        lines += [f"error: {e}" for e in self.errors]
        bad = [c.title for c in self.checks if not c.ok]
        if self.ok:
            lines.append(f"OK: {len(self.checks)} scores agree with the record within tolerance.")
        else:
            what = f"mismatch in {', '.join(bad)}" if bad else "nothing could be checked"
            lines.append(f"FAILED: {what}." if not self.errors or bad else "FAILED.")
        return "\n".join(lines)


def _tol_text(tol: float, unit: str) -> str:
    return Unit.of(unit).difference_text(tol).lstrip("+")


# ------------------------------------------------------------------------------------------ tolerance
def tolerance(
    unit: str,
    recorded: float,
    recorded_n: int,
    rerun_n: int,
    ci: tuple[float | None, float | None],
    *,
    z: float = 3.29,
    slack: float = 0.02,
) -> tuple[float, str]:
    """The allowed |re-run − record| when the record has no per-image results (see the module docstring).

    >>> t, _ = tolerance("fraction", 0.5, 1000, 200, (None, None), z=2.0, slack=0.0)
    >>> round(t, 6) == round(2.0 * 0.5 * math.sqrt(1 / 200 - 1 / 1000), 6)
    True
    >>> tolerance("fraction", 0.5, 200, 200, (None, None), slack=0.02)[0]
    0.02
    """
    nested = math.sqrt(abs(1 / rerun_n - 1 / recorded_n)) if recorded_n > 0 and rerun_n > 0 else 0.0
    absolute = slack if unit == "fraction" else slack * abs(recorded) + 1e-9
    if unit == "fraction":
        sigma = math.sqrt(max(0.0, recorded * (1 - recorded)))
        return z * sigma * nested + absolute, f"sampling (z={z:g}, Bernoulli σ) + slack"
    lo, hi = ci
    if lo is not None and hi is not None and recorded_n > 0:
        sigma = (hi - lo) / (2 * 1.959964) * math.sqrt(recorded_n)
        return z * sigma * nested + absolute, f"sampling (z={z:g}, σ from the record's interval) + slack"
    return absolute, "no interval in the record: relative slack only"


# ------------------------------------------------------------------------------------------ entries and cells


def check_score(
    record: Record, name: str, rerun_value: float, rerun_n: int, *, unit: str, title: str, z: float, slack: float
) -> ScoreCheck:
    """Check one re-run score against the record (see the module docstring)."""
    from bench.results.compare import per_image

    s = record.scores[name]
    vector = per_image(record, name)
    if vector is not None and len(vector) >= rerun_n:
        expected = float(vector[:rerun_n].mean())
        tol = slack if unit == "fraction" else slack * abs(expected) + 1e-9
        consistent = abs(float(vector.mean()) - s.value) <= 1e-9 * max(1.0, abs(s.value))
        ok = consistent and abs(rerun_value - expected) <= tol
        note = "" if consistent else f"the record's value differs from its per-image results' mean {vector.mean():.6g}"
        return ScoreCheck(
            name, title, unit, s.value, s.n, expected, rerun_value, rerun_n, tol, "record's per-image results", ok, note
        )
    tol, basis = tolerance(unit, s.value, s.n, rerun_n, (s.ci_low, s.ci_high), z=z, slack=slack)
    ok = abs(rerun_value - s.value) <= tol
    return ScoreCheck(name, title, unit, s.value, s.n, s.value, rerun_value, rerun_n, tol, basis, ok)
