"""Mechanism checks: each defense does what its paper says it does, on mnist5k (a small-scale
check of each paper's mechanism). Every model is trained once per session, deterministically.

* The adversarial-training defenses — pgd_at and trades (PGD accuracy, and no collapse to chance) and
  interpretability_aware (CAM discrepancy) — train exactly their mnist5k leaderboard recipe (the track budget
  capped by their own ``epochs``): a recipe that collapses fails here, not silently on the leaderboard.
* input_gradient (at its sweep-chosen coefficient) trains 5 epochs and is compared with a 5-epoch
  ``standard`` (half its 10-epoch recipe, to keep the suite's time; the recipe's own figures are in the
  report: clean 0.922 vs 0.938).
* The other regularisers (activation change, ARA, the distillation flag) and the references of the
  adversarial ones train 3 epochs, compared with a 3-epoch ``standard`` (the references train without the
  leaderboard standard's augmentation, like the defenses).

A wrong objective fails these: a doubleback that does not penalise the input gradient leaves its norm
where standard's is; adversarial training that collapses fails the clean-accuracy floor; a CAM penalty that
does not act leaves the discrepancy where standard's is; and so on. The figures are logged
(``pytest -o log_cli=true -o log_cli_level=INFO tests/integration/test_mechanisms.py``).
"""

from __future__ import annotations

import logging

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bench.data import TrackData
from bench.plugins import ATTACKS
from bench.protocols import evaluation_mode
from bench.running.adversarial import pgd
from bench.running.checks import large_eps_accuracy, transfer_beats_whitebox
from bench.track import Track
from bench.types import Norm, ThreatModel
from defenses.activation_sensitivity import mean_activation_change
from defenses.interpretability_aware import FlatCam, cam_discrepancy_train
from tests.conftest import train_defense

log = logging.getLogger(__name__)
pytestmark = pytest.mark.slow

SHORT = 3  # the standard_model fixture's budget
N_ATTACK = 200  # eval images attacked per model


