"""The ``manipulate`` stage: Heo, Joo, Moon (NeurIPS 2019) adversarial model manipulation as an attack on
the entry (papers.md §5).

A copy of the entry's model (``ctx.model()`` returns a fresh module) is fine-tuned for a fixed budget
(``steps`` Adam steps of ``batch_size`` training images, model kept in eval mode as in Heo's code) on

    L(w) = CE(f_w(x), y) + λ · L_F(h_w),

where h is Grad-CAM at the model's ``cam_layer`` (ReLU'd, divided by its max) or input-level saliency
(|∂f_y/∂x| summed over channels — divided by its max; Heo's code divides by its sum, which makes the
location score at least the border's share of the pixels and so never successful), computed for the true
label with ``create_graph=True``. Passive losses: location, top-k, center-mass; active: swap the maps of two
classes on composite images holding both (left/right halves), with CE on ordinary training batches.

Evaluation on the first ``n`` held-out evaluation images (composites built from evaluation images for the
active run): the fooling success rate FSR = fraction of images whose score lies in the success interval
(robex's intervals, :data:`bench.scores.manipulation.FSR_INTERVALS`: location [0, 0.2], top-k [0, 0.3],
center-mass [0.1, 1]; active: our criterion, the swapped maps correlate better with the other class's original
map), the FSR of the original model and of a **control** fine-tuned identically with λ = 0, the accuracy the
fooling cost **against the control** (control − after: the drift that the fine-tuning alone causes is not
charged to the fooling), whether the fooling transfers to the other explainers (Spearman correlation of their
maps with the original model's maps, compared with the control's), and the fooled explainer's RISE deletion and
insertion AUC per image for the original, the control and the fooled model. Budget: a few hundred small steps
per run, far below the paper's 3×10⁴.
"""

from __future__ import annotations

import copy
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bench.explainers.base import ranking, relevance
from bench.explainers.functional import gradcam_low_and_logits, input_gradient_and_logits, upsample
from bench.explainers.images import input_row, map_row
from bench.plugins import EXPLAINERS, STAGES, register_score
from bench.protocols import Explainer, Stage, StageOutput
from bench.registry import Registry
from bench.results.catalogue import builtin_spec
from bench.scores import fidelity
from bench.scores import manipulation as hm
from bench.scores.manipulation import FSR_INTERVALS, FoolingLoss
from bench.types import ScoreSpec, ScoreValue

log = logging.getLogger(__name__)

MapFn = Callable[[nn.Module, Tensor, Tensor, bool], tuple[Tensor, Tensor]]  # -> (maps (N, L, L), logits)


# ------------------------------------------------------------------------------------------ interpreters
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


# ------------------------------------------------------------------------------------------ scores
MANIPULATION_FSR = register_score(builtin_spec("manipulation_fsr"))
MANIPULATION_COST = register_score(builtin_spec("manipulation_accuracy_cost"))
RUN_SCORES: dict[tuple[str, FoolingLoss], ScoreSpec] = {
    (interp, loss): register_score(builtin_spec(f"manipulation_fsr_{interp}_{loss.value}"))
    for interp in ("gradcam", "saliency")
    for loss in FoolingLoss
}


# ------------------------------------------------------------------------------------------ objectives
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


# ------------------------------------------------------------------------------------------ fine-tuning
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
) -> nn.Module:
    """A fine-tuned copy of ``original``: Adam on CE + λ·L_F, eval mode (BatchNorm frozen, as Heo et al.).

    With ``objective`` ``None`` (or λ = 0) this is the control: the same steps on CE alone. ``original`` is
    never modified.
    """
    model = copy.deepcopy(original)
    model.eval()
    params = list(model.parameters())
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.Adam(params, lr=lr)
    device = next(iter(params)).device if params else torch.device("cpu")
    for _ in range(steps):
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
    for p in params:
        p.requires_grad_(False)
        p.grad = None
    return model.eval()


