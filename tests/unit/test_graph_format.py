"""robex's graph format: hostile graph artifacts, each built here, are refused without evaluating anything, and
every allowlisted operator runs through robex's interpreter with the eager model's values and gradients."""

from __future__ import annotations

import contextlib
import copy
import json
import pickle
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save
from torch import Tensor, nn

from bench.artifact import ArtifactError, check_graph_artifact, export_graph, load_graph
from bench.checkpoint import MAX_HEADER_BYTES
from bench.graph_format import MAX_GRAPH_BYTES, MAX_NODES, MAX_WEIGHT_BYTES
from bench.graph_ops import ALLOWED_OPS, Refusal, refusal

Exported = tuple[bytes, dict[str, Tensor]]


class Tiny(nn.Module):
    """A convolution, a buffer and a linear head: the base every hostile graph below is edited from."""

    scale: Tensor

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("scale", torch.tensor([[[[2.0]]]]))
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(4, 3)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(torch.relu(self.conv(x * self.scale)).mean(dim=(2, 3)))


@pytest.fixture(scope="module")
def tiny() -> Exported:
    torch.manual_seed(0)
    return export_graph(Tiny().eval(), torch.rand(2, 1, 6, 6))


def edit(graph: bytes, change: Callable[[dict[str, Any]], object]) -> bytes:
    parsed = json.loads(graph)
    change(parsed)
    return json.dumps(parsed).encode()


def payload(marker: Path) -> str:
    return f"__import__('os').system('touch {marker}')"


# ------------------------------------------------------------------------------------------ string evaluation
def _torch_export_json(marker: Path) -> tuple[bytes, dict[str, Tensor]]:
    """torch's own JSON serialisation of Tiny with the symbolic batch size's expression replaced by Python."""
    from torch._export.serde.serialize import serialize

    program = torch.export.export(
        Tiny().eval(), (torch.rand(2, 1, 6, 6),), dynamic_shapes=({0: torch.export.Dim("b", min=1, max=64)},)
    )
    art = serialize(program, serialize_state_dict=False, serialize_constants=False, serialize_example_inputs=False)
    text = art.exported_program.decode()
    symbol = json.loads(text)["graph_module"]["graph"]["tensor_values"]["x"]["sizes"][0]["as_expr"]["expr_str"]
    assert symbol.startswith("Symbol(")
    return text.replace(json.dumps(symbol), json.dumps(payload(marker))).encode(), dict(program.state_dict)


def test_control_the_sympy_payload_is_live_in_torchs_own_deserialiser(tmp_path: Path) -> None:
    """Why robex never uses torch's deserialiser: it evaluates the expression string (the marker appears). If a
    torch release stops evaluating it, the payload of the next test needs renewing."""
    from torch._export.serde.serialize import SerializedArtifact, deserialize

    marker = tmp_path / "pwned"
    data, state = _torch_export_json(marker)
    with contextlib.suppress(Exception):  # the payload returns an int where sympy wants an expression
        deserialize(SerializedArtifact(data, state, {}, b""))  # type: ignore[arg-type]
    assert marker.exists()


