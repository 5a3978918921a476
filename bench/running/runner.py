"""The runner: entries × stages → cells, keyed by a hash of everything that determines their output,
executed (locally or on Ray) with finished cells cached in a :class:`~bench.running.store.CellStore`, then
assembled into one record per entry.

A cell that raises is recorded as that entry's stage error; it never takes the run down, and cells that
depend on it are skipped with a reason. Errors are not cached, so a re-run retries them.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from bench.data import TrackData, load_track_data
from bench.entries import Entry
from bench.plugins import STAGES
from bench.protocols import Defense, Scope, Stage, StageOutput
from bench.running.store import CellMeta, CellStore
from bench.track import Track, canonical_json, load_track

log = logging.getLogger(__name__)


DEFAULT_THREADS = 1
"""Intra-op CPU threads per cell unless a run says otherwise: one, so a record is reproduced bit for bit on any
machine, by any executor, with any number of workers."""


@dataclass(frozen=True)
class RunSpec:
    """Everything a cell needs besides its own description; picklable, so it can travel to Ray workers."""

    track: str
    entries: tuple[dict[str, Any], ...]
    store: str
    quick: bool = False
    device: str = "cpu"
    data_root: str | None = None
    stages: tuple[str, ...] | None = None  # None: every registered stage
    threads: int | None = DEFAULT_THREADS  # intra-op CPU threads per cell (in every cell key): one float order
    max_images: int | None = None  # cap every stage's ``n`` setting (``robex verify`` re-runs a cheap subset)
    checkpoints: str | None = None  # folder of published checkpoints (bench.published): used instead of training
    retrain: bool = False  # train every recipe entry even when a published checkpoint matches
    publish: bool = False  # write each baseline trained in this run into ``checkpoints``
    base_store: str | None = None  # a store read through and never written (the isolated scorer's view)

    def entry_objects(self) -> dict[str, Entry]:
        """Entries by name."""
        return {e.name: e for e in (Entry.from_payload(p) for p in self.entries)}

    def cell_store(self) -> CellStore:
        """The run's store: ``store``, reading through to ``base_store`` when one is given."""
        return CellStore(self.store, base=self.base_store)


@dataclass(frozen=True)
class Cell:
    """One unit of work: a stage for an entry (or a (source, target) pair)."""

    stage: str
    entry: str
    source: str | None
    key: str
    deps: tuple[str, ...]
    settings: Mapping[str, Any]
    level: int

    @property
    def label(self) -> str:
        """Human-readable ``stage:entry`` or ``stage:source->target``."""
        return f"{self.stage}:{self.source}->{self.entry}" if self.source else f"{self.stage}:{self.entry}"


def _hash(obj: Any) -> str:
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()


def with_requirements(stages: Sequence[str]) -> list[str]:
    """``stages`` and every stage they require, transitively, sorted by name."""
    out: set[str] = set()
    todo = list(stages)
    while todo:
        s = todo.pop()
        if s not in out:
            out.add(s)
            todo.extend(STAGES.get(s).requires)
    return sorted(out)


def stage_settings(stage: Stage, track: Track, spec: RunSpec) -> dict[str, Any]:
    """The settings of ``stage`` in this run (they go into its cell keys): the track's, with ``n`` capped at
    ``spec.max_images``."""
    settings = stage.settings(track, spec.quick)
    if spec.max_images is not None and "n" in settings:
        settings = {**settings, "n": min(int(settings["n"]), spec.max_images)}
    return settings


def stage_list(spec: RunSpec) -> list[type[Stage]]:
    """Stages of the run, ordered by their ``order`` then name; ``train`` always included."""
    names = STAGES.names() if spec.stages is None else sorted({"train", *spec.stages})
    classes = [STAGES.get(n) for n in names]
    return sorted(classes, key=lambda s: (s.order, s.name))


def _levels(stages: list[type[Stage]]) -> dict[str, int]:
    by_name = {s.name: s for s in stages}

    @functools.cache
    def level(name: str) -> int:
        s = by_name[name]
        deps = [level(d) for d in s.requires if d in by_name]
        return (max(deps) + 1 if deps else 0) + (1 if s.scope is Scope.PAIR else 0)

    return {n: level(n) for n in by_name}


