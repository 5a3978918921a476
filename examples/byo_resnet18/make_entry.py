"""Write this example's ``model.safetensors`` and ``entry.toml`` from your trained ResNet-18.

    python examples/byo_resnet18/make_entry.py --weights my_resnet18_state_dict.safetensors
    robex submit examples/byo_resnet18 --track cifar10

``--weights`` is a safetensors file of ``ResNet18().state_dict()`` (convert a ``torch.save`` file once, on
your own machine, with ``safetensors.torch.save_file(torch.load(path, weights_only=True), out)``).
Without ``--weights`` the script writes a seeded, untrained network (useful to try the pipeline).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
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
description = "A CIFAR-10 ResNet-18 defined in model.py (not a registered architecture), exported by the build."
payload = ["make_entry.py"]  # files besides the module and weights in the folder must be declared (capped)

[checkpoint]
module = "model.py"
factory = "build_model"
file = "model.safetensors"
sha256 = "{sha}"
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=None, help="safetensors state dict of ResNet18")
    parser.add_argument("--track", default="cifar10")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    sys.dont_write_bytecode = True  # no __pycache__ in the entry folder: it holds declared files only
    spec = importlib.util.spec_from_file_location("byo_model", HERE / "model.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(args.seed)
    model = module.ResNet18()
    if args.weights is not None:
        model.load_state_dict(load_file(str(args.weights)), strict=True)
    out = HERE / "model.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out))
    sha = hashlib.sha256(out.read_bytes()).hexdigest()
    (HERE / "entry.toml").write_text(MANIFEST.format(track=args.track, sha=sha))
    sys.stdout.write(f"wrote {out} (sha256 {sha}) and {HERE / 'entry.toml'}\n")


if __name__ == "__main__":
    main()
