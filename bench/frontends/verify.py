"""``robex verify NAME``: re-run a cheap subset of an entry's evaluation and check its record's numbers.

Every entry-scope stage behind the record's scores (clean, white-box, ARA, explanations, ...) runs again on
the first ``n`` images of the track's evaluation subset (default 200; the stage's own ``n`` when smaller),
on the entry's weights (the store's train cell, or trained/loaded again), in a fresh cell store. Pair stages
(transfer) need every other entry and are not re-run; they are listed as not verified.

Verification never runs an entry's own code (``$ROBEX_NO_ENTRY_CODE`` is set while it runs): an entry
built from code is re-scored from its **artifact** (``<store>/artifacts/<sha256>/``, or ``--artifact``),
whose sha256 is derived again from the files' bytes and must equal the record's ``artifact_sha256``. So
neither entry code that patched the scorer when the record was made nor a swapped artifact can make the
re-run agree with the record. The re-run itself — where weights and artifacts are loaded — happens in the
scorer's sandbox (:mod:`bench.frontends.rescore`); this process only compares its outputs with the record.

How each re-run score is checked against the record (its tolerance): :mod:`bench.frontends.verify_checks`.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bench.frontends.rescore import VerificationError as VerificationError
from bench.frontends.rescore import rescore
from bench.frontends.verify_checks import ScoreCheck as ScoreCheck
from bench.frontends.verify_checks import VerifyReport as VerifyReport
from bench.frontends.verify_checks import check_score as check_score
from bench.frontends.verify_checks import tolerance as tolerance

if TYPE_CHECKING:
    from bench.entries import Entry
    from bench.protocols import StageOutput
    from bench.results.records import Record
    from bench.track import Track


def artifact_entry(record: Record, folder: Path) -> Entry:
    """The artifact entry in ``folder``, after deriving its sha256 again from the files' bytes."""
    from bench.artifact import artifact_sha256
    from bench.checkpoint import sha256_bytes
    from bench.entries import Entry
    from bench.manifest import load_manifest

    m = load_manifest(folder)
    ck = m.checkpoint
    if ck is None or ck.module is not None or m.name != record.entry.name:
        raise VerificationError(f"{folder}: not the artifact of {record.entry.name!r}")
    entry = Entry(m, str(folder))
    weights = sha256_bytes(entry.file(ck.file).read_bytes())
    graph = sha256_bytes(entry.file(ck.graph).read_bytes()) if ck.graph is not None else None
    derived = artifact_sha256(weights, graph)
    if derived != record.provenance.artifact_sha256:
        raise VerificationError(
            f"{folder}: the artifact's sha256 is {derived}, the record's {record.provenance.artifact_sha256}: "
            "this is not the artifact the record was computed from"
        )
    return entry


def resolve_entry(record: Record, track: Track, entry_dir: str | Path | None, artifact: Path | None = None) -> Entry:
    """The entry behind a record: its artifact (entries built from code), ``entry_dir``'s manifest, a
    baseline manifest, or (for a recipe with a registered defense) a manifest rebuilt from the record."""
    from bench.entries import Entry, load_entries
    from bench.manifest import load_manifest, parse_manifest
    from bench.plugins import DEFENSES

    if record.provenance.isolation:  # built from the entry's code: only its artifact is ever scored
        if artifact is None or not (artifact / "entry.toml").is_file():
            raise VerificationError(f"the artifact of {record.entry.name!r} is not at {artifact}; pass --artifact")
        return artifact_entry(record, artifact)
    if entry_dir is not None:
        p = Path(entry_dir)
        m = load_manifest(p)
        if m.name != record.entry.name:
            raise VerificationError(f"{p}: manifest is for {m.name!r}, the record for {record.entry.name!r}")
        entry = Entry(m, str(p if p.is_dir() else p.parent))
        if entry.ships_code:
            raise VerificationError(
                f"{p}: this entry ships code, and its record has no artifact to re-score; submit it again"
            )
        if record.provenance.artifact_sha256 and entry.artifact_sha256() != record.provenance.artifact_sha256:
            raise VerificationError(f"{p}: its checkpoint is not the artifact the record was computed from")
        return entry
    for e in load_entries(track):
        if e.name == record.entry.name:
            return e
    info = record.entry
    if info.kind == "recipe" and info.defense is not None and info.defense in DEFENSES:
        m = parse_manifest(
            {
                "name": info.name,
                "title": info.title,
                "authors": info.authors,
                "track": record.track,
                "defense": {"name": info.defense, "hyperparameters": dict(info.hyperparameters)},
            },
            where=f"record of {info.name!r}",
        )
        return Entry(m, None)
    raise VerificationError(
        f"entry {info.name!r} is not a baseline and its record alone cannot rebuild it; pass --entry-dir PATH"
    )


