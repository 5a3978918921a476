"""Pieces shared by the defense families: the ε warm-up schedule, the per-defense epoch budget, the
inner-maximisation mode and small validation helpers.

**Inner maximisation and BatchNorm.** The training engine calls :meth:`Defense.loss` with the model in
train mode. Every inner maximisation here (PGD, FGSM, TRADES' KL ascent, Boopathy's discrepancy ascent,
Woods' L2 search) runs inside :func:`inner_mode`: the model is switched to eval mode (frozen BatchNorm
statistics, no dropout) and its parameters stop requiring gradients, so crafting neither updates running
statistics nor accumulates parameter gradients; train mode is restored for the outer loss. This matches
the TRADES reference code (``model.eval()`` for the attack) and Madry et al.'s CIFAR code, whose
attack graph shares the training graph but never updates statistics during the attack. The reference
``small_cnn`` has no BatchNorm or dropout, so on the MNIST tracks the choice changes no number.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Mapping
from typing import Annotated, Any

import torch
from pydantic import AfterValidator
from torch import nn

from bench.hyperparameters import OptionalNonNegative, OptionalPositive, PositiveInt, UnitInterval
from bench.protocols import Defense, evaluation_mode
from bench.running.augment import parse_augmentation
from bench.track import Track
from bench.types import ThreatModel

# Boopathy et al. (2020) MNIST schedule [code: train.py]: ε = 0 for step ≤ 2000, linear to ε by step
# 10000, of 100 epochs × 1100 steps (55,000 images, batch 50) = 110,000 steps. Scaled to any step count
# by keeping the same fractions of training.
BOOPATHY_MNIST_TOTAL_STEPS = 110_000
BOOPATHY_MNIST_WARMUP = (2_000 / BOOPATHY_MNIST_TOTAL_STEPS, 10_000 / BOOPATHY_MNIST_TOTAL_STEPS)
# CIFAR-10: 0 for step ≤ 5000, linear to ε by 70000, of 200 epochs × 390 steps = 78,000 steps.
BOOPATHY_CIFAR_TOTAL_STEPS = 78_000
BOOPATHY_CIFAR_WARMUP = (5_000 / BOOPATHY_CIFAR_TOTAL_STEPS, 70_000 / BOOPATHY_CIFAR_TOTAL_STEPS)


def warmup_eps(step: int, total_steps: int, eps: float, start: float, end: float) -> float:
    """ε at optimiser step ``step`` of ``total_steps`` under Boopathy et al.'s warm-up (ICML 2020, code).

    ε(s) = 0 for s ≤ start·T; ε·(s − start·T)/((end − start)·T) for start·T < s ≤ end·T; ε afterwards,
    with T = ``total_steps`` and ``start``/``end`` fractions of training (the paper's MNIST schedule is
    2000/110000 and 10000/110000). ``end <= 0`` disables the warm-up (full ε from the first step).

    >>> [round(warmup_eps(s, 100, 0.3, 0.1, 0.5), 4) for s in (0, 10, 20, 30, 50, 99)]
    [0.0, 0.0, 0.075, 0.15, 0.3, 0.3]
    >>> warmup_eps(0, 100, 0.3, 0.0, 0.0)
    0.3
    """
    if end > 0 and not 0.0 <= start <= end <= 1.0:
        raise ValueError(f"warm-up fractions must satisfy 0 <= start <= end <= 1, got start={start}, end={end}")
    if end <= 0:
        return eps
    s0, s1 = start * total_steps, end * total_steps
    if step <= s0:
        return 0.0
    if step >= s1:
        return eps
    return eps * (step - s0) / (s1 - s0)


def _augmentation_spec(spec: str) -> str:
    """A training augmentation the engine knows (``"none"``, ``"translate:2"``); unknown ones raise ValueError."""
    try:
        parse_augmentation(spec)
    except (LookupError, ValueError) as exc:
        raise ValueError(str(exc)) from exc
    return spec


OptionalAugment = Annotated[str, AfterValidator(_augmentation_spec)] | None  # None: the track budget's


# Types of the hyperparameters several defenses share (see bench.hyperparameters).
SHARED_SCHEMA: Mapping[str, Any] = {
    "eps": OptionalNonNegative,  # None: the track's ε
    "steps": PositiveInt,
    "step_size": OptionalPositive,  # None: 2.5 ε / steps
    "warmup_start": UnitInterval,  # fractions of training
    "warmup_end": UnitInterval,
    "epochs": OptionalPositive,  # None: the track budget's
    "lr": OptionalPositive,
}


def schema_for(defaults: Mapping[str, Any], **specific: Any) -> dict[str, Any]:
    """A defense's ``schema``: the shared types of the hyperparameters it has, plus ``specific`` ones."""
    return {**{k: v for k, v in SHARED_SCHEMA.items() if k in defaults}, **specific}


