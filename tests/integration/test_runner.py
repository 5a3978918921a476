"""The runner end to end on mnist5k in quick mode: records, caching, crash isolation, resume after SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from bench.frontends.api import load_model, run_track
from bench.results.records import read_record

STAGES = ["train", "clean", "pgd"]

SLOW_MODULE = textwrap.dedent(
    """
    import os, time
    import torch.nn.functional as F
    from bench.plugins import DEFENSES
    from bench.protocols import Defense, DefenseCard

    @DEFENSES.register("{name}")
    class Slow(Defense):
        card = DefenseCard(title="t", authors="a", venue="v", year=2024, url="", summary="s", fidelity="f")

        def loss(self, model, x, y, state):
            if os.environ.get("ROBEX_TEST_CRASH"):
                raise RuntimeError("entry module exploded")
            time.sleep(float(os.environ.get("ROBEX_TEST_SLEEP", "0")))
            return F.cross_entropy(model(x), y)
    """
)


def make_entry(root: Path, name: str) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "defense.py").write_text(SLOW_MODULE.format(name=f"{name}_defense"))
    (folder / "entry.toml").write_text(
        f'name = "{name}"\ntitle = "{name}"\nauthors = "tester"\ntrack = "mnist5k"\n'
        f'[defense]\nname = "{name}_defense"\nmodule = "defense.py"\n'
    )
    return folder


def test_quick_run_writes_records_and_a_second_run_recomputes_nothing(tmp_path: Path) -> None:
    kw = dict(
        entries=["standard"],
        store=tmp_path / "store",
        results_root=tmp_path / "results",
        quick=True,
        device="cpu",
        stages=STAGES,
        executor_options={"show_progress": False},
    )
    first = run_track("mnist5k", **kw)  # type: ignore[arg-type]
    assert first.counts == (3, 0, 0)
    rec = read_record(tmp_path / "results" / "mnist5k" / "standard.quick.json")
    assert rec.quick and rec.status == "ok"
    assert 0.0 <= rec.scores["clean_accuracy"].value <= 1.0
    assert rec.scores["clean_accuracy"].n == 200  # the quick override of [stages.clean]
    assert len(rec.provenance.checkpoint_sha256) == 64
    assert rec.provenance.subset_sha256 == "2e5bb8040222b069be41674d904856cd8c344c9c8da33cb050cdcb1376b3ad0a"
    assert set(rec.provenance.wall_time_s) == set(STAGES)
    second = run_track("mnist5k", **kw)  # type: ignore[arg-type]
    assert second.counts == (0, 3, 0)
    assert read_record(tmp_path / "results" / "mnist5k" / "standard.quick.json") == rec
    model = load_model(tmp_path / "results" / "mnist5k" / "standard.quick.json", store=tmp_path / "store")
    assert not model.training


def test_crashing_entry_is_recorded_not_fatal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entry = make_entry(tmp_path / "entries", "crashy")
    monkeypatch.setenv("ROBEX_TEST_CRASH", "1")
    report = run_track(
        "mnist5k",
        entries=["standard", "crashy"],
        extra_entries=[entry],
        store=tmp_path / "s",
        results_root=tmp_path / "r",
        quick=True,
        device="cpu",
        stages=STAGES,
        executor_options={"show_progress": False},
    )
    by_name = {r.entry.name: r for r in report.records}
    assert by_name["standard"].status == "ok"
    crashed = by_name["crashy"]
    assert crashed.status == "failed"
    assert "entry module exploded" in crashed.errors["train"]
    assert "did not finish" in crashed.errors["clean"]
    assert crashed.scores == {}


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_loses_no_finished_cell(tmp_path: Path) -> None:
    entry = make_entry(tmp_path / "entries", "zslow")
    store, results = tmp_path / "store", tmp_path / "results"
    cmd = [
        sys.executable,
        "-m",
        "bench",
        "run",
        "--quick",
        "--device",
        "cpu",
        "--entries",
        "standard",
        "zslow",
        "--entry-dir",
        str(entry),
        "--store",
        str(store),
        "--results",
        str(results),
        "--no-site",
        "--stages",
        *STAGES,
    ]
    env = {**os.environ, "ROBEX_TEST_SLEEP": "0.5"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not list(store.glob("cells/*/*.json")):
        time.sleep(0.2)
    time.sleep(0.5)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = sorted(store.glob("cells/*/*.json"))
    assert finished, "the run was killed before any cell finished"
    for p in finished:  # every cell file on disk is complete
        json.loads(p.read_text())
    assert not results.exists() or not list(results.glob("*/*.json"))
    done_keys = {p.stem for p in finished}
    env["ROBEX_TEST_SLEEP"] = "0"
    out = subprocess.run([*cmd], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert f"{len(done_keys)} cached" in out.stdout
    assert all((store / "cells" / k[:2] / f"{k}.json").is_file() for k in done_keys)
    assert read_record(results / "mnist5k" / "zslow.quick.json").status == "ok"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True, text=True, timeout=300)


def test_cli_list_commands() -> None:
    out = run_cli("list", "tracks")
    assert out.returncode == 0 and "mnist5k" in out.stdout and "linf:0.3" in out.stdout
    out = run_cli("list", "defenses")
    assert out.returncode == 0 and "standard" in out.stdout
    out = run_cli("list", "scores")
    assert "clean_accuracy" in out.stdout and "↑" in out.stdout


def test_cli_errors_are_clear() -> None:
    out = run_cli("run", "--track", "mnist5", "--no-site")
    assert out.returncode == 2 and "unknown track 'mnist5'; did you mean: mnist5k" in out.stderr
    out = run_cli("run", "--entries", "standar", "--no-site")
    assert out.returncode == 2 and "did you mean: standard" in out.stderr


def test_cli_missing_dataset_root(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ROBEX_DATA"}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "run",
            "--track",
            "mnist",
            "--quick",
            "--entries",
            "standard",
            "--data-root",
            str(tmp_path),
            "--store",
            str(tmp_path / "s"),
            "--results",
            str(tmp_path / "r"),
            "--no-site",
            "--stages",
            "train",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert out.returncode == 2
    assert "MNIST not found: looked in" in out.stderr


def test_cli_run_renders_the_site_and_says_where(tmp_path: Path) -> None:
    out = run_cli(
        "run",
        "--quick",
        "--device",
        "cpu",
        "--entries",
        "standard",
        "--stages",
        *STAGES,
        "--store",
        str(tmp_path / "s"),
        "--results",
        str(tmp_path / "r"),
        "--site",
        str(tmp_path / "site"),
    )
    assert out.returncode == 0, out.stderr
    last = out.stdout.strip().splitlines()[-1]
    # a quick run's records are listed on quick.html (the index ranks full runs only)
    assert last == f"Leaderboard: {(tmp_path / 'site' / 'quick.html').resolve()}"
    assert "standard" in (tmp_path / "site" / "quick.html").read_text()
    assert "Clean acc." in out.stdout  # the summary table


def test_train_key_follows_resolved_hyperparameters(monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.entries import Entry
    from bench.manifest import parse_manifest
    from bench.plugins import DEFENSES
    from bench.running.runner import RunSpec, plan_cells

    def train_key(hp: dict[str, object]) -> str:
        m = parse_manifest(
            {
                "name": "e",
                "title": "t",
                "authors": "a",
                "track": "mnist5k",
                "defense": {"name": "pgd_at", "hyperparameters": hp},
            }
        )
        spec = RunSpec(track="mnist5k", entries=(Entry(m).to_payload(),), store="/nonexistent", stages=("train",))
        return next(c.key for c in plan_cells(spec) if c.stage == "train")

    cls = DEFENSES.get("pgd_at")
    default_steps = cls(load_track_for_test()).hp["steps"]
    assert train_key({}) == train_key({"steps": default_steps})  # same resolved recipe, same cell
    assert train_key({}) != train_key({"steps": default_steps + 1})
    before = train_key({})
    monkeypatch.setattr(
        cls,
        "track_defaults",
        {**cls.track_defaults, "mnist5k": {**cls.track_defaults.get("mnist5k", {}), "steps": default_steps + 2}},
    )
    assert train_key({}) != before  # editing a defense's defaults invalidates its cached cells


def load_track_for_test():  # type: ignore[no-untyped-def]
    from bench.track import load_track

    return load_track("mnist5k")


def test_worker_pool_writes_the_same_records_as_the_in_process_executor(tmp_path: Path) -> None:
    """Two worker processes (cells scheduled as their dependencies finish) give byte-equal scores and weights."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # both runs pin one intra-op thread per cell: the same float summation order
    try:
        reports = {
            workers: run_track(
                "mnist5k",
                entries=["standard", "fgsm_at"],
                store=tmp_path / f"store{workers}",
                results_root=tmp_path / f"results{workers}",
                quick=True,
                device="cpu",
                stages=STAGES,
                executor_options={"show_progress": False, "workers": workers},
            )
            for workers in (1, 2)
        }
    finally:
        torch.set_num_threads(threads)
    for one, two in zip(reports[1].records, reports[2].records, strict=True):
        assert one.name == two.name
        assert one.scores == two.scores
        assert one.provenance.checkpoint_sha256 == two.provenance.checkpoint_sha256
    assert reports[2].counts == (len(reports[2].results), 0, 0)  # every cell computed, none failed
