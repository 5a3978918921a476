"""Sanity checks that tell whether a robustness number can be trusted (gradient masking, broken models).

Two kinds:

* **Model checks** look at the model itself on a batch: non-finite outputs, softmax outputs instead of
  logits, zero input gradients, randomness, a dynamic (test-time optimising) forward pass, BatchNorm
  statistics updated during evaluation. The first four follow AutoAttack's own checks (Croce & Hein 2020,
  ``pyautoattack/checks.py``, documented in AutoAttack's ``flags_doc.md``), re-implemented so they run on
  every entry whatever attacks ran.
* **Attack-consistency checks** compare attack results: accuracy not near zero at a huge ε, more attack
  steps giving higher accuracy, a transferred (black-box) attack beating the white-box one on the same
  images (Carlini et al. 2019, "On Evaluating Adversarial Robustness", §5; Athalye et al. 2018). Paired
  per-image results are compared with a one-sided sign test on the discordant images, so a difference of
  one or two images out of hundreds does not raise a flag.

Every check returns a :class:`~bench.types.Flag` (with a one-line explanation, a severity and numeric
evidence) or ``None``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import CodeType, FrameType
from typing import Any

import torch
from scipy.stats import binomtest
from torch import Tensor, nn

from bench.protocols import evaluation_mode
from bench.running.flags import Check, make_flag
from bench.scores.holdout import HoldoutComparison
from bench.scores.shift import ShiftComparison
from bench.types import Flag, Severity, Unit


# ------------------------------------------------------------------------------------------ model checks
def check_nonfinite(model: nn.Module, x: Tensor) -> Flag | None:
    """Flag when any output value is NaN or ±inf (also checks the output is one row of scores per input)."""
    with torch.no_grad():
        out = model(x)
    if out.dim() != 2 or out.shape[0] != x.shape[0]:
        return make_flag(Check.NONFINITE, {}, detail=f"output shape {tuple(out.shape)} is not (N, K)")
    bad = ~torch.isfinite(out).all(dim=1)
    if bool(bad.any()):
        return make_flag(Check.NONFINITE, {"fraction": float(bad.float().mean())})
    return None


def check_softmax(model: nn.Module, x: Tensor, alpha: float = 1e-5) -> Flag | None:
    """AutoAttack's ``check_range_output``: every output in [−α, 1 + α] and every row summing to 1 ± α."""
    with torch.no_grad():
        out = model(x)
    looks_like_probabilities = (
        bool(out.max() < 1 + alpha) and bool(out.min() > -alpha) and bool(((out.sum(-1) - 1).abs() < alpha).all())
    )
    if looks_like_probabilities:
        return make_flag(Check.SOFTMAX, {"max_row_sum_error": float((out.sum(-1) - 1).abs().max())})
    return None


def margin(logits: Tensor, y: Tensor) -> Tensor:
    """Per-sample logit margin f_y − max_{j≠y} f_j (it does not saturate the way softmax cross-entropy does)."""
    true = logits.gather(1, y[:, None]).squeeze(1)
    others = logits.clone()
    others.scatter_(1, y[:, None], float("-inf"))
    return true - others.max(1).values


def check_zero_gradients(model: nn.Module, x: Tensor, y: Tensor) -> Flag | None:
    """Flag when some input has an exactly zero gradient of the logit margin (AutoAttack's
    ``check_zero_gradients``, on the margin rather than the cross-entropy so that very confident but
    differentiable images, whose float32 softmax saturates at 1, do not count)."""
    with evaluation_mode(model):
        xg = x.detach().clone().requires_grad_(True)
        objective = margin(model(xg), y).sum()
        grad = torch.autograd.grad(objective, xg, allow_unused=True)[0] if objective.requires_grad else None
    zero = torch.ones(len(x), dtype=torch.bool) if grad is None else grad.flatten(1).abs().sum(1) == 0
    if bool(zero.any()):
        return make_flag(
            Check.ZERO_GRADIENTS,
            {"fraction": float(zero.float().mean()), "count": float(zero.sum())},
            detail=f"{int(zero.sum())} of {len(x)} images",
        )
    return None


