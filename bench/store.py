"""The cell store: finished cells, keyed by a hash of everything that determines their output.

Layout: ``<root>/cells/<key[:2]>/<key>.json`` (scores, details, flags, meta) and, when the cell has
tensors, ``<key>.safetensors`` beside it. Both are written atomically; the tensors first and the JSON
last, so a JSON file's presence means the cell is complete. A run killed at any moment leaves only
complete cells behind, and a restarted run skips them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from platformdirs import user_cache_dir
from safetensors.torch import load_file, save
from torch import Tensor

from bench.atomic import atomic_write_bytes, atomic_write_json
from bench.protocols import StageOutput
from bench.types import Flag, ScoreValue, Severity

STORE_ENV = "ROBEX_STORE"


def default_store() -> Path:
    """``$ROBEX_STORE`` or the user's cache folder (``~/.cache/robex/store`` on Linux)."""
    env = os.environ.get(STORE_ENV)
    return Path(env) if env else Path(user_cache_dir("robex")) / "store"


@dataclass(frozen=True)
class CellMeta:
    """Bookkeeping kept with a finished cell."""

    stage: str
    entry: str
    source: str | None
    wall_time_s: float
    device: str


def output_to_json(out: StageOutput) -> dict[str, Any]:
    """JSON form of a stage output, without its tensors."""
    return {
        "scores": [s.__dict__ for s in out.scores],
        "details": out.details,
        "flags": [{**f.__dict__, "severity": f.severity.value} for f in out.flags],
    }


def output_from_json(data: dict[str, Any], tensors: dict[str, Tensor] | None = None) -> StageOutput:
    """Inverse of :func:`output_to_json`."""
    return StageOutput(
        scores=tuple(ScoreValue(**s) for s in data.get("scores", [])),
        details=data.get("details", {}),
        flags=tuple(Flag(**{**f, "severity": Severity(f["severity"])}) for f in data.get("flags", [])),
        tensors=tensors or {},
    )


class CellStore:
    """Finished cells on disk (see module docstring)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def _base(self, key: str) -> Path:
        return self.root / "cells" / key[:2] / key

    def has(self, key: str) -> bool:
        """Whether the cell is complete."""
        return self._base(key).with_suffix(".json").is_file()

    def put(self, key: str, output: StageOutput, meta: CellMeta) -> None:
        """Store a finished cell: tensors first, JSON last (atomic each)."""
        base = self._base(key)
        if output.tensors:
            tensors = {k: v.detach().cpu().contiguous() for k, v in output.tensors.items()}
            atomic_write_bytes(base.with_suffix(".safetensors"), save(tensors))
        payload = {"key": key, "meta": meta.__dict__, "tensor_names": sorted(output.tensors), **output_to_json(output)}
        atomic_write_json(base.with_suffix(".json"), payload)

    def meta(self, key: str) -> CellMeta:
        """The bookkeeping of a finished cell."""
        data = json.loads(self._base(key).with_suffix(".json").read_text())
        return CellMeta(**data["meta"])

    def get(self, key: str, *, with_tensors: bool = True) -> StageOutput:
        """Load a finished cell (``KeyError`` when absent)."""
        path = self._base(key).with_suffix(".json")
        if not path.is_file():
            raise KeyError(f"cell {key} is not in the store {self.root}")
        data = json.loads(path.read_text())
        tensors = None
        if with_tensors and data.get("tensor_names"):
            tensors = load_file(str(self._base(key).with_suffix(".safetensors")))
        return output_from_json(data, tensors)
