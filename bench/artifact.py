"""Model artifacts: what the build process hands to the scorer, loaded without running or unpickling anything.

Two kinds:

- **weights** — a safetensors file for a registered architecture (:mod:`bench.models`);
- **graph** — a ``torch.export`` program serialised by ``torch.export``'s JSON serde (the graph only:
  ``serialize_state_dict``, ``serialize_constants`` and ``serialize_example_inputs`` off, because those
  parts are written with ``torch.save``, i.e. pickle) plus every parameter, buffer and tensor constant in a
  safetensors file. Loading parses the JSON with :func:`json.loads`, checks that every node calls an ATen
  operator (no custom ops, no higher-order ops, no script objects), and hands the deserialiser the tensors
  as a dict, so ``torch.load`` is never reached (see https://docs.pytorch.org/docs/stable/export.html).

A graph artifact is frozen in evaluation behaviour (batch norm uses running statistics, dropout is off):
``train()``/``eval()`` on the loaded model only set its flag. Its batch dimension is dynamic.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

GRAPH_FORMAT = "torch.export-json"
STATE_PREFIX = "state_dict/"
CONSTANT_PREFIX = "constants/"
ALLOWED_TARGET_PREFIXES = ("torch.ops.aten.", "_operator.getitem")
MAX_BATCH = 1 << 16


class ArtifactError(ValueError):
    """A model artifact cannot be exported or is not a well-formed, ATen-only graph."""


def artifact_sha256(weights_sha256: str, graph_sha256: str | None = None) -> str:
    """The artifact's identity: the weights' sha256, or for a graph artifact
    ``sha256("robex-artifact-v1:" + weights_sha256 + ":" + graph_sha256)``.

    >>> artifact_sha256("ab") == "ab"
    True
    >>> len(artifact_sha256("ab", "cd"))
    64
    """
    if graph_sha256 is None:
        return weights_sha256.lower()
    material = f"robex-artifact-v1:{weights_sha256.lower()}:{graph_sha256.lower()}"
    return hashlib.sha256(material.encode()).hexdigest()


def export_graph(model: nn.Module, example: Tensor) -> tuple[bytes, dict[str, Tensor]]:
    """``model`` (in eval mode) exported with a dynamic batch dimension: (graph JSON bytes, tensors).

    Raises :class:`ArtifactError` when ``torch.export`` cannot trace the model or it holds non-tensor
    constants (script objects), which a safetensors file cannot carry.
    """
    from torch._export.serde.serialize import serialize

    model = model.eval()
    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    try:
        program = torch.export.export(model, (example,), dynamic_shapes=({0: batch},))
    except Exception as exc:  # torch.export raises many error types (Unsupported, UserError, ...)
        raise ArtifactError(f"torch.export could not trace the model: {type(exc).__name__}: {exc}") from exc
    tensors: dict[str, Tensor] = {}
    for prefix, values in ((STATE_PREFIX, program.state_dict), (CONSTANT_PREFIX, program.constants)):
        for name, value in values.items():
            if not isinstance(value, Tensor):
                raise ArtifactError(f"the exported model holds a non-tensor constant {name!r} ({type(value).__name__})")
            tensors[prefix + name] = value.detach().cpu().contiguous().clone()
    art = serialize(program, serialize_state_dict=False, serialize_constants=False, serialize_example_inputs=False)
    return art.exported_program, tensors


def _walk_targets(node: Any, out: set[str]) -> None:
    if isinstance(node, dict):
        graph = node.get("graph")
        if isinstance(graph, dict) and isinstance(graph.get("nodes"), list):
            for n in graph["nodes"]:
                if isinstance(n, dict):
                    out.add(str(n.get("target", "")))
        for v in node.values():
            _walk_targets(v, out)
    elif isinstance(node, list):
        for v in node:
            _walk_targets(v, out)


def check_graph(data: bytes, where: str) -> dict[str, Any]:
    """Parse a graph artifact's JSON and refuse any node whose target is not an ATen operator."""
    try:
        parsed = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{where}: not a JSON torch.export graph: {exc}") from None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("graph_module"), dict):
        raise ArtifactError(f"{where}: not a torch.export graph (no 'graph_module')")
    targets: set[str] = set()
    _walk_targets(parsed["graph_module"], targets)
    if not targets:
        raise ArtifactError(f"{where}: the graph has no nodes")
    bad = sorted(t for t in targets if not t.startswith(ALLOWED_TARGET_PREFIXES))
    if bad:
        raise ArtifactError(f"{where}: the graph calls operators robex does not load (only ATen ops): {bad[:5]}")
    return parsed


class ExportedModel(nn.Module):
    """A deserialised graph artifact; ``train``/``eval`` only set the flag (the graph is frozen in eval)."""

    def __init__(self, graph_module: nn.Module) -> None:
        super().__init__()
        self.graph_module = graph_module

    def forward(self, x: Tensor) -> Tensor:
        return self.graph_module(x)  # type: ignore[no-any-return]

    def train(self, mode: bool = True) -> ExportedModel:
        """Set the flag only: the exported graph's behaviour was fixed in eval mode at export."""
        self.training = mode
        return self


def load_graph(data: bytes, tensors: Mapping[str, Tensor], where: str) -> ExportedModel:
    """Rebuild a graph artifact from its JSON and tensors (nothing is unpickled; see the module docstring)."""
    from torch._export.serde.serialize import SerializedArtifact, deserialize

    parsed = check_graph(data, where)
    specs = parsed["graph_module"].get("signature", {}).get("input_specs", [])
    parameters = {str(s["parameter"].get("parameter_name")) for s in specs if isinstance(s, dict) and "parameter" in s}
    state: dict[str, Tensor] = {}
    for k, v in tensors.items():
        if k.startswith(STATE_PREFIX):
            name = k[len(STATE_PREFIX) :]
            state[name] = nn.Parameter(v, requires_grad=v.is_floating_point()) if name in parameters else v
    constants = {k[len(CONSTANT_PREFIX) :]: v for k, v in tensors.items() if k.startswith(CONSTANT_PREFIX)}
    stray = sorted(k for k in tensors if not k.startswith((STATE_PREFIX, CONSTANT_PREFIX)))
    if stray:
        raise ArtifactError(f"{where}: tensors outside {STATE_PREFIX!r}/{CONSTANT_PREFIX!r}: {stray[:5]}")
    try:
        program = deserialize(SerializedArtifact(data, state, constants, b""))  # type: ignore[arg-type]
        module = program.module()
    except Exception as exc:  # the deserialiser raises SerializeError, KeyError, ...
        raise ArtifactError(f"{where}: cannot rebuild the exported graph: {type(exc).__name__}: {exc}") from exc
    return ExportedModel(module)
