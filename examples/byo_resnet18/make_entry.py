"""Write this example's ``model.safetensors`` and ``entry.toml`` from your trained ResNet-18.

    python examples/byo_resnet18/make_entry.py --weights my_resnet18_state_dict.safetensors
    robex submit examples/byo_resnet18

``--track`` (default ``cifar10``) names the track the entry is submitted to; the network is built for it
(``build_model(track)``: the track's input channels and classes), so the weights written fit what the build
loads. ``--weights`` is a safetensors file of that network's ``state_dict()`` (convert a ``torch.save`` file once,
on your own machine, with ``safetensors.torch.save_file(torch.load(path, weights_only=True), out)``).
Without ``--weights`` the script writes a seeded, untrained network (useful to try the pipeline). ``--out DIR``
writes the entry (``entry.toml``, ``model.safetensors`` and a copy of ``model.py``) into another folder.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import shutil
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

HERE = Path(__file__).resolve().parent
MANIFEST = """name = "byo_resnet18"
title = "ResNet-18 from scratch (bring-your-own architecture example)"
authors = "robex example"
paper_url = "https://arxiv.org/abs/1512.03385"
license = "MIT"
track = "{track}"
description = "A ResNet-18 (CIFAR stem) defined in model.py (not a registered architecture), exported by the build."
{payload}
[checkpoint]
module = "model.py"
factory = "build_model"
file = "model.safetensors"
sha256 = "{sha}"
"""


# Files besides the module and weights in the folder must be declared (and are capped).
PAYLOAD = 'payload = ["make_entry.py"]  # files besides the module and weights must be declared (capped)\n'


def main(argv: list[str] | None = None) -> None:
    """Write the entry for ``--track`` (see the module docstring)."""
    from bench.track import TRACKS, load_track

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--weights", type=Path, default=None, help="safetensors state dict of the network")
    parser.add_argument("--track", default="cifar10", choices=TRACKS.names(), help="track submitted to")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=HERE, help="entry folder to write (default: this example's)")
    args = parser.parse_args(argv)
    sys.dont_write_bytecode = True  # no __pycache__ in the entry folder: it holds declared files only
    spec = importlib.util.spec_from_file_location("byo_model", HERE / "model.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(args.seed)
    model = module.build_model(load_track(args.track))  # what the build calls: the track's channels and classes
    if args.weights is not None:
        model.load_state_dict(load_file(str(args.weights)), strict=True)
    folder = args.out.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    if folder != HERE:
        shutil.copyfile(HERE / "model.py", folder / "model.py")
    out = folder / "model.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out))
    sha = hashlib.sha256(out.read_bytes()).hexdigest()
    payload = PAYLOAD if (folder / "make_entry.py").is_file() else ""
    (folder / "entry.toml").write_text(MANIFEST.format(track=args.track, sha=sha, payload=payload))
    sys.stdout.write(f"wrote {out} (sha256 {sha}) and {folder / 'entry.toml'} for track {args.track}\n")


if __name__ == "__main__":
    main()
