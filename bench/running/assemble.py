"""Turn finished cells into one :class:`~bench.results.records.Record` per entry."""

from __future__ import annotations

import platform
import sys
from collections.abc import Mapping
from importlib import metadata
from typing import Literal

from bench.plugins import FINALIZERS, STAGES
from bench.protocols import Scope, StageOutput
from bench.results.records import EntryInfo, FlagRecord, Provenance, Record, ReferenceRecord, ScoreRecord
from bench.running.runner import Cell, CellResult, RecordDraft, RunSpec
from bench.running.verdicts import stage_failed
from bench.track import load_track

PACKAGES = ("robex", "torch", "torchvision", "timm", "pyautoattack", "captum", "numpy", "safetensors")


def package_versions() -> dict[str, str]:
    """Versions of the packages that can change numbers, plus Python's."""
    out = {"python": platform.python_version()}
    for p in PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = "not installed"
    return out


def entry_info(draft: RecordDraft, architecture: str, card: Mapping[str, object]) -> EntryInfo:
    """The record's ``entry`` section."""
    m = draft.entry.manifest
    return EntryInfo(
        name=m.name,
        title=m.title,
        authors=m.authors,
        paper_url=m.paper_url,
        venue=m.venue,
        license=m.license,
        description=m.description,
        kind=m.kind,
        defense=m.defense.name if m.defense else None,
        hyperparameters=dict(m.defense.hyperparameters) if m.defense else {},
        architecture=architecture,
        card=dict(card),
        claimed=dict(m.claimed),
        baseline=m.baseline,
        references=[ReferenceRecord(**r.model_dump()) for r in m.references],
    )


def _merge(draft: RecordDraft, stage: str, out: StageOutput) -> None:
    draft.outputs[stage] = out


def assemble(spec: RunSpec, cells: list[Cell], results: Mapping[str, CellResult]) -> list[Record]:
    """Records for every entry of the run, from the store (PAIR stages via their ``summarize``)."""
    track = load_track(spec.track)
    store = spec.cell_store()
    entries = spec.entry_objects()
    drafts = {name: RecordDraft(entry=e) for name, e in entries.items()}
    pair_outputs: dict[str, dict[tuple[str, str], StageOutput]] = {}
    for cell in cells:
        res = results.get(cell.key)
        ok = store.has(cell.key)
        if cell.source is None:
            d = drafts[cell.entry]
            d.cell_keys[cell.stage] = cell.key
            if ok:
                _merge(d, cell.stage, store.get(cell.key, with_tensors=False))
                d.wall_time_s[cell.stage] = round(store.meta(cell.key).wall_time_s, 3)
                if "n" in cell.settings:
                    d.images[cell.stage] = int(cell.settings["n"])
            else:
                d.errors[cell.stage] = res.error if res else "not run"
        elif ok:
            pair_outputs.setdefault(cell.stage, {})[(cell.source, cell.entry)] = store.get(cell.key, with_tensors=False)
            meta = store.meta(cell.key)
            for name in {cell.entry}:
                d = drafts[name]
                d.wall_time_s[cell.stage] = round(d.wall_time_s.get(cell.stage, 0.0) + meta.wall_time_s, 3)
        else:
            drafts[cell.entry].errors[f"{cell.stage}:{cell.source}"] = res.error if res else "not run"
    for stage_name, outputs in sorted(pair_outputs.items()):
        stage = STAGES.create(stage_name)
        assert stage.scope is Scope.PAIR
        for name, d in drafts.items():
            _merge(d, stage_name, stage.summarize(name, outputs))
    records = []
    versions = package_versions()
    for _name, d in sorted(drafts.items()):
        for fname in FINALIZERS.names():
            try:
                out = FINALIZERS.get(fname)(d)
            except Exception as exc:  # a finalizer bug must not lose the record
                d.errors[f"finalize:{fname}"] = f"{type(exc).__name__}: {exc}"
                continue
            _merge(d, f"finalize:{fname}", out)
        records.append(build_record(spec, track, d, versions))
    return records


def build_record(spec: RunSpec, track: object, d: RecordDraft, versions: dict[str, str]) -> Record:
    """Serialise a finished draft."""
    from bench.track import Track

    assert isinstance(track, Track)
    scores: dict[str, ScoreRecord] = {}
    details: dict[str, object] = {}
    flags: list[FlagRecord] = []
    for stage, out in d.outputs.items():
        for s in out.scores:
            scores[s.name] = ScoreRecord(value=float(s.value), n=int(s.n), ci_low=s.ci_low, ci_high=s.ci_high)
        if out.details:
            details[stage] = dict(out.details)
        flags.extend(
            FlagRecord(
                name=f.name,
                message=f.message,
                severity=f.severity.value,
                evidence={k: float(v) for k, v in f.evidence.items()},
            )
            for f in out.flags
        )
    crashed = stage_failed(d.errors)
    if crashed is not None:  # a stage that crashed leaves a visible failure, never a quietly partial record
        flags.append(
            FlagRecord(
                name=crashed.name,
                message=crashed.message,
                severity=crashed.severity.value,
                evidence={k: float(v) for k, v in crashed.evidence.items()},
            )
        )
    train = d.outputs.get("train")
    train_details = dict(train.details) if train else {}
    defense = d.entry.defense(track)
    card = defense.card.__dict__ if defense is not None else {}
    failed = "train" in d.errors or not scores
    status: Literal["ok", "partial", "failed"] = "ok" if not d.errors else ("failed" if failed else "partial")
    return Record(
        track=track.name,
        entry=entry_info(d, str(train_details.get("architecture", d.entry.architecture(track))), card),
        quick=spec.quick,
        status=status,
        errors=dict(sorted(d.errors.items())),
        scores=dict(sorted(scores.items())),
        details=details,
        flags=sorted(flags, key=lambda f: (f.severity != "fail", f.name)),
        provenance=Provenance(
            seed=track.seed,
            track_version=track.version,
            track_sha256=track.fingerprint(),
            subset_sha256=track.eval_subset.sha256,
            checkpoint_sha256=str(train_details.get("sha256", "")),
            packages=versions,
            device=f"{spec.device} ({platform.machine()}, {sys.platform}, {spec.threads or '?'} threads)",
            wall_time_s=dict(sorted(d.wall_time_s.items())),
            cell_keys=dict(sorted(d.cell_keys.items())),
            images=dict(sorted(d.images.items())),
        ),
    )