def check_randomized(
    model: nn.Module, x: Tensor, draws: int = 5, alpha: float = 1e-4, *, declared: bool = False
) -> Flag | None:
    """AutoAttack's ``check_randomized``: ``draws`` forward passes of the same batch; flag when their
    L2-normalised outputs differ by more than ``alpha`` or their correct counts differ. A defense that
    declares itself randomised gets an ``info`` flag (it is evaluated with EOT), an undeclared one a ``warn``."""
    if draws < 2:
        raise ValueError("draws must be at least 2")
    with torch.no_grad():
        outs = [model(x) for _ in range(draws)]
    normed = [o / (o.flatten(1).norm(dim=1).view(-1, 1) + 1e-10) for o in outs]
    max_diff = max(float((a - b).flatten(1).norm(dim=1).max()) for i, a in enumerate(normed) for b in normed[i + 1 :])
    preds = [o.argmax(1) for o in outs]
    flips = float(torch.stack([p != preds[0] for p in preds[1:]]).any(0).float().mean())
    if max_diff > alpha or flips > 0:
        severity = Severity.INFO if declared else None
        detail = "declared randomised; evaluated with EOT" if declared else "not declared randomised"
        return make_flag(
            Check.RANDOMIZED,
            {"max_output_difference": max_diff, "prediction_flip_fraction": flips},
            detail=detail,
            severity=severity,
        )
    return None


def _autograd_codes() -> frozenset[CodeType]:
    funcs: Iterable[Callable[..., Any]] = (torch.autograd.grad, torch.autograd.backward, torch.Tensor.backward)
    return frozenset(f.__code__ for f in funcs if hasattr(f, "__code__"))


def check_dynamic(model: nn.Module, x: Tensor) -> Flag | None:
    """AutoAttack's ``check_dynamic``: trace one forward pass and flag it when it calls
    ``torch.autograd.grad``/``backward`` (the model optimises something at test time)."""
    codes = _autograd_codes()
    calls = 0

    def tracer(frame: FrameType, event: str, arg: object) -> None:
        nonlocal calls
        if event == "call" and frame.f_code in codes:
            calls += 1

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        model(x.detach().clone())
    finally:
        sys.settrace(previous)
    if calls:
        return make_flag(Check.DYNAMIC, {"autograd_calls": float(calls)})
    return None


def check_batchnorm(model: nn.Module, x: Tensor) -> Flag | None:
    """Run the model as it is handed over (no mode change) and flag when any buffer (BatchNorm running
    mean/var, batch counters) changed. The buffers are restored afterwards, so the check has no side effect."""
    before = {name: b.detach().clone() for name, b in model.named_buffers()}
    try:
        with torch.no_grad():
            model(x)
        changed = sorted(
            name for name, b in model.named_buffers() if name in before and not torch.equal(b, before[name])
        )
    finally:
        buffers = dict(model.named_buffers())
        with torch.no_grad():
            for name, value in before.items():
                buffers[name].copy_(value)
    if changed:
        training = sum(1 for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training)
        return make_flag(
            Check.BATCHNORM,
            {"changed_buffers": float(len(changed)), "batchnorm_layers_in_train_mode": float(training)},
            detail=f"changed: {', '.join(changed[:3])}{'…' if len(changed) > 3 else ''}",
        )
    return None


MODEL_CHECKS: Mapping[Check, Callable[..., Flag | None]] = {
    Check.NONFINITE: check_nonfinite,
    Check.SOFTMAX: check_softmax,
    Check.ZERO_GRADIENTS: check_zero_gradients,
    Check.RANDOMIZED: check_randomized,
    Check.DYNAMIC: check_dynamic,
    Check.BATCHNORM: check_batchnorm,
}


def nonfinite_outputs(logits: Tensor) -> Flag | None:
    """Flag when any row of already computed outputs holds NaN or ±inf (the clean stage checks every
    evaluation image this way, so a NaN model never gets a clean record)."""
    bad = ~torch.isfinite(logits).all(dim=1)
    if bool(bad.any()):
        return make_flag(
            Check.NONFINITE,
            {"fraction": float(bad.float().mean()), "count": float(bad.sum())},
            detail=f"{int(bad.sum())} of {len(logits)} evaluation images",
        )
    return None


