"""Submissions that try to cheat: entry code runs only in the isolated build; the scorer reads only the artifact.

One hostile defense module (run once, in quick mode, clean + PGD beside the ``standard`` baseline) tries
everything at import time — patching the scorer's stages, rewriting the store's cells, editing records
found through ``/proc/*/cmdline``, ``os.system``, writing outside its folder, reading the environment and
the evaluation images, reaching the network — reports what worked, then trains honestly. Each attempt is
its own test, and so is the proof that every other record and cell is byte-for-byte unchanged. A model
class that exists only in its entry folder is built, exported and scored with the numbers the same model
gets when evaluated directly.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import shutil
import socket
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest
import torch
from torch import nn

from bench.cli import main
from bench.frontends.api import run_track
from bench.frontends.isolation import UNISOLATED, evaluation_data_paths, isolation_problem
from bench.results.records import read_record, write_record
from tests.submissions import HEAD, World, snapshot, world_with_standard, write_entry

STAGE_ARGS = ("--stages", "clean", "pgd", "--baselines", "standard")

HOSTILE = """
import glob, json, os, socket
from pathlib import Path

import torch.nn.functional as F

from bench.plugins import DEFENSES, STAGES
from bench.protocols import Defense, DefenseCard, StageOutput
from bench.types import ScoreValue

STORE, RESULTS, OUTSIDE, DATA, PORT = {store!r}, {results!r}, {outside!r}, {data!r}, {port!r}


def attempt(action):
    try:
        return bool(action())
    except Exception:
        return False


def perfect(score):
    def run(self, ctx):
        return StageOutput(scores=(ScoreValue(score, 1.0, 200, 1.0, 1.0),), details={{}})
    return run


STAGES.get("clean").run = perfect("clean_accuracy")  # scores of 1.0, if the scorer ever saw this
STAGES.get("pgd").run = perfect("pgd_accuracy")


def rewrite(folder):
    hit = False
    for path in Path(folder).rglob("*.json"):
        path.write_text("{{}}")
        hit = True
    return hit


def from_cmdlines(flag):
    found = []
    for cmdline in glob.glob("/proc/*/cmdline"):
        try:
            args = Path(cmdline).read_bytes().split(b"\\0")
        except OSError:  # the process ended meanwhile
            continue
        if flag.encode() in args:
            found.append(args[args.index(flag.encode()) + 1].decode())
    return found


def read_eval_images():
    from bench.running.runner import track_data

    return len(track_data("mnist5k", None).eval_y) > 0


escapes = {{
    "store": attempt(
        lambda: any(rewrite(s) for s in [STORE, os.environ.get("ROBEX_STORE", "/-"), *from_cmdlines("--store")])
    ),
    "records": attempt(lambda: any(rewrite(r) for r in [RESULTS, *from_cmdlines("--results")])),
    "write_outside": attempt(lambda: Path(OUTSIDE, "from_python").write_text("x")),
    "os_system": os.system(f"touch {{OUTSIDE}}/from_system 2>/dev/null") == 0,
    "environment": any(v == "s3cret" for v in os.environ.values()) or "ROBEX_STORE" in os.environ,
    "eval_images": attempt(lambda: Path(DATA).read_bytes()) or attempt(read_eval_images),
    "network": attempt(lambda: socket.create_connection(("127.0.0.1", PORT), timeout=3)),
    "root": os.geteuid() == 0,
}}
print("ESCAPES " + json.dumps(escapes), flush=True)


@DEFENSES.register("hostile_defense")
class Hostile(Defense):
    card = DefenseCard(title="t", authors="a", venue="v", year=2024, url="", summary="s", fidelity="f")

    def loss(self, model, x, y, state):
        return F.cross_entropy(model(x), y)
