"""Adversarial-training recipe sweep on the MNIST tracks: architecture × objective × budget → AutoAttack accuracy.

The ablation behind the baselines' recipes: each configuration trains one model with plain PyTorch (the same
objectives as ``defenses/``: PGD-AT with a random start and step 2.5·ε/k, TRADES' KL ascent, FGSM with a random
start; Adam, cosine learning-rate decay, a linear ε ramp over the first 30% of steps) and evaluates it with
pyautoattack (AutoAttack, standard version) on the first ``--n-eval`` images of the track's evaluation subset.
Configurations run in parallel worker processes, one per configuration (on a GPU, start CUDA MPS first so they
share it concurrently). Each finished configuration appends one JSON line to ``--out``;
``scripts/recipe_sweep_results.jsonl`` holds the measured rows.

    python scripts/recipe_sweep.py --data-root DATA --out results.jsonl --device cuda [--only NAME ...]
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.models import ARCHITECTURES, NORMALISATION, MnistCNN

ARCHITECTURES.add(
    "mnist_cnn_16",
    lambda track, activation="relu": MnistCNN(widths=(16, 32), mean=NORMALISATION[1][0], std=NORMALISATION[1][1]),
)

EPS = {"mnist": 0.3, "mnist5k": 0.3, "fashion-mnist": 0.1}

# name: (track, architecture, objective, epochs, extra hyperparameters)
CONFIGS: dict[str, dict[str, Any]] = {
    "mnist/small/pgd10/15": {"track": "mnist", "arch": "small_cnn", "obj": "pgd", "epochs": 15},
    "mnist/gap/pgd10/15": {"track": "mnist", "arch": "mnist_cnn_gap", "obj": "pgd", "epochs": 15},
    "mnist/fc/pgd10/15": {"track": "mnist", "arch": "mnist_cnn", "obj": "pgd", "epochs": 15},
    "mnist/fc/trades/15": {"track": "mnist", "arch": "mnist_cnn", "obj": "trades", "epochs": 15},
    "mnist/gap/trades/15": {"track": "mnist", "arch": "mnist_cnn_gap", "obj": "trades", "epochs": 15},
    "mnist/fc/fgsmrs/15": {"track": "mnist", "arch": "mnist_cnn", "obj": "fgsm_rs", "epochs": 15},
    "mnist/fc/standard/5": {"track": "mnist", "arch": "mnist_cnn", "obj": "standard", "epochs": 5},
    "fmnist/fc/pgd10/15": {"track": "fashion-mnist", "arch": "mnist_cnn", "obj": "pgd", "epochs": 15},
    "fmnist/fc/standard/5": {"track": "fashion-mnist", "arch": "mnist_cnn", "obj": "standard", "epochs": 5},
    "m5k/fc/standard/20": {"track": "mnist5k", "arch": "mnist_cnn", "obj": "standard", "epochs": 20},
    "m5k/gap/standard/20": {"track": "mnist5k", "arch": "mnist_cnn_gap", "obj": "standard", "epochs": 20},
    "m5k/small/pgd10/40": {"track": "mnist5k", "arch": "small_cnn", "obj": "pgd", "epochs": 40},
    "m5k/fc/pgd10/10": {"track": "mnist5k", "arch": "mnist_cnn", "obj": "pgd", "epochs": 10},
    "m5k/fc/pgd10/20": {"track": "mnist5k", "arch": "mnist_cnn", "obj": "pgd", "epochs": 20},
    "m5k/fc/pgd10/40": {"track": "mnist5k", "arch": "mnist_cnn", "obj": "pgd", "epochs": 40},
    "m5k/fc/pgd10/80": {"track": "mnist5k", "arch": "mnist_cnn", "obj": "pgd", "epochs": 80},
    "m5k/gap/pgd10/40": {"track": "mnist5k", "arch": "mnist_cnn_gap", "obj": "pgd", "epochs": 40},
    "m5k/fc/trades/40": {"track": "mnist5k", "arch": "mnist_cnn", "obj": "trades", "epochs": 40},
    "m5k/fc/fgsmrs/40": {"track": "mnist5k", "arch": "mnist_cnn", "obj": "fgsm_rs", "epochs": 40},
    "m5k/fc/pgd5/40": {"track": "mnist5k", "arch": "mnist_cnn", "obj": "pgd", "epochs": 40, "steps": 5},
    "m5k/fc16/pgd10/40": {"track": "mnist5k", "arch": "mnist_cnn_16", "obj": "pgd", "epochs": 40},
    "m5k/fc16/pgd5/20": {"track": "mnist5k", "arch": "mnist_cnn_16", "obj": "pgd", "epochs": 20, "steps": 5},
    "m5k/fc16/trades/40": {"track": "mnist5k", "arch": "mnist_cnn_16", "obj": "trades", "epochs": 40},
    "m5k/fc16/standard/20": {"track": "mnist5k", "arch": "mnist_cnn_16", "obj": "standard", "epochs": 20},
    "m5k/smalllin/pgd5/20": {"track": "mnist5k", "arch": "small_cnn_linear", "obj": "pgd", "epochs": 20, "steps": 5},
    "m5k/smalllin/standard/20": {"track": "mnist5k", "arch": "small_cnn_linear", "obj": "standard", "epochs": 20},
    "m5k/small/pgd10/20": {"track": "mnist5k", "arch": "small_cnn", "obj": "pgd", "epochs": 20},
    "m5k/small/pgd10/80": {"track": "mnist5k", "arch": "small_cnn", "obj": "pgd", "epochs": 80},
    "m5k/small/trades/40": {"track": "mnist5k", "arch": "small_cnn", "obj": "trades", "epochs": 40},
    "mnist/fc/pgd10/10": {"track": "mnist", "arch": "mnist_cnn", "obj": "pgd", "epochs": 10},
    "mnist/fc/trades/10": {"track": "mnist", "arch": "mnist_cnn", "obj": "trades", "epochs": 10},
    "mnist/small/pgd10/10": {"track": "mnist", "arch": "small_cnn", "obj": "pgd", "epochs": 10},
    "mnist/fc16/pgd10/15": {"track": "mnist", "arch": "mnist_cnn_16", "obj": "pgd", "epochs": 15},
}


def load(track_name: str, data_root: str | None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(train_x, train_y, eval_x, eval_y) of the track, eval in the track's published order."""
    from bench.data import load_track_data
    from bench.track import load_track

    data = load_track_data(load_track(track_name), data_root)
    return data.train_x, data.train_y, data.eval_x, data.eval_y


