"""The plug-in protocols. Each plug-in implements one small hook; the base classes own the invariants
the benchmark's integrity depends on (eval mode, projection, no mutation, no leftover grads).

- :class:`Attack`  — ``run`` proposes adversarial inputs; ``__call__``/``perturb`` (final) enforce the
  threat model (Foolbox-style template method).
- :class:`Defense` — a training objective ``loss(model, x, y, state)`` run by bench's training engine,
  optionally a ``fit`` override (multi-phase recipes) and a ``wrap`` for inference-time defenses.
- :class:`Explainer` — ``explain`` returns an attribution map; ``attribute`` (final) guards it.
- :class:`Stage` — one kind of runner cell (train, clean, autoattack, ara, ...), see ``bench.running.runner``.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, final

import torch
from torch import Tensor, nn

from bench.projection import project_violations, rmse
from bench.stage_settings import StageSettings, settings_dict
from bench.types import Flag, Norm, ScoreValue, ThreatModel

if TYPE_CHECKING:
    from bench.track import Track


# --------------------------------------------------------------------------------------------- helpers
@contextlib.contextmanager
def evaluation_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode with parameter gradients off; restore both afterwards.

    Attacks and explainers need gradients with respect to the *input* only; turning ``requires_grad``
    off on parameters means nothing accumulates in ``.grad`` and BatchNorm statistics are frozen.
    """
    was_training = model.training
    flags = [(p, p.requires_grad) for p in model.parameters()]
    model.eval()
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield model
    finally:
        for p, req in flags:
            p.requires_grad_(req)
        model.train(was_training)


