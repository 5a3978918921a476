"""Fine-tuning a copy of the model on CE + λ·L_F for a fixed budget of Adam steps, one run per objective."""

from __future__ import annotations

import copy
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bench.scores.manipulation import FoolingLoss
from bench.stages.manipulate.objectives import INTERPRETERS, FoolingData, Interpreter, Objective


@dataclass(frozen=True)
class Run:
    """One fooling run: interpreter, objective and its weight λ (λ = 0 is the control)."""

    interpreter: str
    loss: FoolingLoss
    lam: float

    @property
    def label(self) -> str:
        """``interpreter:loss``."""
        return f"{self.interpreter}:{self.loss.value}"


def parse_runs(spec: list[str], lambdas: Mapping[str, float]) -> list[Run]:
    """Runs from ``["gradcam:location", ...]`` and their λ from ``lambda["gradcam:location"]``."""
    runs = []
    for item in spec:
        interp, _, loss = item.partition(":")
        INTERPRETERS.get(interp)
        try:
            fl = FoolingLoss(loss)
        except ValueError:
            raise ValueError(
                f"[stages.manipulate] run {item!r}: loss must be one of {[x.value for x in FoolingLoss]}"
            ) from None
        if item not in lambdas:
            raise ValueError(f"[stages.manipulate.lambda] has no weight for run {item!r}")
        runs.append(Run(interp, fl, float(lambdas[item])))
    return runs


def fine_tune(
    original: nn.Module,
    objective: Objective | None,
    interp: Interpreter | None,
    lam: float,
    data: FoolingData,
    *,
    steps: int,
    batch_size: int,
    lr: float,
    generator: torch.Generator,
    checkpoints: Collection[int] = (),
    observe: Callable[[int, nn.Module], None] | None = None,
) -> nn.Module:
    """A fine-tuned copy of ``original``: Adam on CE + λ·L_F, eval mode (BatchNorm frozen, as Heo et al.).

    With ``objective`` ``None`` (or λ = 0) this is the control: the same steps on CE alone. ``original`` is
    never modified. ``observe(step, model)`` is called after every step in ``checkpoints`` (0: before the first),
    with the parameters not requiring gradients; it must not change the model.
    """
    model = copy.deepcopy(original)
    model.eval()
    params = list(model.parameters())
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.Adam(params, lr=lr)
    device = next(iter(params)).device if params else torch.device("cpu")

    def checkpoint(step: int) -> None:
        if observe is not None and step in checkpoints:
            for p in params:
                p.requires_grad_(False)
            observe(step, model)
            for p in params:
                p.requires_grad_(True)

    checkpoint(0)
    for step in range(1, steps + 1):
        idx = torch.randint(len(data.y), (batch_size,), generator=generator)
        yb = data.y[idx].to(device)
        fool: Tensor | None = None
        logits: Tensor | None = None
        if objective is not None and interp is not None and lam:
            fool, logits = objective.fooling_loss(model, interp, data, idx, generator)
        if logits is None:
            logits = model(data.x[idx].to(device))
        loss = F.cross_entropy(logits, yb)
        if fool is not None:
            loss = loss + lam * fool
        if not torch.isfinite(loss):
            raise FloatingPointError(f"manipulation loss became {float(loss)}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        checkpoint(step)
    for p in params:
        p.requires_grad_(False)
        p.grad = None
    return model.eval()