def pgd(model: nn.Module, x: Tensor, y: Tensor, eps: float, steps: int, gen: torch.Generator) -> Tensor:
    """ℓ∞ PGD with a uniform random start, step 2.5·ε/steps, final iterate (Madry et al. 2018)."""
    alpha = 2.5 * eps / steps
    delta = (torch.rand(x.shape, generator=gen, device=x.device) * 2 - 1) * eps
    xa = (x + delta).clamp(0, 1)
    for _ in range(steps):
        xa.requires_grad_(True)
        (g,) = torch.autograd.grad(F.cross_entropy(model(xa), y), xa)
        xa = torch.min(torch.max(xa.detach() + alpha * g.sign(), x - eps), x + eps).clamp(0, 1)
    return xa.detach()


def trades_adv(model: nn.Module, x: Tensor, eps: float, steps: int, gen: torch.Generator) -> Tensor:
    """TRADES' inner maximisation of KL(p(x) ‖ p(x′)) from x + 0.001·N(0, 1) (Zhang et al. 2019, code)."""
    alpha = 2.5 * eps / steps
    p = F.softmax(model(x), 1).detach()
    xa = (x + 0.001 * torch.randn(x.shape, generator=gen, device=x.device)).clamp(0, 1)
    for _ in range(steps):
        xa.requires_grad_(True)
        kl = F.kl_div(F.log_softmax(model(xa), 1), p, reduction="sum")
        (g,) = torch.autograd.grad(kl, xa)
        xa = torch.min(torch.max(xa.detach() + alpha * g.sign(), x - eps), x + eps).clamp(0, 1)
    return xa.detach()


