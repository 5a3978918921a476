"""Adebayo et al.'s model-randomisation sanity check: the similarities against references, the seeded cascading
randomisation, and the ``randomization`` stage's record, flag and scores."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch
from quantus.functions.similarity_func import correlation_spearman
from skimage.metrics import structural_similarity
from torch import Tensor, nn

from bench.data import TrackData
from bench.plugins import SCORES
from bench.results.flags import Check
from bench.scores import randomization as r
from bench.stages.randomization import RandomizationStage
from bench.track import Track
from bench.types import Severity
from tests.stage_context import StageContext

pytestmark = pytest.mark.usefixtures("one_thread")


# ----------------------------------------------------------------------------------------------- similarities
def test_rank_similarity_is_quantus_spearman_of_absolute_maps() -> None:
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(5, 1, 6, 6, generator=g), torch.randn(5, 1, 6, 6, generator=g)
    b[0] = a[0] * -3  # same |ranking|: ρ = 1
    b[1, 0, :3] = 0.0  # ties
    ours = r.rank_similarity(a, b).numpy()
    ref = correlation_spearman(a.abs().flatten(1).numpy(), b.abs().flatten(1).numpy(), batched=True)
    np.testing.assert_allclose(ours, ref, atol=1e-6)
    assert ours[0] == pytest.approx(1.0)


def test_rank_similarity_conventions_for_constant_maps() -> None:
    varying = torch.arange(4.0).view(1, 1, 2, 2)
    zero = torch.zeros(1, 1, 2, 2)
    assert r.rank_similarity(varying, zero).tolist() == [0.0]  # no monotone relation
    assert r.rank_similarity(zero, varying).tolist() == [0.0]
    assert r.rank_similarity(zero, zero + 7).tolist() == [1.0]  # both all ties: the same ranking


def test_ssim_is_scikit_image_with_wang_et_al_settings() -> None:
    g = torch.Generator().manual_seed(1)
    a, b = torch.rand(4, 2, 16, 16, generator=g), torch.rand(4, 2, 16, 16, generator=g)
    b[0] = a[0]
    ours = r.ssim(a, b).numpy()
    ref = []
    for i in range(4):
        u, v = a[i].abs().sum(0).double().numpy(), b[i].abs().sum(0).double().numpy()
        u, v = u / u.max(), v / v.max()
        ref.append(
            structural_similarity(u, v, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1)
        )
    np.testing.assert_allclose(ours, ref, atol=1e-6)
    assert ours[0] == pytest.approx(1.0)


def test_ssim_hand_computed_constant_maps() -> None:
    """A map of ones against a zero map: μ_u = 1, μ_v = 0, no variance, so SSIM = C₁C₂ / ((1 + C₁)C₂) = C₁/(1 + C₁)."""
    ones, zeros = torch.ones(1, 1, 12, 12), torch.zeros(1, 1, 12, 12)
    c1 = 0.01**2
    assert r.ssim(ones, zeros).item() == pytest.approx(c1 / (1 + c1), rel=1e-6)
    assert r.ssim(zeros, zeros).item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at least 11"):
        r.ssim(torch.ones(1, 1, 7, 7), torch.ones(1, 1, 7, 7))


# ----------------------------------------------------------------------------------------------- randomisation
class HeadFirst(nn.Module):
    """Registers its head before its body, so that registration order is not the forward order."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(16, 3)
        self.unused = nn.Linear(2, 2)
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(16, 16), nn.ReLU())

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(x))


