"""Checkpoint entry folders for runner tests: a trained model becomes an entry with no training cell cost."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from bench.checkpoint import save_checkpoint
from bench.track import load_track


def write_checkpoint_entry(folder: Path, name: str, model: nn.Module, architecture: str | None = None) -> Path:
    """``folder/name/`` holding ``model.safetensors`` and an ``entry.toml`` for track mnist5k (``architecture``:
    the track's reference architecture unless named); returns it."""
    architecture = architecture or load_track("mnist5k").architecture
    entry = folder / name
    entry.mkdir(parents=True)
    sha = save_checkpoint(model, entry / "model.safetensors")
    (entry / "entry.toml").write_text(
        f'name = "{name}"\ntitle = "{name}"\nauthors = "robex tests"\ntrack = "mnist5k"\n\n'
        f'[checkpoint]\narchitecture = "{architecture}"\nfile = "model.safetensors"\nsha256 = "{sha}"\n'
    )
    return entry