class InputConnected(nn.Module):
    """``model`` with its outputs always part of the autograd graph of its input, unchanged in value.

    A model whose outputs do not depend differentiably on the input (a hard threshold ``x > 0.5``, a table
    look-up) leaves the input out of the graph, and ``torch.autograd.grad`` then raises instead of returning the
    true answer, a zero gradient. Adding 0·x₁ (the first input value of each row, finite on the domain) to every
    output keeps the values bit for bit and gives such a model an exactly zero input gradient, so the attacks
    run on it (and fail) and the sanity checks report the masking, instead of the stage crashing."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        """``model(x) + 0·x[:, :1]`` for (N, K) outputs; other shapes as they are."""
        out = self.model(x)
        if out.dim() != 2 or x.dim() < 2 or out.shape[0] != x.shape[0]:
            return out
        return out + 0.0 * x.flatten(1)[:, :1].to(out.dtype)


# --------------------------------------------------------------------------------------------- attacks
@dataclass(frozen=True)
class AttackOutput:
    """What an attack returns besides the adversarial inputs.

    Attributes:
        x_adv: Adversarial inputs, detached, inside the budget and the domain.
        success: Bool per sample: the attack's criterion holds at ``x_adv`` (misclassified, or the target
            class reached for targeted attacks). Samples misclassified at the start count as successes
            of an untargeted attack and are returned unchanged.
        radius: Minimal-norm attacks only: per-sample RMSE of ``x_adv - x`` where successful, ``inf``
            where not.
        details: JSON-able extras (per-attack breakdown, warnings).
    """

    x_adv: Tensor
    success: Tensor
    radius: Tensor | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Proposal:
    """What :meth:`Attack.run` may return instead of a bare tensor: the candidates plus JSON-able details
    about the attacked points, which :meth:`Attack.describe` turns into ``AttackOutput.details``."""

    x_adv: Tensor
    details: Mapping[str, Any] = field(default_factory=dict)


class Attack(ABC):
    """Base of every attack. Subclasses implement :meth:`run`; callers use ``__call__`` or :meth:`perturb`.

    The base, not the plug-in, guarantees: the model is a call argument; eval mode is forced and
    restored; parameters get no gradients; inputs are never mutated; the result lies in the ε-ball (unless
    ``minimal_norm``) and in ``[lower, upper]`` (only values outside are replaced: a feasible output of the
    plug-in is returned bit for bit); only points still classified correctly are attacked (AutoAttack
    semantics) unless the caller asks for ``every_image`` (transfer crafting: Ross & Doshi-Velez perturb
    every image, since a point the source misclassifies may still fool a target); every random draw comes
    from the ``generator`` argument.
    """

    name: ClassVar[str]
    norms: ClassVar[frozenset[Norm]] = frozenset({Norm.LINF, Norm.L2})
    targeted: ClassVar[bool] = False
    minimal_norm: ClassVar[bool] = False

    def __init__(self, threat: ThreatModel) -> None:
        if threat.norm not in self.norms:
            supported = ", ".join(sorted(n.value for n in self.norms))
            raise ValueError(f"attack {type(self).__name__} supports {supported}, not {threat.norm.value}")
        self.threat = threat

    @abstractmethod
    def run(self, model: nn.Module, x: Tensor, y: Tensor, *, generator: torch.Generator) -> Tensor | Proposal:
        """Return candidate adversarial inputs for ``x`` (all :meth:`attackable`); the base projects them."""

    def attackable(self, logits: Tensor, y: Tensor) -> Tensor:
        """Per-sample: the point still has the property the attack tries to break (default: classified
        correctly). Only these points are handed to :meth:`run`; the others count as broken at radius 0."""
        return logits.argmax(1) == y

    def describe(self, details: Mapping[str, Any], *, attacked: Tensor, success: Tensor) -> Mapping[str, Any]:
        """``AttackOutput.details`` from the :class:`Proposal`'s details (about the attacked points only) and
        the per-sample ``attacked``/``success`` flags over all inputs; default: the details unchanged."""
        return details

    def target(self, y: Tensor, num_classes: int) -> Tensor:
        """Target class of a targeted attack (Ross & Doshi-Velez: ``(y + 1) mod K``)."""
        return (y + 1) % num_classes

    def criterion(self, logits: Tensor, y: Tensor) -> Tensor:
        """Per-sample success at the attack's output."""
        pred = logits.argmax(1)
        if self.targeted:
            return pred == self.target(y, logits.shape[1])
        return pred != y

    @final
    def __call__(
        self, model: nn.Module, x: Tensor, y: Tensor, *, generator: torch.Generator, every_image: bool = False
    ) -> Tensor:
        """Adversarial inputs for ``(x, y)`` against ``model``."""
        return self.perturb(model, x, y, generator=generator, every_image=every_image).x_adv

    @final
    def perturb(
        self, model: nn.Module, x: Tensor, y: Tensor, *, generator: torch.Generator, every_image: bool = False
    ) -> AttackOutput:
        """Run the attack under the base's invariants; see :class:`AttackOutput`.

        With ``every_image`` the points :meth:`attackable` rejects are perturbed too (bounded attacks only),
        and ``success`` is the criterion at the output for every point.
        """
        if every_image and self.minimal_norm:
            raise ValueError(f"every_image needs a bounded attack; {type(self).__name__} is minimal-norm")
        x0 = x.detach().clone()
        details: Mapping[str, Any] = {}
        with evaluation_mode(model):
            with torch.no_grad():
                correct = self.attackable(model(x0), y)
            x_adv = x0.clone()
            attacked = torch.ones_like(correct) if every_image else correct
            if bool(attacked.any()):
                idx = attacked.nonzero().squeeze(1)
                proposed = self.run(InputConnected(model), x0[idx].clone(), y[idx], generator=generator)
                if isinstance(proposed, Proposal):
                    details, proposed = proposed.details, proposed.x_adv
                candidate = proposed.detach()
                x_adv[idx] = project_violations(candidate, x0[idx], self.threat, bounded=not self.minimal_norm)
            with torch.no_grad():
                success = self.criterion(model(x_adv), y)
        if not self.targeted and not every_image:
            success = success | ~correct
        radius = None
        if self.minimal_norm:
            radius = torch.where(success, rmse(x_adv - x0), torch.full_like(success, float("inf"), dtype=x0.dtype))
            radius = torch.where(correct, radius, torch.zeros_like(radius))
        details = self.describe(details, attacked=attacked, success=success)
        return AttackOutput(x_adv=x_adv.detach(), success=success, radius=radius, details=details)