def resolve_eps(eps: float | None, track: Track) -> float:
    """The defense's training ε: the hyperparameter, or the track's threat-model ε when ``None``."""
    value = track.threat.eps if eps is None else float(eps)
    if not value >= 0:
        raise ValueError(f"training eps must be non-negative, got {value}")
    return value


def with_eps(threat: ThreatModel, eps: float) -> ThreatModel:
    """The same threat model (norm, domain) with another ε."""
    return dataclasses.replace(threat, eps=eps, text="")


def epochs_for(budget_epochs: float, requested: float | None) -> float:
    """Epochs a defense trains: the track budget's, or ``min(requested, budget)`` (the budget is a cap, so
    ``--quick`` runs stay quick).

    >>> epochs_for(10, None), epochs_for(10, 4), epochs_for(0.25, 4)
    (10, 4, 0.25)
    """
    if requested is None:
        return budget_epochs
    if requested <= 0:
        raise ValueError(f"epochs must be positive, got {requested}")
    return min(requested, budget_epochs)


@contextlib.contextmanager
def inner_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode with parameter gradients off, for inner maximisations (see the module docstring)."""
    with evaluation_mode(model) as m:
        yield m


def choice(value: Any, allowed: Mapping[str, Any], what: str) -> Any:
    """``allowed[value]`` or a clear error naming the options (closed sets given as mappings)."""
    if value not in allowed:
        raise ValueError(f"{what} must be one of {sorted(allowed)}, got {value!r}")
    return allowed[value]


def require_cam(model: nn.Module, defense: str, input_shape: tuple[int, ...], tol: float = 1e-4) -> None:
    """Raise unless ``model`` has ``cam(x) -> (N, K, H, W)`` whose spatial mean equals its logits (a GAP +
    bias-free linear head, Boopathy et al. 2020), checked on two seeded random inputs."""
    if not callable(getattr(model, "cam", None)):
        raise TypeError(
            f"defense {defense!r} needs a model with a `cam(x)` method (GAP + bias-free linear head, e.g. "
            f"small_cnn); {type(model).__name__} has none"
        )
    x = torch.rand((2, *input_shape), generator=torch.Generator().manual_seed(0))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            gap = model.cam(x).mean(dim=(2, 3))  # type: ignore[operator]
            logits = model(x)
    finally:
        model.train(was_training)
    if gap.shape != logits.shape or not torch.allclose(gap, logits, atol=tol, rtol=tol):
        raise TypeError(
            f"defense {defense!r} needs mean_(h,w) cam(x) == logits (GAP + bias-free linear head); "
            f"{type(model).__name__} violates it"
        )


class BudgetedDefense(Defense):
    """A defense whose ``epochs`` hyperparameter (``None``: the track budget's) caps its training length.

    Adversarial objectives cost (inner steps + 1) forward/backward passes per batch, so their per-track
    ``track_defaults`` pick fewer epochs than the budget to fit the default run; the budget stays the cap.
    """

    def train_epochs(self, fit: Any) -> float:
        """Epochs this defense trains under ``fit``'s budget."""
        return epochs_for(fit.budget.epochs, self.hp.get("epochs"))

    def fit(self, model: nn.Module, fit: Any) -> nn.Module:
        """One engine run of :meth:`loss` for :meth:`train_epochs` epochs."""
        return fit.run(model, self.loss, epochs=self.train_epochs(fit))