# ------------------------------------------------------------------------------------------ evaluation
@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 1000) -> float:
    """Top-1 accuracy."""
    correct = sum(
        int((model(x[i : i + batch_size]).argmax(1) == y[i : i + batch_size]).sum())
        for i in range(0, len(y), batch_size)
    )
    return correct / len(y)


def explainer_maps(
    model: nn.Module, explainers: Mapping[str, Explainer], x: Tensor, y: Tensor, seed: int
) -> dict[str, Tensor]:
    """Relevance ``(N, H, W)`` of every explainer that applies to the model (same seed for every model)."""
    out = {}
    for name, e in explainers.items():
        try:
            maps = e.attribute(model, x, y, generator=torch.Generator().manual_seed(seed))
        except TypeError as exc:  # e.g. CAM on a model without a GAP head
            log.info("transfer: %s skipped: %s", name, exc)
            continue
        out[name] = relevance(maps, ranking(e))
    return out


def transfer_targets(
    rho: Mapping[str, float | None], rho_control: Mapping[str, float | None], attacked: str, drop: float
) -> list[str]:
    """Explainers (other than the attacked one) whose maps moved at least ``drop`` more than the control's.

    >>> transfer_targets({"a": 0.2, "b": 0.95, "c": 0.1}, {"a": 0.9, "b": 0.97, "c": 0.9}, "c", 0.1)
    ['a']
    """
    out = []
    for name, value in rho.items():
        ref = rho_control.get(name)
        if name != attacked and value is not None and ref is not None and ref - value >= drop:
            out.append(name)
    return sorted(out)


def mean_spearman(a: Tensor, b: Tensor) -> float | None:
    """Mean Spearman correlation of paired maps (NaN rows ignored), ``None`` if all are NaN."""
    rho = hm.spearman_rows(a, b)
    rho = rho[torch.isfinite(rho)]
    return round(float(rho.mean()), 6) if rho.numel() else None


@dataclass(frozen=True)
class Fidelity:
    """Per-image RISE deletion and insertion AUC of one explainer on one model."""

    deletion: Tensor
    insertion: Tensor

    @property
    def means(self) -> tuple[float, float]:
        """(mean deletion AUC, mean insertion AUC), rounded for the record."""
        return round(float(self.deletion.mean()), 6), round(float(self.insertion.mean()), 6)


def _fidelity(model: nn.Module, explainer: Explainer, x: Tensor, kernel: Tensor) -> Fidelity:
    with torch.no_grad():
        pred = model(x).argmax(1)
    rel = relevance(explainer.attribute(model, x, pred), ranking(explainer))
    d, i, _ = fidelity.causal_curves(model, x, rel, step=x.shape[-1], kernel=kernel)
    return Fidelity(fidelity.auc(d), fidelity.auc(i))


def _per_image(values: Tensor) -> list[float]:
    return [round(float(v), 6) for v in values]


