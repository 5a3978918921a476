"""Export a model as a robex graph (:mod:`bench.graph_format`). Runs on the trusted side of the data: inside the
build sandbox, on the entry's live model — never on an artifact.

``torch.export.export`` traces the model in eval mode with a dynamic batch dimension, then
``run_decompositions({})`` functionalises the graph (in-place ``relu_``/``add_`` become their pure forms; nothing
else is decomposed). The FX graph is then written node by node in robex's format: each operator by its
``aten.<op>.<overload>`` name, each argument as a tagged literal or a reference, multi-output operators with
their outputs named (``getitem`` disappears), weights the graph never reads left out. An operator outside the
allowlist (:mod:`bench.graph_ops`) or an argument robex's format cannot state (a device, a dtype, a memory
format) raises :class:`ArtifactError` naming it, so the entry learns at build time what robex will not run.
"""

from __future__ import annotations

import json
import math
import operator
from typing import Any

import torch
from torch import Tensor, fx, nn

from bench.graph_format import FORMAT, VERSION, ArtifactError, parse_graph
from bench.graph_ops import ALLOWED_OPS, Value, refusal

MAX_BATCH = 1 << 16
_MEMORY_FORMATS = ("contiguous_format", "preserve_format", "channels_last")
_DTYPES = {torch.float16: "float16", torch.bfloat16: "bfloat16", torch.float32: "float32", torch.float64: "float64"}


def _op_name(node: fx.Node) -> str:
    target = node.target
    if isinstance(target, torch._ops.OpOverload):
        return str(target)  # "aten.conv2d.default"
    return getattr(target, "__module__", "?") + "." + getattr(target, "__name__", str(target))


class _Writer:
    """Turns the functional FX graph into robex graph JSON; ``names`` maps FX nodes to graph value names."""

    def __init__(self, randomized: bool) -> None:
        self.randomized = randomized
        self.kinds: dict[str, Value] = {}
        self.names: dict[fx.Node, str] = {}

    def ref(self, node: fx.Node) -> dict[str, Any]:
        name = self.names.get(node)
        if name is None:
            raise ArtifactError(f"the graph reads {node.name!r}, which robex's format cannot name")
        return {"sym": name} if self.kinds[name] is Value.INT else {"tensor": name}

    def arg(self, value: Any) -> dict[str, Any]:
        """One argument as a tagged literal or reference (bool before int: a bool is an int in Python)."""
        if isinstance(value, fx.Node):
            return self.ref(value)
        if value is None:
            return {"none": None}
        if isinstance(value, bool):
            return {"bool": value}
        if isinstance(value, int):
            return {"int": value}
        if isinstance(value, float) and math.isfinite(value):
            return {"float": value}
        if isinstance(value, torch.memory_format) and str(value).removeprefix("torch.") in _MEMORY_FORMATS:
            return {"memory_format": str(value).removeprefix("torch.")}
        if isinstance(value, list | tuple):
            refs = [self.arg(v) for v in value]
            if refs and all("tensor" in r for r in refs):
                return {"tensors": [r["tensor"] for r in refs]}
            if all("int" in r or "sym" in r for r in refs):
                return {"ints": [r.get("int", r) for r in refs]}
        raise ArtifactError(f"an operator argument robex's graph format cannot state: {value!r}")

    def node(self, node: fx.Node) -> dict[str, Any]:
        name = _op_name(node)
        why = refusal(name, self.randomized)
        if why is not None:
            raise ArtifactError(f"the model calls {name}, which robex does not run: {why}")
        rule = ALLOWED_OPS.get(name)
        if len(rule.outputs) == 1:
            outputs = [node.name]
        else:
            picks = {u: u.args[1] for u in node.users if u.target is operator.getitem}
            first = {i: u.name for u, i in reversed(picks.items())}
            outputs = [first.get(i, f"{node.name}_unused{i}") for i in range(len(rule.outputs))]
            self.names.update((u, outputs[i]) for u, i in picks.items() if isinstance(i, int))
        self.names[node] = outputs[0]
        self.kinds.update(zip(outputs, rule.outputs, strict=True))
        return {
            "op": name,
            "args": [self.arg(a) for a in node.args],
            "kwargs": {k: self.arg(v) for k, v in node.kwargs.items()},
            "outputs": outputs,
        }