def test_a_torch_export_graph_with_a_python_payload_is_refused_and_never_evaluated(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    data, state = _torch_export_json(marker)
    with pytest.raises(ArtifactError, match=r"a torch\.export JSON graph: robex reads only its own format"):
        load_graph(data, state, "evil.json")
    with pytest.raises(ArtifactError, match=r"a torch\.export JSON graph"):
        check_graph_artifact(data, save(state), "evil.json")
    assert not marker.exists()


def _put(path: list[str | int], value: object) -> Callable[[dict[str, Any]], None]:
    def change(g: dict[str, Any]) -> None:
        target: Any = g
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


# Every string of the format is a pattern-checked name or symbol, an allowlisted operator or an enumerated literal:
# a payload is refused wherever it is put, and a field that could carry guard code does not exist.
PAYLOAD_PLACES: dict[str, list[str | int]] = {
    "input-symbol": ["input", "shape", 0],
    "input-name": ["input", "name"],
    "input-dtype": ["input", "dtype"],
    "weight-name": ["weights", 0, "name"],
    "weight-kind": ["weights", 0, "kind"],
    "operator": ["nodes", 1, "op"],
    "tensor-reference": ["nodes", 1, "args", 0, "tensor"],
    "output-name": ["nodes", 1, "outputs", 0],
    "graph-output": ["output"],
    "range-constraints": ["range_constraints"],
    "guard-code": ["guards_code"],
    "node-metadata": ["nodes", 1, "metadata"],
    "weight-field": ["weights", 0, "expr"],
    "format": ["format"],
}


@pytest.mark.parametrize("place", sorted(PAYLOAD_PLACES))
def test_a_python_payload_anywhere_in_a_robex_graph_is_refused(tiny: Exported, tmp_path: Path, place: str) -> None:
    graph, tensors = tiny
    marker = tmp_path / "pwned"
    text = payload(marker)
    value: object = {"s0": {"min_val": text}} if place == "range-constraints" else text
    hostile = edit(graph, _put(PAYLOAD_PLACES[place], value))
    with pytest.raises(ArtifactError):
        load_graph(hostile, tensors, "evil.json")
    with pytest.raises(ArtifactError):
        check_graph_artifact(hostile, save(tensors), "evil.json")
    assert not marker.exists()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ([], "range_constraints", "Extra inputs are not permitted"),
        (["input"], "constraints", "Extra inputs are not permitted"),
        (["weights", 0], "storage", "Extra inputs are not permitted"),
        (["nodes", 0], "metadata", "Extra inputs are not permitted"),
        (["nodes", 0, "args", 0], "name", "as the only key"),
    ],
    ids=["graph", "input", "weight", "node", "argument"],
)
def test_an_unknown_field_is_refused(tiny: Exported, field: list[str | int], value: str, message: str) -> None:
    graph, tensors = tiny
    hostile = edit(graph, _put([*field, value], "x"))
    with pytest.raises(ArtifactError, match=message):
        load_graph(hostile, tensors, "evil.json")


# ------------------------------------------------------------------------------------------------ operators
def _node(op: str, args: list[dict[str, Any]], outputs: list[str] | None = None) -> Callable[[dict[str, Any]], None]:
    """Insert ``op`` as the first node (reading the input or a weight), its output unused."""

    def change(g: dict[str, Any]) -> None:
        g["nodes"].insert(0, {"op": op, "args": args, "kwargs": {}, "outputs": outputs or ["evil"]})

    return change