# --------------------------------------------------------------------------------------------- defenses
@dataclass(frozen=True)
class DefenseCard:
    """Provenance of a defense, shown on its leaderboard page.

    Attributes:
        title: Paper title.
        authors: Author list as printed.
        venue: Venue and year as printed (``"ICLR 2018"``).
        year: Publication year.
        url: Paper URL.
        summary: The objective in one or two sentences.
        fidelity: What is reproduced exactly, what is scaled down, what is reconstructed.
        reconstructed: True when the method section was unavailable and the objective is our reconstruction.
    """

    title: str
    authors: str
    venue: str
    year: int
    url: str
    summary: str
    fidelity: str
    reconstructed: bool = False


@dataclass
class TrainState:
    """Mutable training progress handed to :meth:`Defense.loss` (schedules read it)."""

    step: int
    total_steps: int
    epoch: int
    generator: torch.Generator
    track: Track
    logs: dict[str, float] = field(default_factory=dict)


class Defense(ABC):
    """A defended-classifier recipe.

    Subclasses set ``card`` and ``defaults`` (hyperparameters with their default values) and implement
    :meth:`loss`. ``track_defaults[track_name]`` overrides defaults per track. ``schema`` types some
    hyperparameters (ranges; see :mod:`bench.hyperparameters`), the others take their default's type;
    every value is validated (strictly: ``"0.5"`` is not a number) when the defense is created. An unknown
    hyperparameter or an invalid value raises :class:`~bench.hyperparameters.HyperparameterError` naming the
    hyperparameter (an unknown one with the allowed names).
    """

    name: ClassVar[str]
    card: ClassVar[DefenseCard]
    randomized: ClassVar[bool] = False
    defaults: ClassVar[Mapping[str, Any]] = {}
    schema: ClassVar[Mapping[str, Any]] = {}
    track_defaults: ClassVar[Mapping[str, Mapping[str, Any]]] = {}

    def __init__(self, track: Track, **hyperparameters: Any) -> None:
        from bench.hyperparameters import unknown_hyperparameter, validate_hyperparameters

        name = getattr(self, "name", type(self).__name__)
        unknown_hyperparameter(name, self.defaults, hyperparameters)
        merged = {**self.defaults, **dict(self.track_defaults.get(track.name, {})), **hyperparameters}
        validate_hyperparameters(type(self), name, merged)
        self.track = track
        self.hp: dict[str, Any] = merged

    def build_model(self) -> nn.Module:
        """The network to train: the track's reference architecture unless the defense needs another."""
        from bench.models import build_architecture

        return build_architecture(self.track.architecture, self.track)

    @abstractmethod
    def loss(self, model: nn.Module, x: Tensor, y: Tensor, state: TrainState) -> Tensor:
        """Scalar training loss on a batch (model in train mode)."""

    def fit(self, model: nn.Module, fit: Any) -> nn.Module:
        """Train ``model``; the default runs the engine once with :meth:`loss`. ``fit`` is a
        :class:`bench.running.training.FitContext`; multi-phase recipes (distillation) call ``fit.run`` twice."""
        return fit.run(model, self.loss)

    def wrap(self, model: nn.Module) -> nn.Module:
        """Inference-time wrapper (preprocessing, randomisation); identity by default."""
        return model


# --------------------------------------------------------------------------------------------- explainers
class Explainer(ABC):
    """Base of every explainer: ``attribute(model, x, target) -> map`` with ``x``'s shape.

    ``attribute`` (final) forces eval mode, leaves no parameter gradients or hooks, never mutates ``x``,
    and checks the map's shape. ``explain`` is the one hook.
    """

    name: ClassVar[str]
    needs_cam_layer: ClassVar[bool] = False

    @abstractmethod
    def explain(self, model: nn.Module, x: Tensor, target: Tensor, *, generator: torch.Generator) -> Tensor:
        """Attribution of ``model``'s ``target`` logit to each input value."""

    @final
    def attribute(
        self, model: nn.Module, x: Tensor, target: Tensor, *, generator: torch.Generator | None = None
    ) -> Tensor:
        """Guarded :meth:`explain`."""
        gen = generator if generator is not None else torch.Generator(device="cpu").manual_seed(0)
        with evaluation_mode(model):
            out = self.explain(model, x.detach().clone(), target, generator=gen).detach()
        if out.shape != x.shape:
            raise ValueError(f"explainer {self.name!r} returned shape {tuple(out.shape)}, expected {tuple(x.shape)}")
        return out


