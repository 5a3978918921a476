"""Graph artifacts: exported and run by robex's interpreter with the eager outputs, gradients and PGD numbers,
never unpickled, allowlisted ATen operators only."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import pickle
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

from bench.artifact import (
    ArtifactError,
    ExportedModel,
    artifact_sha256,
    check_graph,
    export_graph,
    load_graph,
)
from bench.models import ARCHITECTURES, build_architecture
from bench.track import Track, load_track

ROOT = Path(__file__).resolve().parents[2]


class Residual(nn.Module):
    """Batch norm, a residual connection, a non-persistent buffer and dropout: what export must freeze."""

    scale: Tensor

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("scale", torch.tensor([2.0]), persistent=False)
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(4, 10)

    def forward(self, x: Tensor) -> Tensor:
        h = torch.relu(self.bn(self.conv(x * self.scale))) + x
        return self.fc(self.drop(h.mean(dim=(2, 3))))


@pytest.fixture(scope="module")
def model() -> nn.Module:
    torch.manual_seed(0)
    m = Residual()
    assert m.bn.running_mean is not None and m.bn.running_var is not None
    m.bn.running_mean.uniform_(-0.5, 0.5)  # non-trivial statistics, so eval-mode batch norm matters
    m.bn.running_var.uniform_(0.5, 2.0)
    return m.eval()


@pytest.fixture(scope="module")
def exported(model: nn.Module) -> tuple[bytes, dict[str, Tensor]]:
    return export_graph(model, torch.rand(2, 1, 8, 8))


@pytest.mark.parametrize("batch", [1, 3, 17])
def test_the_loaded_graph_computes_the_same_logits_and_input_gradients(
    model: nn.Module, exported: tuple[bytes, dict[str, Tensor]], batch: int
) -> None:
    graph, tensors = exported
    loaded = load_graph(graph, tensors, "test")
    x = torch.rand(batch, 1, 8, 8, generator=torch.Generator().manual_seed(batch))
    xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    out_a, out_b = model(xa), loaded(xb)
    torch.testing.assert_close(out_b, out_a, rtol=0, atol=1e-6)
    out_a[:, 3].sum().backward()
    out_b[:, 3].sum().backward()
    assert xa.grad is not None and xb.grad is not None
    torch.testing.assert_close(xb.grad, xa.grad, rtol=0, atol=1e-6)


def test_train_mode_does_not_change_the_frozen_graph(exported: tuple[bytes, dict[str, Tensor]]) -> None:
    graph, tensors = exported
    loaded = load_graph(graph, tensors, "test")
    x = torch.rand(4, 1, 8, 8)
    before = loaded(x)
    assert isinstance(loaded.train(), ExportedModel) and loaded.training
    torch.testing.assert_close(loaded(x), before, rtol=0, atol=0)  # no dropout, running statistics kept


def test_loading_never_unpickles(monkeypatch: pytest.MonkeyPatch, exported: tuple[bytes, dict[str, Tensor]]) -> None:
    from safetensors.torch import load, save

    graph, tensors = exported
    weights = save(tensors)  # the artifact as it lies on disk: JSON + safetensors

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("something unpickled while loading a graph artifact")

    class NoUnpickler:
        def __init__(self, *args: object, **kwargs: object) -> None:
            refuse()

    monkeypatch.setattr(pickle, "Unpickler", NoUnpickler)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    loaded = load_graph(graph, load(weights), "test")
    assert loaded(torch.rand(2, 1, 8, 8)).shape == (2, 10)


def _retarget(graph: bytes, target: str) -> bytes:
    parsed = json.loads(graph)
    parsed["nodes"][0]["op"] = target
    return json.dumps(parsed).encode()


@pytest.mark.parametrize(
    "target", ["builtins.eval", "os.system", "torch.ops.my_namespace.evil.default", "torch.ops.higher_order.cond"]
)
def test_a_graph_calling_anything_but_aten_is_refused(exported: tuple[bytes, dict[str, Tensor]], target: str) -> None:
    graph, tensors = exported
    with pytest.raises(ArtifactError, match="not an ATen operator") as info:
        load_graph(_retarget(graph, target), tensors, "evil.json")
    assert target in str(info.value)


@pytest.mark.parametrize(
    ("data", "message"),
    [(b"\x80\x04K\x01.", "not a JSON robex graph"), (b"{}", "'format' is not"), (b"[1]", "not an object")],
    ids=["pickle", "empty-object", "list"],
)
def test_malformed_graph_files_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(ArtifactError, match=message):
        check_graph(data, "g.json")


def test_stray_tensors_are_refused(exported: tuple[bytes, dict[str, Tensor]]) -> None:
    graph, tensors = exported
    with pytest.raises(ArtifactError, match="tensors the graph does not declare"):
        load_graph(graph, {**tensors, "extra": torch.zeros(1)}, "test")


def test_export_refuses_models_torch_export_cannot_trace() -> None:
    class DataDependent(nn.Module):
        def forward(self, x: Tensor) -> Tensor:
            if x.sum() > 0:  # data-dependent Python control flow
                return x.flatten(1)
            return -x.flatten(1)

    with pytest.raises(ArtifactError, match=r"torch\.export could not trace"):
        export_graph(DataDependent(), torch.rand(2, 1, 2, 2))


def test_the_artifact_sha256_depends_on_both_files() -> None:
    a = artifact_sha256("1" * 64, "2" * 64)
    assert a != artifact_sha256("1" * 64, "3" * 64) != artifact_sha256("4" * 64, "2" * 64)
    assert artifact_sha256("A" * 64) == "a" * 64  # weights-only: the weights' own sha256
    assert a == hashlib.sha256(f"robex-artifact-v1:{'1' * 64}:{'2' * 64}".encode()).hexdigest()


# ------------------------------------------------------------------ the project's architectures, exported and run
def _with_statistics(model: nn.Module) -> nn.Module:
    """Non-trivial batch-norm running statistics (seeded), so evaluation-mode batch norm matters."""
    g = torch.Generator().manual_seed(3)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            assert m.running_mean is not None and m.running_var is not None
            m.running_mean.copy_(torch.rand(m.running_mean.shape, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
    return model.eval()


def _byo_resnet18(track: Track) -> nn.Module:
    spec = importlib.util.spec_from_file_location("byo_model", ROOT / "examples" / "byo_resnet18" / "model.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_model(track)  # type: ignore[no-any-return]


def _registered(name: str, **kwargs: object) -> Callable[[Track], nn.Module]:
    return lambda track: build_architecture(name, track, **kwargs)


MODELS: dict[str, tuple[str, Callable[[Track], nn.Module]]] = {
    **{
        f"{name}-{track}": (track, _registered(name))
        for name in ARCHITECTURES.names()
        for track in ("mnist5k", "cifar10")
    },
    "small_cnn-half_huber-mnist5k": ("mnist5k", _registered("small_cnn", activation="half_huber")),
    "byo_resnet18-cifar10": ("cifar10", _byo_resnet18),
}


@pytest.mark.parametrize("case", sorted(MODELS))
def test_every_architecture_exports_and_runs_with_the_eager_clean_and_pgd_numbers(case: str) -> None:
    """Exported with export_graph, loaded by robex's interpreter: identical logits, input gradients and PGD."""
    from attacks.pgd import PGD

    track_name, build = MODELS[case]
    track = load_track(track_name)
    torch.manual_seed(0)
    eager = _with_statistics(build(track))
    x = torch.rand(6, *track.input_shape, generator=torch.Generator().manual_seed(1))
    graph, tensors = export_graph(eager, x[:2])
    loaded = load_graph(graph, tensors, case)
    assert {k for k, _ in loaded.named_buffers()} | {k for k, _ in loaded.named_parameters()} == {
        f"tensors.{k}" for k in tensors
    }
    with torch.no_grad():
        clean_eager, clean_loaded = eager(x), loaded(x)
    torch.testing.assert_close(clean_loaded, clean_eager, rtol=0, atol=1e-6)
    y = clean_eager.argmax(1)
    attack = PGD(track.threat, steps=5)
    adv_eager = attack.run(eager, x, y, generator=torch.Generator().manual_seed(2))
    adv_loaded = attack.run(loaded, x, y, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(adv_loaded, adv_eager, rtol=0, atol=1e-6)
    assert not torch.equal(adv_eager, x)  # the attack moved the images: gradients flowed
    with torch.no_grad():
        assert torch.equal(loaded(adv_loaded).argmax(1) == y, eager(adv_eager).argmax(1) == y)
