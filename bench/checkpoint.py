"""Checkpoints as safetensors with sha256: never unpickled, refused before loading when the hash differs."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import Tensor, nn

from bench.results.atomic import atomic_write_bytes


class CheckpointError(ValueError):
    """A checkpoint is not safetensors, has the wrong sha256, or does not fit the architecture."""


SAFETENSORS_MAX_HEADER = 100 * 1024 * 1024
MAX_HEADER_BYTES = 1 << 20  # the JSON index: ~100 bytes a tensor
MAX_TENSORS = 4096
MAX_TENSOR_BYTES = 1 << 30
MAX_CHECKPOINT_BYTES = 8 + MAX_HEADER_BYTES + MAX_TENSOR_BYTES
SAFETENSORS_DTYPES = {"F16": ("float16", 2), "BF16": ("bfloat16", 2), "F32": ("float32", 4), "F64": ("float64", 8)}
INT64 = {"I64": ("int64", 8)}  # batch norm's num_batches_tracked in a registered architecture's state dict


@dataclass(frozen=True)
class TensorInfo:
    """One tensor of a safetensors file as its header declares it."""

    dtype: str
    shape: tuple[int, ...]


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def state_dict_bytes(model: nn.Module) -> bytes:
    """The model's state dict serialised as safetensors (contiguous copies; deterministic bytes)."""
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    return st_save(tensors)


def save_checkpoint(model: nn.Module, path: Path) -> str:
    """Write ``model``'s weights atomically as safetensors; return their sha256."""
    data = state_dict_bytes(model)
    atomic_write_bytes(path, data)
    return sha256_bytes(data)


def check_safetensors_header(data: bytes, where: str) -> None:
    """Refuse anything that is not a safetensors file *before* parsing it (pickles start with 0x80)."""
    if len(data) < 8:
        raise CheckpointError(f"{where}: too short to be a safetensors file")
    header_len = int.from_bytes(data[:8], "little")
    if header_len <= 0 or header_len > min(SAFETENSORS_MAX_HEADER, len(data) - 8) or data[8:9] != b"{":
        hint = (
            " (it looks like a pickle: robex never unpickles checkpoints)"
            if data[:1] == b"\x80" or data[:2] == b"PK"
            else ""
        )
        raise CheckpointError(f"{where}: not a safetensors file{hint}")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    if len({k for k, _ in pairs}) != len(pairs):
        raise ValueError("duplicate key")
    return dict(pairs)


def _tensor_info(
    name: str, entry: object, dtypes: Mapping[str, tuple[str, int]], where: str
) -> tuple[TensorInfo, int, int]:
    """(info, start, end) of one header entry, checked: known dtype, a shape of sizes, offsets that fit it."""
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
        raise CheckpointError(f"{where}: tensor {name[:100]!r}: malformed safetensors header entry")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if dtype not in dtypes:
        raise CheckpointError(
            f"{where}: tensor {name[:100]!r} has dtype {str(dtype)[:20]!r}; allowed: {sorted(dtypes)}"
        )
    ints = [*shape, *offsets] if isinstance(shape, list) and isinstance(offsets, list) else [None]
    if len(shape) > 8 or len(offsets) != 2 or not all(type(v) is int and 0 <= v <= MAX_TENSOR_BYTES for v in ints):
        raise CheckpointError(f"{where}: tensor {name[:100]!r}: malformed shape or offsets")
    size = dtypes[dtype][1]
    for d in shape:
        size *= d
    if offsets[1] - offsets[0] != size:
        raise CheckpointError(f"{where}: tensor {name[:100]!r}: its offsets do not match its shape and dtype")
    return TensorInfo(dtypes[dtype][0], tuple(shape)), offsets[0], offsets[1]


def safetensors_index(
    data: bytes, where: str, dtypes: Mapping[str, tuple[str, int]] = SAFETENSORS_DTYPES
) -> dict[str, TensorInfo]:
    """The tensors a safetensors file declares, checked before any tensor is read: header at most
    ``MAX_HEADER_BYTES``, at most ``MAX_TENSORS`` tensors of ``dtypes`` totalling at most ``MAX_TENSOR_BYTES``,
    laid out back to back over exactly the rest of the file."""
    check_safetensors_header(data, where)
    n = int.from_bytes(data[:8], "little")
    if n > MAX_HEADER_BYTES:
        raise CheckpointError(f"{where}: safetensors header of {n} bytes, over the {MAX_HEADER_BYTES}-byte cap")
    try:
        header = json.loads(data[8 : 8 + n].decode("utf-8"), object_pairs_hook=_unique_keys)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise CheckpointError(f"{where}: unreadable safetensors header: {str(exc)[:200]}") from None
    meta = header.pop("__metadata__", {}) if isinstance(header, dict) else None
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise CheckpointError(f"{where}: malformed safetensors header")
    if len(header) > MAX_TENSORS:
        raise CheckpointError(f"{where}: {len(header)} tensors, over the cap of {MAX_TENSORS}")
    out: dict[str, TensorInfo] = {}
    spans: list[tuple[int, int]] = []
    for name, entry in header.items():
        out[name], start, end = _tensor_info(name, entry, dtypes, where)
        spans.append((start, end))
    position = 0
    for start, end in sorted(spans):
        if start != position:
            raise CheckpointError(f"{where}: safetensors data with gaps or overlaps")
        position = end
    if position != len(data) - 8 - n or position > MAX_TENSOR_BYTES:
        raise CheckpointError(
            f"{where}: {len(data) - 8 - n} bytes of tensor data, {position} declared (cap {MAX_TENSOR_BYTES})"
        )
    return out


def read_checkpoint(path: Path, expected_sha256: str | None = None) -> dict[str, Tensor]:
    """Read a safetensors checkpoint (at most ``MAX_TENSOR_BYTES`` of tensors), checking its sha256 first (when
    given), then its header (:func:`safetensors_index`, float and int64 tensors), before loading any tensor."""
    with open(path, "rb") as fh:
        data = fh.read(MAX_CHECKPOINT_BYTES + 1)
    if len(data) > MAX_CHECKPOINT_BYTES:
        raise CheckpointError(f"{path}: over the {MAX_CHECKPOINT_BYTES}-byte cap on checkpoints")
    if expected_sha256 is not None:
        digest = sha256_bytes(data)
        if digest != expected_sha256.lower():
            raise CheckpointError(f"{path}: sha256 {digest} does not match the manifest's {expected_sha256}")
    safetensors_index(data, str(path), {**SAFETENSORS_DTYPES, **INT64})
    try:
        return st_load(data)
    except Exception as exc:  # safetensors raises its own error types
        raise CheckpointError(f"{path}: unreadable safetensors file: {exc}") from exc


def load_weights(model: nn.Module, tensors: dict[str, Tensor], where: str) -> nn.Module:
    """Load ``tensors`` into ``model`` strictly; mismatches raise :class:`CheckpointError` naming the keys."""
    own = model.state_dict()
    missing = sorted(set(own) - set(tensors))
    extra = sorted(set(tensors) - set(own))
    bad = sorted(k for k in set(own) & set(tensors) if own[k].shape != tensors[k].shape)
    if missing or extra or bad:
        raise CheckpointError(
            f"{where}: weights do not fit the architecture (missing {missing[:5]}, unexpected "
            f"{extra[:5]}, wrong shape {bad[:5]})"
        )
    model.load_state_dict(tensors, strict=True)
    return model.eval()