"""

BYO_MODEL = '''
import torch
from torch import nn


class TinyResNet(nn.Module):
    """Defined only here: batch norm, a residual block, a non-persistent buffer."""

    def __init__(self, classes):
        super().__init__()
        self.register_buffer("mean", torch.tensor([0.1307]), persistent=False)
        self.stem = nn.Conv2d(1, 8, 3, stride=2, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.block = nn.Sequential(
            nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1)
        )
        self.head = nn.Linear(8, classes)

    def forward(self, x):
        h = torch.relu(self.bn(self.stem(x - self.mean)))
        h = torch.relu(h + self.block(h))
        return self.head(h.mean(dim=(2, 3)))


def build_model(track):
    return TinyResNet(track.num_classes)
'''


@dataclass(frozen=True)
class Hostile:
    """What the hostile submission did and saw."""

    escapes: dict[str, bool]
    rc: int
    output: str
    outside: Path
    results_before: dict[str, bytes]
    store_before: dict[str, bytes]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, quick_store: Path) -> World:
    """A private copy of the quick store and a results folder with the standard baseline's record."""
    root = tmp_path_factory.mktemp("isolation")
    shutil.copytree(quick_store, root / "store")
    return world_with_standard(root, root / "store")


@pytest.fixture(scope="module")
def isolated() -> None:
    problem = isolation_problem()
    if problem is not None:  # the refusal itself is tested below, everywhere
        pytest.skip(reason=f"no isolation on this machine: {problem}")


@contextlib.contextmanager
def listening() -> Iterator[int]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    try:
        yield int(server.getsockname()[1])
    finally:
        server.close()


@pytest.fixture(scope="module")
def hostile(world: World, isolated: None, tmp_path_factory: pytest.TempPathFactory) -> Hostile:
    outside = tmp_path_factory.mktemp("outside")
    mp = pytest.MonkeyPatch()
    mp.setenv("ROBEX_SECRET", "s3cret")
    mp.setenv("ROBEX_STORE", str(world.store))
    data = next(iter(evaluation_data_paths()), Path("/nonexistent")) / "mnist_5k.csv.gz"
    results_before, store_before = world.snapshot(), snapshot(world.store)
    try:
        with listening() as port:
            module = HOSTILE.format(
                store=str(world.store), results=str(world.results), outside=str(outside), data=str(data), port=port
            )
            entry = write_entry(
                outside.parent / "hostile_entry",
                f'name = "hostile"\n{HEAD}[defense]\nname = "hostile_defense"\nmodule = "defense.py"\n',
                module,
            )
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                rc = main(world.submit(entry, *STAGE_ARGS))
    finally:
        mp.undo()
    log = json.loads((world.store / "submissions" / "mnist5k" / "hostile.json").read_text())
    line = next(x for x in log["build"]["output_tail"].splitlines() if x.startswith("ESCAPES "))
    return Hostile(json.loads(line[len("ESCAPES ") :]), rc, out.getvalue(), outside, results_before, store_before)


ATTEMPTS = ["store", "records", "write_outside", "os_system", "environment", "eval_images", "network", "root"]


@pytest.mark.parametrize("attempt", ATTEMPTS)
def test_entry_code_cannot_escape_its_build(hostile: Hostile, attempt: str) -> None:
    assert set(hostile.escapes) == set(ATTEMPTS)
    assert hostile.escapes[attempt] is False, f"the build could {attempt}"
    assert not (hostile.outside / "from_python").exists() and not (hostile.outside / "from_system").exists()


def test_every_other_record_and_cell_is_byte_for_byte_unchanged(world: World, hostile: Hostile) -> None:
    assert hostile.rc == 0, hostile.output
    results, store = world.snapshot(), snapshot(world.store)
    assert set(results) == set(hostile.results_before) | {"mnist5k/hostile.quick.json"}
    assert all(results[k] == v for k, v in hostile.results_before.items())
    assert all(store[k] == v for k, v in hostile.store_before.items())
    again = run_track(
        "mnist5k",
        entries=["standard"],
        store=world.store,
        results_root=world.root / "rerun",
        quick=True,
        device="cpu",
        stages=["clean", "pgd"],
        executor_options={"show_progress": False},
    )
    assert again.counts[0] == 0  # everything from cache, and the cache still holds the honest numbers
    assert (world.root / "rerun" / "mnist5k" / "standard.quick.json").read_bytes() == hostile.results_before[
        "mnist5k/standard.quick.json"
    ]


