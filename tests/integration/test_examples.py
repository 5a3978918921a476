"""The worked examples write entries that fit the track they name: ``examples/byo_resnet18/make_entry.py --track T``
for every track it accepts writes weights that the build's own loading step (``build_model(track)``, strict
``load_weights`` of the sha256-checked file) accepts, and a manifest admission accepts. It once wrote 3-channel
weights for ``mnist5k``, which the build then rejected."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import torch

from bench.checkpoint import load_weights, read_checkpoint
from bench.frontends.admission import validate_entry
from bench.track import TRACKS, load_track

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "byo_resnet18"


def _accepted_tracks() -> list[str]:
    """The ``--track`` choices the script's own parser offers."""
    out = subprocess.run(
        [sys.executable, str(EXAMPLE / "make_entry.py"), "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(ROOT), "PATH": ""},
    ).stdout
    choices = out.split("--track {", 1)[1].split("}", 1)[0]
    return choices.split(",")


def test_the_example_accepts_exactly_the_registered_tracks() -> None:
    assert sorted(_accepted_tracks()) == TRACKS.names()


@pytest.mark.slow
@pytest.mark.parametrize("track_name", TRACKS.names())
def test_make_entry_writes_weights_that_fit_the_track_it_names(tmp_path: Path, track_name: str) -> None:
    folder = tmp_path / "entry"
    subprocess.run(
        [sys.executable, str(EXAMPLE / "make_entry.py"), "--track", track_name, "--out", str(folder)],
        check=True,
        capture_output=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "", "OMP_NUM_THREADS": "1"},
    )
    manifest = tomllib.loads((folder / "entry.toml").read_text())
    assert manifest["track"] == track_name
    assert sorted(p.name for p in folder.iterdir()) == ["entry.toml", "model.py", "model.safetensors"]
    track = load_track(track_name)
    entry, _ = validate_entry(folder, tmp_path / "results", quick=True, replace=False)  # sha256, header, payload
    ck = entry.manifest.checkpoint
    assert ck is not None and ck.module == "model.py"
    # the build's loading step (bench.frontends.build._build_module_checkpoint), run here on the example's code
    spec = importlib.util.spec_from_file_location("byo_model_test", folder / ck.module)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = getattr(module, ck.factory)(track, **ck.architecture_kwargs)
    load_weights(model, read_checkpoint(folder / ck.file, ck.sha256), "byo_resnet18")
    with torch.no_grad():
        logits = model.eval()(torch.zeros(2, *track.input_shape))
    assert logits.shape == (2, track.num_classes)