@dataclass
class Manipulation:
    """Everything one ``manipulate`` cell shares between its runs: the original model, the λ = 0 control, the
    held-out data, and the maps of the original and the control (computed once)."""

    original: nn.Module
    control: nn.Module
    heldout: Heldout
    explainers: Mapping[str, Explainer]
    transfer_x: Tensor
    transfer_y: Tensor
    fidelity_x: Tensor
    seed: int
    transfer_drop: float
    class_names: tuple[str, ...]
    gallery_n: int

    def __post_init__(self) -> None:
        self.kernel = fidelity.rise_kernel()
        self.accuracy_original = accuracy(self.original, self.heldout.x, self.heldout.y)
        self.accuracy_control = accuracy(self.control, self.heldout.x, self.heldout.y)
        self.maps_original = explainer_maps(self.original, self.explainers, self.transfer_x, self.transfer_y, self.seed)
        maps_control = explainer_maps(self.control, self.explainers, self.transfer_x, self.transfer_y, self.seed)
        self.rho_control = {n: mean_spearman(self.maps_original[n], maps_control[n]) for n in maps_control}
        self._heldout_maps: dict[tuple[str, str, str], Tensor] = {}
        self._fidelity: dict[tuple[str, str], Fidelity] = {}
        self._shown: set[str] = set()

    def heldout_maps(self, who: str, interp: Interpreter, objective: Objective) -> Tensor:
        """Held-out maps of the original (``who="original"``) or the control, cached per interpreter."""
        key = (who, interp.name, objective.kind)
        if key not in self._heldout_maps:
            model = self.original if who == "original" else self.control
            self._heldout_maps[key] = objective.heldout_maps(model, interp, self.heldout)
        return self._heldout_maps[key]

    def fidelity(self, model: nn.Module | str, name: str) -> Fidelity:
        """Per-image deletion and insertion AUC of explainer ``name`` on ``model`` (``"original"`` or
        ``"control"``: those models, cached per explainer)."""
        explainer = self.explainers.get(name) or EXPLAINERS.create(name)
        if isinstance(model, str):
            if (model, name) not in self._fidelity:
                shared = self.original if model == "original" else self.control
                self._fidelity[(model, name)] = _fidelity(shared, explainer, self.fidelity_x, self.kernel)
            return self._fidelity[(model, name)]
        return _fidelity(model, explainer, self.fidelity_x, self.kernel)

    def evaluate(self, run: Run, interp: Interpreter, objective: Objective, fooled: nn.Module) -> dict[str, Any]:
        """The table row of a finished run (FSR before/after/control, accuracy cost, transfer, fidelity)."""
        interval = FSR_INTERVALS[run.loss]
        h_orig = self.heldout_maps("original", interp, objective)
        before = objective.heldout_scores(h_orig, h_orig)
        after = objective.heldout_scores(objective.heldout_maps(fooled, interp, self.heldout), h_orig)
        ctrl = objective.heldout_scores(self.heldout_maps("control", interp, objective), h_orig)
        acc = accuracy(fooled, self.heldout.x, self.heldout.y)
        rho: dict[str, float | None] = {}
        fid: dict[str, Any] = {f"{m}_auc_{w}": None for m in ("deletion", "insertion") for w in WHO}
        if objective.kind == "passive":  # the active objective fools maps of composites, not of these images
            maps = explainer_maps(fooled, self.explainers, self.transfer_x, self.transfer_y, self.seed)
            rho = {n: mean_spearman(self.maps_original[n], maps[n]) for n in maps}
            per = {
                "before": self.fidelity("original", interp.explainer),
                "control": self.fidelity("control", interp.explainer),
                "after": self.fidelity(fooled, interp.explainer),
            }
            for who, f in per.items():
                fid[f"deletion_auc_{who}"], fid[f"insertion_auc_{who}"] = f.means
            fid["deletion_auc_images"] = {who: _per_image(f.deletion) for who, f in per.items()}
        return {
            "run": run.label,
            "lambda": run.lam,
            "interval": [interval.low, interval.high],
            "images": len(after),
            "fsr_original": round(hm.success_rate(before, interval), 6),
            "fsr": round(hm.success_rate(after, interval), 6),
            "fsr_control": round(hm.success_rate(ctrl, interval), 6),
            "score_mean": round(float(after.mean()), 6),
            "accuracy_before": round(self.accuracy_original, 6),
            "accuracy_after": round(acc, 6),
            "accuracy_control": round(self.accuracy_control, 6),
            "accuracy_drop": round(self.accuracy_original - acc, 6),
            "accuracy_drop_vs_control": round(hm.accuracy_cost(self.accuracy_control, acc), 6),
            "transfers_to": transfer_targets(rho, self.rho_control, interp.explainer, self.transfer_drop),
            **{f"rho_{n}": v for n, v in rho.items()},
            **fid,
        }

    def gallery(self, run: Run, interp: Interpreter, fooled: nn.Module, c1: int, c2: int) -> list[dict[str, Any]]:
        """Gallery rows of a run: the original and control maps once per interpreter, then the fooled maps."""
        ng = self.gallery_n
        rows: list[dict[str, Any]] = []
        if run.loss is FoolingLoss.ACTIVE:
            if self.heldout.composites is None:
                return rows
            xc = self.heldout.composites[:ng]
            lab = [f"#{i}" for i in range(len(xc))]
            if "composites" not in self._shown:
                self._shown.add("composites")
                rows.append(input_row(f"Active fooling: composites of classes {c1} (left) and {c2} (right)", xc, lab))
            target = torch.full((len(xc),), c1, device=xc.device)
            for who, model in (("original model", self.original), (f"after swap fooling (λ = {run.lam:g})", fooled)):
                h = interp.maps(model, xc, target, False)[0]
                rows.append(map_row(f"{interp.title} of class {c1}, {who}", interp.display(h, xc), lab))
            return rows
        x, y = self.heldout.x[:ng], self.heldout.y[:ng]
        labels = [f"#{i} {self.class_names[int(c)]}" for i, c in enumerate(y)]
        if interp.name not in self._shown:
            self._shown.add(interp.name)
            for who, model in (("original model", self.original), ("control (λ = 0)", self.control)):
                h = interp.maps(model, x, y, False)[0]
                rows.append(map_row(f"{interp.title}, {who}", interp.display(h, x), labels))
        h = interp.maps(fooled, x, y, False)[0]
        caption = f"{interp.title} after {run.loss.value} fooling (λ = {run.lam:g})"
        rows.append(map_row(caption, interp.display(h, x), labels))
        return rows


