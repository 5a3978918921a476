"""The build: the only process where an entry's own code runs. It turns an entry into a model artifact.

Parent side (:func:`build_artifact`): writes the track's **training split** (never the evaluation images)
and a copy of the entry folder into a fresh scratch folder, runs the build child there under the
submission's time and memory limits and the chosen isolation (:mod:`bench.frontends.isolation`), then checks what
came back without running it (safetensors header, sha256, the graph's schema, operators and weights) and installs
it as an artifact entry — a checkpoint manifest plus its files — under ``<store>/artifacts/<sha256>/``.

Child side (:func:`build_main`): imports the entry's module, then

- a **recipe** (``[defense] module``): builds, trains (the track's budget, seed and engine) and wraps the
  model. When the defense keeps the track's architecture and the identity ``wrap``, the artifact is
  safetensors weights for that registered architecture; otherwise it is an exported graph;
- a **checkpoint with a model module** (``[checkpoint] module``, any PyTorch architecture): calls its
  ``factory(track)``, loads the checked safetensors weights strictly and exports the graph.

The scorer only ever reads the artifact (:mod:`bench.artifact`).
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from bench.artifact import ArtifactError, artifact_sha256, check_graph_artifact, export_graph
from bench.checkpoint import MAX_CHECKPOINT_BYTES, check_safetensors_header, sha256_bytes
from bench.entries import Entry
from bench.frontends.isolation import Isolation
from bench.frontends.safe_files import UnsafeFileError, kind, open_folder, read_regular
from bench.frontends.sandbox import Limits, SandboxResult, run_limited
from bench.graph_format import MAX_GRAPH_BYTES
from bench.results.atomic import atomic_write_bytes, atomic_write_json
from bench.track import Track, load_track

if TYPE_CHECKING:
    from bench.running.progress import ProgressEvent

log = logging.getLogger(__name__)

WEIGHTS = "model.safetensors"
GRAPH = "graph.json"
META = "artifact.json"
TRAIN = "train.safetensors"
JOB = "job.json"
MAX_META_BYTES = 1 << 20
MAX_WEIGHTS_BYTES = 1 << 30  # RLIMIT_FSIZE of the build (Limits.file_bytes) keeps it from writing more anyway
CARD_FIELDS = ("title", "authors", "venue", "year", "url", "summary", "fidelity", "reconstructed")


class BuildError(RuntimeError):
    """The build failed or returned something that is not a valid artifact."""

    def __init__(self, message: str, result: SandboxResult | None = None) -> None:
        super().__init__(message)
        self.result = result


@dataclass(frozen=True)
class Built:
    """An installed artifact: the artifact entry's folder, its sha256 and what the build reported about itself
    (its card and its training: the entry's claims)."""

    folder: Path
    sha256: str
    kind: str
    architecture: str
    card: dict[str, Any]
    claimed_training: dict[str, Any]
    isolation: str
    result: SandboxResult


# ------------------------------------------------------------------------------------------ parent side
def build_artifact(
    entry: Entry,
    track: Track,
    *,
    store: Path,
    quick: bool,
    limits: Limits,
    isolation: Isolation,
    scratch: Path,
    data_root: str | None = None,
    device: str = "cpu",
    echo: IO[str] | None = None,
    on_progress: Callable[[ProgressEvent], None] | None = None,
) -> Built:
    """Build ``entry`` in ``scratch`` under ``isolation`` and install its artifact (see the module docstring).
    ``on_progress`` receives the training steps the child reports (parsed strictly: numbers only)."""
    from safetensors.torch import save

    from bench.running.runner import track_data

    data = track_data(track.name, data_root)
    (scratch / "in").mkdir(parents=True)
    (scratch / "out").mkdir()
    atomic_write_bytes(scratch / "in" / TRAIN, save({"x": data.train_x.contiguous(), "y": data.train_y.contiguous()}))
    # Links are copied as links: the parent never follows one out of the entry folder on the build's behalf, and
    # never opens anything but a regular file there (a FIFO would block it, a device could have side effects).
    shutil.copytree(Path(entry.folder or "."), scratch / "in" / "entry", symlinks=True, copy_function=_copy_regular)
    job = {"entry": entry.to_payload(), "track": track.name, "quick": quick, "device": device}
    atomic_write_json(scratch / "in" / JOB, job)
    scratch.chmod(0o700)
    result = run_limited(
        [isolation.workdir],
        limits,
        echo=echo,
        device=device,
        target="build",
        wrapper=isolation.wrapper,
        env=isolation.env,
        cwd=scratch,
        on_progress=on_progress,
    )
    if result.timed_out or result.returncode != 0:
        raise BuildError(f"the build of {entry.name!r} {result.explain(limits)}", result)
    return install_artifact(entry, track, scratch / "out", store, isolation.name, result)


def _copy_regular(src: str, dst: str) -> str:
    mode = os.lstat(src).st_mode
    if not stat.S_ISREG(mode):
        raise BuildError(f"the entry folder holds {src}, {kind(mode)}: only regular files, folders and links")
    return str(shutil.copy2(src, dst))


def _read_output(out_fd: int, filename: str, name: str, cap: int) -> bytes:
    """A file the build wrote, read without following links, never blocking, at most ``cap`` bytes."""
    try:
        return read_regular(out_fd, filename, cap)
    except UnsafeFileError as exc:
        raise BuildError(f"the build of {name!r} returned an unusable output: {exc}") from None


def _read_meta(out_fd: int, name: str) -> dict[str, Any]:
    raw = _read_output(out_fd, META, name, MAX_META_BYTES)
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise BuildError(f"the build of {name!r} wrote an unreadable {META}: {exc}") from None
    if not isinstance(meta, dict) or meta.get("kind") not in ("weights", "graph"):
        raise BuildError(f"the build of {name!r} wrote a {META} without a valid 'kind'")
    return meta


def _clean_card(card: object) -> dict[str, Any]:
    if not isinstance(card, Mapping):
        return {}
    out: dict[str, Any] = {}
    for k in CARD_FIELDS:
        v = card.get(k)
        if isinstance(v, bool | int) or (isinstance(v, str) and len(v) <= 2000):
            out[k] = v
    return out


def _number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _clean_training(reported: object) -> dict[str, Any]:
    """The build's account of its training, reduced to known keys with finite numbers. It is the entry's claim,
    never robex's measurement: the record keeps it apart (``entry.claimed_training``)."""
    if not isinstance(reported, Mapping):
        return {}
    out: dict[str, Any] = {"trained": reported.get("trained") is True}
    out.update({k: reported[k] for k in ("steps", "epochs") if _number(reported.get(k))})
    runs = reported.get("runs")
    if isinstance(runs, list):
        out["runs"] = [
            {k: v for k, v in r.items() if k in ("epochs", "steps", "lr") and _number(v)}
            for r in runs[:20]
            if isinstance(r, Mapping)
        ]
    return out


def install_artifact(
    entry: Entry, track: Track, out: Path, store: Path, isolation: str, result: SandboxResult
) -> Built:
    """Check a build's output folder ``out`` without running it or following a link, and install it as an
    artifact entry."""
    try:
        with open_folder(out) as fd:
            return _install(entry, track, fd, store, isolation, result)
    except UnsafeFileError as exc:
        raise BuildError(f"the build of {entry.name!r} returned an unusable output folder: {exc}") from None


def _install(entry: Entry, track: Track, out_fd: int, store: Path, isolation: str, result: SandboxResult) -> Built:
    import tomli_w

    from bench.models import build_architecture

    meta = _read_meta(out_fd, entry.name)
    weights = _read_output(out_fd, WEIGHTS, entry.name, min(MAX_WEIGHTS_BYTES, MAX_CHECKPOINT_BYTES))
    try:
        check_safetensors_header(weights, f"{entry.name}: built {WEIGHTS}")
    except ValueError as exc:
        raise BuildError(str(exc)) from None
    wsha = sha256_bytes(weights)
    spec: dict[str, Any] = {"file": WEIGHTS, "sha256": wsha, "randomized": meta.get("randomized") is True}
    graph = None
    if meta["kind"] == "graph":
        graph = _read_output(out_fd, GRAPH, entry.name, MAX_GRAPH_BYTES)
        try:
            check_graph_artifact(graph, weights, f"{entry.name}: built {GRAPH}", spec["randomized"])
        except ArtifactError as exc:
            raise BuildError(str(exc)) from None
        spec.update(graph=GRAPH, graph_sha256=sha256_bytes(graph))
        architecture = "exported graph"
    else:
        architecture = track.architecture
        spec["architecture"] = architecture
        from safetensors.torch import load as st_load

        from bench.checkpoint import CheckpointError, load_weights

        try:
            tensors = st_load(weights)
        except Exception as exc:  # safetensors raises its own error types
            raise BuildError(f"the build of {entry.name!r} returned unreadable weights: {exc}") from None
        try:
            load_weights(build_architecture(architecture, track), tensors, entry.name)
        except CheckpointError as exc:
            raise BuildError(
                f"the build of {entry.name!r} returned weights that do not fit {architecture}: {exc}"
            ) from None
    digest = artifact_sha256(wsha, spec.get("graph_sha256"))
    m = entry.manifest
    manifest = {
        k: v
        for k, v in m.model_dump(mode="json").items()
        if k in ("name", "title", "authors", "paper_url", "venue", "license", "track", "description", "claimed")
    }
    manifest["checkpoint"] = spec
    folder = store / "artifacts" / digest
    atomic_write_bytes(folder / WEIGHTS, weights)
    if graph is not None:
        atomic_write_bytes(folder / GRAPH, graph)
    atomic_write_bytes(folder / "entry.toml", tomli_w.dumps(manifest).encode())
    claimed = _clean_training(meta.get("training"))
    return Built(folder, digest, meta["kind"], architecture, _clean_card(meta.get("card")), claimed, isolation, result)


def scratch_folder() -> Path:
    """A fresh private scratch folder for one build."""
    return Path(tempfile.mkdtemp(prefix="robex-build-"))


# ------------------------------------------------------------------------------------------ child side
def _export(model: nn.Module, example: Tensor, out: Path, meta: dict[str, Any]) -> None:
    from safetensors.torch import save

    graph, tensors = export_graph(model.cpu().eval(), example, bool(meta.get("randomized")))
    atomic_write_bytes(out / GRAPH, graph)
    atomic_write_bytes(out / WEIGHTS, save(tensors))
    atomic_write_json(out / META, {**meta, "kind": "graph"})


def _build_recipe(entry: Entry, track: Track, job: Mapping[str, Any], x: Tensor, y: Tensor, out: Path) -> None:
    from bench.checkpoint import state_dict_bytes
    from bench.protocols import Defense
    from bench.running.progress import step_reporter
    from bench.running.training import FitContext, seeded

    defense = entry.defense(track)
    assert defense is not None
    with seeded(track.seed):
        model = defense.build_model()
    fit = FitContext(
        track=track,
        train_x=x,
        train_y=y,
        budget=track.training_budget(quick=bool(job["quick"])),
        seed=track.seed,
        device=torch.device(str(job.get("device", "cpu"))),
        on_step=step_reporter("train"),
    )
    model = defense.fit(model, fit).cpu().eval()
    meta = {
        "card": dict(defense.card.__dict__),
        "randomized": bool(defense.randomized),
        "training": {"trained": True, "steps": fit.total_steps(), "epochs": fit.budget.epochs, "runs": fit.runs},
    }
    plain = type(defense).wrap is Defense.wrap and type(defense).build_model is Defense.build_model
    if plain:
        atomic_write_bytes(out / WEIGHTS, state_dict_bytes(model))
        atomic_write_json(out / META, {**meta, "kind": "weights"})
    else:
        _export(defense.wrap(model), x[:2], out, meta)


def _build_module_checkpoint(entry: Entry, track: Track, x: Tensor, out: Path) -> None:
    import importlib.util

    from bench.checkpoint import load_weights, read_checkpoint

    ck = entry.manifest.checkpoint
    assert ck is not None and ck.module is not None
    spec = importlib.util.spec_from_file_location(f"robex_model_{entry.name.replace('-', '_')}", entry.file(ck.module))
    if spec is None or spec.loader is None:
        raise ArtifactError(f"cannot import {ck.module}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    factory = getattr(module, ck.factory, None)
    if not callable(factory):
        raise ArtifactError(f"{ck.module} has no callable {ck.factory!r}")
    model = factory(track, **ck.architecture_kwargs)
    if not isinstance(model, nn.Module):
        raise ArtifactError(f"{ck.module}:{ck.factory} returned {type(model).__name__}, not a torch.nn.Module")
    load_weights(model, read_checkpoint(entry.file(ck.file), ck.sha256), f"entry {entry.name!r}")
    _export(model, x[:2], out, {"randomized": ck.randomized, "training": {"trained": False}})


def build_main(argv: list[str]) -> int:
    """The build child: ``<scratch>`` holds ``in/`` (job, training split, entry copy) and ``out/``."""
    from safetensors.torch import load_file

    from bench.running.progress import show_progress_lines

    show_progress_lines()  # training steps as machine lines the parent parses (bench.running.progress)
    scratch = Path(argv[0])
    job = json.loads((scratch / "in" / JOB).read_text())
    payload = dict(job["entry"])
    payload["folder"] = str(scratch / "in" / "entry")
    entry = Entry.from_payload(payload)
    track = load_track(str(job["track"]))
    train = load_file(str(scratch / "in" / TRAIN))
    out = scratch / "out"
    if entry.manifest.defense is not None:
        from bench.hyperparameters import HyperparameterError

        try:
            entry.defense(track)  # the class the module registers validates the hyperparameters again
        except HyperparameterError as exc:  # one line naming the field, not a traceback
            sys.stderr.write(f"robex: build refused: field 'defense.hyperparameters.{exc.name}': {exc.detail}\n")
            return 2
        _build_recipe(entry, track, job, train["x"], train["y"], out)
    else:
        _build_module_checkpoint(entry, track, train["x"], out)
    return 0
