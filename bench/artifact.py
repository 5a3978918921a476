"""Model artifacts: what the build process hands to the scorer, loaded without running or unpickling anything.

Two kinds:

- **weights** — a safetensors file for a registered architecture (:mod:`bench.models`);
- **graph** — a network robex does not define, as robex's own graph format (:mod:`bench.graph_format`: a strict
  JSON schema, only allowlisted pure ATen operators, :mod:`bench.graph_ops`) plus its weights in a safetensors
  file. It is written by :func:`export_graph` inside the build sandbox and run by robex's interpreter
  (:mod:`bench.graph_exec`). torch's own export deserialiser is never used on an artifact: it parses
  symbolic-shape expressions by evaluating them and can carry guard code, so a crafted graph could run Python.

A graph artifact is frozen in evaluation behaviour (batch norm uses running statistics, dropout is off):
``train()``/``eval()`` on the loaded model only set its flag. Its batch dimension is dynamic.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from torch import Tensor

from bench.checkpoint import CheckpointError, safetensors_index
from bench.graph_exec import ExportedModel, dry_run
from bench.graph_export import export_graph
from bench.graph_format import ArtifactError, Graph, check_weights, parse_graph

__all__ = [
    "ArtifactError",
    "ExportedModel",
    "artifact_sha256",
    "check_graph",
    "check_graph_artifact",
    "export_graph",
    "load_graph",
]


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


def check_graph(data: bytes, where: str, randomized: bool = False) -> Graph:
    """Parse and check a graph file (:func:`bench.graph_format.parse_graph`); nothing in it is evaluated."""
    return parse_graph(data, where, randomized)


def check_graph_artifact(graph: bytes, weights: bytes, where: str, randomized: bool = False) -> Graph:
    """Check a graph file and its safetensors weights without loading a tensor: the graph's schema and
    operators, the weights file's header (caps, float dtypes), and that the file holds exactly the graph's
    weights with their declared dtypes and shapes."""
    parsed = parse_graph(graph, where, randomized)
    try:
        index = safetensors_index(weights, where)
    except CheckpointError as exc:
        raise ArtifactError(str(exc)) from None
    check_weights(parsed, {k: (v.dtype, v.shape) for k, v in index.items()}, where)
    return parsed


def load_graph(data: bytes, tensors: Mapping[str, Tensor], where: str, randomized: bool = False) -> ExportedModel:
    """A graph artifact as a module run by robex's interpreter, after checking the graph and that ``tensors``
    are exactly its weights; one dry run on a zero batch proves it returns logits."""
    graph = parse_graph(data, where, randomized)
    check_weights(graph, {k: (str(v.dtype).removeprefix("torch."), tuple(v.shape)) for k, v in tensors.items()}, where)
    model = ExportedModel(graph, tensors, where)
    dry_run(model, where)
    return model
