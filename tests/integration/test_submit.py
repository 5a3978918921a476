"""``robex submit`` and ``robex verify`` end to end on mnist5k in quick mode.

Entry modules run in the isolated build (bubblewrap; see tests/integration/test_isolation.py).

Every refused or failed submission (bad manifest fields, wrong sha256, a pickle disguised as safetensors,
an entry module that crashes, dies, hangs or blows its memory limit) gives a clear error and leaves the
existing records byte-for-byte untouched; the worked example submits, ranks and verifies.
"""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import pytest
import torch

from bench.checkpoint import save_checkpoint
from bench.cli import main
from bench.models import build_architecture
from bench.results.records import read_record, write_record
from bench.track import load_track
from tests.submissions import HEAD, World, world_with_standard, write_entry

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "gaussian_noise"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, quick_store: Path) -> World:
    """A results folder holding the standard baseline's quick record (the "existing records")."""
    root = tmp_path_factory.mktemp("submit")
    return world_with_standard(root, quick_store)


CKPT = '[checkpoint]\narchitecture = "small_cnn"\nfile = "{file}"\nsha256 = "{sha}"\n'


@pytest.mark.parametrize(
    ("manifest", "field", "hint"),
    [
        ('name = "x"\ntitle = "t"\ntrack = "mnist5k"\n[defense]\nname = "standard"\n', "authors", "Field required"),
        ('name = "x"\ntitle = 5\nauthors = "a"\ntrack = "mnist5k"\n[defense]\nname = "standard"\n', "title", "string"),
        (f'name = "x"\n{HEAD}[defense]\nname = "standrd"\n', "defense.name", "did you mean: standard"),
        (
            f'name = "x"\n{HEAD}[defense]\nname = "standard"\nhyperparameters = {{ lr = 1 }}\n',
            "defense.hyperparameters.lr",
            "allowed: augment",
        ),
        (
            'name = "x"\ntitle = "t"\nauthors = "a"\ntrack = "mnist6k"\n[defense]\nname = "standard"\n',
            "track",
            "mnist5k",
        ),
        (f'name = "standard"\n{HEAD}[defense]\nname = "standard"\n', "name", "baseline"),
        (f'name = "Bad Name"\n{HEAD}[defense]\nname = "standard"\n', "name", "should match pattern"),
        (
            f'name = "x"\n{HEAD}paper_url = "javascript:alert(1)"\n[defense]\nname = "standard"\n',
            "paper_url",
            "https://",
        ),
        (f'name = "x"\n{HEAD}[defense]\nname = "mine"\nmodule = "../evil.py"\n', "defense.module", "outside"),
        (f'name = "x"\n{HEAD}[defense]\nname = "standard"\n[claimed]\nclean_acc = 0.9\n', "claimed.clean_acc", "score"),
        (f'name = "x"\n{HEAD}', "(top level)", "exactly one of [defense]"),
        (f'name = "x"\n{HEAD}' + CKPT.format(file="w.safetensors", sha="0" * 64), "checkpoint.file", "no such file"),
    ],
    ids=[
        "missing-field",
        "wrong-type",
        "unknown-defense",
        "unknown-hyperparameter",
        "unknown-track",
        "baseline-name",
        "bad-slug",
        "javascript-url",
        "module-outside-folder",
        "unknown-claimed-score",
        "neither-defense-nor-checkpoint",
        "missing-checkpoint-file",
    ],
)
def test_malformed_manifests_are_refused_naming_the_field(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str], manifest: str, field: str, hint: str
) -> None:
    before = world.snapshot()
    entry = write_entry(tmp_path / "entry", manifest)
    assert main(world.submit(entry)) == 2
    err = capsys.readouterr().err
    assert "submission refused" in err and f"field '{field}'" in err and hint in err, err
    assert world.snapshot() == before