@pytest.mark.parametrize(
    ("op", "args", "reason"),
    [
        ("aten.from_file.default", [{"int": 0}], Refusal.IO),  # read a host file into a tensor
        ("aten._local_scalar_dense.default", [{"tensor": "x"}], Refusal.IO),
        ("aten._to_copy.default", [{"tensor": "x"}], Refusal.IO),
        ("aten.to.device", [{"tensor": "x"}], Refusal.IO),
        ("aten.fill_.Scalar", [{"tensor": "p_conv_weight"}, {"float": 0.0}], Refusal.IN_PLACE),
        ("aten.fill_.Scalar", [{"tensor": "x"}, {"float": 0.0}], Refusal.IN_PLACE),
        ("aten.copy_.default", [{"tensor": "b_scale"}, {"tensor": "x"}], Refusal.IN_PLACE),
        ("aten.add_.Tensor", [{"tensor": "p_fc_bias"}, {"tensor": "p_fc_bias"}], Refusal.IN_PLACE),
        ("aten.set_.source_Tensor", [{"tensor": "x"}, {"tensor": "p_fc_bias"}], Refusal.IN_PLACE),
        ("aten.resize_.default", [{"tensor": "x"}, {"ints": [1 << 30]}], Refusal.IN_PLACE),
        ("aten.add.out", [{"tensor": "x"}, {"tensor": "x"}], Refusal.OUT),
        ("aten.relu.out", [{"tensor": "x"}], Refusal.OUT),
        ("aten.as_strided.default", [{"tensor": "x"}, {"ints": [9]}, {"ints": [1]}], Refusal.ALIASING),
        ("aten.alias.default", [{"tensor": "x"}], Refusal.ALIASING),
        ("aten.randn_like.default", [{"tensor": "x"}], Refusal.RANDOM_UNDECLARED),
        ("aten.native_dropout.default", [{"tensor": "x"}, {"float": 0.5}, {"bool": True}], Refusal.RANDOM_UNDECLARED),
        ("aten.normal.Tensor_float", [{"tensor": "x"}], Refusal.RANDOM),
        ("aten.randint.low", [{"int": 0}, {"int": 9}, {"ints": [2]}], Refusal.RANDOM),
        ("torch.ops.my_namespace.evil.default", [{"tensor": "x"}], Refusal.NOT_ATEN),
        ("builtins.eval", [{"tensor": "x"}], Refusal.NOT_ATEN),
        ("_operator.getitem", [{"tensor": "x"}, {"int": 0}], Refusal.NOT_ATEN),
        ("prims.add.default", [{"tensor": "x"}, {"tensor": "x"}], Refusal.NOT_ATEN),
        ("aten.relu", [{"tensor": "x"}], Refusal.NOT_ATEN),
        ("aten.index.Tensor", [{"tensor": "x"}], Refusal.UNLISTED),
        ("aten.embedding.default", [{"tensor": "x"}, {"tensor": "x"}], Refusal.UNLISTED),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_operators_off_the_allowlist_are_refused_with_the_reason(
    tiny: Exported, op: str, args: list[dict[str, Any]], reason: Refusal
) -> None:
    graph, tensors = tiny
    outputs = ["evil", "evil_mask"] if op == "aten.native_dropout.default" else None
    hostile = edit(graph, _node(op, args, outputs))
    with pytest.raises(ArtifactError, match=re.escape(f"refused: {reason}")):
        load_graph(hostile, tensors, "evil.json")
    with pytest.raises(ArtifactError, match=re.escape(f"refused: {reason}")):
        check_graph_artifact(hostile, save(tensors), "evil.json")
    assert refusal(op, randomized=False) is reason


def test_random_operators_run_only_in_an_entry_declared_randomised(tiny: Exported) -> None:
    graph, tensors = tiny

    def noisy(g: dict[str, Any]) -> None:
        for node in g["nodes"]:
            node["args"] = [{"tensor": "noisy"} if a == {"tensor": "x"} else a for a in node["args"]]
        add = {"op": "aten.add.Tensor", "args": [{"tensor": "x"}, {"tensor": "noise"}], "kwargs": {}}
        g["nodes"].insert(0, dict(add, outputs=["noisy"]))
        _node("aten.randn_like.default", [{"tensor": "x"}], ["noise"])(g)

    hostile = edit(graph, noisy)
    with pytest.raises(ArtifactError, match="declared randomised"):
        load_graph(hostile, tensors, "noisy.json")
    model = load_graph(hostile, tensors, "noisy.json", randomized=True)
    x = torch.rand(4, 1, 6, 6)
    assert not torch.equal(model(x), model(x))  # it does draw noise


# ------------------------------------------------------------------------------------------------- weights
def test_a_weights_file_with_a_tensor_the_graph_does_not_declare_is_refused(tiny: Exported) -> None:
    graph, tensors = tiny
    smuggled = {**tensors, "digits": torch.rand(5000, 784)}  # e.g. a copy of the evaluation pool
    with pytest.raises(ArtifactError, match=r"tensors the graph does not declare: \['digits'\]"):
        check_graph_artifact(graph, save(smuggled), "evil")
    with pytest.raises(ArtifactError, match="tensors the graph does not declare"):
        load_graph(graph, smuggled, "evil")


def test_a_declared_weight_the_graph_never_uses_is_refused(tiny: Exported) -> None:
    graph, tensors = tiny
    spec = {"name": "digits", "kind": "buffer", "dtype": "float32", "shape": [5000, 784]}
    hostile = edit(graph, lambda g: g["weights"].append(spec))
    with pytest.raises(ArtifactError, match=r"weights the graph never uses: \['digits'\]"):
        load_graph(hostile, {**tensors, "digits": torch.rand(5000, 784)}, "evil")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.pop("p_fc_bias"), r"lacks the graph's weights \['p_fc_bias'\]"),
        (lambda t: t.update(p_fc_bias=t["p_fc_bias"].double()), "is float64"),
        (lambda t: t.update(p_fc_bias=torch.zeros(4)), r"is float32\[4\], the graph declares float32\[3\]"),
        (lambda t: t.update(p_fc_bias=torch.zeros(3, dtype=torch.int64)), "dtype 'I64'"),
    ],
    ids=["missing", "dtype", "shape", "integer"],
)
def test_weights_must_be_the_declared_float_tensors(
    tiny: Exported, change: Callable[[dict[str, Tensor]], object], message: str
) -> None:
    graph, tensors = tiny
    bad = dict(tensors)
    change(bad)
    with pytest.raises(ArtifactError, match=message):
        check_graph_artifact(graph, save(bad), "evil")


