"""The ``gradient_masking`` finalizer: a ``fail`` flag when the gradient attacks do not measure an entry's
robustness (the rule, its thresholds and why: :func:`bench.running.verdicts.gradient_masking`).

It reads what other stages measured — the ``sanity`` stage's zero-gradient fraction and large-ε accuracy, the
worst case over every attack within the budget (:func:`bench.stages.robust_accuracy.budget_vectors`) and
AutoAttack's per-attack breakdown — so it needs no compute of its own, and a stage that did not run simply
contributes no evidence.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench.plugins import FINALIZERS
from bench.protocols import StageOutput
from bench.running.runner import RecordDraft
from bench.running.verdicts import MaskingEvidence, MaskingThresholds, gradient_masking
from bench.scores.accuracy import worst_case
from bench.stages.robust_accuracy import budget_vectors


def _sanity(outputs: Mapping[str, StageOutput]) -> tuple[float | None, float | None, float | None]:
    """(zero-gradient fraction, large-ε accuracy, its near-zero threshold) from the ``sanity`` stage."""
    out = outputs.get("sanity")
    if out is None:
        return None, None, None
    checks: Mapping[str, Any] = out.details.get("checks", {})
    zero = checks.get("zero_gradients")
    fraction = None if zero is None else float(zero.get("evidence", {}).get("fraction", 0.0))
    large: Mapping[str, Any] = out.details.get("large_eps", {})
    accuracy = large.get("accuracy")
    limit = large.get("max_accuracy")
    return fraction, None if accuracy is None else float(accuracy), None if limit is None else float(limit)


def square_gap(per_attack: Mapping[str, Any]) -> float | None:
    """How much accuracy Square, run last, took below the gradient attacks of AutoAttack's ensemble (``None``
    without Square or with fewer than one gradient attack before it).

    >>> square_gap({"apgd-ce": 0.5, "apgd-t": 0.45, "fab-t": 0.45, "square": 0.3})
    0.15000000000000002
    """
    gradient = [float(v) for k, v in per_attack.items() if k not in ("square", "clean")]
    if "square" not in per_attack or not gradient:
        return None
    return max(0.0, min(gradient) - float(per_attack["square"]))


def masking_evidence(outputs: Mapping[str, StageOutput]) -> tuple[MaskingEvidence, MaskingThresholds]:
    """The evidence :func:`~bench.running.verdicts.gradient_masking` weighs, from an entry's stage outputs."""
    zero, large, limit = _sanity(outputs)
    vectors = budget_vectors(outputs)
    robust = worst_case(vectors).value if vectors else None
    aa = outputs.get("autoattack")
    gap = square_gap(aa.details.get("per_attack", {})) if aa is not None else None
    thresholds = MaskingThresholds() if limit is None else MaskingThresholds(near_zero_accuracy=limit)
    return MaskingEvidence(zero, large, robust, gap), thresholds


@FINALIZERS.register("gradient_masking")
def gradient_masking_check(draft: RecordDraft) -> StageOutput:
    """The ``gradient_masking`` flag, when the evidence in ``draft`` calls for it."""
    evidence, thresholds = masking_evidence(draft.outputs)
    flag = gradient_masking(evidence, thresholds)
    return StageOutput(flags=(flag,) if flag is not None else ())
