"""What every library metric shares: the :class:`Metric` record and its registry, input conversion, explainers
given by name, object or function, and the link to the track's ``[stages.explain]`` settings."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from bench.explainers.base import Ranking, relevance
from bench.plugins import EXPLAINERS, STAGES
from bench.protocols import Explainer
from bench.registry import Registry
from bench.stages.explain.measures import explain_in_batches
from bench.track import Track, load_track
from bench.types import Category

#: Inputs the metrics accept: torch tensors, numpy arrays or (for labels) sequences of ints.
ArrayLike = Tensor | np.ndarray | Sequence[int] | Sequence[float]

#: A seed or a generator for the metrics' random draws (every draw takes one; an int seeds a fresh generator).
Seed = int | torch.Generator

#: ``explain(model, x, target) -> maps`` with ``x``'s shape (Quantus' ``explain_func``).
ExplainFunc = Callable[[nn.Module, Tensor, Tensor], Tensor]

#: What names an explainer: a registered name (``robex list explainers``), an :class:`Explainer`, or a function.
ExplainerLike = str | Explainer | ExplainFunc


@dataclass(frozen=True)
class Metric:
    """A library metric: ``fn(model, x, y, a, **settings) -> per-image scores`` (numpy, NaN where undefined).

    Attributes:
        name: Registry key (also the function's name in :mod:`bench.metrics`).
        fn: The function.
        category: The score family it belongs to.
        score: The record score whose per-image values it computes for the track's primary explainer, or ``None``.
        explain_settings: Keyword → the ``[stages.explain]`` setting it mirrors (see :func:`track_settings`).
        attributions: Whether it reads ``a`` (the others compute what they need from the model).
    """

    name: str
    fn: Callable[..., np.ndarray]
    category: Category
    score: str | None = None
    explain_settings: Mapping[str, str] = field(default_factory=dict)
    attributions: bool = True

    def __call__(
        self, model: nn.Module, x: ArrayLike, y: ArrayLike, a: ArrayLike | None = None, **kw: Any
    ) -> np.ndarray:
        """``fn(model, x, y, a, **kw)``."""
        return self.fn(model, x, y, a, **kw)


def _builtin() -> None:
    import bench.metrics  # noqa: F401 -- registers the built-in metrics


METRICS: Registry[Metric] = Registry("metric", load=_builtin)


def register(metric: Metric) -> Callable[..., np.ndarray]:
    """Add ``metric`` to :data:`METRICS`; return its function (module-level one-liner)."""
    METRICS.add(metric.name, metric)
    return metric.fn


# ----------------------------------------------------------------------------------------------- inputs
def device_of(model: nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer (CPU for a model with neither)."""
    for t in (*model.parameters(), *model.buffers()):
        return t.device
    return torch.device("cpu")


def as_tensor(values: ArrayLike, device: torch.device, dtype: torch.dtype | None = None) -> Tensor:
    """``values`` as a detached tensor on ``device`` (numpy arrays and sequences are converted).

    >>> as_tensor([1, 2], torch.device("cpu")).tolist()
    [1, 2]
    """
    t = values.detach() if isinstance(values, Tensor) else torch.as_tensor(np.asarray(values))
    return t.to(device=device, dtype=dtype) if dtype is not None else t.to(device)


def inputs(model: nn.Module, x: ArrayLike, y: ArrayLike) -> tuple[Tensor, Tensor]:
    """``(x, y)`` as float32 images ``(N, C, H, W)`` and int64 labels ``(N,)`` on the model's device."""
    device = device_of(model)
    xt, yt = as_tensor(x, device, torch.float32), as_tensor(y, device, torch.int64)
    if xt.dim() != 4:
        raise ValueError(f"x must be images (N, C, H, W), got shape {tuple(xt.shape)}")
    if yt.shape != (len(xt),):
        raise ValueError(f"y must hold one class per image, shape ({len(xt)},), got {tuple(yt.shape)}")
    return xt, yt


def attributions(a: ArrayLike | None, x: Tensor) -> Tensor:
    """``a`` as float32 maps ``(N, C, H, W)`` (``(N, H, W)`` maps get one channel) matching ``x``'s images."""
    if a is None:
        raise ValueError("this metric needs attributions a (maps of the images, (N, C, H, W) or (N, H, W))")
    at = as_tensor(a, x.device, torch.float32)
    at = at.unsqueeze(1) if at.dim() == 3 else at
    if at.dim() != 4 or at.shape[0] != x.shape[0] or at.shape[-2:] != x.shape[-2:]:
        raise ValueError(f"a must be maps of the images, (N, C, H, W) or (N, H, W); got {tuple(at.shape)}")
    return at


def relevance_of(a: Tensor, ranking: Ranking | str) -> Tensor:
    """Per-pixel relevance ``(N, H, W)``: |a| summed over channels (``"magnitude"``) or a summed (``"signed"``)."""
    return relevance(a, Ranking(ranking))


def generator_of(seed: Seed) -> torch.Generator:
    """The generator itself, or a fresh CPU generator seeded with the int."""
    return seed if isinstance(seed, torch.Generator) else torch.Generator().manual_seed(int(seed))


def per_image(values: Tensor) -> np.ndarray:
    """The metric's result: a 1-d numpy array, one value per image."""
    return values.detach().cpu().numpy().reshape(-1)


# ----------------------------------------------------------------------------------------------- explainers
def explain_function(explainer: ExplainerLike, seed: int = 0, batch_size: int = 500) -> ExplainFunc:
    """``explain(model, x, target)`` from a registered name, an :class:`Explainer` (its ``attribute``, in batches of
    ``batch_size`` images, every call with a fresh generator seeded ``seed``) or a function (called as is)."""
    e = EXPLAINERS.create(explainer) if isinstance(explainer, str) else explainer
    if not isinstance(e, Explainer):
        return e

    def explain(model: nn.Module, x: Tensor, target: Tensor) -> Tensor:
        return explain_in_batches(e, model, x, target, torch.Generator().manual_seed(seed), batch_size)

    return explain


# ----------------------------------------------------------------------------------------------- track defaults
def track_settings(metric: str, track: str | Track, *, quick: bool = False) -> dict[str, Any]:
    """The keyword settings with which a track's ``explain`` stage computes ``metric`` (its resolved
    ``[stages.explain]`` values: ``eps``, ``step``, ROAD fractions, …), so that ``metric(model, x, y, a,
    **track_settings(metric, "mnist5k"))`` scores as the track does. Random draws still follow ``generator``.

    >>> track_settings("deletion", "mnist5k")
    {'step': 28, 'batch_size': 500}
    """
    spec = METRICS.get(metric)
    resolved = STAGES.create("explain").settings(load_track(track) if isinstance(track, str) else track, quick)
    return {kw: resolved[key] for kw, key in spec.explain_settings.items()}