def test_an_oversized_safetensors_header_is_refused_before_it_is_parsed(tiny: Exported) -> None:
    graph, _ = tiny
    n = MAX_HEADER_BYTES + 8
    weights = n.to_bytes(8, "little") + b"{" + b" " * (n - 2) + b"}"
    with pytest.raises(ArtifactError, match=f"safetensors header of {n} bytes, over the"):
        check_graph_artifact(graph, weights, "evil")


def test_a_header_declaring_more_data_than_the_file_holds_is_refused(tiny: Exported) -> None:
    graph, _ = tiny
    header = json.dumps({"p_fc_bias": {"dtype": "F32", "shape": [1 << 28], "data_offsets": [0, 1 << 30]}}).encode()
    weights = len(header).to_bytes(8, "little") + header + bytes(16)
    with pytest.raises(ArtifactError, match="bytes of tensor data"):
        check_graph_artifact(graph, weights, "evil")


def test_weights_over_the_size_cap_are_refused_from_the_graph_alone(tiny: Exported) -> None:
    graph, tensors = tiny
    huge = [1 << 16, 1 << 14]  # 4 GiB of float32
    hostile = edit(graph, _put(["weights", 0, "shape"], huge))
    assert 4 * huge[0] * huge[1] > MAX_WEIGHT_BYTES
    with pytest.raises(ArtifactError, match=r"over the \d+-byte cap"):
        load_graph(hostile, tensors, "evil")


def test_an_oversized_or_overlong_graph_is_refused(tiny: Exported) -> None:
    graph, tensors = tiny
    with pytest.raises(ArtifactError, match=r"over the \d+-byte cap"):
        load_graph(graph + b" " * MAX_GRAPH_BYTES, tensors, "evil")
    relu = {"op": "aten.relu.default", "args": [{"tensor": "x"}], "kwargs": {}, "outputs": ["r"]}
    hostile = edit(graph, lambda g: g["nodes"].extend(dict(relu, outputs=[f"r{i}"]) for i in range(MAX_NODES)))
    with pytest.raises(ArtifactError, match=f"nodes: List should have at most {MAX_NODES} items"):
        load_graph(hostile, tensors, "evil")


