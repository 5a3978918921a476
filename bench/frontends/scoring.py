"""``robex submit``'s evaluation: the baselines' cells first, then the entry in the isolated scorer, then the
parent's checks; only the parent writes to the store and assembles the entry's record.

1. **Baselines** (:func:`ensure_baselines`): the baselines' own cells (robex's code on robex's entries; nothing
   of the submission) are computed into the store by a limited ``robex run`` when some are missing, so the
   scorer finds every one of them there.
2. **Scorer** (:func:`score_entry`): ``robex run --entry-dir ARTIFACT`` in the scorer's sandbox
   (:func:`bench.frontends.isolation.scorer_isolation`): the store, the artifact and the dataset root read-only,
   no record visible, ``$ROBEX_NO_ENTRY_CODE`` set; it reads cells through to the store (``--base-store``) and
   writes new ones to ``<staging>/store``, its record drafts to ``<staging>/records``.
3. **Checks** (:func:`bench.frontends.staging.accept_cells`): only the entry's own cells, passing the store's checks,
   reach the store; everything else in staging is refused and listed in the submission log.
4. **Record**: the parent assembles the entry's record itself from the store (:func:`bench.running.assemble.assemble`
   on the cells it planned for the entry). From the scorer's draft it takes only the stage error messages and the
   device line, as text.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from bench.frontends.cli_options import to_argv
from bench.frontends.safe_files import UnsafeFileError, read_file, remove_tree
from bench.frontends.sandbox import Limits, SandboxResult, run_limited

if TYPE_CHECKING:
    from bench.entries import Entry
    from bench.results.records import Record
    from bench.running.progress import PhaseReporter, ProgressEvent
    from bench.running.runner import Cell, RunSpec
    from bench.track import Track

log = logging.getLogger(__name__)

MAX_DRAFT_BYTES = 64 << 20
MAX_ERROR_CHARS = 4000


@dataclass(frozen=True)
class ScoreJob:
    """What the scorer evaluates: ``entry`` (as submitted) from the folder ``scored`` (its artifact, or the entry
    folder when it ships no code), beside ``baselines``, under ``limits``."""

    entry: Entry
    track: Track
    scored: Path
    baselines: Sequence[str]
    store: Path
    quick: bool
    device: str
    data_root: str | None
    stages: Sequence[str] | None
    limits: Limits
    echo: IO[str] | None = None
    reporter: PhaseReporter | None = None

    def spec(self, names: Sequence[str], extra: Sequence[Path] = ()) -> RunSpec:
        """The run the scorer makes (or its baselines-only part), planned here exactly as it plans it."""
        from bench.entries import load_entries
        from bench.running.runner import RunSpec

        entries = load_entries(self.track, list(names), list(extra)) if names else []
        return RunSpec(
            track=self.track.name,
            entries=tuple(e.to_payload() for e in entries),
            store=str(self.store),
            quick=self.quick,
            device=self.device,
            data_root=self.data_root,
            stages=tuple(self.stages) if self.stages else None,
        )

    def phase(self, name: str, text: str) -> Callable[[ProgressEvent], None] | None:
        """Announce phase ``name`` of the submission; the callback showing its child's progress (if reported)."""
        return self.reporter.phase(name, f"submit {self.entry.name}: {text}") if self.reporter else None

    def argv(self, **values: Any) -> list[str]:
        """``robex run`` arguments common to both children, plus ``values`` (progress as machine lines when a
        reporter shows it)."""
        from bench.data import resolve_root

        # The scorer's environment is cleared and its working directory is its staging folder: paths are absolute.
        root = resolve_root(self.data_root)
        return to_argv(
            "run",
            track=self.track.name,
            **values,
            no_site=True,
            progress_style="json" if self.reporter is not None else "none",
            device=self.device,
            quick=self.quick,
            stages=list(self.stages) if self.stages else None,
            data_root=str(Path(root).resolve()) if root is not None else None,
        )


@dataclass
class Scored:
    """What the evaluation did: the parent's record of the entry (``None`` on failure, then ``failure`` says why)
    and what the submission log keeps."""

    record: Record | None
    failure: str | None
    result: SandboxResult
    log: dict[str, Any] = field(default_factory=dict)


def ensure_baselines(job: ScoreJob) -> str | None:
    """Compute the baselines' missing cells into the store (see the module docstring); the failure, if any."""
    from bench.running.runner import plan_cells

    if not job.baselines:
        return None
    spec = job.spec(job.baselines)
    store = spec.cell_store()
    if all(store.has(c.key) for c in plan_cells(spec)):
        return None
    on_progress = job.phase("baselines", f"computing the missing cells of {len(job.baselines)} baseline(s)")
    with tempfile.TemporaryDirectory(prefix="robex-baselines-") as records:
        argv = job.argv(entries=list(job.baselines), store=str(job.store), results=records)
        result = run_limited(argv, job.limits, echo=job.echo, device=job.device, on_progress=on_progress)
    if result.timed_out or result.returncode not in (0, 3):
        return f"the baselines' evaluation {result.explain(job.limits)}"
    return None