class Custom(nn.Module):
    """A layer with a parameter and no ``reset_parameters``."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.full((16,), 2.0) + torch.arange(16.0) / 8)

    def forward(self, x: Tensor) -> Tensor:
        return x.flatten(1) * self.scale


def test_layers_follow_the_forward_pass_and_unused_ones_come_last() -> None:
    names = [n for n, _ in r.parametrised_layers(HeadFirst(), torch.rand(1, 1, 4, 4))]
    assert names == ["body.1", "head", "unused"]


def test_randomize_layer_is_seeded_and_leaves_the_global_rng_alone() -> None:
    def randomized(seed: int) -> Tensor:
        torch.manual_seed(123)
        layer = nn.Linear(16, 16)
        state = torch.random.get_rng_state()
        r.randomize_layer(layer, torch.Generator().manual_seed(seed))
        assert torch.equal(torch.random.get_rng_state(), state), "the global RNG must not move"
        return layer.weight.detach().clone()

    assert torch.equal(randomized(0), randomized(0))
    assert not torch.equal(randomized(0), randomized(1))
    torch.manual_seed(123)
    assert not torch.equal(randomized(0), nn.Linear(16, 16).weight)


def test_a_layer_without_reset_parameters_gets_noise_of_its_spread() -> None:
    layer = Custom()
    before = layer.scale.detach().clone()
    r.randomize_layer(layer, torch.Generator().manual_seed(0))
    after = layer.scale.detach()
    spread = float(before.std())  # 0.60 around a mean of 2.94
    assert abs(float(after.mean())) < 4 * spread / math.sqrt(16)  # N(0, s²): centred at 0
    assert 0.5 * spread < float(after.std()) < 1.5 * spread


def test_cascading_randomization_goes_from_the_top_down() -> None:
    torch.manual_seed(0)
    bottom, top = nn.Linear(16, 8), nn.Linear(8, 3)
    model = nn.Sequential(nn.Flatten(), bottom, nn.ReLU(), top)
    w_bottom, w_top = bottom.weight.detach().clone(), top.weight.detach().clone()
    steps = r.cascading_randomization(model, torch.rand(1, 1, 4, 4), torch.Generator().manual_seed(0))
    name, m = next(steps)
    assert name == "3" and m is model
    assert not torch.equal(top.weight, w_top) and torch.equal(bottom.weight, w_bottom)
    name, _ = next(steps)
    assert name == "1" and not torch.equal(bottom.weight, w_bottom)
    assert next(steps, None) is None


# ----------------------------------------------------------------------------------------------- the stage
def test_flags_name_the_explainers_above_the_threshold() -> None:
    ones, low = torch.full((4,), 0.95), torch.full((4,), 0.1)
    flags = RandomizationStage._flags({"a": (ones, ones), "b": (low, low)}, 0.5)
    assert [f.name for f in flags] == [Check.IGNORES_WEIGHTS.value]
    assert flags[0].severity is Severity.INFO
    assert flags[0].evidence == pytest.approx({"a": 0.95}) and "a ρ = 0.95" in flags[0].message
    assert RandomizationStage._flags({"b": (low, low)}, 0.5) == ()


def test_settings_default_to_the_explain_stages(track: Track) -> None:
    """The check is of the maps the explanation scores are computed from: the explain table's explainers, primary
    and per-explainer options (quick ones in quick mode), unless the randomization table names its own."""
    stage = RandomizationStage()
    full, quick = stage.settings(track, False), stage.settings(track, True)
    assert full["explainers"] == list(track.explainers) and full["primary"] == "saliency"
    assert (
        full["options"]["smoothgrad"] == {"samples": 16, "sigma": 0.15}
        and quick["options"]["smoothgrad"]["samples"] == 4
    )
    assert (full["n"], full["cascade"], quick["n"], quick["cascade"]) == (100, True, 16, False)
    own = dataclasses.replace(
        track, stages={**track.stages, "randomization": {"explainers": ["gradcam", "smoothgrad"]}}
    )
    resolved = stage.settings(own, False)
    assert resolved["primary"] == "gradcam" and set(resolved["options"]) == {"smoothgrad"}


@pytest.fixture(scope="module")
def stage_run(track: Track, data: TrackData, standard_model: nn.Module) -> tuple[StageContext, object]:
    ctx = StageContext("randomization", track, data, standard_model, quick=True, cascade=True)
    return ctx, ctx.stage.run(ctx)


def test_stage_record(track: Track, stage_run: tuple[StageContext, object]) -> None:
    ctx, out = stage_run
    d = out.details  # type: ignore[attr-defined]
    json.dumps(d, allow_nan=False)
    n = ctx.settings["n"]
    assert d["images"] == n and d["layers_top_down"] == ["classifier", "features.4", "features.2", "features.0"]
    assert [row["explainer"] for row in d["table"]] == list(track.explainers)
    assert set(d["per_image"]) == set(track.explainers)
    assert all(len(v["spearman"]) == len(v["ssim"]) == n for v in d["per_image"].values())
    by_name = {s.name: s for s in out.scores}  # type: ignore[attr-defined]
    assert set(by_name) == {"randomization_spearman", "randomization_ssim"} <= set(SCORES.names())
    # the record's per-image lists of the primary average to the scores exactly (robex compare pairs them)
    assert by_name["randomization_spearman"].value == pytest.approx(float(np.mean(d["spearman"])), abs=1e-12)
    assert by_name["randomization_ssim"].value == pytest.approx(float(np.mean(d["ssim"])), abs=1e-12)
    assert d["spearman"] == d["per_image"]["saliency"]["spearman"] and by_name["randomization_spearman"].n == n
    curve = d["curves"]["cascade_saliency"]
    assert curve["x"] == [1, 2, 3, 4] and curve["y"][-1] == pytest.approx(by_name["randomization_spearman"].value, 1e-5)
    assert ctx.progressed[-1] == (4, 4)


def test_the_stage_passes_saliency_and_flags_input_dominated_maps(stage_run: tuple[StageContext, object]) -> None:
    """Measured on mnist5k: gradient maps change once the weights are random (saliency ρ ≈ 0.2, SSIM ≈ 0.03), maps
    multiplied by the input do not (input × gradient, integrated gradients ρ ≈ 0.99: MNIST's black background zeroes
    the same pixels whatever the weights) — Adebayo et al.'s finding for gradient ⊙ input."""
    _, out = stage_run
    table = {row["explainer"]: row for row in out.details["table"]}  # type: ignore[attr-defined]
    assert table["saliency"]["spearman"] < 0.4 and table["saliency"]["passes"] == "yes"
    assert table["gradcam"]["spearman"] < 0.3 and table["cam"]["spearman"] < 0.3
    assert table["input_x_gradient"]["spearman"] > 0.9 and table["input_x_gradient"]["passes"] == "no"
    (flag,) = out.flags  # type: ignore[attr-defined]
    assert set(flag.evidence) == {"input_x_gradient", "integrated_gradients"}


def test_stage_is_deterministic_and_full_randomisation_ends_the_cascade(
    track: Track, data: TrackData, standard_model: nn.Module, stage_run: tuple[StageContext, object]
) -> None:
    _, cascaded = stage_run
    ctx = StageContext("randomization", track, data, standard_model, quick=True, cascade=False)
    once = ctx.stage.run(ctx)
    assert once.details["per_image"] == cascaded.details["per_image"]  # type: ignore[attr-defined]
    assert "curves" not in once.details and "spearman after classifier" not in once.details["table"][0]
