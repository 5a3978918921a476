"""robex's interpreter for a checked graph (:mod:`bench.graph_format`): walks the nodes in order and calls each
allowlisted overload ``torch.ops.aten.<op>.<overload>`` (:mod:`bench.graph_ops`) on values computed before it.

No torch deserialiser, no ``torch.export.unflatten``, no module unlifting and no generated Python code is
involved: the graph is data, the operators are robex's. Autograd flows through the calls as through eager code,
so attacks get input gradients. The weights are the module's parameters (trainable ones) and buffers, so
``.to(device)`` moves them and ``state_dict()`` names them ``tensors.<graph name>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import torch
from torch import Tensor, nn

from bench.graph_format import ArtifactError, Graph
from bench.graph_ops import ALLOWED_OPS


@cache
def _overload(op: str) -> Any:
    """The allowlisted ``torch.ops.aten`` overload named ``op`` (looked up once)."""
    return ALLOWED_OPS.get(op).overload()


@dataclass(frozen=True)
class _Step:
    op: str  # an allowlisted operator name (the module stays picklable; the overload is looked up by name)
    args: tuple[Any, ...]  # graph_format argument models (each has ``resolve(env)``)
    kwargs: tuple[tuple[str, Any], ...]
    outputs: tuple[str, ...]


def _steps(graph: Graph) -> tuple[_Step, ...]:
    return tuple(
        _Step(
            n.op,
            tuple(n.args),
            tuple(n.kwargs.items()),
            tuple(n.outputs),
        )
        for n in graph.nodes
    )


class ExportedModel(nn.Module):
    """A graph artifact run by robex's interpreter; ``train``/``eval`` only set the flag (the graph was frozen
    in evaluation behaviour at export: batch norm uses running statistics, dropout is off)."""

    def __init__(self, graph: Graph, tensors: Mapping[str, Tensor], where: str) -> None:
        super().__init__()
        self.tensors = nn.Module()
        for w in graph.weights:
            t = tensors[w.name]
            try:
                if w.kind == "parameter":
                    self.tensors.register_parameter(w.name, nn.Parameter(t, requires_grad=True))
                else:
                    self.tensors.register_buffer(w.name, t)
            except (KeyError, ValueError) as exc:  # a name that collides with a Module attribute
                raise ArtifactError(f"{where}: weight name {w.name!r} is not usable: {exc}") from None
        self._input = graph.input
        self._steps = _steps(graph)
        self._output = graph.output
        self._where = where

    def _check_input(self, x: Tensor) -> None:
        spec = self._input.shape
        symbols: dict[str, int] = {}
        ok = x.dim() == len(spec)
        for size, want in zip(x.shape, spec, strict=False):
            ok = ok and size == (want if isinstance(want, int) else symbols.setdefault(want, size))
        if not ok:
            raise ValueError(f"{self._where}: input of shape {list(x.shape)}, the graph takes {spec}")

    def forward(self, x: Tensor) -> Tensor:
        self._check_input(x)
        env: dict[str, Any] = dict(self.tensors.named_parameters(recurse=False))
        env.update(self.tensors.named_buffers(recurse=False))
        env[self._input.name] = x
        for step in self._steps:
            args = [a.resolve(env) for a in step.args]
            out = _overload(step.op)(*args, **{k: a.resolve(env) for k, a in step.kwargs})
            if len(step.outputs) == 1:
                env[step.outputs[0]] = out
            else:
                env.update(zip(step.outputs, out, strict=True))
        return env[self._output]  # type: ignore[no-any-return]

    def train(self, mode: bool = True) -> ExportedModel:
        """Set the flag only: the exported graph's behaviour was fixed in eval mode at export."""
        self.training = mode
        return self


def dry_run(model: ExportedModel, where: str) -> None:
    """Run the graph once on a zero batch of one (global RNG state restored): it must return logits, a 2-D
    floating tensor with one row. Raises :class:`ArtifactError` otherwise."""
    shape = [d if isinstance(d, int) else 1 for d in model._input.shape]
    try:
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            out = model(torch.zeros(shape))
    except Exception as exc:  # an operator refused its arguments: the graph does not run
        raise ArtifactError(f"{where}: the graph does not run: {type(exc).__name__}: {str(exc)[:300]}") from None
    if not isinstance(out, Tensor) or not out.is_floating_point() or out.dim() != 2 or out.shape[0] != 1:
        got = f"{out.dtype} {list(out.shape)}" if isinstance(out, Tensor) else type(out).__name__
        raise ArtifactError(f"{where}: the graph returns {got}, not logits (a float tensor of shape [batch, classes])")