def _draft(records: Path, job: ScoreJob) -> tuple[dict[str, str], str] | None:
    """The stage errors and the device line of the scorer's draft of the entry's record (``None``: no draft)."""
    from bench.results.records import record_path

    path = record_path(records, job.track.name, job.entry.name, quick=job.quick)
    try:
        data = json.loads(read_file(path, MAX_DRAFT_BYTES))
    except (UnsafeFileError, FileNotFoundError, NotADirectoryError, UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(data, Mapping):
        return None
    errors = data.get("errors")
    provenance = data.get("provenance")
    device = provenance.get("device") if isinstance(provenance, Mapping) else None
    texts = {str(k)[:200]: str(v)[:MAX_ERROR_CHARS] for k, v in errors.items()} if isinstance(errors, Mapping) else {}
    return texts, device[:200] if isinstance(device, str) else ""


def _assemble(job: ScoreJob, spec: RunSpec, mine: Mapping[str, Cell], errors: Mapping[str, str], device: str) -> Record:
    """The entry's record, assembled here from the store's cells (error messages from the scorer's draft)."""
    from bench.running.assemble import assemble
    from bench.running.runner import CellResult

    store = spec.cell_store()
    results = {}
    for key, c in mine.items():
        message = errors.get(f"{c.stage}:{c.source}" if c.source else c.stage, "not computed by the scorer")
        ok = store.has(key)
        results[key] = CellResult(key, c.label, ok=ok, cached=False, error="" if ok else message)
    record = next(r for r in assemble(spec, list(mine.values()), results) if r.entry.name == job.entry.name)
    if device:
        record = record.model_copy(update={"provenance": record.provenance.model_copy(update={"device": device})})
    return record


def _unused(staging: Path, job: ScoreJob) -> tuple[list[str], list[str]]:
    """Staging files other than the staging store: (refused, ignored) — the drafts of the baselines' records,
    which the scorer writes as every ``robex run`` does, are ignored; anything else is refused."""
    from bench.results.records import record_path

    refused, ignored = [], []
    drafts = {
        record_path(staging / "records", job.track.name, n, quick=job.quick) for n in [*job.baselines, job.entry.name]
    }
    for root, dirs, files in os.walk(staging):
        here = Path(root)
        if here == staging:
            dirs[:] = [d for d in dirs if d != "store"]
        for name in [*files, *(d for d in dirs if (here / d).is_symlink())]:
            path = here / name
            rel = str(path.relative_to(staging))
            if path in drafts and not path.is_symlink():
                if path.stem.split(".")[0] != job.entry.name:
                    ignored.append(f"{rel}: a baseline's draft record (never read)")
            else:
                refused.append(f"{rel}: not an expected scorer output")
    return refused, ignored


def _capped(lines: list[str], most: int = 200) -> list[str]:
    """At most ``most`` lines for the log (a scorer could leave any number of files), saying how many were left out."""
    return lines if len(lines) <= most else [*lines[:most], f"… and {len(lines) - most} more"]


def score_entry(job: ScoreJob) -> Scored:
    """Score the entry in the isolated scorer and assemble its record; see the module docstring."""
    from bench.frontends.isolation import scorer_isolation
    from bench.frontends.staging import accept_cells
    from bench.running.runner import plan_cells

    name = job.entry.name
    spec = job.spec([*job.baselines, name], [job.scored])
    mine = {c.key: c for c in plan_cells(spec) if name in (c.entry, c.source)}
    staging = Path(tempfile.mkdtemp(prefix="robex-submit-"))
    try:
        argv = job.argv(
            entry_dir=[str(job.scored)],
            entries=[*job.baselines, name],
            store=str(staging / "store"),
            base_store=str(job.store),
            results=str(staging / "records"),
        )
        readable = [job.store] + ([] if job.store in job.scored.parents else [job.scored])
        iso = scorer_isolation(staging, readable, data_root=job.data_root, device=job.device, limits=job.limits)
        on_progress = job.phase("scorer", f"scoring {name} in the scorer's sandbox ({iso.name})")
        result = run_limited(
            argv,
            job.limits,
            echo=job.echo,
            device=job.device,
            env=iso.env,
            wrapper=iso.wrapper,
            cwd=iso.workdir,
            on_progress=on_progress,
        )
        staged = accept_cells(staging / "store", job.store, mine, job.limits.file_bytes)
        refused, ignored = _unused(staging, job)
        draft = _draft(staging / "records", job)
    finally:
        remove_tree(staging)
    staged.refused += refused
    if staged.refused:
        log.warning("the scorer of %r left %d refused file(s), e.g. %s", name, len(staged.refused), staged.refused[0])
    scored = Scored(None, None, result, {"scorer": {"isolation": iso.name, "command": ["robex", *argv]}})
    shown = {k: _capped(v) for k, v in asdict(staged).items()}
    scored.log["staging"] = {**shown, "refused_count": len(staged.refused), "ignored": _capped(ignored)}
    if result.timed_out or result.returncode not in (0, 3):
        scored.failure = f"the evaluation of {name!r} {result.explain(job.limits)}"
    elif draft is None:
        scored.failure = f"the evaluation of {name!r} finished without writing its record"
    else:
        scored.record = _assemble(job, spec, mine, *draft)
        if scored.record.status == "failed":
            errs = "; ".join(
                f"{k}: {v.strip().splitlines()[-1] if v.strip() else 'failed'}"
                for k, v in sorted(scored.record.errors.items())
            )
            scored.failure, scored.record = f"the evaluation of {name!r} failed: {errs}", None
    return scored