def _accuracy(model: nn.Module, x: Tensor, y: Tensor) -> float:
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def _ce_grad(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    xg = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(F.cross_entropy(model(xg), y, reduction="sum"), xg)
    return g.detach()


def _pgd_robust(model: nn.Module, track: Track, x: Tensor, y: Tensor, threat: ThreatModel | None = None) -> Tensor:
    """0/1 robustness under the track's PGD setting (40 × 0.01, random start)."""
    attack = ATTACKS.create("pgd", threat or track.threat, steps=40, step_size=0.01, random_start=True)
    return ~attack.perturb(model, x, y, generator=torch.Generator().manual_seed(0)).success


@pytest.fixture(scope="session")
def trained(track: Track, data: TrackData) -> dict[str, nn.Module]:
    """Every mechanism model, trained once (deterministic): ``<name>`` are the mnist5k recipes, ``<name>@k``
    k-epoch versions."""
    # The references train through the same pipeline as the defenses: no augmentation (mnist5k's leaderboard
    # `standard` adds ±2-pixel translations, which would confound a mechanism with the data it saw).
    models = {"standard@3": train_defense(track, data, "standard", epochs=SHORT, augment="none")}
    for name in ("pgd_at", "trades", "interpretability_aware"):
        models[name] = train_defense(track, data, name, epochs=track.training.epochs)
    models["standard@5"] = train_defense(track, data, "standard", epochs=5, augment="none")
    models["input_gradient@5"] = train_defense(track, data, "input_gradient", epochs=5)
    for name in ("activation_sensitivity", "lipschitz", "distillation"):
        models[f"{name}@3"] = train_defense(track, data, name, epochs=SHORT)
    return models


# ------------------------------------------------------------------------------ Ross & Doshi-Velez
def test_input_gradient_regularisation(trained: dict[str, nn.Module], data: TrackData) -> None:
    std, ig = trained["standard@5"], trained["input_gradient@5"]
    x, y = data.eval_x, data.eval_y
    acc_std, acc_ig = _accuracy(std, x, y), _accuracy(ig, x, y)
    with torch.no_grad():
        both = (std(x).argmax(1) == y) & (ig(x).argmax(1) == y)
    norm_std = float(_ce_grad(std, x[both], y[both]).flatten(1).norm(dim=1).mean())
    norm_ig = float(_ce_grad(ig, x[both], y[both]).flatten(1).norm(dim=1).mean())
    sign = _ce_grad(std, x, y).sign()  # FGSM crafted on standard, transferred to both
    transfer = {
        eps: (_accuracy(std, (x + eps * sign).clamp(0, 1), y), _accuracy(ig, (x + eps * sign).clamp(0, 1), y))
        for eps in (0.1, 0.2)
    }
    log.info(
        "input_gradient: clean %.3f vs standard %.3f; mean ||grad CE|| %.4f vs %.4f; FGSM from standard %s",
        acc_ig,
        acc_std,
        norm_ig,
        norm_std,
        {e: f"{b:.3f} vs {a:.3f}" for e, (a, b) in transfer.items()},
    )
    assert acc_ig >= acc_std - 0.02, "clean accuracy must stay within 2 points of standard"
    # 0.89× on mnist5k 3.0's linear-head network at the coefficient chosen on the GAP network (0.6× there); the
    # transfer margin below is the paper's claim and stays wide (+39 points at ε = 0.1)
    assert norm_ig < 0.95 * norm_std, "the input-gradient norm on correctly classified images must drop"
    for eps, (a_std, a_ig) in transfer.items():
        assert a_ig >= a_std + 0.10, f"FGSM transferred from standard at ε={eps}: needs ≥ 10 points over standard"


# ------------------------------------------------------------------------------ Madry / Zhang
@pytest.mark.parametrize("name", ["pgd_at", "trades"])
def test_adversarial_training_raises_pgd_accuracy(
    name: str, trained: dict[str, nn.Module], track: Track, data: TrackData
) -> None:
    x, y = data.eval_batch(N_ATTACK)
    model, std = trained[name], trained["standard@3"]
    clean = _accuracy(model, data.eval_x, data.eval_y)
    robust, robust_std = (
        float(_pgd_robust(model, track, x, y).float().mean()),
        float(_pgd_robust(std, track, x, y).float().mean()),
    )
    log.info("%s: clean %.3f, PGD-40 at ε=%.2f %.3f (standard %.3f)", name, clean, track.threat.eps, robust, robust_std)
    # a collapse to chance (the known failure of full-ε PGD training of small MNIST nets) is a failed baseline
    assert clean >= 0.6, f"{name} collapsed: clean accuracy {clean:.3f}"
    assert robust >= robust_std + 0.15, f"{name}: PGD accuracy {robust:.3f} not well above standard's {robust_std:.3f}"


# ------------------------------------------------------------------------------ Boopathy
def cam_discrepancy_under_attack(model: nn.Module, track: Track, x: Tensor, y: Tensor) -> tuple[float, float]:
    """Boopathy et al.'s interpretation attack at the track's ε — 20 PGD steps (uniform random start, last
    iterate, fixed budget) maximising D_train(x, x′) — and the resulting discrepancy relative to the size of
    the true-class map, mean_n D_train/‖I_y(x)‖₁ (scale-free: shrinking every CAM does not lower it). Also the
    top-8 overlap of I_y(x) and I_y(x′) (Boopathy's top-k robustness of interpretation)."""
    with torch.no_grad():
        cam_nat = model.cam(x)  # type: ignore[operator]
    shape = cam_nat.shape[1:]

    def objective(out: Tensor, labels: Tensor) -> Tensor:
        cam = out.view(-1, *shape)
        return cam_discrepancy_train(cam, cam_nat, cam.mean(dim=(2, 3)), labels)

    eps = track.threat.eps
    with evaluation_mode(model):
        x_adv = pgd(
            FlatCam(model),
            x,
            y,
            track.threat,
            steps=20,
            step_size=2.5 * eps / 20,
            random_init=True,
            generator=torch.Generator().manual_seed(1),
            objective=objective,
        )
        with torch.no_grad():
            cam_adv = model.cam(x_adv)  # type: ignore[operator]
            logits_adv = model(x_adv)
    idx = y.view(-1, 1, 1, 1).expand(-1, 1, *shape[1:])
    true_nat, true_adv = cam_nat.gather(1, idx).flatten(1), cam_adv.gather(1, idx).flatten(1)
    relative = cam_discrepancy_train(cam_adv, cam_nat, logits_adv, y) / true_nat.abs().sum(1).clamp_min(1e-12)
    k = 8
    top_nat, top_adv = true_nat.topk(k, dim=1).indices, true_adv.topk(k, dim=1).indices
    overlap = (top_nat[:, :, None] == top_adv[:, None, :]).any(2).float().mean(1)
    return float(relative.mean()), float(overlap.mean())


def test_interpretability_aware_lowers_cam_discrepancy(
    trained: dict[str, nn.Module], track: Track, data: TrackData
) -> None:
    x, y = data.eval_batch(N_ATTACK)
    d_int, top_int = cam_discrepancy_under_attack(trained["interpretability_aware"], track, x, y)
    d_std, top_std = cam_discrepancy_under_attack(trained["standard@3"], track, x, y)
    clean = _accuracy(trained["interpretability_aware"], data.eval_x, data.eval_y)
    log.info(
        "interpretability_aware: relative D_train under the interpretation attack %.3f vs standard %.3f; "
        "top-8 CAM overlap %.3f vs %.3f (clean %.3f)",
        d_int,
        d_std,
        top_int,
        top_std,
        clean,
    )
    assert clean >= 0.6
    # On mnist5k 3.0's linear head the relative discrepancy drops ~10% (2.26 vs 2.52) and the top-8 CAM overlap
    # under the attack rises from 0.35 to 0.53 (Boopathy et al.'s stability claim); a penalty that does not act
    # leaves both where standard's are
    assert d_int < 0.95 * d_std
    assert top_int >= top_std + 0.1


# ------------------------------------------------------------------------------ Woods
def test_lipschitz_raises_ara(trained: dict[str, nn.Module], data: TrackData, track: Track) -> None:
    from attacks.radii import minimal_radii
    from bench.scores.ara import ara_exact

    x, y = data.eval_batch(100)
    aras = {}
    for key in ("lipschitz@3", "standard@3"):
        radii = minimal_radii(
            trained[key],
            x,
            y,
            criterion="misclassify",
            generator=torch.Generator().manual_seed(0),
            steps=100,
            use_fab=False,
            momentum=0.0,
        )
        r = radii.radius.clamp(max=1.0)  # an image no search broke counts at the cap (none expected here)
        aras[key] = ara_exact(r, track.num_classes)
    log.info(
        "lipschitz: attack ARA %.4f vs standard %.4f (3 epochs; 100 images, L2,min 100 steps)",
        aras["lipschitz@3"],
        aras["standard@3"],
    )
    assert aras["lipschitz@3"] > 1.2 * aras["standard@3"]


# ------------------------------------------------------------------------------ activation sensitivity
def test_activation_sensitivity_lowers_activation_change(trained: dict[str, nn.Module], data: TrackData) -> None:
    x = data.eval_x[:500]
    delta = (torch.rand(x.shape, generator=torch.Generator().manual_seed(2)) * 2 - 1) * 0.1
    reg = mean_activation_change(trained["activation_sensitivity@3"], x, delta)
    std = mean_activation_change(trained["standard@3"], x, delta)
    clean = (
        _accuracy(trained["activation_sensitivity@3"], data.eval_x, data.eval_y),
        _accuracy(trained["standard@3"], data.eval_x, data.eval_y),
    )
    log.info("activation_sensitivity: mean |Δa| %.4f vs standard %.4f; clean %.3f vs %.3f", reg, std, *clean)
    assert clean[0] >= clean[1] - 0.02
    assert reg < 0.75 * std


# ------------------------------------------------------------------------------ Papernot
def test_distillation_is_flagged_as_gradient_masking(
    trained: dict[str, nn.Module], data: TrackData, track: Track
) -> None:
    x, y = data.eval_batch(N_ATTACK)
    big = ThreatModel(Norm.LINF, 1.0, "linf:1")
    attack = ATTACKS.create("pgd", big, steps=20, step_size=0.1, random_start=False)  # the sanity stage's check
    acc = {
        k: float((~attack.perturb(trained[k], x, y, generator=torch.Generator()).success).float().mean())
        for k in ("distillation@3", "standard@3")
    }
    flag = large_eps_accuracy(acc["distillation@3"], 1.0, max_accuracy=0.05, n=len(y))
    log.info(
        "distillation: PGD accuracy at ε=1 %.3f (standard %.3f); flag: %s",
        acc["distillation@3"],
        acc["standard@3"],
        flag,
    )
    assert flag is not None, "distillation must raise the large-ε sanity flag"
    assert large_eps_accuracy(acc["standard@3"], 1.0, max_accuracy=0.05, n=len(y)) is None
    # the symptom behind it: cross-entropy input gradients vanish, and FGSM transferred from standard beats
    # white-box FGSM on the distilled model
    dist, std = trained["distillation@3"], trained["standard@3"]
    zero = float((_ce_grad(dist, x, y).flatten(1).abs().sum(1) == 0).float().mean())
    fgsm = ATTACKS.create("fgsm", track.threat)
    gen = torch.Generator()
    white = ~fgsm.perturb(dist, x, y, generator=gen).success
    crafted = fgsm(std, x, y, generator=gen)
    with torch.no_grad():
        transfer = dist(crafted).argmax(1) == y
    log.info(
        "distillation: zero CE gradients %.3f; FGSM white-box %.3f vs transfer %.3f",
        zero,
        float(white.float().mean()),
        float(transfer.float().mean()),
    )
    assert transfer_beats_whitebox(white, transfer, whitebox="fgsm", transfer="fgsm from standard") is not None