def holdout_disagrees(comparison: HoldoutComparison) -> Flag | None:
    """Flag when :func:`bench.scores.holdout.compare_holdout` says the published accuracy exceeds the
    held-out one by more than its tolerance (Newcombe interval of the difference entirely above it)."""
    c = comparison
    if not c.memorised:
        return None
    evidence = {
        "published_accuracy": c.published_accuracy,
        "published_n": float(c.published_n),
        "holdout_accuracy": c.holdout_accuracy,
        "holdout_n": float(c.holdout_n),
        "difference_ci_low": c.ci_low,
        "difference_ci_high": c.ci_high,
        "tolerance": c.tolerance,
    }
    detail = (
        f"{Unit.FRACTION.text(c.published_accuracy)} on {c.published_n} published vs "
        f"{Unit.FRACTION.text(c.holdout_accuracy)} on "
        f"{c.holdout_n} held-out images; {100 * c.confidence:g}% interval of the difference "
        f"[{100 * c.ci_low:.1f}, {100 * c.ci_high:.1f}] points lies above the {100 * c.tolerance:g}-point tolerance"
    )
    return make_flag(Check.HOLDOUT_DISAGREES, evidence, detail=detail)


def shift_disagrees(comparison: ShiftComparison) -> Flag | None:
    """Flag when :func:`bench.scores.shift.compare_shift` says robust accuracy collapses on shifted copies of
    the published images (Newcombe interval of the drop entirely above its tolerance)."""
    c = comparison
    if not c.collapses:
        return None
    evidence = {
        "robust_accuracy": c.original_accuracy,
        "shifted_robust_accuracy": c.shifted_accuracy,
        "n": float(c.n),
        "difference_ci_low": c.ci_low,
        "difference_ci_high": c.ci_high,
        "tolerance": c.tolerance,
    }
    detail = (
        f"{Unit.FRACTION.text(c.original_accuracy)} robust on {c.n} published images vs "
        f"{Unit.FRACTION.text(c.shifted_accuracy)} on the same images shifted; {100 * c.confidence:g}% interval of "
        f"the drop [{100 * c.ci_low:.1f}, {100 * c.ci_high:.1f}] points lies above the {100 * c.tolerance:g}-point "
        "tolerance"
    )
    return make_flag(Check.SHIFT_DISAGREES, evidence, detail=detail)


# ------------------------------------------------------------------------------------------ paired results
def _binary(values: Sequence[int] | Sequence[bool] | Tensor, what: str) -> list[bool]:
    seq = values.detach().cpu().flatten().tolist() if isinstance(values, Tensor) else list(values)
    if any(v not in (0, 1) for v in seq):
        raise ValueError(f"{what} must hold only 0/1 or booleans")
    return [bool(v) for v in seq]


def paired_worse(
    reference: Sequence[int] | Sequence[bool] | Tensor,
    other: Sequence[int] | Sequence[bool] | Tensor,
    alpha: float = 0.05,
) -> tuple[bool, dict[str, float]]:
    """Whether ``other`` is significantly *less* robust than ``reference`` on the same images (0/1 robust
    per image; the common prefix is compared). One-sided exact sign test on the discordant images:
    b = #{robust under reference, broken under other}, c = #{broken under reference, robust under other};
    significant when P(Binomial(b + c, ½) ≥ b) < ``alpha``.

    >>> paired_worse([1] * 10, [0] * 10)[0]
    True
    >>> paired_worse([1, 1, 0, 0], [1, 0, 0, 0])[0]  # one image: not significant
    False
    """
    ref = _binary(reference, "reference")
    oth = _binary(other, "other")
    n = min(len(ref), len(oth))
    ref, oth = ref[:n], oth[:n]
    b = sum(1 for r, o in zip(ref, oth, strict=True) if r and not o)
    c = sum(1 for r, o in zip(ref, oth, strict=True) if o and not r)
    p = float(binomtest(b, b + c, 0.5, alternative="greater").pvalue) if b + c else 1.0
    evidence = {
        "n": float(n),
        "reference_accuracy": sum(ref) / n if n else 0.0,
        "other_accuracy": sum(oth) / n if n else 0.0,
        "discordant_worse": float(b),
        "discordant_better": float(c),
        "p_value": p,
    }
    return (b > c and p < alpha), evidence


