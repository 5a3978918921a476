"""Checkpoints as safetensors with sha256: never unpickled, refused before loading when the hash differs."""

from __future__ import annotations

import hashlib
from pathlib import Path

from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import Tensor, nn

from bench.results.atomic import atomic_write_bytes


class CheckpointError(ValueError):
    """A checkpoint is not safetensors, has the wrong sha256, or does not fit the architecture."""


SAFETENSORS_MAX_HEADER = 100 * 1024 * 1024


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


def read_checkpoint(path: Path, expected_sha256: str | None = None) -> dict[str, Tensor]:
    """Read a safetensors checkpoint, checking its sha256 first (when given) and its header."""
    data = Path(path).read_bytes()
    if expected_sha256 is not None:
        digest = sha256_bytes(data)
        if digest != expected_sha256.lower():
            raise CheckpointError(f"{path}: sha256 {digest} does not match the manifest's {expected_sha256}")
    check_safetensors_header(data, str(path))
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
