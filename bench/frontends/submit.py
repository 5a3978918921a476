"""``robex submit PATH``: validate an entry, build it in isolation, score the artifact, install its record.

1. The manifest is validated (:mod:`bench.manifest`; errors name the field and the expected form), then
   everything the parent can check without running entry code: the track, a registered defense and its
   hyperparameters, a shipped module's file, a checkpoint's sha256 and safetensors header (never
   unpickled), the claimed scores' names, and that the name is free.
2. **Build** (entries that ship code only: a defense module, or a model module for any architecture): the
   entry's code runs in an isolated child (:mod:`bench.frontends.isolation`: bubblewrap namespaces, no network, no
   host files but read-only system and Python folders, the training split only, a scratch folder as the
   only writable place, a cleared environment, the time and memory limits) and produces a model artifact
   (:mod:`bench.frontends.build`, :mod:`bench.artifact`), installed under ``<store>/artifacts/<sha256>/``. Where
   isolation is unavailable the entry is refused, unless the maintainer passes ``allow_unisolated``.
3. **Score** (:mod:`bench.frontends.scoring`): the baselines' missing cells are computed first (robex's own
   code), then ``robex run --entry-dir ARTIFACT`` (the track's protocol, with its baselines for the transfer
   stages) runs in the scorer's sandbox: it never imports entry code (``$ROBEX_NO_ENTRY_CODE``), sees the store
   and the artifact read-only and no record, and writes its cells to a staging folder. The parent accepts only
   the entry's own cells from there, checked (:mod:`bench.frontends.staging`), and assembles the record itself.
4. Only the parent writes records and cells: when the entry's record is not ``failed``, that one record
   (with the artifact's sha256 and the build's isolation in its provenance, the build's account of its
   training as the entry's claim) is installed atomically; the site is re-rendered and the entry's rank is
   reported. On every failure the existing records stay untouched; a JSON log of the attempt is written under
   the store (``<store>/submissions/<track>/<entry>.json``).

Other entries' records are not rewritten: the new entry's transfer row and column live in its own record,
and the site's heatmap reads both directions.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from bench.frontends.admission import EvaluationFailedError as EvaluationFailedError
from bench.frontends.admission import SubmissionError as SubmissionError
from bench.frontends.admission import validate_entry as validate_entry
from bench.frontends.safe_files import remove_tree
from bench.frontends.sandbox import GIB as GIB
from bench.frontends.sandbox import MIN_MEMORY_BYTES as MIN_MEMORY_BYTES
from bench.frontends.sandbox import SANDBOX_ENV as SANDBOX_ENV
from bench.frontends.sandbox import Limits as Limits
from bench.frontends.sandbox import SandboxResult as SandboxResult
from bench.frontends.sandbox import run_limited as run_limited
from bench.frontends.scoring import ScoreJob, ensure_baselines, score_entry
from bench.results.records import write_record

if TYPE_CHECKING:
    from bench.entries import Entry
    from bench.frontends.build import Built
    from bench.results.records import Record
    from bench.running.progress import PhaseReporter
    from bench.track import Track


@dataclass(frozen=True)
class SubmitReport:
    """What a successful submission did."""

    entry: str
    track: str
    record: Path
    status: str
    errors: dict[str, str]
    rank: int | None
    ranked_total: int
    rank_reason: str
    sort_score: str | None
    sort_title: str
    site: Path | None
    log: Path
    wall_time_s: float
    notes: list[str] = field(default_factory=list)
    quick: bool = False

    def summary(self) -> str:
        """Human-readable lines for the CLI."""
        lines = [f"Record: {self.record}"]
        if self.errors:
            lines.append(f"Status {self.status}; stage errors:")
            lines += [f"  {k}: {v.splitlines()[-1] if v else ''}" for k, v in sorted(self.errors.items())]
        if self.quick:  # quick records are never ranked, so no rank is printed (not even among quick ones)
            lines.append(f"{self.entry} is a quick-mode record on {self.track}: never ranked.")
        elif self.rank is not None:
            by = self.sort_title.rstrip(".")  # titles may end in an abbreviation's period ("PGD acc.")
            lines.append(f"{self.entry} ranks {self.rank} of {self.ranked_total} on {self.track} by {by}.")
        else:
            lines.append(f"{self.entry} is not ranked on {self.track}: {self.rank_reason}.")
        lines += self.notes
        if self.site is not None:
            quick_page = self.site.parent / "quick.html"
            page = quick_page if self.quick and quick_page.is_file() else self.site
            lines.append(f"Leaderboard: {page.resolve()}")
        return "\n".join(lines)


def _write_log(store: Path, track: str, name: str, payload: Mapping[str, Any]) -> Path:
    from bench.results.atomic import atomic_write_json

    path = store / "submissions" / track / f"{name}.json"
    atomic_write_json(path, payload)
    return path


def _build(
    entry: Entry,
    track: Track,
    store: Path,
    quick: bool,
    device: str,
    data_root: str | None,
    limits: Limits,
    allow_unisolated: bool,
    echo: IO[str] | None,
    reporter: PhaseReporter,
) -> Built | None:
    """Entries that ship code: build their artifact in isolation (``None`` for entries without code)."""
    from bench.frontends.build import BuildError, build_artifact, scratch_folder
    from bench.frontends.isolation import IsolationUnavailableError, choose_isolation

    if not entry.ships_code:
        reporter.note(f"submit {entry.name}: no code to build (a checkpoint for a registered architecture)")
        return None
    scratch = scratch_folder()
    try:
        try:
            isolation = choose_isolation(
                scratch, allow_unisolated=allow_unisolated, data_root=data_root, device=device, limits=limits
            )
        except IsolationUnavailableError as exc:
            raise SubmissionError(str(exc)) from None
        what = "training its recipe" if entry.manifest.defense is not None else "exporting its network"
        shown = reporter.phase("build", f"submit {entry.name}: {what} in the isolated build ({isolation.name})")
        try:
            return build_artifact(
                entry,
                track,
                store=store,
                quick=quick,
                limits=limits,
                isolation=isolation,
                scratch=scratch,
                data_root=data_root,
                device=device,
                echo=echo,
                on_progress=shown,
            )
        except BuildError as exc:
            tail = exc.result.output_tail if exc.result is not None else ""
            payload = {"entry": entry.name, "track": track.name, "status": "refused", "error": str(exc)}
            where = _write_log(
                store, track.name, entry.name, {**payload, "output_tail": tail, "limits": asdict(limits)}
            )
            last = "\n".join(tail.strip().splitlines()[-15:])
            raise EvaluationFailedError(
                f"{exc}. No record was written. Log: {where}" + (f"\nLast output:\n{last}" if last else "")
            ) from None
    finally:
        remove_tree(scratch)


def _build_log(built: Built | None) -> dict[str, Any] | None:
    if built is None:
        return None
    return {
        "artifact": str(built.folder),
        "sha256": built.sha256,
        "kind": built.kind,
        "isolation": built.isolation,
        "wall_time_s": round(built.result.wall_time_s, 3),
        "output_tail": built.result.output_tail,
    }


def _result_log(result: SandboxResult) -> dict[str, Any]:
    return {
        "returncode": result.returncode,
        "timed_out": result.timed_out,
        "wall_time_s": round(result.wall_time_s, 3),
        "output_tail": result.output_tail,
    }


def _with_provenance(record: Record, entry: Entry, built: Built | None) -> Record:
    """The record of an artifact, told what was submitted: the entry as its manifest states it (a recipe stays a
    recipe), the defense's card, the artifact's sha256 and how the build was isolated. What the build said of its
    own training is kept as the entry's claim (``entry.claimed_training``), never in robex's ``details.train``."""
    from bench.running.assemble import entry_info
    from bench.running.runner import RecordDraft

    ck = entry.manifest.checkpoint
    if built is None:
        digest = entry.artifact_sha256() if ck is not None else ""
        return record.model_copy(
            update={"provenance": record.provenance.model_copy(update={"artifact_sha256": digest})}
        )
    info = entry_info(RecordDraft(entry=entry), built.architecture, built.card)
    info = info.model_copy(update={"claimed_training": dict(built.claimed_training)})
    provenance = record.provenance.model_copy(update={"artifact_sha256": built.sha256, "isolation": built.isolation})
    train = dict(record.details.get("train", {}))
    details = {**record.details, "train": {**train, "artifact": built.kind}}
    return record.model_copy(update={"entry": info, "provenance": provenance, "details": details})


def submit(
    path: str | Path,
    *,
    results_root: str | Path | None = None,
    site: str | Path | None = None,
    store: str | Path | None = None,
    quick: bool = False,
    device: str = "auto",
    data_root: str | None = None,
    stages: Sequence[str] | None = None,
    baselines: Sequence[str] | None = None,
    limits: Limits | None = None,
    replace: bool = False,
    publish_site: bool = True,
    echo: IO[str] | None = None,
    allow_unisolated: bool = False,
    reporter: PhaseReporter | None = None,
) -> SubmitReport:
    """Validate, build in isolation, score the artifact, install the record, re-render the site; see the
    module docstring.

    Records go to ``results_root``, by default where ``robex run`` writes (``$ROBEX_RESULTS`` or the user data
    folder: :func:`~bench.results.places.user_results_root`), never into the clone unless named; the site to
    ``site``, by default ``site`` beside the records folder (never another folder's site). ``baselines`` limits
    which baseline entries join the run (default: all of the track's); their cells come from the store when they
    were computed before. ``allow_unisolated`` lets an entry's code run without isolation where none works (the
    record says so). Progress — each step, and within the build and the scorer each stage with the time left — goes
    to the ``bench.progress`` logger (:class:`~bench.running.progress.PhaseReporter`; ``robex submit`` shows it on
    stderr).
    """
    from bench.frontends.api import resolve_device
    from bench.results.places import user_results_root
    from bench.running.progress import PhaseReporter
    from bench.running.store import default_store

    lim = limits or Limits()
    root = Path(results_root) if results_root else user_results_root()
    store_root = (Path(store) if store else default_store()).resolve()
    entry, track = validate_entry(path, root, quick=quick, replace=replace)
    chosen = _chosen_baselines(track, baselines)
    dev = resolve_device(device)
    shown = reporter or PhaseReporter()
    shown.note(f"submit {entry.name}: admitted on {track.name} (baselines alongside: {', '.join(chosen) or 'none'})")
    start = time.perf_counter()
    built = _build(entry, track, store_root, quick, dev, data_root, lim, allow_unisolated, echo, shown)
    scored_folder = built.folder if built is not None else Path(entry.folder or ".").resolve()
    job = ScoreJob(entry, track, scored_folder, chosen, store_root, quick, dev, data_root, stages, lim, echo, shown)
    log: dict[str, Any] = {"entry": entry.name, "track": track.name, "limits": asdict(lim), "build": _build_log(built)}
    record = _score(job, log)
    installed = write_record(_with_provenance(record, entry, built), root)
    log.update(status="installed", record=str(installed))
    where = _write_log(store_root, track.name, entry.name, log)
    notes = _notes(quick, log["staging"]["refused_count"], where)
    site_index = _publish(root, site, notes) if publish_site else None
    return _report(root, record, installed, site_index, where, start, notes)


def _chosen_baselines(track: Track, baselines: Sequence[str] | None) -> list[str]:
    """The baselines that join the run: all of the track's by default; unknown names are refused."""
    from bench.entries import load_entries

    known = [e.name for e in load_entries(track)]
    chosen = known if baselines is None else list(baselines)
    unknown = sorted(set(chosen) - set(known))
    if unknown:
        raise SubmissionError(f"--baselines: {unknown} are not baseline entries of {track.name!r} ({known})")
    return chosen


def _score(job: ScoreJob, log: dict[str, Any]) -> Record:
    """The baselines' missing cells, then the entry in the scorer's sandbox; the entry's record, or
    :class:`EvaluationFailedError` (the log written) on any failure."""
    job.store.mkdir(parents=True, exist_ok=True)  # the scorer's sandbox binds it (read-only)
    failure, record = ensure_baselines(job), None
    if failure is None:
        scored = score_entry(job)
        log.update(_result_log(scored.result), **scored.log)
        failure, record = scored.failure, scored.record
    if failure is None and record is not None:
        return record
    log.update(status="refused", error=failure)
    where = _write_log(job.store, job.track.name, job.entry.name, log)
    tail = "\n".join(str(log.get("output_tail", "")).strip().splitlines()[-15:])
    raise EvaluationFailedError(
        f"{failure}. No record was written. Log: {where}" + (f"\nLast output:\n{tail}" if tail else "")
    )


def _notes(quick: bool, refused: int, log: Path) -> list[str]:
    notes = ["(quick mode: the record is listed apart on the site's quick.html; it never enters the leaderboard)"]
    notes = notes if quick else []
    if refused:
        notes.append(f"the scorer left {refused} file(s) that were refused, none of them used (listed in {log})")
    return notes


def _publish(root: Path, site: str | Path | None, notes: list[str]) -> Path | None:
    """Render the site of ``root`` (into ``site``, by default ``site`` beside it); a failure is a note."""
    from bench.frontends.api import publish

    try:
        return publish(root, site)
    except (ValueError, OSError) as exc:  # e.g. another, malformed record: ours is installed regardless
        notes.append(f"the record is installed but the site could not be rendered: {exc}")
        return None


def _report(
    root: Path, record: Record, installed: Path, site: Path | None, log: Path, start: float, notes: list[str]
) -> SubmitReport:
    """The report of an installed record: where it ranks among its track's records."""
    from bench.plugins import SCORES
    from bench.results.compare import track_records
    from bench.results.ranking import DEFAULT_SORT, ranking, sort_score

    records = track_records(root, record.track, quick=record.quick)
    score = sort_score(records, DEFAULT_SORT)
    higher = SCORES.get(score).higher_is_better if score and score in SCORES else True
    placed = ranking(records, score, higher, include_quick=record.quick)
    mine = next(p for p in placed if p.record.name == record.entry.name)
    return SubmitReport(
        entry=record.entry.name,
        track=record.track,
        record=installed,
        status=record.status,
        errors=dict(record.errors),
        rank=mine.rank,
        ranked_total=sum(1 for p in placed if p.rank is not None),
        rank_reason=mine.reason,
        sort_score=score,
        sort_title=SCORES.get(score).title if score and score in SCORES else str(score),
        site=site,
        log=log,
        wall_time_s=time.perf_counter() - start,
        notes=notes,
        quick=record.quick,
    )