# ----------------------------------------------------------------------------------------- structure and JSON
def _set_arg(node: int, arg: int, value: object) -> Callable[[dict[str, Any]], None]:
    return _put(["nodes", node, "args", arg], value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_set_arg(1, 0, {"tensor": "nowhere"}), "'nowhere' is not a tensor value defined before this node"),
        (_set_arg(1, 0, {"tensor": "linear"}), "'linear' is not a tensor value defined before this node"),
        (_set_arg(1, 0, {"sym": "x"}), "'x' is not a int value"),
        (_put(["nodes", 1, "outputs", 0], "x"), "the name 'x' is defined twice"),
        (_put(["nodes", 1, "outputs"], ["a", "b"]), "has 1 output"),
        (_put(["nodes", 1, "kwargs"], {"evil": {"int": 1}}), r"has no keyword argument\(s\) \['evil'\]"),
        (_put(["nodes", 1, "args"], [{"int": 1}] * 12), "takes 7 positional arguments, got 12"),
        (_put(["output"], "nowhere"), "the output 'nowhere' is not a tensor value"),
        (_put(["version"], 2), "format version '2' is not supported"),
        (_put(["version"], True), "format version 'True' is not supported"),
        (_set_arg(1, 0, {"tensor": "x", "int": 1}), "one of .* as the only key"),
        (_set_arg(1, 0, {"float": "1e308*10"}), "Input should be a valid number"),
        (_put(["input", "shape"], ["s0", 1 << 20, 1 << 20]), "an input of .* values, over the cap"),
    ],
    ids=[
        "undefined",
        "defined-later",
        "wrong-kind",
        "redefined",
        "output-count",
        "unknown-keyword",
        "too-many-arguments",
        "dangling-output",
        "future-version",
        "bool-version",
        "two-tags",
        "string-float",
        "huge-input",
    ],
)
def test_malformed_graphs_are_refused(tiny: Exported, change: Callable[[dict[str, Any]], None], message: str) -> None:
    graph, tensors = tiny
    with pytest.raises(ArtifactError, match=message):
        load_graph(edit(graph, change), tensors, "evil")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x80\x04K\x01.", "not a JSON robex graph"),
        (b"[1]", "a JSON list, not an object"),
        (b"{}", "'format' is not 'robex-graph'"),
        (b'{"format": "robex-graph", "format": "robex-graph", "version": 1}', "duplicate key 'format'"),
        (b'{"format": "robex-graph", "version": 1, "x": NaN}', "NaN is not a JSON number"),
        (b"[" * 100_000 + b"]" * 100_000, "RecursionError"),
    ],
    ids=["pickle", "list", "empty", "duplicate-key", "nan", "deep-nesting"],
)
def test_malformed_json_is_refused(tiny: Exported, data: bytes, message: str) -> None:
    with pytest.raises(ArtifactError, match=message):
        load_graph(data, tiny[1], "g.json")


def test_a_graph_that_does_not_run_or_return_logits_is_refused_at_load(tiny: Exported) -> None:
    graph, tensors = tiny
    wrong_view = {"op": "aten.view.default", "args": [{"tensor": "x"}, {"ints": [7, 7]}], "kwargs": {}}
    broken = edit(graph, lambda g: g["nodes"].insert(0, dict(wrong_view, outputs=["v"])))
    with pytest.raises(ArtifactError, match="the graph does not run: RuntimeError"):
        load_graph(broken, tensors, "evil")

    def image_out(g: dict[str, Any]) -> None:
        g["output"] = "x"
        g["weights"], g["nodes"] = [], [{"op": "aten.relu.default", "args": [{"tensor": "x"}], "kwargs": {}}]
        g["nodes"][0]["outputs"] = ["r"]

    with pytest.raises(ArtifactError, match=r"returns torch.float32 \[1, 1, 6, 6\], not logits"):
        load_graph(edit(graph, image_out), {}, "evil")


