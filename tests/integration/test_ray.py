"""The Ray executor on a local 2-CPU Ray instance: same records as the local executor, failures reported,
a killed worker retried without losing finished cells."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from bench.data import indices_sha256, load_track_data
from bench.frontends.api import run_track
from bench.track import load_track

ray = pytest.importorskip("ray", reason="the optional ray extra is not installed")

pytestmark = pytest.mark.ray
STAGES = ["train", "clean", "pgd"]

KILLER = textwrap.dedent(
    """
    import os, signal
    from pathlib import Path
    import torch.nn.functional as F
    from bench.plugins import DEFENSES
    from bench.protocols import Defense, DefenseCard

    MARKER = Path(__file__).with_name("killed-once")

    @DEFENSES.register("{name}_defense")
    class Killer(Defense):
        card = DefenseCard(title="t", authors="a", venue="v", year=2024, url="", summary="s", fidelity="f")

        def loss(self, model, x, y, state):
            mode = "{mode}"
            if mode == "raise":
                raise ValueError("deliberate failure in the entry")
            if mode == "kill" and not MARKER.exists():
                MARKER.write_text("1")
                os.kill(os.getpid(), signal.SIGKILL)
            return F.cross_entropy(model(x), y)
    """
)


def entry(root: Path, name: str, mode: str) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "defense.py").write_text(KILLER.format(name=name, mode=mode))
    (folder / "entry.toml").write_text(
        f'name = "{name}"\ntitle = "{name}"\nauthors = "t"\ntrack = "mnist5k"\n'
        f'[defense]\nname = "{name}_defense"\nmodule = "defense.py"\n'
    )
    return folder


@pytest.fixture(scope="module")
def ray_cluster():  # type: ignore[no-untyped-def]
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _run(tmp: Path, executor: str, extra: list[Path], names: list[str]):  # type: ignore[no-untyped-def]
    return run_track(
        "mnist5k",
        entries=names,
        extra_entries=extra,
        store=tmp / "store",
        results_root=tmp / "res",
        quick=True,
        device="cpu",
        stages=STAGES,
        executor=executor,
        executor_options={"show_progress": False},
    )


def _split_draw(details: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    clean = dict(details["clean"])
    draw = clean.pop("holdout")
    return {**details, "clean": clean}, draw


def test_ray_records_equal_local_records(tmp_path: Path, ray_cluster: None) -> None:
    local = _run(tmp_path / "local", "local", [], ["standard"])
    remote = _run(tmp_path / "ray", "ray", [], ["standard"])
    assert remote.counts == (3, 0, 0)
    a, b = local.records[0], remote.records[0]
    assert a.scores == b.scores
    # The clean stage's held-out draw takes a fresh seed on every computation (bench.stages.clean); everything
    # else is identical, and each draw is the one its recorded seed reproduces.
    (da, ha), (db, hb) = _split_draw(a.details), _split_draw(b.details)
    assert da == db
    data = load_track_data(load_track("mnist5k"))
    for h in (ha, hb):
        assert indices_sha256(data.holdout_batch(h["n"], h["seed"])[2]) == h["indices_sha256"]
    assert ha["n"] == hb["n"] == len(data.holdout_y)  # mnist5k's whole pool: the same images, in another order
    assert ha["accuracy"] == hb["accuracy"] and ha["published_accuracy"] == hb["published_accuracy"]
    assert a.provenance.cell_keys == b.provenance.cell_keys
    assert a.provenance.checkpoint_sha256 == b.provenance.checkpoint_sha256


def test_ray_failure_is_reported_with_entry_and_stage(tmp_path: Path, ray_cluster: None) -> None:
    bad = entry(tmp_path / "e", "raiser", "raise")
    report = _run(tmp_path, "ray", [bad], ["standard", "raiser"])
    recs = {r.entry.name: r for r in report.records}
    assert recs["standard"].status == "ok"
    assert recs["raiser"].status == "failed"
    assert "deliberate failure in the entry" in recs["raiser"].errors["train"]
    failed = [r for r in report.results.values() if not r.ok]
    assert any(r.label == "train:raiser" for r in failed)


def test_killed_worker_is_retried_and_loses_nothing(tmp_path: Path, ray_cluster: None) -> None:
    killer = entry(tmp_path / "e", "killer", "kill")
    report = _run(tmp_path, "ray", [killer], ["standard", "killer"])
    assert (killer / "killed-once").exists()  # the worker really died once
    assert all(r.status == "ok" for r in report.records)
    again = _run(tmp_path, "ray", [killer], ["standard", "killer"])
    assert again.counts == (0, 6, 0)


def _numbers(obj: Any, path: str = "") -> dict[str, Any]:
    """Every leaf of a record's JSON by its path, leaving out what a run may legitimately change: wall times, the
    clean stage's fresh held-out draw, and where the run happened."""
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        for k, v in obj.items():
            if k in {"wall_time_s", "holdout", "created", "device", "host", "duration_s"}:
                continue
            out.update(_numbers(v, f"{path}/{k}"))
        return out
    if isinstance(obj, list):
        out = {}
        for i, v in enumerate(obj):
            out.update(_numbers(v, f"{path}/{i}"))
        return out
    return {path: obj}


def test_the_cli_writes_identical_records_with_either_executor(tmp_path: Path, ray_cluster: None) -> None:
    """``robex run --executor ray`` and the local executor with its default worker pool pin the same threads per
    cell (the protocol's, in every cell key), so every number of the two records is equal."""
    import json

    from bench.cli import main

    records = {}
    for executor in ("local", "ray"):
        out = tmp_path / executor
        argv = ["run", "--quick", "--entries", "standard", "--stages", "clean", "pgd", "--no-site"]
        argv += ["--store", str(out / "store"), "--results", str(out / "res"), "--executor", executor]
        assert main(argv) == 0
        records[executor] = json.loads((out / "res" / "mnist5k" / "standard.quick.json").read_text())
    local, remote = _numbers(records["local"]), _numbers(records["ray"])
    assert len(local) > 300
    assert local == remote