@STAGES.register("manipulate")
class ManipulateStage(Stage):
    """Heo et al.'s adversarial model manipulation against the entry (see the module docstring)."""

    order = 70
    version = "2"  # 2: accuracy cost against the control; per-image deletion AUC of original, control, fooled

    def settings(self, track: Any, quick: bool) -> dict[str, Any]:
        """The track's ``[stages.manipulate]`` table plus the explainers used for the transfer check."""
        s = super().settings(track, quick)
        s.setdefault("explainers", list(track.explainers))
        return s

    def run(self, ctx: Any) -> StageOutput:
        """Fine-tune copies of the entry's model to fool its explanations; measure FSR, cost and transfer."""
        s = ctx.settings
        runs = parse_runs(list(s.get("runs", [])), s.get("lambda", {}))
        if not runs:
            raise ValueError("[stages.manipulate] runs is empty")
        steps, batch_size, lr = int(s.get("steps", 100)), int(s.get("batch_size", 32)), float(s.get("lr", 5e-4))
        original = ctx.model().eval()
        for p in original.parameters():
            p.requires_grad_(False)
        x, y = ctx.eval_batch()
        train_x, train_y = ctx.data.train_x, ctx.data.train_y
        c1, c2 = (int(c) for c in s.get("active_classes", [0, 1]))
        ex_x, ex_y = ctx.data.eval_x, ctx.data.eval_y
        left, right = ex_x[ex_y == c1], ex_x[ex_y == c2]
        pairs = min(len(left), len(right), int(s.get("active_n", 100)))
        comp = composites(left[:pairs], right[:pairs]).to(ctx.device) if pairs else None
        objectives: dict[FoolingLoss, Objective] = {**PASSIVE, FoolingLoss.ACTIVE: Active(FoolingLoss.ACTIVE, (c1, c2))}
        a, b = train_x[train_y == c1], train_x[train_y == c2]
        npool = min(int(s.get("active_pool", 512)), len(a), len(b))
        gen = ctx.generator("pool")
        pool = (
            composites(
                a[torch.randperm(len(a), generator=gen)[:npool]], b[torch.randperm(len(b), generator=gen)[:npool]]
            )
            if npool
            else None
        )
        pool = pool.to(ctx.device) if pool is not None else None
        data = FoolingData(original, train_x.to(ctx.device), train_y.to(ctx.device), pool, (c1, c2))

        def tune(objective: Objective | None, interp: Interpreter | None, lam: float, key: str) -> nn.Module:
            return fine_tune(
                original, objective, interp, lam, data, steps=steps, batch_size=batch_size, lr=lr,
                generator=ctx.generator(key),
            )  # fmt: skip

        nt, nf = int(s.get("transfer_n", 64)), int(s.get("fidelity_n", 100))
        m = Manipulation(
            original=original,
            control=tune(None, None, 0.0, "control"),
            heldout=Heldout(x, y, comp),
            explainers={n: EXPLAINERS.create(n, **dict(s.get("options", {}).get(n, {}))) for n in s["explainers"]},
            transfer_x=x[:nt],
            transfer_y=y[:nt],
            fidelity_x=x[:nf],
            seed=int(torch.randint(0, 2**62, (1,), generator=ctx.generator("transfer"))),
            transfer_drop=float(s.get("transfer_drop", 0.1)),
            class_names=ctx.track.class_names,
            gallery_n=int(s.get("gallery", 6)),
        )
        ctx.progress(1, len(runs) + 1)
        labels = [f"#{i} {ctx.track.class_names[int(c)]}" for i, c in enumerate(y[: m.gallery_n])]
        gallery = [input_row("Held-out evaluation images (true label explained)", x[: m.gallery_n], labels)]
        table: list[dict[str, Any]] = []
        scores: list[ScoreValue] = []
        skipped: dict[str, str] = {}
        for k, run in enumerate(runs, start=2):
            interp, objective = INTERPRETERS.get(run.interpreter), objectives[run.loss]
            try:
                m.heldout_maps("original", interp, objective)
            except TypeError as exc:  # e.g. Grad-CAM on a model without cam_layer
                skipped[run.label] = str(exc)
                continue
            fooled = tune(objective, interp, run.lam, f"run:{run.label}")
            row = m.evaluate(run, interp, objective, fooled)
            table.append(row)
            scores.append(ScoreValue(RUN_SCORES[(run.interpreter, run.loss)].name, row["fsr"], row["images"]))
            if run.label == HEADLINE:
                scores.append(ScoreValue(MANIPULATION_FSR.name, row["fsr"], row["images"]))
                scores.append(ScoreValue(MANIPULATION_COST.name, row["accuracy_drop_vs_control"], len(y)))
            gallery.extend(m.gallery(run, interp, fooled, c1, c2))
            ctx.progress(k, len(runs) + 1)
        details: dict[str, Any] = {
            "steps": steps,
            "batch_size": batch_size,
            "lr": lr,
            "images": len(y),
            "transfer_images": len(m.transfer_y),
            "fidelity_images": len(m.fidelity_x),
            "active_classes": [c1, c2],
            "active_images": pairs,
            "active_pool": npool,
            "accuracy_original": round(m.accuracy_original, 6),
            "accuracy_control": round(m.accuracy_control, 6),
            "rho_control": m.rho_control,
            "table": table,
            "gallery": gallery,
            "thresholds": "FSR = fraction of held-out images whose per-image score s_i lies in the success interval "
            "(Heo et al.'s definition; s_i as their released code computes it). Intervals, robex's protocol "
            "constants: location [0, 0.2], top-k [0, 0.3], center-mass [0.1, 1]; active: swap score > 0. "
            "transfers_to: explainers whose Spearman correlation with the original maps dropped ≥ "
            f"{m.transfer_drop:g} more than the control's. accuracy_drop_vs_control (the score): control − after.",
        }
        if skipped:
            details["skipped"] = skipped
        return StageOutput(scores=tuple(scores), details=details)