def plan_cells(spec: RunSpec) -> list[Cell]:
    """All cells of a run in dependency order (cells of one level are independent of each other)."""
    track = load_track(spec.track)
    entries = spec.entry_objects()
    stages = stage_list(spec)
    levels = _levels(stages)
    keys: dict[tuple[str, str], str] = {}
    cells: list[Cell] = []
    base = {
        "track": track.id,
        "seed": track.seed,
        "subset": track.eval_subset.sha256,
        "quick": spec.quick,
        "threads": spec.threads,  # float sums depend on it: cells computed with other thread counts are not reused
    }
    for stage_cls in sorted(stages, key=lambda s: (levels[s.name], s.order, s.name)):
        stage = stage_cls()
        settings = stage_settings(stage, track, spec)
        for s in stage.requires:
            if s not in levels:
                raise ValueError(f"stage {stage.name!r} requires stage {s!r}, which is not part of the run")
        if stage.scope is Scope.ENTRY:
            for name, entry in sorted(entries.items()):
                deps = tuple(keys[(d, name)] for d in stage.requires)
                recipe = entry.recipe_fingerprint(track) if stage.name == "train" else None
                cell_settings = {**settings, **stage.planned(spec, track, entry, settings)}
                key = _hash(
                    {
                        **base,
                        "stage": stage.name,
                        "v": stage.version,
                        "settings": cell_settings,
                        "deps": deps,
                        "recipe": recipe,
                    }
                )
                keys[(stage.name, name)] = key
                cells.append(Cell(stage.name, name, None, key, deps, cell_settings, levels[stage.name]))
        else:
            for source in sorted(entries):
                for target in sorted(entries):
                    deps = (*tuple(keys[d, source] for d in stage.requires), keys["train", target])
                    key = _hash({**base, "stage": stage.name, "v": stage.version, "settings": settings, "deps": deps})
                    cells.append(Cell(stage.name, target, source, key, deps, settings, levels[stage.name]))
    return cells


# ------------------------------------------------------------------------------------------- cell context
@functools.lru_cache(maxsize=4)
def track_data(track: str, data_root: str | None) -> TrackData:
    """A track's data, cached per process (cells of one run share it)."""
    return load_track_data(load_track(track), data_root)


