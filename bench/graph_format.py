"""robex's graph format: the strict schema of a graph artifact and its checks, done without torch's deserialiser.

A graph artifact is ``graph.json`` (this format) plus ``model.safetensors`` (its weights). The JSON is parsed with
:func:`json.loads` (duplicate keys, ``NaN``/``Infinity`` and deep nesting refused, size capped) into the pydantic
models below, every one of which forbids unknown fields. Nothing in it is evaluated: there are no expression
strings (a symbolic size is a plain symbol such as ``s0``; sizes computed at run time come from
``aten.sym_size.int`` nodes), no guard or range-constraint code, no pickled or serialised Python objects. Each
node calls one allowlisted ATen overload (:mod:`bench.graph_ops`) on values defined before it; arguments are
tagged literals (``{"int": 3}``, ``{"float": 0.5}``, ``{"bool": false}``, ``{"none": null}``, ``{"ints": [...]}``,
``{"memory_format": "contiguous_format"}``) or references (``{"tensor": name}``, ``{"tensors": [...]}``,
``{"sym": name}``).

Layout (version 1)::

    {"format": "robex-graph", "version": 1,
     "input": {"name": "x", "dtype": "float32", "shape": ["s0", 1, 28, 28]},
     "weights": [{"name": "p_conv_weight", "kind": "parameter", "dtype": "float32", "shape": [16, 1, 4, 4]}],
     "nodes": [{"op": "aten.conv2d.default", "args": [{"tensor": "x"}, {"tensor": "p_conv_weight"}],
                "kwargs": {}, "outputs": ["conv2d"]}, ...],
     "output": "linear"}

Every declared weight is used by the graph and is exactly one tensor of the weights file, with its dtype and
shape (:func:`check_weights`); the file holds nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Discriminator, Field, StringConstraints, Tag, ValidationError

from bench.graph_ops import ALLOWED_OPS, Value, refusal

FORMAT = "robex-graph"
VERSION = 1
MAX_GRAPH_BYTES = 4 << 20  # a ResNet-18 graph takes 25 KB
MAX_NODES = 10_000
MAX_WEIGHTS = 4096
MAX_WEIGHT_BYTES = 1 << 30
MAX_ARGS = 32
MAX_LIST = 64
MAX_RANK = 8
MAX_DIM = 1 << 31
MAX_INPUT_ELEMENTS = 1 << 24  # one input image (its fixed sizes): 3 x 2048 x 2048 fits
WEIGHT_DTYPES = {"float16": 2, "bfloat16": 2, "float32": 4, "float64": 8}  # bytes per element

Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")]
Symbol = Annotated[str, StringConstraints(pattern=r"^s[0-9]{1,3}$")]
Int64 = Annotated[int, Field(ge=-(1 << 63), le=(1 << 63) - 1)]
Dim = Annotated[int, Field(ge=0, le=MAX_DIM)]


class ArtifactError(ValueError):
    """A model artifact cannot be exported, or is not a well-formed graph of allowlisted operators."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class TensorArg(_Strict):
    """A reference to a tensor value."""

    tensor: Name

    def resolve(self, env: Mapping[str, Any]) -> Any:
        return env[self.tensor]


class TensorsArg(_Strict):
    """A list of tensor references (``aten.cat``)."""

    tensors: list[Name] = Field(max_length=MAX_LIST)

    def resolve(self, env: Mapping[str, Any]) -> Any:
        return [env[n] for n in self.tensors]


class SymArg(_Strict):
    """A reference to an integer value (an ``aten.sym_size.int`` output)."""

    sym: Name

    def resolve(self, env: Mapping[str, Any]) -> Any:
        return env[self.sym]


class IntsArg(_Strict):
    """A list of integers, each a literal or a :class:`SymArg`."""

    ints: list[Int64 | SymArg] = Field(max_length=MAX_LIST)

    def resolve(self, env: Mapping[str, Any]) -> Any:
        return [v.resolve(env) if isinstance(v, SymArg) else v for v in self.ints]


class IntArg(_Strict):
    value: Int64 = Field(alias="int")

    def resolve(self, env: Mapping[str, Any]) -> Any:
        return self.value


class FloatArg(_Strict):
    value: Annotated[float, Field(allow_inf_nan=False)] = Field(alias="float")

    def resolve(self, env: Mapping[str, Any]) -> Any:
        return self.value


class BoolArg(_Strict):
    value: bool = Field(alias="bool")

    def resolve(self, env: Mapping[str, Any]) -> Any:
        return self.value


class NoneArg(_Strict):
    value: None = Field(alias="none")

    def resolve(self, env: Mapping[str, Any]) -> Any:
        return None