def _weights(program: torch.export.ExportedProgram, writer: _Writer) -> tuple[list[dict[str, Any]], dict[str, Tensor]]:
    """The parameters, buffers and constant tensors the graph reads, by placeholder name."""
    specs = {s.arg.name: s for s in program.graph_signature.input_specs if hasattr(s.arg, "name")}
    placeholders = [n for n in program.graph.nodes if n.op == "placeholder"]
    declared: list[dict[str, Any]] = []
    tensors: dict[str, Tensor] = {}
    for p in placeholders:
        spec = specs[p.name]
        if spec.kind is torch.export.graph_signature.InputKind.USER_INPUT or not p.users:
            continue
        value = program.state_dict.get(spec.target) if spec.target in program.state_dict else None
        value = program.constants.get(spec.target) if value is None else value
        if not isinstance(value, Tensor) or value.dtype not in _DTYPES:
            raise ArtifactError(
                f"the exported model holds {spec.target!r} ({type(value).__name__}), not a float tensor"
            )
        kind = "parameter" if spec.kind is torch.export.graph_signature.InputKind.PARAMETER else "buffer"
        declared.append({"name": p.name, "kind": kind, "dtype": _DTYPES[value.dtype], "shape": list(value.shape)})
        tensors[p.name] = value.detach().cpu().contiguous().clone()
        writer.names[p] = p.name
        writer.kinds[p.name] = Value.TENSOR
    return declared, tensors


def to_robex_graph(
    program: torch.export.ExportedProgram, randomized: bool = False
) -> tuple[dict[str, Any], dict[str, Tensor]]:
    """A functional exported program as (robex graph JSON object, weights by name)."""
    writer = _Writer(randomized)
    users = [
        s for s in program.graph_signature.input_specs if s.kind is torch.export.graph_signature.InputKind.USER_INPUT
    ]
    outs = program.graph_signature.output_specs
    if len(users) != 1 or len(outs) != 1 or outs[0].kind is not torch.export.graph_signature.OutputKind.USER_OUTPUT:
        raise ArtifactError("robex exports models with one tensor input and one tensor output (the logits)")
    weights, tensors = _weights(program, writer)
    nodes: list[dict[str, Any]] = []
    input_name = ""
    output_name = ""
    for node in program.graph.nodes:
        if node.op == "placeholder" and node.name == users[0].arg.name:
            input_name = node.name
            writer.names[node] = node.name
            writer.kinds[node.name] = Value.TENSOR
        elif node.op == "call_function" and node.target is not operator.getitem:
            nodes.append(writer.node(node))
        elif node.op == "output":
            (result,) = node.args[0]
            output_name = writer.ref(result)["tensor"]
    example = program.graph_signature.user_inputs[0]
    val = next(n for n in program.graph.nodes if n.name == example).meta["val"]
    shape = [int(d) if isinstance(d, int) else "s0" for d in val.shape]
    graph = {
        "format": FORMAT,
        "version": VERSION,
        "input": {"name": input_name, "dtype": "float32", "shape": shape},
        "weights": weights,
        "nodes": nodes,
        "output": output_name,
    }
    return graph, tensors


def export_graph(model: nn.Module, example: Tensor, randomized: bool = False) -> tuple[bytes, dict[str, Tensor]]:
    """``model`` (in eval mode) exported with a dynamic batch dimension: (robex graph JSON bytes, weights).

    Raises :class:`ArtifactError` when ``torch.export`` cannot trace the model, or it uses an operator or holds a
    tensor robex's graph format does not carry (random operators only when ``randomized``).
    """
    model = model.eval()
    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    try:
        program = torch.export.export(model, (example,), dynamic_shapes=({0: batch},)).run_decompositions({})
    except Exception as exc:  # torch.export raises many error types (Unsupported, UserError, ...)
        raise ArtifactError(f"torch.export could not trace the model: {type(exc).__name__}: {exc}") from exc
    graph, tensors = to_robex_graph(program, randomized)
    data = json.dumps(graph, separators=(",", ":"), allow_nan=False).encode()
    parse_graph(data, "the exported graph", randomized)  # what the scorer will accept, checked here
    return data, tensors