def test_patched_stages_never_reach_the_scorer(world: World, hostile: Hostile) -> None:
    rec = read_record(world.results / "mnist5k" / "hostile.quick.json")
    assert rec.provenance.isolation == "bubblewrap" and rec.entry.kind == "recipe"
    assert rec.scores["clean_accuracy"].value < 0.9 and rec.scores["pgd_accuracy"].value < 0.5
    assert sum(rec.details["clean"]["correct"]) == round(rec.scores["clean_accuracy"].value * 200)


def _verify_args(world: World, results: Path) -> list[str]:
    return ["verify", "hostile", "--quick", "--device", "cpu", "--store", str(world.store), "--results", str(results)]


def test_verify_rescores_the_artifact_and_cannot_be_fooled(
    world: World, hostile: Hostile, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*_verify_args(world, world.results), "--n", "64"]) == 0
    assert "OK: " in capsys.readouterr().out
    # A record claiming what the patched stages would have reported, consistent with itself, fails.
    results = tmp_path / "results"
    shutil.copytree(world.results, results)
    rec = read_record(results / "mnist5k" / "hostile.quick.json")
    forged = {**rec.details, "clean": {**rec.details["clean"], "correct": [1] * 200}}
    score = rec.scores["clean_accuracy"].model_copy(update={"value": 1.0})
    write_record(rec.model_copy(update={"details": forged, "scores": {**rec.scores, "clean_accuracy": score}}), results)
    assert main([*_verify_args(world, results), "--n", "64", "--stages", "clean"]) == 1
    assert "FAILED: mismatch in Clean acc." in capsys.readouterr().out
    # A swapped artifact (the standard baseline's weights in its place) is refused by its sha256.
    swapped = tmp_path / "artifact"
    shutil.copytree(world.store / "artifacts" / rec.provenance.artifact_sha256, swapped)
    from bench.checkpoint import save_checkpoint
    from bench.models import build_architecture
    from bench.track import load_track

    sha = save_checkpoint(build_architecture("small_cnn", load_track("mnist5k")), swapped / "model.safetensors")
    toml = (swapped / "entry.toml").read_text().replace(rec.provenance.checkpoint_sha256, sha)
    (swapped / "entry.toml").write_text(toml)
    assert main([*_verify_args(world, world.results), "--artifact", str(swapped)]) == 2
    assert "this is not the artifact the record was computed from" in capsys.readouterr().err


GENTLE = """
import torch.nn.functional as F
from bench.plugins import DEFENSES
from bench.protocols import Defense, DefenseCard

@DEFENSES.register("gentle_defense")
class Gentle(Defense):
    card = DefenseCard(title="t", authors="a", venue="v", year=2024, url="", summary="s", fidelity="f")

    def loss(self, model, x, y, state):
        return F.cross_entropy(model(x), y)
"""