def _checkpoint_entry(folder: Path, data: bytes, sha: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(data)
    return write_entry(
        folder,
        f'name = "ckpt"\n{HEAD}' + CKPT.format(file="model.safetensors", sha=sha),
    )


def test_a_checkpoint_with_the_wrong_sha256_is_refused(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = world.snapshot()
    model = build_architecture("small_cnn", load_track("mnist5k"))
    sha = save_checkpoint(model, tmp_path / "good.safetensors")
    entry = _checkpoint_entry(tmp_path / "e", (tmp_path / "good.safetensors").read_bytes()[:-1] + b" ", sha)
    assert main(world.submit(entry)) == 2
    err = capsys.readouterr().err
    assert "field 'checkpoint'" in err and "does not match the manifest's" in err
    assert world.snapshot() == before


class _Trap:
    """Unpickling this creates a file: proof that something unpickled it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("kind", ["pickle", "torch.save"])
def test_a_pickle_disguised_as_safetensors_is_refused_and_never_unpickled(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    import hashlib
    import io

    before = world.snapshot()
    marker = tmp_path / "unpickled"
    if kind == "pickle":
        data = pickle.dumps({"weights": _Trap(marker)})
    else:
        buf = io.BytesIO()
        torch.save({"weights": torch.zeros(3)}, buf)
        data = buf.getvalue()
    entry = _checkpoint_entry(tmp_path / "e", data, hashlib.sha256(data).hexdigest())  # the hash even matches
    assert main(world.submit(entry)) == 2
    err = capsys.readouterr().err
    assert "not a safetensors file (it looks like a pickle" in err, err
    assert not marker.exists()
    assert world.snapshot() == before


MODULE = """
    import os, time
    import torch
    import torch.nn.functional as F
    from pathlib import Path
    from bench.plugins import DEFENSES
    from bench.protocols import Defense, DefenseCard

    @DEFENSES.register("test_{mode}_defense")
    class Misbehaving(Defense):
        card = DefenseCard(title="t", authors="a", venue="v", year=2024, url="", summary="s", fidelity="f")

        def loss(self, model, x, y, state):
            print("REACHED", flush=True)
            mode = "{mode}"
            if mode == "crash":
                raise RuntimeError("entry module exploded")
            if mode == "abort":
                os.abort()
            if mode == "hang":
                time.sleep(3600)
            if mode == "memory":
                torch.ones(8 * 1024**3, dtype=torch.uint8).sum()
            return F.cross_entropy(model(x), y)
"""


MISBEHAVIOUR = {
    "crash": ({}, "RuntimeError: entry module exploded"),
    "abort": ({}, "was killed by SIGABRT"),
    "hang": ({"timeout_s": 30.0}, "exceeded the time limit of 30 s and was killed"),
    "memory": ({"memory_bytes": 6 * 1024**3}, "can't allocate memory"),
}


@pytest.fixture(scope="module")
def misbehaving(world: World, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, Path, bool]]:
    """Each misbehaving module submitted (concurrently: the children mostly wait or import):
    mode -> (error message, entry folder, whether the records were left untouched)."""
    from concurrent.futures import ThreadPoolExecutor

    from bench.frontends.submit import EvaluationFailedError, Limits, submit

    root = tmp_path_factory.mktemp("misbehaving")
    before = world.snapshot()

    def attempt(mode: str) -> tuple[str, Path, bool]:
        name = f"bad_{mode}"
        entry = write_entry(
            root / name,
            f'name = "{name}"\n{HEAD}[defense]\nname = "test_{mode}_defense"\nmodule = "defense.py"\n',
            MODULE.replace("{mode}", mode),
        )
        kwargs, _ = MISBEHAVIOUR[mode]
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
                limits=Limits(**kwargs),  # type: ignore[arg-type]
            )
        except EvaluationFailedError as exc:
            return str(exc), entry, world.snapshot() == before
        return "submission unexpectedly succeeded", entry, False

    with ThreadPoolExecutor(max_workers=len(MISBEHAVIOUR)) as pool:
        return dict(zip(MISBEHAVIOUR, pool.map(attempt, MISBEHAVIOUR), strict=True))


@pytest.mark.parametrize("mode", sorted(MISBEHAVIOUR))
def test_a_misbehaving_entry_module_is_recorded_not_fatal(
    world: World, misbehaving: dict[str, tuple[str, Path, bool]], mode: str
) -> None:
    error, _entry, untouched = misbehaving[mode]
    message = MISBEHAVIOUR[mode][1]
    assert message in error and "No record was written" in error, error
    assert untouched
    log = json.loads((world.store / "submissions" / "mnist5k" / f"bad_{mode}.json").read_text())
    assert log["status"] == "refused" and message in log["error"] + log["output_tail"]
    assert "REACHED" in log["output_tail"]  # the module really ran (in the isolated build) before failing


def test_a_failed_evaluation_exits_3(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import bench.frontends.submit

    def fail(*args: object, **kwargs: object) -> None:
        raise bench.frontends.submit.EvaluationFailedError(
            "the evaluation of 'x' was killed by SIGKILL (out of memory?)"
        )

    monkeypatch.setattr(bench.frontends.submit, "submit", fail)
    assert main(world.submit(EXAMPLE)) == 3
    assert "submission refused: the evaluation of 'x' was killed by SIGKILL" in capsys.readouterr().err


@pytest.fixture(scope="module")
def submitted(world: World) -> tuple[str, dict[str, bytes]]:
    """The worked example, submitted (quick; clean + pgd; the standard baseline alongside)."""
    import contextlib
    import io

    before = world.snapshot()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(world.submit(EXAMPLE, "--stages", "clean", "pgd", "--baselines", "standard"))
    assert rc == 0, out.getvalue()
    return out.getvalue(), before


def test_the_worked_example_submits_ranks_and_renders(world: World, submitted: tuple[str, dict[str, bytes]]) -> None:
    text, before = submitted
    after = world.snapshot()
    record_file = "mnist5k/gaussian_noise.quick.json"
    assert set(after) == set(before) | {record_file}
    assert all(after[k] == v for k, v in before.items())  # the existing records are untouched
    rec = read_record(world.results / record_file)
    assert rec.status == "ok" and rec.quick and rec.entry.defense == "example_gaussian_noise"
    assert rec.entry.card["authors"].startswith("Jeremy Cohen")
    assert {"clean_accuracy", "pgd_accuracy"} <= set(rec.scores)
    assert "gaussian_noise is a quick-mode record on mnist5k: never ranked." in text and " ranks " not in text
    assert text.rstrip().splitlines()[-1] == f"Leaderboard: {(world.site / 'quick.html').resolve()}"
    page = world.site / "mnist5k" / "gaussian_noise.quick.html"
    assert page.is_file() and "Gaussian noise augmentation (worked example)" in page.read_text()
    assert "gaussian_noise" in (world.site / "quick.html").read_text()


def test_resubmitting_needs_replace(
    world: World, submitted: tuple[str, dict[str, bytes]], capsys: pytest.CaptureFixture[str]
) -> None:
    before = world.snapshot()
    assert main(world.submit(EXAMPLE, "--stages", "clean")) == 2
    assert "pass --replace to re-submit" in capsys.readouterr().err
    assert world.snapshot() == before


def _verify(world: World, name: str) -> list[str]:
    return ["verify", name, "--quick", "--device", "cpu", "--store", str(world.store), "--results", str(world.results)]


def test_verify_passes_on_honest_records_including_a_sandboxed_submission(
    world: World, submitted: tuple[str, dict[str, bytes]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*_verify(world, "standard"), "--n", "100", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    checks = {c["score"]: c for c in report["checks"]}
    assert report["ok"] and {"clean_accuracy", "pgd_accuracy"} <= set(checks)
    assert checks["clean_accuracy"]["basis"] == checks["pgd_accuracy"]["basis"] == "record's per-image results"
    assert report["weights_match"] is True
    # The submission ships code: verify re-scores its artifact and never imports the module.
    assert main([*_verify(world, "gaussian_noise"), "--n", "100"]) == 0
    assert "scores agree with the record within tolerance" in capsys.readouterr().out


@pytest.mark.parametrize("tamper", ["value", "value_and_per_image"])
def test_verify_fails_on_a_tampered_record(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str], tamper: str
) -> None:
    results = tmp_path / "results"
    shutil.copytree(world.results, results)
    path = results / "mnist5k" / "standard.quick.json"
    rec = read_record(path)
    correct = list(rec.details["clean"]["correct"])
    if tamper == "value_and_per_image":  # a consistent forgery: flip wrong answers to right ones
        correct = [1 if i % 2 == 0 else c for i, c in enumerate(correct)]
    clean = rec.scores["clean_accuracy"]
    forged = sum(correct) / len(correct) if tamper != "value" else min(1.0, clean.value + 0.2)
    rec = rec.model_copy(
        update={
            "scores": {**rec.scores, "clean_accuracy": clean.model_copy(update={"value": forged})},
            "details": {**rec.details, "clean": {**rec.details["clean"], "correct": correct}},
        }
    )
    write_record(rec, results)
    args = ["verify", "standard", "--quick", "--device", "cpu", "--store", str(world.store), "--results", str(results)]
    assert main([*args, "--stages", "clean"]) == 1
    out = capsys.readouterr().out
    assert "MISMATCH" in out and "FAILED: mismatch in Clean acc." in out
    if tamper == "value":
        assert "differs from its per-image results' mean" in out
