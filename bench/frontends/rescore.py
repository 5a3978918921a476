"""``robex verify``'s re-run of an entry's stages, in the scorer's sandbox.

The parent (:func:`rescore`) writes a job — the record, the entry, the stages, ``n`` — into a fresh staging folder
and runs :func:`rescore_main` under the scorer's isolation (:func:`bench.frontends.isolation.scorer_isolation`: the
store, the entry's folder or artifact and the dataset root read-only, no record visible, the staging folder
writable, ``$ROBEX_NO_ENTRY_CODE`` set). The child loads the entry's weights or artifact and re-runs the stages on
the first ``n`` images in a fresh store inside its private ``/tmp`` (:func:`rerun_outputs`), then writes their
outputs (scores, details, flags; no tensors) and the weights' sha256 as JSON. The parent reads that file without
following a link and within a size cap, and does every comparison with the record itself: the child's word never
decides whether a record passes, and nothing it loads can write a record or a cell.

Where bubblewrap cannot run, an entry built from code is not re-scored unless the maintainer allows an unisolated
re-run (``--allow-unisolated``, said in the report); other entries are re-run unisolated, with a note.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.frontends.safe_files import UnsafeFileError, read_file, remove_tree
from bench.frontends.sandbox import Limits, run_limited
from bench.frontends.verify_checks import VerifyReport

if TYPE_CHECKING:
    from bench.entries import Entry
    from bench.protocols import StageOutput
    from bench.results.records import Record

JOB = "job.json"
OUT = "outputs.json"
MAX_OUTPUT_BYTES = 256 << 20


class VerificationError(ValueError):
    """The record cannot be verified (no manifest, no weights, no isolation, a failed re-run, ...)."""


def rerun_outputs(
    record: Record,
    entry: Entry,
    stages: Sequence[str],
    *,
    n: int,
    store: Path,
    device: str,
    data_root: str | None,
    report: VerifyReport,
) -> tuple[dict[str, StageOutput], str]:
    """Outputs of ``stages`` re-run on the first ``n`` images, in a fresh store (weights from ``store``), and the
    sha256 of the weights they ran on."""
    from bench.plugins import STAGES
    from bench.protocols import Scope
    from bench.results.places import published_checkpoints_root
    from bench.running.runner import DEFAULT_THREADS, RunSpec, execute_cell, plan_cells, with_requirements
    from bench.running.store import CellMeta, CellStore

    # The runner plans the re-run: the track's settings with every stage's ``n`` capped, keyed as any run.
    spec = RunSpec(
        track=record.track,
        entries=(entry.to_payload(),),
        store=str(store),
        quick=record.quick,
        device=device,
        data_root=data_root,
        stages=tuple(with_requirements(["train", *stages])),
        max_images=n,
        checkpoints=str(published_checkpoints_root()),  # a baseline is re-scored from its published weights
        threads=DEFAULT_THREADS,
    )
    cells = {c.stage: c for c in plan_cells(spec) if c.source is None}
    train = cells["train"]
    if record.provenance.cell_keys.get("train") not in (None, train.key):
        report.notes.append("the train cell's key differs from the record's (track or recipe changed since)")
    # A checkpoint (or built artifact) is loaded again from its files, never taken from the store's cache; the
    # store is only read (its cells are read through, new ones go to a private store).
    scratch = Path(tempfile.mkdtemp(prefix="robex-verify-weights-"))
    base = None if entry.manifest.checkpoint else str(store)
    try:
        wspec = RunSpec(**{**spec.__dict__, "store": str(scratch), "base_store": base})
        res = execute_cell(wspec, train, {("train", entry.name): train.key})
        if not res.ok:
            raise VerificationError(f"could not obtain the entry's weights: {res.error}")
        trained = CellStore(scratch, base=base).get(train.key)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix="robex-verify-") as tmp:
        fresh = CellStore(tmp)
        fresh.put(train.key, trained, CellMeta("train", entry.name, None, 0.0, device))
        vspec = RunSpec(**{**spec.__dict__, "store": tmp})
        keys = {(c.stage, entry.name): c.key for c in cells.values()}
        outputs: dict[str, StageOutput] = {}
        ordered = sorted((cells[s] for s in spec.stages or () if s != "train"), key=lambda c: (c.level, c.stage))
        for cell in ordered:
            if STAGES.get(cell.stage).scope is not Scope.ENTRY:
                continue
            result = execute_cell(vspec, cell, keys)
            if not result.ok:
                report.errors.append(f"stage {cell.stage} failed on re-run: {result.error}")
                continue
            outputs[cell.stage] = fresh.get(cell.key, with_tensors=False)
    return outputs, str(trained.details.get("sha256", ""))


def rescore_main(argv: list[str]) -> int:
    """The re-run child: ``argv[0]`` is the staging folder holding the job; the outputs are written beside it."""
    from bench.entries import Entry
    from bench.results.atomic import atomic_write_json
    from bench.results.records import Record
    from bench.running.store import output_to_json

    staging = Path(argv[0])
    job = json.loads((staging / JOB).read_text())
    record = Record.model_validate(job["record"])
    report = VerifyReport(entry=record.entry.name, track=record.track, n=int(job["n"]))
    try:
        outputs, sha = rerun_outputs(
            record,
            Entry.from_payload(job["entry"]),
            list(job["stages"]),
            n=int(job["n"]),
            store=Path(job["store"]),
            device=str(job["device"]),
            data_root=job["data_root"],
            report=report,
        )
    except VerificationError as exc:
        outputs, sha = {}, ""
        report.errors.append(str(exc))
    payload = {"outputs": {k: output_to_json(v) for k, v in outputs.items()}, "weights_sha256": sha}
    atomic_write_json(staging / OUT, {**payload, "notes": report.notes, "errors": report.errors})
    return 0


def _texts(value: object) -> list[str]:
    return [str(v)[:4000] for v in value[:100]] if isinstance(value, list) else []


def _read_outputs(path: Path, chosen: Sequence[str], report: VerifyReport) -> tuple[dict[str, StageOutput], str]:
    """The child's outputs, read and typed here; a chosen stage without an output is an error of the report."""
    from bench.running.store import output_from_json

    try:
        data = json.loads(read_file(path, MAX_OUTPUT_BYTES))
        outputs = {str(k): output_from_json(v) for k, v in data["outputs"].items() if k in chosen}
    except (UnsafeFileError, FileNotFoundError, ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
        raise VerificationError(f"the re-run returned no readable outputs ({type(exc).__name__}: {exc})") from None
    report.notes += _texts(data.get("notes"))
    report.errors += _texts(data.get("errors"))
    for stage in chosen:
        if stage not in outputs and not any(f"stage {stage} " in e for e in report.errors):
            report.errors.append(f"stage {stage} returned no output on re-run")
    sha = data.get("weights_sha256")
    return outputs, sha if isinstance(sha, str) else ""


def rescore(
    record: Record,
    entry: Entry,
    chosen: Sequence[str],
    *,
    n: int,
    store: Path,
    device: str,
    data_root: str | None,
    report: VerifyReport,
    limits: Limits | None = None,
    allow_unisolated: bool = False,
) -> dict[str, StageOutput]:
    """Re-run ``chosen`` in the scorer's sandbox and return their outputs; see the module docstring."""
    from bench.data import resolve_root
    from bench.frontends.isolation import scorer_isolation
    from bench.results.atomic import atomic_write_json

    lim = limits or Limits()
    folder = Path(entry.folder).resolve() if entry.folder else None  # the child works in its staging folder
    root = resolve_root(data_root)
    staging = Path(tempfile.mkdtemp(prefix="robex-verify-"))
    try:
        job: dict[str, Any] = {
            "record": record.model_dump(mode="json"),
            "entry": {**entry.to_payload(), "folder": str(folder) if folder else None},
            "stages": list(chosen),
            "n": n,
            "store": str(store.resolve()),
            "device": device,
            "data_root": str(Path(root).resolve()) if root is not None else None,
        }
        atomic_write_json(staging / JOB, job)
        readable = [store] + ([folder] if folder else [])
        iso = scorer_isolation(staging, readable, data_root=data_root, device=device, limits=lim)
        if not iso.isolated:
            if record.provenance.isolation and not allow_unisolated:
                raise VerificationError(
                    f"{record.entry.name!r} was built from its own code and its artifact is re-scored only in "
                    f"isolation, but {iso.problem}; pass --allow-unisolated to "
                    "re-score it without isolation"
                )
            report.notes.append(f"re-run without isolation: {iso.name}")
        result = run_limited(
            [str(staging)], lim, device=device, target="rescore", env=iso.env, wrapper=iso.wrapper, cwd=iso.workdir
        )
        if result.timed_out or result.returncode != 0:
            last = result.output_tail.strip().splitlines()[-1:] or [""]
            raise VerificationError(f"the re-run {result.explain(lim)}: {last[0]}")
        outputs, sha = _read_outputs(staging / OUT, chosen, report)
    finally:
        remove_tree(staging)
    _weights_note(record, sha, report)
    return outputs


def _weights_note(record: Record, sha: str, report: VerifyReport) -> None:
    if not record.provenance.checkpoint_sha256:
        return
    report.weights_match = sha == record.provenance.checkpoint_sha256
    if not report.weights_match:
        report.notes.append(
            f"weights sha256 {sha[:12]}… differs from the record's {record.provenance.checkpoint_sha256[:12]}… "
            "(training is not bit-reproducible across machines); scores are checked on these weights"
        )
