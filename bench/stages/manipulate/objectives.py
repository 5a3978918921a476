"""Interpreters (Grad-CAM, saliency) and fooling objectives: Heo et al.'s passive losses, the active swap."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bench.explainers.functional import gradcam_low_and_logits, input_gradient_and_logits, upsample
from bench.registry import Registry
from bench.scores import manipulation as hm
from bench.scores.manipulation import FoolingLoss

MapFn = Callable[[nn.Module, Tensor, Tensor, bool], tuple[Tensor, Tensor]]  # -> (maps (N, L, L), logits)


@dataclass(frozen=True)
class Interpreter:
    """An interpretation Heo et al. fool: a differentiable map and the registered explainer it corresponds to."""

    name: str
    title: str
    explainer: str
    maps: MapFn

    def display(self, maps: Tensor, like: Tensor) -> Tensor:
        """Maps at the input's resolution ``(N, H, W)`` for galleries."""
        return upsample(maps.unsqueeze(1), like[:, :1]).squeeze(1) if maps.shape[-1] != like.shape[-1] else maps


def _gradcam_maps(model: nn.Module, x: Tensor, y: Tensor, create_graph: bool) -> tuple[Tensor, Tensor]:
    h, logits = gradcam_low_and_logits(model, x, y, create_graph=create_graph)
    return h.squeeze(1), logits


def _saliency_maps(model: nn.Module, x: Tensor, y: Tensor, create_graph: bool) -> tuple[Tensor, Tensor]:
    g, logits = input_gradient_and_logits(model, x, y, create_graph=create_graph)
    return g.abs().sum(1), logits


INTERPRETERS: Registry[Interpreter] = Registry("manipulation interpreter")


HEADLINE = "gradcam:location"  # the run behind manipulation_fsr / manipulation_accuracy_cost


WHO = ("before", "control", "after")  # the original model, the λ = 0 control, the fooled model


INTERPRETERS.add("gradcam", Interpreter("gradcam", "Grad-CAM", "gradcam", _gradcam_maps))


INTERPRETERS.add("saliency", Interpreter("saliency", "saliency", "saliency", _saliency_maps))


@dataclass(frozen=True)
class Heldout:
    """Held-out evaluation data: eval images with labels, and composites for the active objective."""

    x: Tensor
    y: Tensor
    composites: Tensor | None


