"""Cross-stage finalizers of the robustness scores: ``robust_accuracy`` (the minimum over every attack run
within the track's threat model) and the flags that need more than one stage's output.

Sources of attack accuracies within the budget, read generically from an entry's draft record:

* the scores in :data:`BUDGET_SCORES` (AutoAttack, PGD, worst transfer source), and
* every ``details[<stage>]["attacks_at_eps"]`` mapping ``{label: {"accuracy": a, "n": n}}`` (the sanity
  stage's PGD runs, the transfer grid's attacks at ε ≤ the track's ε, ...). A stage that runs another
  attack within the budget adds it there and it is taken into the minimum with no change here.

Finalizers: ``robust_accuracy``; ``transfer_vs_whitebox`` (examples transferred from another entry break
significantly more images than white-box PGD on the same images); ``autoattack_checks`` (AutoAttack's own
warnings and its Square-vs-gradient check, for the checks the ``sanity`` stage did not already flag).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bench.checks import (
    SEVERITY,
    Check,
    blackbox_beats_whitebox,
    classify_autoattack_warning,
    make_flag,
    transfer_beats_whitebox,
)
from bench.plugins import FINALIZERS, register_score
from bench.protocols import StageOutput
from bench.runner import RecordDraft
from bench.scores.accuracy import wilson_interval
from bench.types import Category, Flag, ScoreSpec, ScoreValue, Severity, Unit

ROBUST = register_score(
    ScoreSpec(
        name="robust_accuracy",
        title="Robust acc. (min)",
        higher_is_better=True,
        unit=Unit.FRACTION,
        category=Category.ROBUSTNESS,
        order=22,
        description="Minimum accuracy over every attack run within the track's threat model (AutoAttack, PGD, "
        "the sanity stage's PGD runs, examples transferred from every other entry); the attack is named in "
        "the record.",
    )
)

BUDGET_SCORES: tuple[str, ...] = ("autoattack_accuracy", "pgd_accuracy", "transfer_accuracy_worst")


@dataclass(frozen=True)
class AttackAccuracy:
    """One attack's accuracy within the budget: where it came from, the value and its image count."""

    label: str
    accuracy: float
    n: int
    ci_low: float | None = None
    ci_high: float | None = None


def budget_accuracies(outputs: Mapping[str, StageOutput]) -> list[AttackAccuracy]:
    """Every attack accuracy within the threat model found in an entry's stage outputs (see module doc)."""
    found: list[AttackAccuracy] = []
    for stage, out in sorted(outputs.items()):
        for s in out.scores:
            if s.name in BUDGET_SCORES:
                found.append(AttackAccuracy(s.name, float(s.value), int(s.n), s.ci_low, s.ci_high))
        for label, item in sorted(dict(out.details.get("attacks_at_eps", {})).items()):
            acc, n = float(item["accuracy"]), int(item["n"])
            lo, hi = wilson_interval(round(acc * n), n) if n > 0 else (None, None)
            found.append(AttackAccuracy(f"{stage}: {label}", acc, n, lo, hi))
    return found


def minimum_accuracy(found: list[AttackAccuracy]) -> AttackAccuracy | None:
    """The lowest accuracy (ties: the one with more images, then the first found).

    >>> minimum_accuracy([AttackAccuracy("a", 0.5, 100), AttackAccuracy("b", 0.4, 50)]).label
    'b'
    """
    if not found:
        return None
    return min(found, key=lambda a: (a.accuracy, -a.n))


@FINALIZERS.register("robust_accuracy")
def robust_accuracy(draft: RecordDraft) -> StageOutput:
    """``robust_accuracy`` = min over every attack run within the budget, with the breakdown in details."""
    found = budget_accuracies(draft.outputs)
    worst = minimum_accuracy(found)
    if worst is None:
        return StageOutput()
    return StageOutput(
        scores=(ScoreValue(ROBUST.name, worst.accuracy, worst.n, worst.ci_low, worst.ci_high),),
        details={
            "attack": worst.label,
            "table": [{"attack": a.label, "accuracy": a.accuracy, "n": a.n} for a in found],
        },
    )


def _robust_list(draft: RecordDraft, stage: str, key: str) -> list[int] | None:
    out = draft.outputs.get(stage)
    value = None if out is None else out.details.get(key)
    return list(value) if isinstance(value, list) and value else None


@FINALIZERS.register("transfer_vs_whitebox")
def transfer_vs_whitebox(draft: RecordDraft) -> StageOutput:
    """Flag when the strongest transferred examples beat a white-box attack on the same images: the diagonal
    of the transfer matrix (the same attack crafted on this model) or the ``pgd`` stage."""
    transfer = draft.outputs.get("transfer")
    worst = _robust_list(draft, "transfer", "worst_robust")
    if transfer is None or worst is None:
        return StageOutput()
    source = str(transfer.details.get("worst_source", "another entry"))
    attack = str(transfer.details.get("attack", "transfer"))
    whiteboxes = {
        f"{attack} crafted on this model": _robust_list(draft, "transfer", "self_robust"),
        "pgd stage": _robust_list(draft, "pgd", "robust"),
    }
    for name, robust in whiteboxes.items():
        if robust is None:
            continue
        flag = transfer_beats_whitebox(robust, worst, whitebox=name, transfer=f"{attack} from {source}")
        if flag is not None:
            return StageOutput(flags=(flag,))
    return StageOutput()


@FINALIZERS.register("autoattack_checks")
def autoattack_checks(draft: RecordDraft) -> StageOutput:
    """AutoAttack's warnings (captured by the ``autoattack`` stage) as flags, plus its Square-vs-gradient
    check on the per-attack breakdown; checks the ``sanity`` stage already flagged are not repeated."""
    aa = draft.outputs.get("autoattack")
    if aa is None:
        return StageOutput()
    sanity = draft.outputs.get("sanity")
    already = {f.name for f in sanity.flags} if sanity is not None else set()
    declared = bool(aa.details.get("randomized", False))
    flags: dict[str, Flag] = {}
    per_attack: Mapping[str, Any] = aa.details.get("per_attack", {})
    square = blackbox_beats_whitebox({k: float(v) for k, v in per_attack.items()})
    if square is not None:
        flags[square.name] = square
    for message in aa.details.get("warnings", []):
        check = classify_autoattack_warning(str(message))
        if check is None or check.value in flags:
            continue
        severity = Severity.INFO if (check is Check.RANDOMIZED and declared) else SEVERITY[check]
        flags[check.value] = make_flag(check, {}, detail=f"AutoAttack: {str(message)[:160]}", severity=severity)
    return StageOutput(flags=tuple(f for name, f in sorted(flags.items()) if name not in already))
