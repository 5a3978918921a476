"""FAB, the Fast Adaptive Boundary attack (Croce & Hein, ICML 2020, https://arxiv.org/abs/1907.02044), ℓ2
version from ``pyautoattack`` 0.2.0 (``FABAttack_PT.attack_single_run``), as a minimal-norm attack.

FAB linearises the decision boundary, projects onto it (with a bias towards the original point, α ≤
α_max), overshoots by η and, once adversarial, steps back towards x by β; it keeps the smallest-ℓ2
adversarial point found. Misclassification only. The ℓ2-minimal point is also RMSE-minimal
(RMSE = ℓ2/√(C·H·W)), so its radius is directly comparable with Woods et al.'s L2,min.

Cost per iteration: targeted (default) one forward+backward pass plus one forward pass per target class;
untargeted K backward passes (the full Jacobian). No random start, so no randomness.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from bench.plugins import ATTACKS
from bench.projection import rmse
from bench.protocols import Attack
from bench.types import ThreatModel


@ATTACKS.register("fab")
class FAB(Attack):
    """pyautoattack's FAB-L2 returning its smallest adversarial point per sample (``radius`` in RMSE).

    Args:
        threat: Only its domain is used, and it must be [0, 1] (FAB clips to it).
        steps: FAB iterations per target class (pyautoattack's ``n_iter``; AutoAttack uses 100).
        target_classes: FAB-T (AutoAttack's choice) with this many target classes: the 2nd, 3rd, ...
            highest-scoring classes at x, one at a time (1 backward pass per iteration), keeping the
            per-sample smallest result; ``None``: the untargeted FAB (K backward passes per iteration).
        alpha_max, eta, beta: FAB's hyperparameters (pyautoattack defaults).
    """

    minimal_norm = True
    smoke_kwargs: ClassVar[Mapping[str, Any]] = {"steps": 5}

    def __init__(
        self,
        threat: ThreatModel,
        steps: int = 100,
        target_classes: int | None = 1,
        alpha_max: float = 0.1,
        eta: float = 1.05,
        beta: float = 0.9,
    ) -> None:
        super().__init__(threat)
        if steps < 1 or (target_classes is not None and target_classes < 1):
            raise ValueError("steps and target_classes must be at least 1")
        if (threat.lower, threat.upper) != (0.0, 1.0):
            raise ValueError(f"pyautoattack's FAB assumes inputs in [0, 1]; the threat model's domain is {threat}")
        self.steps = steps
        self.target_classes = target_classes
        self.alpha_max = alpha_max
        self.eta = eta
        self.beta = beta

    def gradient_evaluations(self, num_classes: int) -> int:
        """Backward passes per image this attack spends at most (forward-only passes not counted)."""
        return self.steps * (num_classes if self.target_classes is None else self.target_classes)

    def run(self, model: nn.Module, x: Tensor, y: Tensor, *, generator: torch.Generator) -> Tensor:
        """Per sample, the smallest adversarial point over the target classes (x where none was found)."""
        from pyautoattack.fab_pt import FABAttack_PT

        fab = FABAttack_PT(
            model,
            norm="L2",
            n_restarts=1,
            n_iter=self.steps,
            alpha_max=self.alpha_max,
            eta=self.eta,
            beta=self.beta,
            verbose=False,
            targeted=self.target_classes is not None,
            device=x.device,
            n_target_classes=self.target_classes or 1,
        )
        best = x.clone()
        best_r = torch.full((len(x),), float("inf"), dtype=x.dtype, device=x.device)
        with torch.no_grad():
            num_classes = model(x[:1]).shape[1]
        # FAB-T's k-th target is the k-th highest-scoring class at x: at most K − 1 of them exist
        targets = (
            [None] if self.target_classes is None else list(range(2, min(self.target_classes, num_classes - 1) + 2))
        )
        for target in targets:
            fab.target_class = target
            adv = fab.attack_single_run(x, y, use_rand_start=False, is_targeted=target is not None).to(x.dtype)
            r = rmse(adv - x)
            better = (r > 0) & (r < best_r)
            best = torch.where(better.view(-1, *([1] * (x.dim() - 1))), adv, best)
            best_r = torch.where(better, r, best_r)
        return best