class CellContext:
    """What a stage's ``run`` sees. Models, data and dependency outputs are loaded lazily and cached.

    Attributes:
        spec: The run.
        cell: The cell being computed.
        track: The track.
        settings: The stage's settings for this run (quick-aware).
        device: Where to compute.
        entry: The entry the cell belongs to (the *target* of a PAIR cell).
        source: The source entry of a PAIR cell, else ``None``.
    """

    def __init__(
        self,
        spec: RunSpec,
        cell: Cell,
        keys: Mapping[tuple[str, str], str],
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self.spec = spec
        self.cell = cell
        self.track = load_track(spec.track)
        self.settings: dict[str, Any] = dict(cell.settings)
        self.quick = spec.quick
        self.device = torch.device(spec.device)
        self.entry = cell.entry
        self.source = cell.source
        self._keys = keys
        self._entries = spec.entry_objects()
        self._store = spec.cell_store()
        self._progress = progress

    # data
    @property
    def data(self) -> TrackData:
        """The track's training data and evaluation subset (CPU tensors)."""
        return track_data(self.spec.track, self.spec.data_root)

    def eval_batch(self, n: int | None = None) -> tuple[Tensor, Tensor]:
        """The first ``n`` evaluation images (default ``settings['n']``) and labels, on the device."""
        x, y = self.data.eval_batch(n if n is not None else self.settings.get("n"))
        return x.to(self.device), y.to(self.device)

    # entries and models
    def entry_object(self, entry: str | None = None) -> Entry:
        """The :class:`~bench.entries.Entry` called ``entry`` (default: the cell's)."""
        return self._entries[entry or self.entry]

    def defense(self, entry: str | None = None) -> Defense | None:
        """The entry's defense object (``None`` for checkpoint entries)."""
        return self.entry_object(entry).defense(self.track)

    def randomized(self, entry: str | None = None) -> bool:
        """Whether the entry's model is randomised (attacks must use EOT)."""
        ck = self.entry_object(entry).manifest.checkpoint
        if ck is not None:
            return ck.randomized
        d = self.defense(entry)
        return bool(d is not None and d.randomized)

    def model(self, entry: str | None = None) -> nn.Module:
        """The entry's trained model (eval mode, on the device, inference wrapper applied).

        A fresh module each call, so a stage may fine-tune it (manipulation) without affecting others.
        """
        name = entry or self.entry
        return load_entry_model(self.spec, self._entries[name], self.dependency("train", name).tensors, self.device)

    def dependency(self, stage: str, entry: str | None = None) -> StageOutput:
        """Output of ``stage`` for ``entry`` (default: the source of a PAIR cell, else the cell's entry)."""
        name = entry or self.source or self.entry
        key = self._keys[(stage, name)]
        return self._store.get(key)

    # randomness and progress
    def generator(self, *keys: object) -> torch.Generator:
        """A CPU generator seeded from (track seed, stage, entry, source, keys): every draw is reproducible."""
        material = canonical_json([self.track.seed, self.cell.stage, self.entry, self.source, *map(str, keys)])
        seed = int.from_bytes(hashlib.sha256(material.encode()).digest()[:8], "little") & ((1 << 63) - 1)
        return torch.Generator(device="cpu").manual_seed(seed)

    def progress(self, done: int, total: int) -> None:
        """Report progress within the cell (drives the progress bar)."""
        if self._progress is not None:
            self._progress(done, total)


def load_entry_model(spec: RunSpec, entry: Entry, weights: Mapping[str, Tensor], device: torch.device) -> nn.Module:
    """Rebuild an entry's model from the weights its train cell stored."""
    from bench.checkpoint import load_weights

    track = load_track(spec.track)
    defense = entry.defense(track)
    if defense is not None:
        model = defense.build_model()
    else:
        ck = entry.manifest.checkpoint
        assert ck is not None
        if ck.graph is not None:  # a graph artifact: its structure comes from the verified graph file
            model, _ = entry.build_checkpoint_model(track)
        else:
            from bench.models import build_architecture

            model = build_architecture(ck.architecture, track, **ck.architecture_kwargs)
    load_weights(model, dict(weights), f"entry {entry.name!r}")
    if defense is not None:
        model = defense.wrap(model)
    return model.to(device).eval()


# ------------------------------------------------------------------------------------------- execution
@dataclass(frozen=True)
class CellResult:
    """Outcome of executing one cell."""

    key: str
    label: str
    ok: bool
    cached: bool
    error: str = ""
    wall_time_s: float = 0.0


def all_keys(cells: Iterable[Cell]) -> dict[tuple[str, str], str]:
    """(stage, entry) → key for ENTRY cells."""
    return {(c.stage, c.entry): c.key for c in cells if c.source is None}


def execute_cell(
    spec: RunSpec, cell: Cell, keys: Mapping[tuple[str, str], str], progress: Callable[[int, int], None] | None = None
) -> CellResult:
    """Compute one cell unless it is already in the store; never raises for a failing stage."""
    store = spec.cell_store()
    if store.has(cell.key):
        return CellResult(cell.key, cell.label, ok=True, cached=True)
    start = time.perf_counter()
    try:
        missing = [k for k in cell.deps if not store.has(k)]
        if missing:
            raise DependencyFailedError(f"{cell.label}: a cell it depends on did not finish")
        ctx = CellContext(spec, cell, keys, progress)
        with pinned_threads(spec.threads):
            output = STAGES.create(cell.stage).run(ctx)
        if not isinstance(output, StageOutput):
            raise TypeError(f"stage {cell.stage!r} returned {type(output).__name__}, not StageOutput")
        wall = time.perf_counter() - start
        store.put(cell.key, output, CellMeta(cell.stage, cell.entry, cell.source, wall, spec.device))
        return CellResult(cell.key, cell.label, ok=True, cached=False, wall_time_s=wall)
    except DependencyFailedError as exc:
        return CellResult(cell.key, cell.label, ok=False, cached=False, error=str(exc))
    except Exception as exc:  # a crashing entry is recorded, not fatal
        log.warning("cell %s failed: %s", cell.label, exc)
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        return CellResult(
            cell.key, cell.label, ok=False, cached=False, error=detail, wall_time_s=time.perf_counter() - start
        )


@contextlib.contextmanager
def pinned_threads(threads: int | None) -> Iterator[None]:
    """Run with ``threads`` intra-op CPU threads (the run's protocol), restoring the process's count after."""
    if not threads:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class DependencyFailedError(RuntimeError):
    """A cell's dependency is missing from the store (it failed or was skipped)."""


# ------------------------------------------------------------------------------------------- records
@dataclass
class RecordDraft:
    """An entry's outputs gathered from the store, before finalizers and serialisation."""

    entry: Entry
    outputs: dict[str, StageOutput] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    wall_time_s: dict[str, float] = field(default_factory=dict)
    cell_keys: dict[str, str] = field(default_factory=dict)
    images: dict[str, int] = field(default_factory=dict)

    def score(self, name: str) -> float | None:
        """Value of score ``name`` from any stage, or ``None``."""
        for out in self.outputs.values():
            for s in out.scores:
                if s.name == name:
                    return s.value
        return None