def test_without_isolation_code_entries_are_refused_unless_the_maintainer_allows_it(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import bench.frontends.isolation

    monkeypatch.setattr(
        bench.frontends.isolation, "isolation_problem", lambda: "bubblewrap is not installed (simulated)"
    )
    entry = write_entry(
        tmp_path / "gentle",
        f'name = "gentle"\n{HEAD}[defense]\nname = "gentle_defense"\nmodule = "defense.py"\n',
        GENTLE,
    )
    results, store = world.snapshot(), snapshot(world.store)
    assert main(world.submit(entry, *STAGE_ARGS)) == 2
    err = capsys.readouterr().err
    assert "must run in an isolated build, but bubblewrap is not installed (simulated)" in err
    assert "--allow-unisolated" in err
    assert world.snapshot() == results and snapshot(world.store) == store
    assert main(world.submit(entry, *STAGE_ARGS, "--allow-unisolated")) == 0, capsys.readouterr()
    rec = read_record(world.results / "mnist5k" / "gentle.quick.json")
    assert rec.provenance.isolation == UNISOLATED
    page = (world.site / "mnist5k" / "gentle.quick.html").read_text()
    assert "built without isolation" in page and "--allow-unisolated" in page
    after = world.snapshot()
    assert all(after[k] == v for k, v in results.items())
    # Its artifact is re-scored only in isolation, unless the maintainer allows it again for verify.
    verify = ["verify", "gentle", "--quick", "--device", "cpu", "--store", str(world.store)]
    verify += ["--results", str(world.results), "--n", "32", "--stages", "clean"]
    capsys.readouterr()
    assert main(verify) == 2
    assert "re-scored only in isolation, but bubblewrap is not installed (simulated)" in capsys.readouterr().err
    assert main([*verify, "--allow-unisolated"]) == 0
    assert "re-run without isolation: none (bubblewrap is not installed (simulated))" in capsys.readouterr().out


def _import(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("byo_model_in_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_model_class_defined_only_in_the_entry_folder_scores_as_it_does_directly(
    world: World, isolated: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench.checkpoint import save_checkpoint
    from bench.entries import Entry
    from bench.manifest import load_manifest
    from bench.plugins import STAGES
    from bench.running.runner import CellContext, RunSpec, all_keys, plan_cells, track_data
    from bench.running.training import FitContext
    from bench.track import load_track

    track = load_track("mnist5k")
    folder = tmp_path / "byo"
    folder.mkdir()
    (folder / "model.py").write_text(textwrap.dedent(BYO_MODEL))
    torch.manual_seed(0)
    model = _import(folder / "model.py").build_model(track)
    data = track_data("mnist5k", None)
    budget = track.training_budget(quick=True)
    fit = FitContext(track=track, train_x=data.train_x, train_y=data.train_y, budget=budget, seed=1)
    fit.run(model, lambda m, x, y, s: nn.functional.cross_entropy(m(x), y))
    model.eval()
    sha = save_checkpoint(model, folder / "model.safetensors")
    manifest = f'name = "byo"\n{HEAD}[checkpoint]\nmodule = "model.py"\nfile = "model.safetensors"\nsha256 = "{sha}"\n'
    (folder / "entry.toml").write_text(manifest)
    assert main(world.submit(folder, *STAGE_ARGS)) == 0, capsys.readouterr()
    rec = read_record(world.results / "mnist5k" / "byo.quick.json")
    assert rec.entry.kind == "checkpoint" and rec.entry.architecture == "exported graph"
    assert rec.details["train"]["artifact"] == "graph"
    # The same model, evaluated directly in this process by the same stages on the same images and seeds.
    entry = Entry(load_manifest(folder), str(folder))
    spec = RunSpec(track="mnist5k", entries=(entry.to_payload(),), store=str(tmp_path / "s"), quick=True)
    cells = plan_cells(spec)

    class Direct(CellContext):
        def model(self, entry: str | None = None) -> nn.Module:
            return model

    for stage, score in (("clean", "clean_accuracy"), ("pgd", "pgd_accuracy")):
        cell = next(c for c in cells if c.stage == stage)
        out = STAGES.create(stage).run(Direct(spec, cell, all_keys(cells)))
        direct = next(s for s in out.scores if s.name == score)
        assert abs(direct.value - rec.scores[score].value) <= 1e-6, (stage, direct.value, rec.scores[score].value)
        key = "correct" if stage == "clean" else "robust"
        assert out.details[key] == rec.details[stage][key]
    artifact = Entry(load_manifest(world.store / "artifacts" / rec.provenance.artifact_sha256), None)
    artifact = Entry(artifact.manifest, str(world.store / "artifacts" / rec.provenance.artifact_sha256))
    loaded, _ = artifact.build_checkpoint_model(track)
    x = data.eval_x[:50]
    torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=1e-6)


WRAPPING = """
import torch
import torch.nn.functional as F
from torch import nn
from bench.plugins import DEFENSES
from bench.protocols import Defense, DefenseCard


class Quantize(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(torch.round(x * 4) / 4)


@DEFENSES.register("quantizing_defense")
class Quantizing(Defense):
    card = DefenseCard(title="q", authors="a", venue="v", year=2024, url="", summary="s", fidelity="f")

    def loss(self, model, x, y, state):
        return F.cross_entropy(model(x), y)

    def wrap(self, model):
        return Quantize(model)
"""


def test_a_defense_with_its_own_wrap_becomes_an_exported_graph(world: World, tmp_path: Path) -> None:
    from bench.entries import Entry
    from bench.frontends.build import build_artifact, scratch_folder
    from bench.frontends.isolation import Isolation, build_env
    from bench.frontends.sandbox import Limits
    from bench.manifest import load_manifest
    from bench.track import load_track

    folder = write_entry(
        tmp_path / "quantizing",
        f'name = "quantizing"\n{HEAD}[defense]\nname = "quantizing_defense"\nmodule = "defense.py"\n',
        WRAPPING,
    )
    track = load_track("mnist5k")
    scratch = scratch_folder()
    try:  # the wrapper's structure is the point here, not the isolation (tested above)
        iso = Isolation(UNISOLATED, (), build_env(inside=False, scratch=scratch), str(scratch))
        built = build_artifact(
            Entry(load_manifest(folder), str(folder)),
            track,
            store=tmp_path / "store",
            quick=True,
            limits=Limits(timeout_s=600),
            isolation=iso,
            scratch=scratch,
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    assert built.kind == "graph" and built.claimed_training["trained"] and built.claimed_training["steps"] > 0
    artifact = Entry(load_manifest(built.folder), str(built.folder))
    model, _ = artifact.build_checkpoint_model(track)
    x = torch.rand(16, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(model(x), model(torch.round(x * 4) / 4), rtol=0, atol=0)  # wrap() is in the graph
    assert not torch.equal(model(x), model(x + 0.2))


BUILD_FROM_ANOTHER_PYTHON = """
import sys
from pathlib import Path

from bench.entries import Entry
from bench.frontends.build import build_artifact, scratch_folder
from bench.frontends.isolation import choose_isolation, isolation_problem
from bench.frontends.safe_files import remove_tree
from bench.frontends.sandbox import Limits
from bench.manifest import load_manifest
from bench.track import load_track

print("PREFIX", sys.prefix, flush=True)
print("PROBE", isolation_problem(), flush=True)
folder = Path({folder!r})
scratch = scratch_folder()
try:
    isolation = choose_isolation(scratch, allow_unisolated=False)
    entry = Entry(load_manifest(folder), str(folder))
    built = build_artifact(
        entry, load_track("mnist5k"), store=Path({store!r}), quick=True, limits=Limits(timeout_s=600),
        isolation=isolation, scratch=scratch,
    )
    print("BUILT", built.kind, built.isolation, built.claimed_training["trained"], flush=True)
finally:
    remove_tree(scratch)
"""


def test_an_isolated_build_works_from_a_virtual_environment_under_tmp(isolated: None, tmp_path: Path) -> None:
    """The sandbox's private /tmp is mounted before the Python installation is bound: a virtual environment under
    /tmp (a fresh clone's, say) stays visible, and the probe, running the build's own command line, agrees."""
    import os
    import site
    import subprocess
    import sys
    import tempfile

    from bench.frontends.isolation import package_root
    from bench.frontends.safe_files import remove_tree

    root = Path(tempfile.mkdtemp(prefix="robex-venv-", dir="/tmp"))  # /tmp itself: the case being tested
    try:
        venv = root / "venv"
        base = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base, "-m", "venv", "--without-pip", "--system-site-packages", str(venv)], check=True)
        if sys.prefix != sys.base_prefix:  # this interpreter's packages, under a prefix below /tmp
            packages = next(venv.glob("lib/python3*/site-packages"))
            packages.rmdir()
            packages.symlink_to(site.getsitepackages()[0], target_is_directory=True)
        entry = write_entry(
            tmp_path / "gentle",
            f'name = "gentle"\n{HEAD}[defense]\nname = "gentle_defense"\nmodule = "defense.py"\n',
            GENTLE,
        )
        script = BUILD_FROM_ANOTHER_PYTHON.format(folder=str(entry), store=str(tmp_path / "store"))
        done = subprocess.run(
            [str(venv / "bin" / "python"), "-c", script],
            env={**os.environ, "PYTHONPATH": str(package_root())},
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
    finally:
        remove_tree(root)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert f"PREFIX {venv}" in lines and "PROBE None" in lines
    assert "BUILT weights bubblewrap True" in lines