def composites(left: Tensor, right: Tensor) -> Tensor:
    """Synthetic images holding two digits: each input downsampled 2× (average pool), ``left`` in the left
    half and ``right`` in the right half of a black canvas, vertically centred.

    >>> composites(torch.ones(1, 1, 4, 4), torch.zeros(1, 1, 4, 4))[0, 0].tolist()
    [[0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]
    """
    h, w = left.shape[-2:]
    if h % 4 or w % 2:
        raise ValueError(f"composites need H divisible by 4 and W by 2, got {h}×{w}")
    out = torch.zeros_like(left)
    out[:, :, h // 4 : h // 4 + h // 2, : w // 2] = F.avg_pool2d(left, 2)
    out[:, :, h // 4 : h // 4 + h // 2, w // 2 :] = F.avg_pool2d(right, 2)
    return out


class FoolingData:
    """The training side of the fooling runs: the training images, a fixed pool of composites for the active
    objective (Heo et al. also fool on a fixed synthetic set, D_fool), and the original model's maps of both,
    computed once per interpreter and shared by every run."""

    def __init__(
        self, original: nn.Module, x: Tensor, y: Tensor, pool: Tensor | None, classes: tuple[int, int]
    ) -> None:
        self.original, self.x, self.y, self.pool, self.classes = original, x, y, pool, classes
        self._train: dict[str, Tensor] = {}
        self._pool: dict[str, tuple[Tensor, Tensor]] = {}

    def train_maps(self, interp: Interpreter, batch_size: int = 1000) -> Tensor:
        """The original model's maps of every training image (true labels)."""
        if interp.name not in self._train:
            self._train[interp.name] = torch.cat(
                [
                    interp.maps(self.original, self.x[i : i + batch_size], self.y[i : i + batch_size], False)[0]
                    for i in range(0, len(self.y), batch_size)
                ]
            )
        return self._train[interp.name]

    def pool_maps(self, interp: Interpreter) -> tuple[Tensor, Tensor]:
        """The original model's maps of classes c₁ and c₂ on the composite pool."""
        if self.pool is None:
            raise ValueError("no composites of the active classes in the training data")
        if interp.name not in self._pool:
            self._pool[interp.name] = pair_maps(self.original, interp, self.pool, self.classes, False)
        return self._pool[interp.name]


def pair_maps(
    model: nn.Module, interp: Interpreter, xc: Tensor, classes: tuple[int, int], create_graph: bool
) -> tuple[Tensor, Tensor]:
    """Maps of classes c₁ and c₂ on the same images, from one batched call."""
    n = len(xc)
    targets = torch.cat([torch.full((n,), classes[0]), torch.full((n,), classes[1])]).to(xc.device)
    h, _ = interp.maps(model, torch.cat([xc, xc]), targets, create_graph)
    return h[:n], h[n:]


class Objective(ABC):
    """One of Heo et al.'s fooling objectives: a training loss and per-image held-out fooling scores.

    Held-out scores are computed from held-out maps (``heldout_maps``) of the fooled and the original model,
    so the original's and the control's maps are computed once per interpreter and reused.
    """

    loss: FoolingLoss
    kind: ClassVar[str]  # objectives of one kind share held-out maps

    @abstractmethod
    def fooling_loss(
        self, model: nn.Module, interp: Interpreter, data: FoolingData, idx: Tensor, gen: torch.Generator
    ) -> tuple[Tensor, Tensor | None]:
        """(L_F, the logits of training batch ``idx`` when the maps' forward pass produced them)."""

    @abstractmethod
    def heldout_maps(self, model: nn.Module, interp: Interpreter, data: Heldout) -> Tensor:
        """The maps the held-out scores are computed from."""

    @abstractmethod
    def heldout_scores(self, h: Tensor, h_original: Tensor) -> Tensor:
        """Per-image fooling scores s_i from the model's and the original model's held-out maps."""


@dataclass(frozen=True)
class Passive(Objective):
    """A passive objective on the model's own training batches (explanations of the true label)."""

    kind: ClassVar[str] = "passive"

    loss: FoolingLoss
    needs_original: bool
    train: Callable[[Tensor, Tensor], Tensor]  # (h, h_original) -> L_F
    score: Callable[[Tensor, Tensor], Tensor]  # (h, h_original) -> s_i

    def fooling_loss(
        self, model: nn.Module, interp: Interpreter, data: FoolingData, idx: Tensor, gen: torch.Generator
    ) -> tuple[Tensor, Tensor | None]:
        """L_F(h_w(x), h_w₀(x)) on the training batch; its forward pass also gives the batch's logits."""
        x, y = data.x[idx], data.y[idx]
        h, logits = interp.maps(model, x, y, True)
        h0 = data.train_maps(interp)[idx].to(h.device) if self.needs_original else h.detach()
        return self.train(h, h0), logits

    def heldout_maps(self, model: nn.Module, interp: Interpreter, data: Heldout) -> Tensor:
        """Maps of the held-out images for their true labels, ``(N, L, L)``."""
        return interp.maps(model, data.x, data.y, False)[0]

    def heldout_scores(self, h: Tensor, h_original: Tensor) -> Tensor:
        """s_i(h_w(x_i), h_w₀(x_i))."""
        return self.score(h, h_original)


@dataclass(frozen=True)
class Active(Objective):
    """Swap the maps of classes c₁ and c₂ on composites holding both digits."""

    kind: ClassVar[str] = "active"

    loss: FoolingLoss
    classes: tuple[int, int]

    def fooling_loss(
        self, model: nn.Module, interp: Interpreter, data: FoolingData, idx: Tensor, gen: torch.Generator
    ) -> tuple[Tensor, Tensor | None]:
        """Swap loss on composites drawn from the pool (half the training batch size)."""
        o1, o2 = data.pool_maps(interp)
        assert data.pool is not None
        j = torch.randint(len(data.pool), (max(1, len(idx) // 2),), generator=gen)
        h1, h2 = pair_maps(model, interp, data.pool[j], self.classes, True)
        return hm.swap_loss(h1, h2, o1[j], o2[j]), None

    def heldout_maps(self, model: nn.Module, interp: Interpreter, data: Heldout) -> Tensor:
        """Maps of classes c₁ and c₂ on the held-out composites, stacked ``(2, N, L, L)``."""
        if data.composites is None:
            raise ValueError("no held-out composites of the active classes")
        return torch.stack(pair_maps(model, interp, data.composites, self.classes, False))

    def heldout_scores(self, h: Tensor, h_original: Tensor) -> Tensor:
        """Our swap score per composite."""
        return hm.swap_score(h[0], h[1], h_original[0], h_original[1])


PASSIVE: dict[FoolingLoss, Passive] = {
    FoolingLoss.LOCATION: Passive(
        FoolingLoss.LOCATION, False, lambda h, h0: hm.location_loss(h), lambda h, h0: hm.location_score(h)
    ),
    FoolingLoss.TOPK: Passive(
        FoolingLoss.TOPK,
        True,
        lambda h, h0: hm.topk_loss(h, hm.topk_positions(h0)),
        lambda h, h0: hm.topk_score(h, hm.topk_positions(h0)),
    ),
    FoolingLoss.CENTER_MASS: Passive(FoolingLoss.CENTER_MASS, True, hm.center_mass_loss, hm.center_shift),
}
