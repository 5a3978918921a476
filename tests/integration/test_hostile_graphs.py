"""Hostile graph artifacts, built here, in every process that loads one: the submit parent (admission), the scorer
(``robex run`` on the entry), ``robex verify`` (a forged record pointing at the artifact) and ``load_model``.

Each is refused, its payload never runs (its marker file never appears, the host file it targets is unchanged),
and every record and cell is byte-for-byte what it was.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import save
from torch import Tensor, nn

from bench.artifact import artifact_sha256, export_graph
from bench.checkpoint import CheckpointError
from bench.cli import main
from bench.frontends.api import load_model, run_track
from bench.results.records import read_record, write_record
from tests.submissions import HEAD, World, snapshot, world_with_standard, write_entry


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, quick_store: Path) -> World:
    import shutil

    root = tmp_path_factory.mktemp("hostile-graphs")
    shutil.copytree(quick_store, root / "store")
    return world_with_standard(root, root / "store")


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, stride=2)
        self.fc = nn.Linear(4, 10)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3)))


def _torch_json(marker: Path) -> tuple[bytes, dict[str, Tensor]]:
    """torch's JSON serialisation with the batch size's sympy expression replaced by Python."""
    from torch._export.serde.serialize import serialize

    program = torch.export.export(
        Net().eval(), (torch.rand(2, 1, 28, 28),), dynamic_shapes=({0: torch.export.Dim("b", min=1, max=512)},)
    )
    text = serialize(program, serialize_state_dict=False).exported_program.decode()
    symbol = json.loads(text)["graph_module"]["graph"]["tensor_values"]["x"]["sizes"][0]["as_expr"]["expr_str"]
    evil = f"__import__('os').system('touch {marker}')"
    return text.replace(json.dumps(symbol), json.dumps(evil)).encode(), dict(program.state_dict)


def _robex_graph(first_node: dict[str, object]) -> tuple[bytes, dict[str, Tensor]]:
    graph, tensors = export_graph(Net().eval(), torch.rand(2, 1, 28, 28))
    parsed = json.loads(graph)
    parsed["nodes"].insert(0, first_node)
    return json.dumps(parsed).encode(), tensors


def hostile(kind: str, marker: Path, host_file: Path) -> tuple[bytes, dict[str, Tensor]]:
    if kind == "sympy-payload":
        return _torch_json(marker)
    if kind == "from-file":
        args = [{"int": len(str(host_file))}, {"bool": True}, {"int": 64}]
        return _robex_graph({"op": "aten.from_file.default", "args": args, "kwargs": {}, "outputs": ["leak"]})
    args = [{"tensor": "p_conv_weight"}, {"float": 0.0}]
    return _robex_graph({"op": "aten.fill_.Scalar", "args": args, "kwargs": {}, "outputs": ["zeroed"]})


REASONS = {
    "sympy-payload": "robex reads only its own format",
    "from-file": "refused: file or device I/O",
    "fill-weight": "refused: an in-place operator",
}
KINDS = sorted(REASONS)


def _folder(tmp_path: Path, kind: str) -> tuple[Path, Path, Path]:
    marker, host_file = tmp_path / "pwned", tmp_path / "host.txt"
    host_file.write_text("host secret")
    graph, tensors = hostile(kind, marker, host_file)
    folder = tmp_path / "entry"
    folder.mkdir()
    (folder / "graph.json").write_bytes(graph)
    weights = save(tensors)
    (folder / "model.safetensors").write_bytes(weights)
    sha, gsha = hashlib.sha256(weights).hexdigest(), hashlib.sha256(graph).hexdigest()
    ckpt = f'[checkpoint]\ngraph = "graph.json"\ngraph_sha256 = "{gsha}"\n'
    ckpt += f'file = "model.safetensors"\nsha256 = "{sha}"\n'
    write_entry(folder, f'name = "hostile"\n{HEAD}{ckpt}')
    return folder, marker, host_file


def _unharmed(world: World, before: dict[str, bytes], marker: Path, host_file: Path) -> None:
    assert not marker.exists()
    assert host_file.read_text() == "host secret"
    assert {**world.snapshot(), **{f"store/{k}": v for k, v in snapshot(world.store).items()}} == before


def _before(world: World) -> dict[str, bytes]:
    return {**world.snapshot(), **{f"store/{k}": v for k, v in snapshot(world.store).items()}}


@pytest.mark.parametrize("kind", KINDS)
def test_submit_refuses_a_hostile_graph_in_the_parent(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    folder, marker, host_file = _folder(tmp_path, kind)
    before = _before(world)
    assert main(world.submit(folder)) == 2
    err = capsys.readouterr().err
    assert "field 'checkpoint'" in err and REASONS[kind] in err, err
    _unharmed(world, before, marker, host_file)


@pytest.mark.parametrize("kind", KINDS)
def test_load_model_and_the_scorer_refuse_a_hostile_graph(world: World, tmp_path: Path, kind: str) -> None:
    folder, marker, host_file = _folder(tmp_path, kind)
    before = _before(world)
    with pytest.raises(CheckpointError, match=re.escape(REASONS[kind])):
        load_model(folder)
    report = run_track(
        "mnist5k",
        entries=["hostile"],
        extra_entries=[folder],
        store=tmp_path / "own-store",
        results_root=tmp_path / "own-results",
        quick=True,
        device="cpu",
        stages=["clean"],
        executor_options={"show_progress": False},
    )
    assert not any(r.scores for r in report.records), "a hostile graph was scored"
    assert any(REASONS[kind] in str(r.error) for r in report.results.values() if not r.ok)
    _unharmed(world, before, marker, host_file)


@pytest.mark.parametrize("kind", KINDS)
def test_verify_refuses_a_forged_record_pointing_at_a_hostile_artifact(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    folder, marker, host_file = _folder(tmp_path, kind)
    weights, graph = (folder / "model.safetensors").read_bytes(), (folder / "graph.json").read_bytes()
    digest = artifact_sha256(hashlib.sha256(weights).hexdigest(), hashlib.sha256(graph).hexdigest())
    results = tmp_path / "results"
    rec = read_record(world.results / "mnist5k" / "standard.quick.json")
    provenance = rec.provenance.model_copy(update={"artifact_sha256": digest, "isolation": "bubblewrap"})
    entry = rec.entry.model_copy(update={"name": "hostile"})
    write_record(rec.model_copy(update={"provenance": provenance, "entry": entry}), results)
    before = _before(world)
    args = ["verify", "hostile", "--quick", "--device", "cpu", "--store", str(world.store), "--results", str(results)]
    assert main([*args, "--artifact", str(folder), "--stages", "clean"]) != 0
    out = capsys.readouterr()
    # the isolated re-score reports the refusal in verify's report (stdout); a refusal before it, on stderr
    assert "OK: " not in out.out and "FAILED" in out.out + out.err and REASONS[kind] in out.out + out.err, out
    _unharmed(world, before, marker, host_file)