def test_an_input_of_another_shape_is_refused_at_call(tiny: Exported) -> None:
    model = load_graph(*tiny, "tiny")
    assert model(torch.rand(5, 1, 6, 6)).shape == (5, 3)
    with pytest.raises(ValueError, match=r"input of shape \[5, 1, 7, 7\], the graph takes \['s0', 1, 6, 6\]"):
        model(torch.rand(5, 1, 7, 7))


# ---------------------------------------------------------------------------------- every allowlisted operator
class OpModel(nn.Module):
    """Parameters ``w`` (4×4), ``b`` (4) and a batch norm for the operator examples; output flattened to 2-D."""

    def __init__(self, fn: Callable[[OpModel, Tensor], Tensor]) -> None:
        super().__init__()
        self.fn = fn
        self.w = nn.Parameter(torch.randn(4, 4))
        self.b = nn.Parameter(torch.randn(4))
        self.k = nn.Parameter(torch.randn(4, 4, 3, 3))
        self.bn = nn.BatchNorm2d(4)
        assert self.bn.running_mean is not None and self.bn.running_var is not None
        self.bn.running_mean.uniform_(-0.5, 0.5)
        self.bn.running_var.uniform_(0.5, 2.0)

    def forward(self, x: Tensor) -> Tensor:
        return self.fn(self, x).flatten(1)


def _rows(x: Tensor) -> Tensor:
    return x.flatten(1)[:, :4]


# One example per allowlisted operator: a model whose export calls it (input: N × 4 × 4 × 4 in [0, 1]).
EXAMPLES: dict[str, Callable[[OpModel, Tensor], Tensor]] = {
    "aten.conv2d.default": lambda m, x: F.conv2d(x, m.k, padding=1),
    "aten.linear.default": lambda m, x: F.linear(_rows(x), m.w, m.b),
    "aten.mm.default": lambda m, x: torch.mm(_rows(x), m.w),
    "aten.addmm.default": lambda m, x: torch.addmm(m.b, _rows(x), m.w),
    "aten.matmul.default": lambda m, x: _rows(x) @ m.w,
    "aten.t.default": lambda m, x: _rows(x) @ m.w.t(),
    "aten.relu.default": lambda m, x: torch.relu(x - 0.5),
    "aten.gelu.default": lambda m, x: F.gelu(x - 0.5),
    "aten.sigmoid.default": lambda m, x: torch.sigmoid(x),
    "aten.tanh.default": lambda m, x: torch.tanh(x),
    "aten.clamp.default": lambda m, x: x.clamp(0.2, 0.7),
    "aten.round.default": lambda m, x: torch.round(x * 4) / 4,
    "aten.where.self": lambda m, x: torch.where(x >= 0.5, x, x * 2),
    "aten.ge.Scalar": lambda m, x: torch.where(x >= 0.5, x, x * x),
    "aten.add.Tensor": lambda m, x: x + m.b.view(1, 4, 1, 1),
    "aten.sub.Tensor": lambda m, x: x - m.b.view(1, 4, 1, 1),
    "aten.mul.Tensor": lambda m, x: x * m.b.view(1, 4, 1, 1),
    "aten.div.Tensor": lambda m, x: x / (m.b.view(1, 4, 1, 1) * m.b.view(1, 4, 1, 1) + 1),
    "aten.max_pool2d.default": lambda m, x: F.max_pool2d(x, 2),
    "aten.max_pool2d_with_indices.default": lambda m, x: F.max_pool2d(x, 2, return_indices=True)[0],
    "aten.avg_pool2d.default": lambda m, x: F.avg_pool2d(x, 2),
    "aten.adaptive_avg_pool2d.default": lambda m, x: F.adaptive_avg_pool2d(x, 1),
    "aten._native_batch_norm_legit_no_training.default": lambda m, x: m.bn(x),
    "aten.mean.dim": lambda m, x: x.mean(dim=(2, 3)),
    "aten.sum.dim_IntList": lambda m, x: x.sum(dim=(2, 3)),
    "aten.amax.default": lambda m, x: x.amax(dim=(2, 3)),
    "aten.softmax.int": lambda m, x: x.flatten(1).softmax(1),
    "aten.log_softmax.int": lambda m, x: F.log_softmax(x.flatten(1), 1),
    "aten.view.default": lambda m, x: x.view(x.size(0), -1),
    "aten.sym_size.int": lambda m, x: x.reshape(x.shape[0], 8, -1),
    "aten.permute.default": lambda m, x: x.permute(0, 2, 3, 1),
    "aten.transpose.int": lambda m, x: x.transpose(2, 3) * m.b.view(1, 1, 1, 4),
    "aten.expand.default": lambda m, x: x + m.b.view(1, 4, 1, 1).expand(1, 4, 4, 4),
    "aten.cat.default": lambda m, x: torch.cat([x, x * 2], 1),
    "aten.slice.Tensor": lambda m, x: x[:, 1:3, ::2],
    "aten.select.int": lambda m, x: x[:, 0],
    "aten.unsqueeze.default": lambda m, x: x[:, 0].unsqueeze(1) * x,
    "aten.squeeze.dim": lambda m, x: x[:, :1].squeeze(1),
    "aten.clone.default": lambda m, x: x.permute(0, 2, 3, 1).contiguous(),
    "aten._unsafe_view.default": lambda m, x: x.permute(0, 2, 3, 1).reshape(x.shape[0], -1),
    "aten.randn_like.default": lambda m, x: x + torch.randn_like(x),
    "aten.rand_like.default": lambda m, x: x + torch.rand_like(x),
    "aten.bernoulli.default": lambda m, x: torch.bernoulli(x),
    "aten.native_dropout.default": lambda m, x: F.dropout(x, 0.5, training=True),
}


