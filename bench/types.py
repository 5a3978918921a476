"""Value types shared by every part of robex: closed sets as enums, records as frozen dataclasses."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction


class Norm(StrEnum):
    """Threat-model norms."""

    LINF = "linf"
    L2 = "l2"


@dataclass(frozen=True)
class ThreatModel:
    """A perturbation budget on inputs in ``[lower, upper]``.

    ``text`` keeps the rational spelling (``"8/255"``) so records can show it exactly.
    """

    norm: Norm
    eps: float
    text: str = ""
    lower: float = 0.0
    upper: float = 1.0

    @classmethod
    def parse(cls, text: str) -> ThreatModel:
        """Parse ``"linf:0.3"`` or ``"linf:8/255"``.

        >>> ThreatModel.parse("linf:8/255").eps == 8 / 255
        True
        """
        try:
            norm_text, eps_text = text.split(":", 1)
            norm = Norm(norm_text.strip().lower())
            eps = float(Fraction(eps_text.strip()))
        except (ValueError, ZeroDivisionError) as exc:
            raise ValueError(f"threat model must look like 'linf:0.3' or 'l2:0.5', got {text!r}") from exc
        if not (eps > 0 and math.isfinite(eps)):
            raise ValueError(f"threat model epsilon must be positive and finite, got {text!r}")
        return cls(norm=norm, eps=eps, text=f"{norm.value}:{eps_text.strip()}")

    def __str__(self) -> str:
        return self.text or f"{self.norm.value}:{self.eps:g}"


class Unit(StrEnum):
    """How a score's number is read and printed."""

    FRACTION = "fraction"  # accuracies, rates in [0, 1]; shown as percent
    RMSE = "rmse"  # [0, 1]-pixel RMSE units (ARA, radii)
    SCORE = "score"  # a unitless number (AUC, correlation, tau)
    SECONDS = "seconds"

    def text(self, value: float | None) -> str:
        """A value of this unit as robex shows it everywhere (site, CLI, claims): fractions as percent with one
        decimal, RMSE with 4 decimals, seconds with 1, other scores with 3; ``—`` when missing or not finite.

        >>> Unit.FRACTION.text(0.91234), Unit.RMSE.text(0.0123456), Unit.SCORE.text(None), Unit.SECONDS.text(3.14)
        ('91.2%', '0.0123', '—', '3.1 s')
        """
        if value is None or not math.isfinite(value):
            return "—"
        return _FORMATS[self].format(100 * value if self is Unit.FRACTION else value)

    def difference_text(self, value: float | None) -> str:
        """A signed difference of two values of this unit (percentage points for fractions).

        >>> Unit.FRACTION.difference_text(-0.0123), Unit.SCORE.difference_text(0.5), Unit.RMSE.difference_text(None)
        ('-1.2 pp', '+0.500', '—')
        """
        if value is None or not math.isfinite(value):
            return "—"
        if self is Unit.FRACTION:
            return f"{100 * value:+.1f} pp"
        return "+" + self.text(value) if value >= 0 else self.text(value)

    @classmethod
    def of(cls, name: str) -> Unit:
        """The unit called ``name``; unknown names read as a plain :attr:`SCORE`."""
        try:
            return cls(name)
        except ValueError:
            return cls.SCORE


_FORMATS: dict[Unit, str] = {
    Unit.FRACTION: "{:.1f}%",
    Unit.RMSE: "{:.4f}",
    Unit.SCORE: "{:.3f}",
    Unit.SECONDS: "{:.1f} s",
}


class Category(StrEnum):
    """Groups of leaderboard columns."""

    ACCURACY = "accuracy"
    ROBUSTNESS = "robustness"
    TRANSFER = "transfer"
    ARA = "ara"
    FIDELITY = "explanation fidelity"
    EXPLANATION_ROBUSTNESS = "explanation robustness"
    MANIPULABILITY = "explanation manipulability"
    RANDOMIZATION = "explanation randomisation"


class Axis(StrEnum):
    """The two axes of the leaderboard's two-axis view; a family's headline score sits on one of them."""

    ROBUSTNESS = "robustness"
    EXPLANATION = "explanation"


class Severity(StrEnum):
    """How bad a sanity flag is: ``FAIL`` keeps an entry out of the ranking as if clean."""

    INFO = "info"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class ScoreSpec:
    """Metadata of one leaderboard score; the leaderboard reads sort direction and grouping from here.

    Attributes:
        name: Registry key and record key (``snake_case``).
        title: Column header.
        higher_is_better: Sort direction.
        unit: How the value is read.
        category: Column group.
        description: One sentence a reviewer can check the number against (formula, paper).
        primary: Whether the index table shows it as a column (others are on the entry page only).
        order: Column order within the table (lower first).
        source: The paper the score comes from (``""``: none named), shown on the site's About page.
        source_url: That paper's public link (arXiv or proceedings; ``""`` when there is none).
        headline: The axis of the two-axis view when this score is its category's headline (the one column of
            the family the index shows before its group is expanded), else ``None``.
        family: Scores derived from one measurement (a gap and its parts) share a family name (``""``: the score
            is a family of its own); metric-agreement views keep one score per family.
    """

    name: str
    title: str
    higher_is_better: bool
    unit: Unit
    category: Category
    description: str
    primary: bool = True
    order: int = 100
    source: str = ""
    source_url: str = ""
    headline: Axis | None = None
    family: str = ""


@dataclass(frozen=True)
class ScoreValue:
    """One measured score: the number, how many images it used, and an optional 95% interval."""

    name: str
    value: float
    n: int
    ci_low: float | None = None
    ci_high: float | None = None


@dataclass(frozen=True)
class Flag:
    """A sanity flag raised on an entry, with a one-line explanation."""

    name: str
    message: str
    severity: Severity = Severity.WARN
    evidence: dict[str, float] = field(default_factory=dict)
