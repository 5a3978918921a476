"""The cell store: finished cells, keyed by a hash of everything that determines their output.

Layout: ``<root>/cells/<key[:2]>/<key>.json`` (scores, details, flags, meta) and, when the cell has
tensors, ``<key>.safetensors`` beside it. Both are written atomically; the tensors first and the JSON
last, so a JSON file's presence means the cell is complete. A run killed at any moment leaves only
complete cells behind, and a restarted run skips them.

**Tamper evidence.** The JSON carries the sha256 of the tensors file (``tensors_sha256``) and a
``checksum``: the sha256 of its own canonical JSON without that field. Every read checks both (and
that the cell's key matches its file name). A cell that fails (truncated or edited JSON, truncated or
swapped weights, a file missing, a cell written before checksums existed) is moved to
``<root>/quarantine/`` with a warning that names its files, and counts as absent, so the runner
computes it again; it is never used and never crashes a run.

**Layers.** A store may read through to a *base* store it never writes (``robex submit``'s isolated scorer sees
the maintainer's store read-only and writes its new cells to a staging store the parent checks; see
:mod:`bench.frontends.staging`). A cell is read from the layer that holds it; a corrupt cell of a read-only
store is reported and counts as absent, but is left where it is.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from platformdirs import user_cache_dir
from safetensors.torch import load, save
from torch import Tensor

from bench.protocols import StageOutput
from bench.results.atomic import atomic_write_bytes, atomic_write_json
from bench.track import canonical_json
from bench.types import Flag, ScoreValue, Severity

STORE_ENV = "ROBEX_STORE"
FORMAT = 2  # 2: cells carry checksums


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


class CorruptCellError(RuntimeError):
    """A stored cell failed its checksums; it was quarantined and must be computed again."""


class CorruptCellWarning(UserWarning):
    """Emitted (naming the files) when a corrupt cell is found and quarantined."""


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


def payload_checksum(payload: dict[str, Any]) -> str:
    """sha256 of the canonical JSON (sorted keys, no whitespace) of ``payload`` without its ``checksum``.

    >>> payload_checksum({"a": 1, "checksum": "x"}) == payload_checksum({"a": 1})
    True
    """
    return hashlib.sha256(canonical_json({k: v for k, v in payload.items() if k != "checksum"}).encode()).hexdigest()


def payload_problem(key: str, data: object) -> str:
    """The store's check of a cell's parsed JSON: ``""`` when it carries a checksum that matches and names ``key``,
    else what is wrong. (Its tensors are checked against ``tensors_sha256`` apart.)"""
    if not isinstance(data, dict) or "checksum" not in data:
        return "no checksum (written by an older robex, or edited)"
    try:
        if data["checksum"] != payload_checksum(data):
            return "its JSON does not match its checksum (edited or truncated)"
    except (TypeError, ValueError, RecursionError) as exc:
        return f"its JSON cannot be checksummed ({type(exc).__name__})"
    if data.get("key") != key:
        return f"it holds cell {data.get('key')!r}, not {key!r}"
    return ""


# (path, inode, size, mtime_ns, ctime_ns) -> sha256: a file is hashed once per process unless it changes.
_DIGESTS: dict[tuple[str, int, int, int, int], str] = {}


def _file_sha256(path: Path) -> str:
    st = path.stat()
    sig = (str(path), st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    if sig not in _DIGESTS:
        h = hashlib.sha256()
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        _DIGESTS[sig] = h.hexdigest()
    return _DIGESTS[sig]


class CellStore:
    """Finished cells on disk (see module docstring): ``base`` is a store read through and never written;
    ``read_only`` refuses :meth:`put` and leaves corrupt cells in place."""

    def __init__(
        self, root: str | os.PathLike[str], *, base: str | os.PathLike[str] | None = None, read_only: bool = False
    ) -> None:
        self.root = Path(root)
        self.read_only = read_only
        self.base = CellStore(base, read_only=True) if base is not None else None

    def _owner(self, key: str) -> CellStore:
        """The layer holding ``key``'s JSON: this store's, else the base's when it has it, else this one."""
        if self.base is None or self._base(key).with_suffix(".json").is_file():
            return self
        owner = self.base._owner(key)
        return owner if owner._base(key).with_suffix(".json").is_file() else self

    def _base(self, key: str) -> Path:
        return self.root / "cells" / key[:2] / key

    def put(self, key: str, output: StageOutput, meta: CellMeta) -> None:
        """Store a finished cell: tensors first, JSON (with both checksums) last; atomic each."""
        if self.read_only:
            raise PermissionError(f"the store {self.root} is read-only here; cell {key} was not written")
        base = self._base(key)
        tensors_sha256 = None
        if output.tensors:
            tensors = {k: v.detach().cpu().contiguous() for k, v in output.tensors.items()}
            blob = save(tensors)
            atomic_write_bytes(base.with_suffix(".safetensors"), blob)
            tensors_sha256 = hashlib.sha256(blob).hexdigest()
        payload = {
            "format": FORMAT,
            "key": key,
            "meta": meta.__dict__,
            "tensor_names": sorted(output.tensors),
            "tensors_sha256": tensors_sha256,
            **output_to_json(output),
        }
        payload = json.loads(json.dumps(payload, allow_nan=False))  # the checksum covers what is written
        payload["checksum"] = payload_checksum(payload)
        atomic_write_json(base.with_suffix(".json"), payload)

    # ---------------------------------------------------------------------------------------- reading
    def _problem(self, key: str) -> tuple[dict[str, Any] | None, str]:
        """The cell's verified JSON and ``""``, or ``None`` and what is wrong with it."""
        path = self._base(key).with_suffix(".json")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            return None, f"unreadable JSON ({exc})"
        problem = payload_problem(key, data)
        if problem:
            return None, problem
        if data.get("tensor_names"):
            weights = self._base(key).with_suffix(".safetensors")
            if not weights.is_file():
                return None, f"its tensors file {weights} is missing"
            if _file_sha256(weights) != data.get("tensors_sha256"):
                return None, f"its tensors file {weights} does not match its checksum (truncated or replaced)"
        return data, ""

    def check(self, key: str) -> str:
        """``""`` when the cell's JSON and tensors pass their checksums, else what is wrong (nothing is moved)."""
        if not self._base(key).with_suffix(".json").is_file():
            return "no such cell"
        return self._problem(key)[1]

    def _quarantine(self, key: str, reason: str) -> None:
        if self.read_only:
            message = f"corrupt cell {key} in the read-only store {self.root}: {reason}; it is not used"
            warnings.warn(message, CorruptCellWarning, stacklevel=3)
            return
        base = self._base(key)
        files = [p for p in (base.with_suffix(".json"), base.with_suffix(".safetensors")) if p.exists()]
        target = self.root / "quarantine" / f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
        target.mkdir(parents=True, exist_ok=True)
        for p in files:
            os.replace(p, target / p.name)
        message = (
            f"corrupt cell {key} in the store {self.root}: {reason}; "
            f"moved {', '.join(str(p) for p in files)} to {target}; it will be computed again"
        )
        warnings.warn(message, CorruptCellWarning, stacklevel=3)

    def _verified(self, key: str) -> dict[str, Any] | None:
        if not self._base(key).with_suffix(".json").is_file():
            return None
        data, reason = self._problem(key)
        if data is None:
            self._quarantine(key, reason)
        return data

    def has(self, key: str) -> bool:
        """Whether the cell is complete and passes its checksums (a corrupt one is quarantined)."""
        return self._owner(key)._verified(key) is not None

    def meta(self, key: str) -> CellMeta:
        """The bookkeeping of a finished cell."""
        return CellMeta(**self._owner(key)._load(key)["meta"])

    def _load(self, key: str) -> dict[str, Any]:
        if not self._base(key).with_suffix(".json").is_file():
            raise KeyError(f"cell {key} is not in the store {self.root}")
        data = self._verified(key)
        if data is None:
            raise CorruptCellError(f"cell {key} in the store {self.root} was corrupt and has been quarantined")
        return data

    def get(self, key: str, *, with_tensors: bool = True) -> StageOutput:
        """Load a finished, verified cell (``KeyError`` when absent, :class:`CorruptCellError` when it
        fails its checksums). The tensors are loaded from the very bytes whose sha256 was checked."""
        owner = self._owner(key)
        if owner is not self:
            return owner.get(key, with_tensors=with_tensors)
        data = self._load(key)
        tensors = None
        if with_tensors and data.get("tensor_names"):
            path = self._base(key).with_suffix(".safetensors")
            blob = path.read_bytes()
            if hashlib.sha256(blob).hexdigest() != data.get("tensors_sha256"):
                self._quarantine(key, f"its tensors file {path} changed while being read")
                raise CorruptCellError(f"cell {key} in the store {self.root} was corrupt and has been quarantined")
            tensors = load(blob)
        return output_from_json(data, tensors)