# --------------------------------------------------------------------------------------------- stages
class Scope(StrEnum):
    """What one cell of a stage covers."""

    ENTRY = "entry"  # one cell per entry
    PAIR = "pair"  # one cell per (source entry, target entry)


@dataclass(frozen=True)
class StageOutput:
    """What a cell produces.

    Attributes:
        scores: Leaderboard scores (names registered in ``bench.SCORES``).
        details: JSON-able data for the entry page (curves, breakdowns, galleries); kept in the record
            under the stage's name.
        flags: Sanity flags.
        tensors: Large arrays kept in the cell store only (weights, crafted adversarial examples).
    """

    scores: tuple[ScoreValue, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)
    flags: tuple[Flag, ...] = ()
    tensors: Mapping[str, Tensor] = field(default_factory=dict)


class Stage(ABC):
    """One kind of runner cell. See :mod:`bench.running.runner` for how cells are keyed, cached and run.

    ``settings(track, quick)`` returns the JSON-able settings the cell's output depends on (they go into
    the cell key); ``run(ctx)`` computes the output. ``requires`` names ENTRY stages whose outputs the
    cell reads (``ctx.dependency(name)``). PAIR stages also implement ``summarize`` to turn the pair
    cells of a track into the entry's record section.
    """

    name: ClassVar[str]
    summary: ClassVar[str] = ""  # what the stage computes, one line (``robex list stages``)
    version: ClassVar[str] = "1"
    scope: ClassVar[Scope] = Scope.ENTRY
    requires: ClassVar[tuple[str, ...]] = ("train",)
    needs_gpu: ClassVar[bool] = True
    order: ClassVar[int] = 50
    Settings: ClassVar[type[StageSettings]] = StageSettings  # what the cells read; see bench.stage_settings

    def settings(self, track: Track, quick: bool) -> dict[str, Any]:
        """The resolved :attr:`Settings` from the track's ``[stages.<name>]`` table (with ``[quick.stages.<name>]``
        in quick mode): every default filled in, so all of it is part of the cell key."""
        raw = track.stage_settings(self.name, quick=quick)
        return settings_dict(self.Settings, raw, track, quick, self.name)

    def planned(self, spec: Any, track: Track, entry: Any, settings: Mapping[str, Any]) -> dict[str, Any]:
        """Settings of one ENTRY cell that depend on the run and the entry besides the track (``spec`` is the
        :class:`bench.running.runner.RunSpec`, ``entry`` the :class:`bench.entries.Entry`): merged into the
        cell's settings and so into its key. Default: none. The train stage names the published checkpoint it
        will load here, so a cell made from a checkpoint never shares a key with one trained in the run."""
        return {}

    @abstractmethod
    def run(self, ctx: Any) -> StageOutput:
        """Compute the cell; ``ctx`` is a :class:`bench.running.runner.CellContext`."""

    def summarize(self, entry: str, outputs: Mapping[tuple[str, str], StageOutput]) -> StageOutput:
        """PAIR stages: the record section of ``entry`` from all (source, target) outputs of the track."""
        raise NotImplementedError(f"stage {self.name!r} has scope {self.scope.value} and no summarize")

    def robust_vectors(self, output: StageOutput) -> dict[str, list[int]]:
        """Per-image 0/1 robustness (1 = the attack failed), in the evaluation-image order, of every attack this
        stage ran within the track's threat model, by label; the ``robust_accuracy`` finalizer takes their
        per-image worst case. Default: ``details["attacks_at_eps"][label]["robust"]`` (none when absent); a
        listed attack without its vector is an error, never silently left out."""
        found: dict[str, list[int]] = {}
        for label, item in dict(output.details.get("attacks_at_eps", {})).items():
            robust = item.get("robust") if isinstance(item, Mapping) else None
            if not isinstance(robust, list):
                raise ValueError(
                    f"stage {self.name!r}: attack {label!r} in attacks_at_eps has no per-image 'robust' list"
                )
            found[str(label)] = [int(r) for r in robust]
        return found