class MemoryFormatArg(_Strict):
    """A memory format (``aten.clone``'s keyword), by name."""

    value: Literal["contiguous_format", "preserve_format", "channels_last"] = Field(alias="memory_format")

    def resolve(self, env: Mapping[str, Any]) -> Any:
        return getattr(torch, self.value)


_ARGS = {
    "tensor": TensorArg,
    "tensors": TensorsArg,
    "sym": SymArg,
    "ints": IntsArg,
    "int": IntArg,
    "float": FloatArg,
    "bool": BoolArg,
    "none": NoneArg,
    "memory_format": MemoryFormatArg,
}


def _arg_tag(v: Any) -> str | None:
    return next(iter(v)) if isinstance(v, dict) and len(v) == 1 and next(iter(v)) in _ARGS else None


Arg = Annotated[
    Annotated[TensorArg, Tag("tensor")]
    | Annotated[TensorsArg, Tag("tensors")]
    | Annotated[SymArg, Tag("sym")]
    | Annotated[IntsArg, Tag("ints")]
    | Annotated[IntArg, Tag("int")]
    | Annotated[FloatArg, Tag("float")]
    | Annotated[BoolArg, Tag("bool")]
    | Annotated[NoneArg, Tag("none")]
    | Annotated[MemoryFormatArg, Tag("memory_format")],
    Discriminator(_arg_tag, custom_error_type="arg", custom_error_message=f"one of {sorted(_ARGS)} as the only key"),
]


class Node(_Strict):
    """One operator call: ``outputs = op(*args, **kwargs)``."""

    op: str = Field(max_length=128)
    args: list[Arg] = Field(max_length=MAX_ARGS)
    kwargs: dict[Name, Arg] = Field(max_length=MAX_ARGS)
    outputs: list[Name] = Field(min_length=1, max_length=4)


class InputSpec(_Strict):
    """The one input: images as float32, symbols (``s0``) for the dynamic sizes."""

    name: Name
    dtype: Literal["float32"]
    shape: list[Annotated[int, Field(ge=1, le=MAX_DIM)] | Symbol] = Field(min_length=1, max_length=MAX_RANK)


class WeightSpec(_Strict):
    """A tensor of the weights file: a trainable parameter or a buffer/constant."""

    name: Name
    kind: Literal["parameter", "buffer"]
    dtype: Literal["float16", "bfloat16", "float32", "float64"]
    shape: list[Dim] = Field(max_length=MAX_RANK)

    def nbytes(self) -> int:
        n = WEIGHT_DTYPES[self.dtype]
        for d in self.shape:
            n *= d
        return n


class Graph(_Strict):
    """A whole graph artifact (see the module docstring)."""

    format: Literal["robex-graph"]
    version: Literal[1]
    input: InputSpec
    weights: list[WeightSpec] = Field(max_length=MAX_WEIGHTS)
    nodes: list[Node] = Field(min_length=1, max_length=MAX_NODES)
    output: Name


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"duplicate key {sorted(k for k in keys if keys.count(k) > 1)[0]!r}")
    return dict(pairs)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _read_json(data: bytes, where: str) -> dict[str, Any]:
    if len(data) > MAX_GRAPH_BYTES:
        raise ArtifactError(f"{where}: the graph file is {len(data)} bytes, over the {MAX_GRAPH_BYTES}-byte cap")
    try:
        raw = json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ArtifactError(f"{where}: not a JSON robex graph: {type(exc).__name__}: {str(exc)[:200]}") from None
    if not isinstance(raw, dict):
        raise ArtifactError(f"{where}: not a robex graph (a JSON {type(raw).__name__}, not an object)")
    if raw.get("format") != FORMAT:
        hint = " (a torch.export JSON graph: robex reads only its own format; rebuild the entry)" * (
            "graph_module" in raw
        )
        raise ArtifactError(f"{where}: not a robex graph: 'format' is not {FORMAT!r}{hint}")
    if type(raw.get("version")) is not int or raw["version"] != VERSION:
        raise ArtifactError(
            f"{where}: robex graph format version {str(raw.get('version'))[:20]!r} is not supported "
            f"(this robex reads version {VERSION}; rebuild the entry with it)"
        )
    return raw


def _schema_error(exc: ValidationError, where: str) -> ArtifactError:
    first = exc.errors()[0]
    loc = ".".join(str(p) for p in first["loc"])
    return ArtifactError(f"{where}: malformed robex graph at {loc}: {first['msg']} ({exc.error_count()} error(s))")