def test_every_allowlisted_operator_has_an_example() -> None:
    assert sorted(EXAMPLES) == ALLOWED_OPS.names()


@pytest.mark.parametrize("op", ALLOWED_OPS.names())
def test_each_allowlisted_operator_runs_with_the_eager_values_and_gradients(op: str) -> None:
    torch.manual_seed(0)
    model = OpModel(EXAMPLES[op]).eval()
    random = ALLOWED_OPS.get(op).random
    graph, tensors = export_graph(model, torch.rand(2, 4, 4, 4), randomized=random)
    assert op in {n["op"] for n in json.loads(graph)["nodes"]}, f"the example does not call {op}"
    loaded = load_graph(graph, tensors, op, randomized=random)
    x = torch.rand(3, 4, 4, 4, generator=torch.Generator().manual_seed(1))
    xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    torch.manual_seed(7)
    out_a = model(xa)
    torch.manual_seed(7)
    out_b = loaded(xb)
    torch.testing.assert_close(out_b, out_a, rtol=0, atol=1e-6)
    weights = torch.linspace(-1, 1, out_a.shape[1])
    (out_a * weights).sum().backward()
    (out_b * weights).sum().backward()
    assert xa.grad is not None and xb.grad is not None
    torch.testing.assert_close(xb.grad, xa.grad, rtol=0, atol=1e-6)


def test_the_loaded_model_copies_pickles_moves_and_names_its_weights(tiny: Exported) -> None:
    model = load_graph(*tiny, "tiny")
    assert {k for k, _ in model.named_parameters()} == {f"tensors.{k}" for k in tiny[1] if k.startswith("p_")}
    assert set(model.state_dict()) == {f"tensors.{k}" for k in tiny[1]}
    x = torch.rand(2, 1, 6, 6)
    assert torch.equal(copy.deepcopy(model)(x), model(x))  # stages copy models (fine-tuning)
    assert torch.equal(pickle.loads(pickle.dumps(model))(x), model(x))  # our own object, not an artifact
    assert model.to(torch.float64)(x.double()).dtype == torch.float64
