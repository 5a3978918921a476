"""Admission of a submission: every check ``robex submit`` makes before any of the entry's code runs (the
manifest's fields, the track, the name, the folder's declared payload, the defense, the checkpoint's files and
tensors, the claimed numbers), each refusal naming the field at fault."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.entries import Entry
    from bench.hyperparameters import HyperparameterError
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
    entry, track, where = _load(path)
    _check_payload(entry, where)
    _check_name(entry, track, where, results_root, quick=quick, replace=replace)
    ref = entry.manifest.defense
    if ref is not None and ref.module is None:
        _check_registered_defense(entry, track, where)
    elif ref is not None:
        _check_shipped_defense(entry, where)
    if entry.manifest.checkpoint is not None:
        _check_checkpoint(entry, track, where)
    _check_claims(entry, where)
    return entry, track


def _load(path: str | Path) -> tuple[Entry, Track, str]:
    """The manifest (validated), its track and the entry; ``where`` names the manifest file in refusals."""
    from bench.entries import Entry
    from bench.manifest import load_manifest
    from bench.registry import RegistryError
    from bench.track import load_track

    p = Path(path)
    where = str(p / "entry.toml" if p.is_dir() else p)
    manifest = load_manifest(p, submission=True)
    try:
        track = load_track(manifest.track)
    except RegistryError as exc:
        raise field_error(where, "track", str(exc)) from None
    return Entry(manifest, str(p if p.is_dir() else p.parent)), track, where


def _check_payload(entry: Entry, where: str) -> None:
    """An entry that ships code: its code runs in the build with a copy of the folder, so declared files only,
    capped."""
    if not entry.ships_code:
        return
    from bench.frontends.payload import payload_problem

    problem = payload_problem(Path(str(entry.folder)), entry.manifest, Path(where).name)
    if problem is not None:
        raise field_error(where, problem.field, problem.message)


def _check_name(entry: Entry, track: Track, where: str, results_root: Path, *, quick: bool, replace: bool) -> None:
    """Not a baseline's name; an existing record only with ``replace``, and never a baseline's."""
    from bench.entries import load_entries
    from bench.results.records import read_record, record_path

    name = entry.name
    if name in {e.name for e in load_entries(track)}:
        raise field_error(where, "name", f"{name!r} is a baseline entry of {track.name!r}; choose another")
    existing = record_path(results_root, track.name, name, quick=quick)
    if existing.exists() and not replace:
        raise field_error(
            where, "name", f"a record for {name!r} already exists ({existing}); pass --replace to re-submit"
        )
    if existing.exists() and read_record(existing).entry.baseline:
        raise field_error(where, "name", f"{existing} is a baseline's record and cannot be replaced")


def _hyperparameter_error(where: str, exc: HyperparameterError) -> SubmissionError:
    return field_error(where, f"defense.hyperparameters.{exc.name}", exc.detail)


def _check_registered_defense(entry: Entry, track: Track, where: str) -> None:
    """A registered defense exists and its hyperparameters pass its schema."""
    from bench.hyperparameters import HyperparameterError
    from bench.plugins import DEFENSES
    from bench.registry import RegistryError

    ref = entry.manifest.defense
    assert ref is not None
    try:
        DEFENSES.create(ref.name, track, **ref.hyperparameters)
    except RegistryError as exc:
        raise field_error(where, "defense.name", f"{exc} (or ship it as `module`)") from None
    except HyperparameterError as exc:
        raise _hyperparameter_error(where, exc) from None
    except (TypeError, ValueError) as exc:
        raise field_error(where, "defense.hyperparameters", str(exc)) from None


def _check_shipped_defense(entry: Entry, where: str) -> None:
    """A shipped module: a new name, a ``.py`` file inside the folder, and the manifest's hyperparameters passing
    the schema the module declares (read without running it: :mod:`bench.frontends.declared_schema`)."""
    from bench.frontends.declared_schema import DeclarationError, check_declared
    from bench.frontends.payload import MAX_PAYLOAD_BYTES
    from bench.hyperparameters import HyperparameterError
    from bench.manifest import ManifestError
    from bench.plugins import DEFENSES

    ref = entry.manifest.defense
    assert ref is not None and ref.module is not None
    if ref.name in DEFENSES:
        raise field_error(
            where, "defense.name", f"{ref.name!r} is a built-in defense; a shipped module must register a new name"
        )
    try:
        module = entry.file(ref.module)
    except ManifestError as exc:
        raise field_error(where, "defense.module", str(exc)) from None
    if module.suffix != ".py" or not module.is_file() or module.is_symlink():
        raise field_error(where, "defense.module", f"{ref.module!r} must be a .py file inside the entry folder")
    with module.open("rb") as fh:
        raw = fh.read(MAX_PAYLOAD_BYTES + 1)
    try:
        check_declared(raw.decode("utf-8"), ref.name, ref.hyperparameters)
    except UnicodeDecodeError as exc:
        raise field_error(where, "defense.module", f"{ref.module}: not UTF-8 text ({exc})") from None
    except HyperparameterError as exc:
        raise _hyperparameter_error(where, exc) from None
    except DeclarationError as exc:
        raise field_error(where, exc.field, f"{ref.module}: {exc}") from None


def _check_checkpoint(entry: Entry, track: Track, where: str) -> None:
    """The checkpoint's files exist inside the folder, its sha256 and safetensors header hold, its architecture
    accepts the ``architecture_kwargs`` and its tensors are finite (nothing of the entry runs)."""
    from bench.checkpoint import CheckpointError
    from bench.registry import RegistryError

    ck = entry.manifest.checkpoint
    assert ck is not None
    checkpoint_file = _entry_file(entry, where, "file", ck.file)
    for name, rel in (("module", ck.module), ("graph", ck.graph)):
        if rel is not None:
            _entry_file(entry, where, name, rel)
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


def _entry_file(entry: Entry, where: str, name: str, rel: str) -> Path:
    """``checkpoint.<name>``'s file, which must be a file inside the entry folder."""
    from bench.manifest import ManifestError

    try:
        target = entry.file(rel)
    except ManifestError as exc:
        raise field_error(where, f"checkpoint.{name}", str(exc)) from None
    if not target.is_file():
        raise field_error(where, f"checkpoint.{name}", f"no such file {rel!r} in the entry folder")
    return target


def _check_claims(entry: Entry, where: str) -> None:
    """Claimed scores exist; fractions lie in [0, 1] (finiteness is the manifest's own check)."""
    from bench.plugins import SCORES
    from bench.registry import RegistryError
    from bench.types import Unit

    for name, value in entry.manifest.claimed.items():
        try:
            spec = SCORES.get(name)
        except RegistryError as exc:
            raise field_error(where, f"claimed.{name}", str(exc)) from None
        if spec.unit is Unit.FRACTION and not 0.0 <= value <= 1.0:
            raise field_error(where, f"claimed.{name}", f"{spec.title} is a fraction in [0, 1], got {value}")