def train(cfg: dict[str, Any], x: Tensor, y: Tensor, device: str, seed: int = 0) -> nn.Module:
    from bench.track import load_track

    track = load_track(cfg["track"])
    torch.manual_seed(seed)
    model = ARCHITECTURES.create(cfg["arch"], track).to(device)
    eps, steps, bs = EPS[cfg["track"]], int(cfg.get("steps", 10)), int(cfg.get("batch_size", 128))
    epochs = cfg["epochs"]
    n = len(y)
    total = epochs * (n // bs)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.get("lr", 1e-3))
    gen = torch.Generator(device=device).manual_seed(seed)
    cpu_gen = torch.Generator().manual_seed(seed)
    xs, ys = x.to(device), y.to(device)
    ramp = cfg.get("ramp", 0.3)
    step = 0
    for _epoch in range(epochs):
        order = torch.randperm(n, generator=cpu_gen).to(device)
        for start in range(0, n - bs + 1, bs):
            idx = order[start : start + bs]
            xb, yb = xs[idx], ys[idx]
            frac = step / total
            for g in opt.param_groups:  # cosine decay
                g["lr"] = cfg.get("lr", 1e-3) * 0.5 * (1 + math.cos(math.pi * frac))
            e = eps * min(1.0, frac / ramp) if ramp > 0 else eps
            model.eval()
            if cfg["obj"] == "pgd" and e > 0:
                xb_adv = pgd(model, xb, yb, e, steps, gen)
                model.train()
                loss = F.cross_entropy(model(xb_adv), yb)
            elif cfg["obj"] == "trades":
                xb_adv = trades_adv(model, xb, e, steps, gen) if e > 0 else xb
                model.train()
                logits = model(xb)
                beta = cfg.get("beta", 3.0)
                loss = F.cross_entropy(logits, yb) + beta * F.kl_div(
                    F.log_softmax(model(xb_adv), 1), F.softmax(logits, 1), reduction="batchmean"
                )
            elif cfg["obj"] == "fgsm_rs" and e > 0:
                d = (torch.rand(xb.shape, generator=gen, device=device) * 2 - 1) * e
                xa = (xb + d).clamp(0, 1).requires_grad_(True)
                (gr,) = torch.autograd.grad(F.cross_entropy(model(xa), yb), xa)
                xa = torch.min(torch.max(xa.detach() + 1.25 * e * gr.sign(), xb - e), xb + e).clamp(0, 1)
                model.train()
                loss = F.cross_entropy(model(xa), yb)
            else:
                model.train()
                loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
    model.eval()
    return model


def evaluate(model: nn.Module, x: Tensor, y: Tensor, eps: float, device: str, n: int) -> dict[str, float]:
    from pyautoattack import AutoAttack

    x, y = x[:n].to(device), y[:n].to(device)
    with torch.no_grad():
        clean = (model(x).argmax(1) == y).float().mean().item()
    aa = AutoAttack(model, norm="Linf", eps=eps, version="standard", seed=0, device=device)
    xa, _ = aa.run_standard_evaluation(x, y, batch_size=1000)
    with torch.no_grad():
        robust = (model(xa).argmax(1) == y).float().mean().item()
    return {"clean": clean, "autoattack": robust}


def worker(name: str, data_root: str | None, device: str, out: str, n_eval: int) -> None:
    torch.set_num_threads(1)
    cfg = CONFIGS[name]
    tx, ty, ex, ey = load(cfg["track"], data_root)
    t0 = time.perf_counter()
    model = train(cfg, tx, ty, device)
    t_train = time.perf_counter() - t0
    res = evaluate(model, ex, ey, EPS[cfg["track"]], device, n_eval)
    row = {
        "name": name,
        **cfg,
        **res,
        "train_s": round(t_train, 1),
        "eval_s": round(time.perf_counter() - t0 - t_train, 1),
    }
    with open(out, "a") as fh:
        fh.write(json.dumps(row) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root")
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--n-eval", type=int, default=1000)
    args = ap.parse_args()
    names = args.only or list(CONFIGS)
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=worker, args=(n, args.data_root, args.device, args.out, args.n_eval)) for n in names]
    for p in procs:
        p.start()
    for p in procs:
        p.join()


if __name__ == "__main__":
    main()
