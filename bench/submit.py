"""``robex submit PATH``: validate an entry, evaluate it in a sandboxed child process, install its record.

1. The manifest is validated (:mod:`bench.manifest`; errors name the field and the expected form), then
   everything the parent can check without running entry code: the track, a registered defense and its
   hyperparameters, a shipped module's file, a checkpoint's sha256 and safetensors header (never
   unpickled), the claimed scores' names, and that the name is free.
2. The evaluation runs ``robex run --entry-dir PATH`` (the track's protocol, with its baselines for the
   transfer stages) in a **separate process** with an address-space limit (``resource.setrlimit`` in the
   child, before anything is imported) and a wall-clock timeout; the child's whole process group is
   killed on timeout. Entry code (a defense module shipped with the entry) is only ever imported there, so
   a crash, a hang or a memory blow-up is reported, never fatal. Its records go to a staging folder.
3. Only when the child finished and the entry's record is not ``failed`` is that one record installed
   (atomically) under the results folder; the site is re-rendered and the entry's rank is reported. On
   every failure the existing records stay untouched; a JSON log of the attempt is written under the store
   (``<store>/submissions/<track>/<entry>.json``).

Other entries' records are not rewritten: the new entry's transfer row and column live in its own record,
and the site's heatmap reads both directions.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.entries import Entry
    from bench.track import Track

SANDBOX_ENV = "ROBEX_SANDBOXED"
GIB = 1024**3
# Importing torch (with its CUDA libraries, mapped even on CPU) and robex reserves about 3.3 GiB of
# address space before any work (VmPeak measured with torch 2.x on Linux x86-64; under RLIMIT_AS of
# 3.25 GiB the import fails inside torch). An address-space limit below this cannot run anything.
MIN_MEMORY_BYTES = 4 * GIB


class SubmissionError(ValueError):
    """A submission was refused or its evaluation failed; existing records were not touched."""


class EvaluationFailedError(SubmissionError):
    """The sandboxed evaluation crashed, hung, ran out of memory or produced a failed record."""


# ------------------------------------------------------------------------------------------ the sandbox
@dataclass(frozen=True)
class Limits:
    """Resource limits of the evaluation process.

    Attributes:
        timeout_s: Wall-clock limit; the process group is killed when it is exceeded.
        memory_bytes: Address-space limit (``RLIMIT_AS``; ``RLIMIT_DATA`` with CUDA, whose driver reserves
            huge virtual ranges); ``0`` disables it.
    """

    timeout_s: float = 3600.0
    memory_bytes: int = 16 * GIB

    def __post_init__(self) -> None:
        if 0 < self.memory_bytes < MIN_MEMORY_BYTES:
            raise SubmissionError(
                f"--memory-gb {self.memory_bytes / GIB:g} is too small: importing torch alone reserves about 3.3 GiB "
                f"of address space, so the evaluation needs at least {MIN_MEMORY_BYTES / GIB:g} GiB (0: no limit)"
            )


@dataclass(frozen=True)
class SandboxResult:
    """How a sandboxed command ended."""

    returncode: int | None
    timed_out: bool
    wall_time_s: float
    output_tail: str

    @property
    def signal_name(self) -> str | None:
        """The signal that killed the process (``SIGKILL``, ``SIGSEGV``, ...), if one did."""
        if self.returncode is None or self.returncode >= 0:
            return None
        try:
            return signal.Signals(-self.returncode).name
        except ValueError:
            return f"signal {-self.returncode}"

    def explain(self, limits: Limits) -> str:
        """One sentence on how the process ended."""
        if self.timed_out:
            return f"exceeded the time limit of {limits.timeout_s:g} s and was killed"
        if self.signal_name:
            hint = " (out of memory?)" if self.signal_name == "SIGKILL" else ""
            return f"was killed by {self.signal_name}{hint}"
        if self.returncode == 0:
            return "finished"
        memory = "MemoryError" in self.output_tail or "Cannot allocate memory" in self.output_tail
        hint = f" (it hit the memory limit of {limits.memory_bytes / GIB:g} GiB)" if memory else ""
        return f"exited with status {self.returncode}{hint}"


def _pump(stream: IO[bytes], tail: deque[str], echo: IO[str] | None) -> None:
    for raw in iter(stream.readline, b""):
        line = raw.decode("utf-8", errors="replace")
        tail.append(line)
        if echo is not None:
            echo.write(line)
            echo.flush()
    stream.close()


def run_limited(
    argv: Sequence[str], limits: Limits, *, echo: IO[str] | None = None, device: str = "cpu", tail_lines: int = 60
) -> SandboxResult:
    """Run ``robex <argv>`` in a child process under ``limits``; never raises for what the child does.

    The child (``python -m bench.submit --child``) sets its resource limits before importing anything
    else, runs in its own session (so the whole process group can be killed) and has no core dumps.
    Its output is kept (last ``tail_lines`` lines) and optionally echoed.
    """
    cmd = [
        sys.executable,
        "-m",
        "bench.submit",
        "--child",
        str(int(limits.memory_bytes)),
        "cuda" if device.startswith("cuda") else "cpu",
        "--",
        *argv,
    ]
    env = {**os.environ, SANDBOX_ENV: "1", "PYTHONUNBUFFERED": "1"}
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True, env=env
    )
    tail: deque[str] = deque(maxlen=tail_lines)
    assert proc.stdout is not None
    reader = threading.Thread(target=_pump, args=(proc.stdout, tail, echo), daemon=True)
    reader.start()
    timed_out = False
    try:
        proc.wait(timeout=limits.timeout_s)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(proc)
    except BaseException:
        _kill_group(proc)
        raise
    reader.join(timeout=10)
    return SandboxResult(proc.returncode, timed_out, time.perf_counter() - start, "".join(tail))


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _child_main(argv: list[str]) -> int:
    """Entry point of the sandboxed child: limits first, then the ordinary CLI."""
    import resource

    memory, device, sep, *rest = argv
    if sep != "--":
        raise SystemExit("usage: python -m bench.submit --child MEMORY_BYTES DEVICE -- ROBEX_ARGS...")
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    limit = int(memory)
    if limit > 0:
        kind = resource.RLIMIT_DATA if device == "cuda" else resource.RLIMIT_AS
        _soft, hard = resource.getrlimit(kind)
        cap = limit if hard == resource.RLIM_INFINITY else min(limit, hard)
        resource.setrlimit(kind, (cap, cap))
    try:  # import torch first, so that a limit too small for it is reported as such
        import torch  # noqa: F401

        from bench.cli import main
    except (ImportError, MemoryError, SystemError) as exc:  # torch's import maps ~3.3 GiB of address space
        sys.stderr.write(
            f"robex: importing torch/robex failed under the memory limit of {limit / GIB:g} GiB ({exc!r}); "
            f"torch needs about 3.3 GiB of address space to load: raise --memory-gb (at least "
            f"{MIN_MEMORY_BYTES / GIB:g})\n"
        )
        return 1
    return main(rest)


# ------------------------------------------------------------------------------------------ validation
def _field_error(where: str, fieldname: str, message: str) -> SubmissionError:
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
    from bench.records import record_path
    from bench.registry import RegistryError
    from bench.track import load_track
    from bench.types import Unit

    p = Path(path)
    manifest_file = p / "entry.toml" if p.is_dir() else p
    where = str(manifest_file)
    manifest = load_manifest(p, submission=True)
    try:
        track = load_track(manifest.track)
    except RegistryError as exc:
        raise _field_error(where, "track", str(exc)) from None
    entry = Entry(manifest, str(p if p.is_dir() else p.parent))
    baselines = {e.name for e in load_entries(track)}
    if manifest.name in baselines:
        raise _field_error(where, "name", f"{manifest.name!r} is a baseline entry of {track.name!r}; choose another")
    existing = record_path(results_root, track.name, manifest.name, quick=quick)
    if existing.exists() and not replace:
        raise _field_error(
            where, "name", f"a record for {manifest.name!r} already exists ({existing}); pass --replace to re-submit"
        )
    if existing.exists():
        from bench.records import read_record

        if read_record(existing).entry.baseline:
            raise _field_error(where, "name", f"{existing} is a baseline's record and cannot be replaced")
    ref = manifest.defense
    if ref is not None and ref.module is None:
        try:
            DEFENSES.create(ref.name, track, **ref.hyperparameters)
        except RegistryError as exc:
            raise _field_error(where, "defense.name", f"{exc} (or ship it as `module`)") from None
        except HyperparameterError as exc:
            raise _field_error(where, f"defense.hyperparameters.{exc.name}", str(exc)) from None
        except (TypeError, ValueError) as exc:
            raise _field_error(where, "defense.hyperparameters", str(exc)) from None
    elif ref is not None and ref.module is not None:
        if ref.name in DEFENSES:
            raise _field_error(
                where, "defense.name", f"{ref.name!r} is a built-in defense; a shipped module must register a new name"
            )
        try:
            module = entry.file(ref.module)
        except ManifestError as exc:
            raise _field_error(where, "defense.module", str(exc)) from None
        if module.suffix != ".py" or not module.is_file():
            raise _field_error(where, "defense.module", f"{ref.module!r} must be a .py file inside the entry folder")
    ck = manifest.checkpoint
    if ck is not None:
        try:
            checkpoint_file = entry.file(ck.file)
        except ManifestError as exc:
            raise _field_error(where, "checkpoint.file", str(exc)) from None
        if not checkpoint_file.is_file():
            raise _field_error(where, "checkpoint.file", f"no such file {ck.file!r} in the entry folder")
        try:
            model, _sha = entry.build_checkpoint_model(track)
        except RegistryError as exc:
            raise _field_error(where, "checkpoint.architecture", str(exc)) from None
        except CheckpointError as exc:
            raise _field_error(where, "checkpoint", str(exc)) from None
        except (TypeError, ValueError) as exc:  # the architecture's constructor refused an argument
            raise _field_error(where, "checkpoint.architecture_kwargs", f"{ck.architecture}: {exc}") from None
        bad = [k for k, t in model.state_dict().items() if t.is_floating_point() and not bool(t.isfinite().all())]
        if bad:
            shown = ", ".join(bad[:3]) + (", ..." if len(bad) > 3 else "")
            raise _field_error(where, "checkpoint.file", f"tensors hold NaN or infinite values ({shown})")
    for name, value in manifest.claimed.items():
        try:
            spec = SCORES.get(name)
        except RegistryError as exc:
            raise _field_error(where, f"claimed.{name}", str(exc)) from None
        if spec.unit is Unit.FRACTION and not 0.0 <= value <= 1.0:
            raise _field_error(where, f"claimed.{name}", f"{spec.title} is a fraction in [0, 1], got {value}")
    return entry, track


# ------------------------------------------------------------------------------------------ the submission
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

    def summary(self) -> str:
        """Human-readable lines for the CLI."""
        lines = [f"Record: {self.record}"]
        if self.errors:
            lines.append(f"Status {self.status}; stage errors:")
            lines += [f"  {k}: {v.splitlines()[-1] if v else ''}" for k, v in sorted(self.errors.items())]
        if self.rank is not None:
            by = self.sort_title.rstrip(".")  # titles may end in an abbreviation's period ("PGD acc.")
            lines.append(f"{self.entry} ranks {self.rank} of {self.ranked_total} on {self.track} by {by}.")
        else:
            lines.append(f"{self.entry} is not ranked on {self.track}: {self.rank_reason}.")
        lines += self.notes
        if self.site is not None:
            lines.append(f"Leaderboard: {self.site.resolve()}")
        return "\n".join(lines)


def _write_log(store: Path, track: str, name: str, payload: Mapping[str, Any]) -> Path:
    from bench.atomic import atomic_write_json

    path = store / "submissions" / track / f"{name}.json"
    atomic_write_json(path, payload)
    return path


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
) -> SubmitReport:
    """Validate, evaluate in a sandbox, install the record, re-render the site; see the module docstring.

    ``baselines`` limits which baseline entries join the run (default: all of the track's); their cells
    come from the store when they were computed before.
    """
    from bench.api import default_results_root, publish, resolve_device
    from bench.compare import DEFAULT_SORT, ranking, sort_score, track_records
    from bench.entries import load_entries
    from bench.plugins import SCORES
    from bench.records import RecordError, read_record, record_path, write_record
    from bench.store import default_store

    lim = limits or Limits()
    root = Path(results_root) if results_root else default_results_root()
    store_root = Path(store) if store else default_store()
    entry, track = validate_entry(path, root, quick=quick, replace=replace)
    dev = resolve_device(device)
    known = [e.name for e in load_entries(track)]
    chosen = known if baselines is None else list(baselines)
    unknown = sorted(set(chosen) - set(known))
    if unknown:
        raise SubmissionError(f"--baselines: {unknown} are not baseline entries of {track.name!r} ({known})")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="robex-submit-") as staging:
        argv = [
            "run",
            "--track",
            track.name,
            "--entry-dir",
            str(Path(entry.folder or ".").resolve()),
            "--entries",
            *chosen,
            entry.name,
            "--store",
            str(store_root),
            "--results",
            staging,
            "--no-site",
            "--device",
            dev,
        ]
        argv += ["--quick"] if quick else []
        argv += ["--stages", *stages] if stages else []
        argv += ["--data-root", data_root] if data_root else []
        result = run_limited(argv, lim, echo=echo, device=dev)
        log = {
            "entry": entry.name,
            "track": track.name,
            "command": ["robex", *argv],
            "limits": asdict(lim),
            "returncode": result.returncode,
            "timed_out": result.timed_out,
            "wall_time_s": round(result.wall_time_s, 3),
            "output_tail": result.output_tail,
        }
        staged = record_path(Path(staging), track.name, entry.name, quick=quick)
        failure = None
        record = None
        if result.returncode not in (0, 3) or result.timed_out:
            failure = f"the evaluation of {entry.name!r} {result.explain(lim)}"
        elif not staged.is_file():
            failure = f"the evaluation of {entry.name!r} finished without writing its record"
        else:
            try:
                record = read_record(staged)
            except RecordError as exc:
                failure = f"the evaluation of {entry.name!r} wrote an unreadable record: {exc}"
            else:
                if record.status == "failed":
                    errs = "; ".join(
                        f"{k}: {v.strip().splitlines()[-1] if v.strip() else 'failed'}"
                        for k, v in sorted(record.errors.items())
                    )
                    failure = f"the evaluation of {entry.name!r} failed: {errs}"
        if failure is not None or record is None:
            log["status"] = "refused"
            log["error"] = failure
            where = _write_log(store_root, track.name, entry.name, log)
            tail = "\n".join(result.output_tail.strip().splitlines()[-15:])
            raise EvaluationFailedError(
                f"{failure}. No record was written. Log: {where}" + (f"\nLast output:\n{tail}" if tail else "")
            )
        installed = write_record(record, root)
    log["status"] = "installed"
    log["record"] = str(installed)
    where = _write_log(store_root, track.name, entry.name, log)
    notes = ["(quick mode: ranked among quick-mode records only; they never enter the leaderboard)"] if quick else []
    site_index = None
    if publish_site:
        try:
            site_index = publish(root, site)
        except (ValueError, OSError) as exc:  # e.g. another, malformed record: ours is installed regardless
            notes.append(f"the record is installed but the site could not be rendered: {exc}")
    records = track_records(root, track.name, quick=quick)
    score = sort_score(records, DEFAULT_SORT)
    higher = SCORES.get(score).higher_is_better if score and score in SCORES else True
    placed = ranking(records, score, higher, include_quick=quick)
    mine = next(p for p in placed if p.record.name == entry.name)
    return SubmitReport(
        entry=entry.name,
        track=track.name,
        record=installed,
        status=record.status,
        errors=dict(record.errors),
        rank=mine.rank,
        ranked_total=sum(1 for p in placed if p.rank is not None),
        rank_reason=mine.reason,
        sort_score=score,
        sort_title=SCORES.get(score).title if score and score in SCORES else str(score),
        site=site_index,
        log=where,
        wall_time_s=time.perf_counter() - start,
        notes=notes,
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        sys.exit(_child_main(sys.argv[2:]))
    raise SystemExit("bench.submit is run by `robex submit`; use that command")