def _check_arity(node: Node, where: str) -> None:
    """Positional arguments within the overload's positional parameters; keywords among its named ones."""
    schema = ALLOWED_OPS.get(node.op).overload()._schema
    positional = [a.name for a in schema.arguments if not a.kwarg_only]
    if len(node.args) > len(positional):
        raise ArtifactError(f"{where}: {node.op} takes {len(positional)} positional arguments, got {len(node.args)}")
    named = {a.name for a in schema.arguments} - set(positional[: len(node.args)])
    unknown = sorted(set(node.kwargs) - named)
    if unknown:
        raise ArtifactError(f"{where}: {node.op} has no keyword argument(s) {unknown}")


def _refs(arg: Any) -> list[tuple[str, Value]]:
    if isinstance(arg, TensorArg):
        return [(arg.tensor, Value.TENSOR)]
    if isinstance(arg, TensorsArg):
        return [(n, Value.TENSOR) for n in arg.tensors]
    if isinstance(arg, SymArg):
        return [(arg.sym, Value.INT)]
    if isinstance(arg, IntsArg):
        return [(v.sym, Value.INT) for v in arg.ints if isinstance(v, SymArg)]
    return []


def _check_dataflow(graph: Graph, where: str, randomized: bool) -> None:
    """Operators allowlisted; every reference to a value of the right kind defined earlier; names unique;
    every weight used; the output a tensor."""
    fixed = 1
    for d in graph.input.shape:
        fixed *= d if isinstance(d, int) else 1
    if fixed > MAX_INPUT_ELEMENTS:
        raise ArtifactError(f"{where}: an input of {fixed} values, over the cap of {MAX_INPUT_ELEMENTS}")
    kinds: dict[str, Value] = {}
    for name in [graph.input.name, *(w.name for w in graph.weights)]:
        if name in kinds:
            raise ArtifactError(f"{where}: the name {name!r} is defined twice")
        kinds[name] = Value.TENSOR
    used: set[str] = {graph.output}
    for i, node in enumerate(graph.nodes):
        at = f"{where}: node {i} ({node.op[:128]!r})"
        why = refusal(node.op, randomized)
        if why is not None:
            raise ArtifactError(f"{at}: refused: {why}")
        _check_arity(node, at)
        for arg in [*node.args, *node.kwargs.values()]:
            for name, kind in _refs(arg):
                if kinds.get(name) is not kind:
                    raise ArtifactError(f"{at}: {name!r} is not a {kind} value defined before this node")
                used.add(name)
        rule = ALLOWED_OPS.get(node.op)
        if len(node.outputs) != len(rule.outputs):
            raise ArtifactError(
                f"{at}: {node.op} has {len(rule.outputs)} output(s), the node names {len(node.outputs)}"
            )
        for name, kind in zip(node.outputs, rule.outputs, strict=True):
            if name in kinds:
                raise ArtifactError(f"{at}: the name {name!r} is defined twice")
            kinds[name] = kind
    if kinds.get(graph.output) is not Value.TENSOR:
        raise ArtifactError(f"{where}: the output {graph.output!r} is not a tensor value of the graph")
    unused = [w.name for w in graph.weights if w.name not in used]
    if unused:
        raise ArtifactError(f"{where}: weights the graph never uses: {unused[:5]}")
    total = sum(w.nbytes() for w in graph.weights)
    if total > MAX_WEIGHT_BYTES:
        raise ArtifactError(f"{where}: the weights take {total} bytes, over the {MAX_WEIGHT_BYTES}-byte cap")


def parse_graph(data: bytes, where: str, randomized: bool = False) -> Graph:
    """``data`` parsed and checked as a robex graph; random operators only when ``randomized``.

    Raises :class:`ArtifactError` naming the first problem. Nothing in ``data`` is evaluated.
    """
    raw = _read_json(data, where)
    try:
        graph = Graph.model_validate(raw)
    except ValidationError as exc:
        raise _schema_error(exc, where) from None
    _check_dataflow(graph, where, randomized)
    return graph


def check_weights(graph: Graph, tensors: Mapping[str, tuple[str, tuple[int, ...]]], where: str) -> None:
    """The weights file (name -> (dtype name, shape)) holds exactly the graph's weights, each as declared."""
    declared = {w.name: w for w in graph.weights}
    extra = sorted(set(tensors) - set(declared))
    if extra:
        raise ArtifactError(f"{where}: the weights file holds tensors the graph does not declare: {extra[:5]}")
    missing = sorted(set(declared) - set(tensors))
    if missing:
        raise ArtifactError(f"{where}: the weights file lacks the graph's weights {missing[:5]}")
    for name, (dtype, shape) in tensors.items():
        w = declared[name]
        if dtype != w.dtype or tuple(shape) != tuple(w.shape):
            raise ArtifactError(
                f"{where}: weight {name!r} is {dtype}{list(shape)}, the graph declares {w.dtype}{list(w.shape)}"
            )