def transfer_beats_whitebox(
    whitebox_robust: Sequence[int] | Tensor,
    transfer_robust: Sequence[int] | Tensor,
    *,
    whitebox: str,
    transfer: str,
    alpha: float = 0.05,
) -> Flag | None:
    """Flag when examples transferred from another model break significantly more images than the
    white-box attack on the same images (per-image 0/1 robustness, sign test, see :func:`paired_worse`)."""
    worse, ev = paired_worse(whitebox_robust, transfer_robust, alpha)
    if worse:
        detail = (
            f"{transfer}: {Unit.FRACTION.text(ev['other_accuracy'])} vs white-box {whitebox}: "
            f"{Unit.FRACTION.text(ev['reference_accuracy'])} on {int(ev['n'])} images"
        )
        return make_flag(Check.TRANSFER_BEATS_WHITEBOX, ev, detail=detail)
    return None


def more_steps_raise_accuracy(
    robust_few: Sequence[int] | Tensor,
    robust_many: Sequence[int] | Tensor,
    *,
    steps: tuple[int, int],
    alpha: float = 0.05,
) -> Flag | None:
    """Flag when the attack with more steps leaves significantly *more* images robust than with fewer
    steps on the same images (sign test, see :func:`paired_worse`)."""
    worse, ev = paired_worse(robust_many, robust_few, alpha)
    if worse:
        detail = (
            f"{steps[0]} steps: {Unit.FRACTION.text(ev['other_accuracy'])}, {steps[1]} steps: "
            f"{Unit.FRACTION.text(ev['reference_accuracy'])}"
        )
        return make_flag(Check.MORE_STEPS, {**ev, "steps_few": steps[0], "steps_many": steps[1]}, detail=detail)
    return None


def large_eps_accuracy(accuracy: float, eps: float, *, max_accuracy: float, n: int) -> Flag | None:
    """Flag when the accuracy at a budget ``eps`` that allows any input (e.g. ℓ∞ ε = 1 on [0, 1]) stays
    above ``max_accuracy``.

    >>> large_eps_accuracy(0.0, 1.0, max_accuracy=0.05, n=100) is None
    True
    >>> large_eps_accuracy(0.6, 1.0, max_accuracy=0.05, n=100).name
    'large_eps_accuracy'
    """
    if accuracy > max_accuracy:
        return make_flag(
            Check.LARGE_EPS,
            {"accuracy": accuracy, "eps": eps, "n": float(n)},
            detail=f"{Unit.FRACTION.text(accuracy)} at ε = {eps:g}",
        )
    return None


def blackbox_beats_whitebox(per_attack: Mapping[str, float], alpha: float = 0.002) -> Flag | None:
    """AutoAttack's ``check_square_sr``: with the cumulative robust accuracy after each attack of the
    ensemble, flag when Square (black-box, run last) lowers it by more than ``alpha`` below the minimum of
    the other (gradient) attacks.

    >>> blackbox_beats_whitebox({"apgd-ce": 0.5, "apgd-t": 0.45, "fab-t": 0.45, "square": 0.3}).name
    'blackbox_beats_whitebox'
    >>> blackbox_beats_whitebox({"apgd-ce": 0.5, "apgd-t": 0.45, "fab-t": 0.45, "square": 0.45}) is None
    True
    """
    others = [v for k, v in per_attack.items() if k not in ("square", "clean")]
    if "square" not in per_attack or len(others) < 2:
        return None
    gradient = min(others)
    if per_attack["square"] < gradient - alpha:
        return make_flag(
            Check.BLACKBOX_BEATS_WHITEBOX,
            {"square_accuracy": per_attack["square"], "gradient_accuracy": gradient},
            detail=f"{100 * (gradient - per_attack['square']):.1f} points",
        )
    return None


# AutoAttack's warning texts (pyautoattack/checks.py) → our checks.
AUTOATTACK_WARNINGS: Mapping[str, Check] = {
    "randomized defense": Check.RANDOMIZED,
    "probability distribution": Check.SOFTMAX,
    "zero gradient": Check.ZERO_GRADIENTS,
    "dynamic defense": Check.DYNAMIC,
    "square attack has decreased": Check.BLACKBOX_BEATS_WHITEBOX,
}


def classify_autoattack_warning(message: str) -> Check | None:
    """Which check an AutoAttack warning message reports (``None`` for other messages).

    >>> classify_autoattack_warning("it seems to be a randomized defense! Please use version='rand'.")
    <Check.RANDOMIZED: 'randomized'>
    """
    low = message.lower()
    for needle, check in AUTOATTACK_WARNINGS.items():
        if needle in low:
            return check
    return None