def _finalized(
    entry: Entry, outputs: dict[str, StageOutput], report: VerifyReport, record: Record | None = None
) -> dict[str, StageOutput]:
    """Scores the finalizers derive from the re-run outputs (those needing absent stages are skipped).

    Stages that were not re-run (the pair stage ``transfer``) enter from the record's details, so cross-stage
    scores such as the per-image robust minimum take the recorded transfer sets into the worst case on the
    re-run's image prefix instead of silently leaving them out; the report says which stages came from the
    record."""
    from bench.plugins import FINALIZERS, STAGES
    from bench.protocols import Scope, StageOutput
    from bench.running.runner import RecordDraft

    inputs = dict(outputs)
    if record is not None:  # pair stages only: an entry stage the user left out stays out
        recorded = [
            s
            for s, d in record.details.items()
            if s not in inputs and s in STAGES and STAGES.get(s).scope is not Scope.ENTRY and d
        ]
        for stage in recorded:
            inputs[stage] = StageOutput(details=dict(record.details[stage]))
        if recorded:
            report.notes.append(f"finalizers read {', '.join(sorted(recorded))} from the record (not re-run)")
    draft = RecordDraft(entry=entry, outputs=inputs)
    extra: dict[str, StageOutput] = {}
    for name in FINALIZERS.names():
        try:
            extra[f"finalize:{name}"] = FINALIZERS.get(name)(draft)
        except Exception as exc:  # a finalizer needing transfer results cannot run on a partial draft
            report.notes.append(f"finalizer {name} not re-run: {type(exc).__name__}: {exc}")
    return extra


def verify(
    name: str,
    *,
    track: str | None = None,
    n: int = 200,
    results_root: str | Path | None = None,
    store: str | Path | None = None,
    device: str = "auto",
    data_root: str | None = None,
    entry_dir: str | Path | None = None,
    artifact: str | Path | None = None,
    stages: Sequence[str] | None = None,
    quick: bool = False,
    z: float = 3.29,
    slack: float = 0.02,
    allow_unisolated: bool = False,
) -> VerifyReport:
    """Re-run the cheap subset and check every score it reproduces; see the module docstring.

    The record is looked up in ``results_root``, by default in the user's records (where ``robex run`` and
    ``robex submit`` write) and then in the clone's committed ones (:func:`bench.results.places.record_roots`).
    ``allow_unisolated``: re-score an entry built from code even where bubblewrap cannot run (said in the report)."""
    with _no_entry_code():
        return _verify(
            name,
            track=track,
            n=n,
            results_root=results_root,
            store=store,
            device=device,
            data_root=data_root,
            entry_dir=entry_dir,
            artifact=artifact,
            stages=stages,
            quick=quick,
            z=z,
            slack=slack,
            allow_unisolated=allow_unisolated,
        )


@contextlib.contextmanager
def _no_entry_code() -> Iterator[None]:
    from bench.entries import NO_ENTRY_CODE_ENV

    before = os.environ.get(NO_ENTRY_CODE_ENV)
    os.environ[NO_ENTRY_CODE_ENV] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(NO_ENTRY_CODE_ENV, None)
        else:
            os.environ[NO_ENTRY_CODE_ENV] = before


def _verify(
    name: str,
    *,
    track: str | None,
    n: int,
    results_root: str | Path | None,
    store: str | Path | None,
    device: str,
    data_root: str | None,
    entry_dir: str | Path | None,
    artifact: str | Path | None,
    stages: Sequence[str] | None,
    quick: bool,
    z: float,
    slack: float,
    allow_unisolated: bool,
) -> VerifyReport:
    from bench.frontends.api import resolve_device
    from bench.plugins import STAGES
    from bench.protocols import Scope
    from bench.results.compare import find_record_in
    from bench.results.places import record_roots
    from bench.results.records import record_path
    from bench.results.scores import info_for, score_infos
    from bench.running.store import default_store
    from bench.track import load_track

    if n < 1:
        raise ValueError("--n must be positive")
    record, root = find_record_in(record_roots(results_root), name, track=track, quick=quick)
    t = load_track(record.track)
    store_root = Path(store) if store else default_store()
    digest = record.provenance.artifact_sha256
    where = Path(artifact) if artifact else (store_root / "artifacts" / digest if digest else None)
    entry = resolve_entry(record, t, entry_dir, where)
    report = VerifyReport(entry=record.entry.name, track=record.track, n=n)
    report.notes.append(f"record: {record_path(root, record.track, record.entry.name, quick=record.quick)}")
    ran = [s for s in record.provenance.cell_keys if s != "train" and s in STAGES]
    chosen = [s for s in ran if STAGES.get(s).scope is Scope.ENTRY]
    if stages:
        unknown = sorted(set(stages) - set(chosen))
        if unknown:
            raise VerificationError(f"--stages {unknown}: not entry stages of this record ({chosen})")
        chosen = [s for s in chosen if s in stages]
    skipped = sorted(set(record.details) - set(chosen) - {"train"} - {s for s in record.details if ":" in s})
    if skipped:
        report.notes.append(f"not re-run: {', '.join(skipped)} (pair stages need every other entry, or not chosen)")
    outputs = rescore(
        record,
        entry,
        chosen,
        n=n,
        store=store_root,
        device=resolve_device(device),
        data_root=data_root,
        report=report,
        allow_unisolated=allow_unisolated,
    )
    outputs.update(_finalized(entry, outputs, report, record))
    infos = score_infos()
    seen: set[str] = set()
    for out in outputs.values():
        for s in out.scores:
            if s.name in seen or s.name not in record.scores or not math.isfinite(s.value):
                continue
            seen.add(s.name)
            info = info_for(s.name, infos)
            report.checks.append(
                check_score(record, s.name, s.value, s.n, unit=info.unit, title=info.title, z=z, slack=slack)
            )
    report.checks.sort(key=lambda c: (info_for(c.score, infos).order, c.score))
    unchecked = sorted(set(record.scores) - seen)
    if unchecked:
        report.notes.append(f"scores not re-computed: {', '.join(unchecked)}")
    return report
