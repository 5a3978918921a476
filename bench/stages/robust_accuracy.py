"""Cross-stage finalizers of the robustness scores: ``robust_accuracy`` (the per-image worst case over every
attack run within the track's threat model) and the flags that need more than one stage's output.

Attacks within the budget are read generically: every stage's :meth:`~bench.protocols.Stage.robust_vectors`
gives the per-image robustness of the attacks it ran (``pgd``, ``autoattack``, the ``sanity`` stage's PGD runs,
the ``pgd_sweep`` runs at ε ≤ the track's ε, each transfer set within the budget over every source, ...). A
stage that runs another attack within the budget lists it (default: ``details["attacks_at_eps"]`` items with
a ``robust`` list) and it is taken into the worst case with no change here.

``robust_accuracy`` is AutoAttack's per-image worst case (:func:`bench.scores.accuracy.worst_case`): an image
counts as robust only if every attack fails on it, on the image prefix that every attack covers (the stages
take prefixes of the same image order); its ``n`` is that prefix's length. A minimum of the attacks'
accuracies over *different* prefixes would compare different images (biased low when the attacks break the
same images) and miss images only one attack breaks.

Finalizers: ``robust_accuracy``; ``transfer_vs_whitebox`` (examples transferred from another entry break
significantly more images than white-box PGD on the same images); ``autoattack_checks`` (AutoAttack's own
warnings and its Square-vs-gradient check, for the checks the ``sanity`` stage did not already flag).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench.plugins import FINALIZERS, STAGES, register_score
from bench.protocols import StageOutput
from bench.results.catalogue import builtin_spec
from bench.results.intervals import wilson_interval
from bench.running.checks import blackbox_beats_whitebox, classify_autoattack_warning, transfer_beats_whitebox
from bench.running.flags import SEVERITY, Check, make_flag
from bench.running.runner import RecordDraft
from bench.scores.accuracy import worst_case
from bench.types import Flag, ScoreValue, Severity

ROBUST = register_score(builtin_spec("robust_accuracy"))


def budget_vectors(outputs: Mapping[str, StageOutput]) -> dict[str, list[int]]:
    """``{"<stage>: <attack>": per-image robust 0/1}`` of every attack within the threat model in an entry's
    stage outputs (see the module docstring); outputs of names that are not stages are skipped."""
    found: dict[str, list[int]] = {}
    for stage, out in sorted(outputs.items()):
        if stage not in STAGES:
            continue
        for label, robust in STAGES.create(stage).robust_vectors(out).items():
            found[f"{stage}: {label}"] = robust
    return found


@FINALIZERS.register("robust_accuracy")
def robust_accuracy(draft: RecordDraft) -> StageOutput:
    """``robust_accuracy`` = the per-image worst case over every attack within the budget on their common image
    prefix, with each attack's accuracy on its own images and on the prefix in details."""
    vectors = budget_vectors(draft.outputs)
    if not vectors:
        return StageOutput()
    worst = worst_case(vectors)
    k = sum(worst.robust)
    lo, hi = wilson_interval(k, worst.n)
    table: list[dict[str, Any]] = [
        {
            "attack": label,
            "accuracy": sum(v) / len(v),
            "n": len(v),
            "accuracy_on_common": worst.accuracy[label],
            "only_this_breaks": worst.only[label],
        }
        for label, v in vectors.items()
    ]
    strongest = min(worst.accuracy, key=lambda a: (worst.accuracy[a], -len(vectors[a]), a))
    return StageOutput(
        scores=(ScoreValue(ROBUST.name, worst.value, worst.n, lo, hi),),
        details={
            "n": worst.n,
            "attacks": len(vectors),
            "attack": strongest,
            "robust": list(worst.robust),
            "table": table,
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
