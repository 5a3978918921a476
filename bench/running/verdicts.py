"""Verdicts on a whole record, from what its stages measured: gradient masking (the evidence of the sanity and
attack stages weighed together) and crashed stages. Both are ``fail`` flags: the entry is listed, never ranked.
The per-model and per-attack checks they build on are in :mod:`bench.running.checks`."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from bench.running.flags import Check, make_flag
from bench.types import Flag, Unit


@dataclass(frozen=True)
class MaskingEvidence:
    """What the gradient-masking rule (:func:`gradient_masking`) reads from an entry's stages; ``None`` where
    the stage that measures it did not run."""

    zero_gradient_fraction: float | None = None  # sanity: images whose logit-margin gradient is exactly zero
    large_eps_accuracy: float | None = None  # sanity: PGD accuracy at a budget that allows any image
    robust_accuracy: float | None = None  # worst case over every attack within the track's budget
    square_gap: float | None = None  # AutoAttack: accuracy the gradient attacks left that Square then broke


@dataclass(frozen=True)
class MaskingThresholds:
    """Where :func:`gradient_masking` draws its lines (see its docstring for why there)."""

    zero_fraction: float = 0.05
    near_zero_accuracy: float = 0.05
    square_gap: float = 0.05


def gradient_masking(ev: MaskingEvidence, th: MaskingThresholds = MaskingThresholds()) -> Flag | None:
    """The ``fail`` flag of a model whose gradient attacks do not measure its robustness (RobustBench admits
    only defenses with non-zero gradients, Croce et al. 2021, https://arxiv.org/abs/2010.09670, §3.1). Any of:

    * **vanishing**: at least ``zero_fraction`` of the checked images have an exactly zero logit-margin
      gradient (honest networks have none: the margin does not saturate);
    * **blocked**: accuracy at a budget that allows any image stays above ``near_zero_accuracy`` *and* so does
      the robust accuracy at the track's ε — the attacks are stopped, and the number the entry would rank by
      is not near zero (defensive distillation, blocked for cross-entropy PGD but brought to 0% by AutoAttack's
      DLR loss, is not flagged: its ranking number is already honest);
    * **shattered**: Square, run last in AutoAttack, breaks at least ``square_gap`` of the images every
      gradient attack missed (AutoAttack's own check fires at 0.2 points and does so on honest adversarially
      trained models at 200 images, e.g. 0.5 points for TRADES on mnist5k; this asks 25 times more).

    >>> gradient_masking(MaskingEvidence(zero_gradient_fraction=1.0)).name
    'gradient_masking'
    >>> gradient_masking(MaskingEvidence(large_eps_accuracy=0.9, robust_accuracy=0.0)) is None  # distillation
    True
    >>> gradient_masking(MaskingEvidence(0.0, 0.0, 0.63, 0.005)) is None  # TRADES
    True
    """
    reasons: list[str] = []
    z, big, robust, gap = ev.zero_gradient_fraction, ev.large_eps_accuracy, ev.robust_accuracy, ev.square_gap
    if z is not None and z >= th.zero_fraction:
        reasons.append(f"zero input gradient on {Unit.FRACTION.text(z)} of the checked images")
    if big is not None and robust is not None and big > th.near_zero_accuracy and robust > th.near_zero_accuracy:
        reasons.append(
            f"{Unit.FRACTION.text(big)} accuracy at a budget that allows any image, "
            f"{Unit.FRACTION.text(robust)} robust accuracy at the track's ε"
        )
    if gap is not None and gap >= th.square_gap:
        reasons.append(f"Square broke {Unit.FRACTION.text(gap)} of the images every gradient attack missed")
    if not reasons:
        return None
    evidence = {k: v for k, v in dataclasses.asdict(ev).items() if v is not None}
    return make_flag(Check.GRADIENT_MASKING, evidence, detail="; ".join(reasons))


def stage_failed(errors: Mapping[str, str]) -> Flag | None:
    """The ``fail`` flag of a record some of whose stages crashed (``errors``: stage → error text), naming
    each stage and the last line of its error.

    >>> stage_failed({"pgd": "RuntimeError: boom"}).message.endswith("(pgd: RuntimeError: boom).")
    True
    """
    if not errors:
        return None
    errors = dict(sorted(errors.items()))
    parts = [f"{stage}: {(text.strip().splitlines() or ['no message'])[-1][:200]}" for stage, text in errors.items()]
    return make_flag(Check.STAGE_FAILED, {"stages": float(len(errors))}, detail="; ".join(parts))
