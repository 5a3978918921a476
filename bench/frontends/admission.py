"""Admission of a submission: every check ``robex submit`` makes before any of the entry's code runs (the
manifest's fields, the track, the name, the folder's declared payload, the defense, the checkpoint's files and
tensors, the claimed numbers), each refusal naming the field at fault."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.entries import Entry
    from bench.track import Track


class SubmissionError(ValueError):
    """A submission was refused or its evaluation failed; existing records were not touched."""


class EvaluationFailedError(SubmissionError):
    """The sandboxed evaluation crashed, hung, ran out of memory or produced a failed record."""


def field_error(where: str, fieldname: str, message: str) -> SubmissionError:
    """A refusal naming the manifest field at fault."""
    return SubmissionError(f"{where}: field '{fieldname}': {message}")


def validate_entry(path: str | Path, results_root: Path, *, quick: bool, replace: bool) -> tuple[Entry, Track]:
    """Every check the parent can make without running entry code; returns ``(entry, track)``.

    Raises :class:`SubmissionError` (or :class:`~bench.manifest.ManifestError`) naming the field.
    """
    from bench.checkpoint import CheckpointError
    from bench.entries import Entry, load_entries
    from bench.hyperparameters import HyperparameterError
    from bench.manifest import ManifestError, load_manifest
    from bench.plugins import DEFENSES, SCORES
    from bench.registry import RegistryError
    from bench.results.records import record_path
    from bench.track import load_track
    from bench.types import Unit

    p = Path(path)
    manifest_file = p / "entry.toml" if p.is_dir() else p
    where = str(manifest_file)
    manifest = load_manifest(p, submission=True)
    try:
        track = load_track(manifest.track)
    except RegistryError as exc:
        raise field_error(where, "track", str(exc)) from None
    entry = Entry(manifest, str(p if p.is_dir() else p.parent))
    if entry.ships_code:  # its code runs in the build with a copy of the folder: declared files only, capped
        from bench.frontends.payload import payload_problem

        problem = payload_problem(Path(str(entry.folder)), manifest, manifest_file.name)
        if problem is not None:
            raise field_error(where, problem.field, problem.message)
    baselines = {e.name for e in load_entries(track)}
    if manifest.name in baselines:
        raise field_error(where, "name", f"{manifest.name!r} is a baseline entry of {track.name!r}; choose another")
    existing = record_path(results_root, track.name, manifest.name, quick=quick)
    if existing.exists() and not replace:
        raise field_error(
            where, "name", f"a record for {manifest.name!r} already exists ({existing}); pass --replace to re-submit"
        )
    if existing.exists():
        from bench.results.records import read_record

        if read_record(existing).entry.baseline:
            raise field_error(where, "name", f"{existing} is a baseline's record and cannot be replaced")
    ref = manifest.defense
    if ref is not None and ref.module is None:
        try:
            DEFENSES.create(ref.name, track, **ref.hyperparameters)
        except RegistryError as exc:
            raise field_error(where, "defense.name", f"{exc} (or ship it as `module`)") from None
        except HyperparameterError as exc:
            raise field_error(where, f"defense.hyperparameters.{exc.name}", str(exc)) from None
        except (TypeError, ValueError) as exc:
            raise field_error(where, "defense.hyperparameters", str(exc)) from None
    elif ref is not None and ref.module is not None:
        if ref.name in DEFENSES:
            raise field_error(
                where, "defense.name", f"{ref.name!r} is a built-in defense; a shipped module must register a new name"
            )
        try:
            module = entry.file(ref.module)
        except ManifestError as exc:
            raise field_error(where, "defense.module", str(exc)) from None
        if module.suffix != ".py" or not module.is_file():
            raise field_error(where, "defense.module", f"{ref.module!r} must be a .py file inside the entry folder")
    ck = manifest.checkpoint
    if ck is not None:
        try:
            checkpoint_file = entry.file(ck.file)
        except ManifestError as exc:
            raise field_error(where, "checkpoint.file", str(exc)) from None
        if not checkpoint_file.is_file():
            raise field_error(where, "checkpoint.file", f"no such file {ck.file!r} in the entry folder")
        for name, rel in (("module", ck.module), ("graph", ck.graph)):
            if rel is None:
                continue
            try:
                target = entry.file(rel)
            except ManifestError as exc:
                raise field_error(where, f"checkpoint.{name}", str(exc)) from None
            if not target.is_file():
                raise field_error(where, f"checkpoint.{name}", f"no such file {rel!r} in the entry folder")
        try:
            if ck.module is not None:  # entry code: only the file's integrity is checked here
                from bench.checkpoint import read_checkpoint

                tensors = read_checkpoint(checkpoint_file, ck.sha256)
            else:
                model, _sha = entry.build_checkpoint_model(track)
                tensors = model.state_dict()
        except RegistryError as exc:
            raise field_error(where, "checkpoint.architecture", str(exc)) from None
        except CheckpointError as exc:
            raise field_error(where, "checkpoint", str(exc)) from None
        except (TypeError, ValueError) as exc:  # the architecture's constructor refused an argument
            raise field_error(where, "checkpoint.architecture_kwargs", f"{ck.architecture}: {exc}") from None
        bad = [k for k, t in tensors.items() if t.is_floating_point() and not bool(t.isfinite().all())]
        if bad:
            shown = ", ".join(bad[:3]) + (", ..." if len(bad) > 3 else "")
            raise field_error(where, "checkpoint.file", f"tensors hold NaN or infinite values ({shown})")
    for name, value in manifest.claimed.items():
        try:
            spec = SCORES.get(name)
        except RegistryError as exc:
            raise field_error(where, f"claimed.{name}", str(exc)) from None
        if spec.unit is Unit.FRACTION and not 0.0 <= value <= 1.0:
            raise field_error(where, f"claimed.{name}", f"{spec.title} is a fraction in [0, 1], got {value}")
    return entry, track


# ------------------------------------------------------------------------------------------ the submission
