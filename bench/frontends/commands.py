"""Extra ``robex`` subcommands (submit, verify, compare), registered in :data:`COMMANDS`; :mod:`bench.cli`
imports this module (a plain import, so ``robex``, ``python -m bench`` and ``python -m bench.cli`` see the same
commands). Third-party packages add subcommands under the ``robex.commands`` entry-point group.

Handlers write to stdout/stderr and return the exit status; the work lives in :mod:`bench.frontends.submit`,
:mod:`bench.frontends.verify` and :mod:`bench.results.compare`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

from bench.frontends import cli_options as options
from bench.registry import Registry

Command = Callable[[argparse.Namespace], int]
# name -> (configure parser, handler)
COMMANDS: Registry[tuple[Callable[[argparse.ArgumentParser], None], Command]] = Registry(
    "command", group="robex.commands"
)


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


def _err(text: str) -> None:
    sys.stderr.write(f"robex: error: {text}\n")


# --track of a command that finds an entry's record: needed only when the entry has records on several tracks
ONE_OF_SEVERAL_TRACKS = {
    "default": None,
    "help": "track (default: the one track with the entry's record; mnist5k when that is one of several)",
}


# --results of commands that read a record, and of submit, which writes one where `robex run` writes
READ_RESULTS = {"help": "records folder (default: $ROBEX_RESULTS or the user data folder's, then the committed ones)"}
WRITE_RESULTS = {"help": "records folder (default: $ROBEX_RESULTS or the user data folder's robex/results)"}


# ------------------------------------------------------------------------------------------ submit
def _configure_submit(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", help="entry folder (with entry.toml) or the manifest itself")
    options.add(p, "results", "site", "store", "device", "data_root", "quick", "stages", results=WRITE_RESULTS)
    p.add_argument(
        "--baselines",
        nargs="*",
        metavar="NAME",
        default=None,
        help="baselines evaluated alongside (transfer sources/targets); default all, none when given empty",
    )
    p.add_argument("--timeout", type=float, default=3600.0, help="wall-clock limit of the evaluation, seconds")
    p.add_argument("--memory-gb", type=float, default=16.0, help="memory limit of the evaluation process (0: none)")
    p.add_argument("--replace", action="store_true", help="replace this entry's earlier record")
    options.add(p, "no_site")
    p.add_argument(
        "--progress", action="store_true", help="also echo the build's and the evaluation's own output while they run"
    )
    p.add_argument(
        "--allow-unisolated",
        action="store_true",
        help="maintainers only: build an entry's code without isolation where none works (the record says so)",
    )


def _cmd_submit(args: argparse.Namespace) -> int:
    """validate an entry, evaluate it in a sandboxed process, write its record, print its rank"""
    from bench.checkpoint import CheckpointError
    from bench.frontends.submit import GIB, EvaluationFailedError, Limits, SubmissionError, submit
    from bench.manifest import ManifestError

    if args.timeout <= 0 or args.memory_gb < 0:
        _err("--timeout must be positive and --memory-gb non-negative")
        return 2
    from bench.running.progress import show_progress_lines

    show_progress_lines()  # each step, and each stage's time left, on stderr (the summary goes to stdout)
    try:
        report = submit(
            args.path,
            results_root=args.results,
            site=None if args.no_site else args.site,
            store=args.store,
            quick=args.quick,
            device=args.device,
            data_root=args.data_root,
            stages=args.stages or None,
            baselines=args.baselines,
            limits=Limits(timeout_s=args.timeout, memory_bytes=int(args.memory_gb * GIB)),
            replace=args.replace,
            publish_site=not args.no_site,
            echo=sys.stderr if args.progress else None,
            allow_unisolated=args.allow_unisolated,
        )
    except (ManifestError, SubmissionError, CheckpointError) as exc:
        _err(f"submission refused: {exc}")
        return 3 if isinstance(exc, EvaluationFailedError) else 2
    _out(report.summary())
    return 0


# ------------------------------------------------------------------------------------------ verify
def _configure_verify(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", help="entry name")
    options.add(p, "track", track=ONE_OF_SEVERAL_TRACKS)
    p.add_argument("--n", type=int, default=200, help="evaluation images to re-run (default 200)")
    options.add(p, "results", "store", "device", "data_root", results=READ_RESULTS)
    options.add(p, "entry_dir", entry_dir={"action": "store", "help": "the entry's folder (baselines are found)"})
    options.add(p, "stages", "quick", stages={"help": "only re-run these stages"}, quick={"help": "the quick record"})
    p.add_argument("--z", type=float, default=3.29, help="z of the sampling tolerance (3.29: two-sided 99.9%%)")
    p.add_argument("--slack", type=float, default=0.02, help="non-determinism allowance (absolute for fractions)")
    p.add_argument("--artifact", default=None, help="the artifact folder (default: <store>/artifacts/<sha256>)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument(
        "--allow-unisolated",
        action="store_true",
        help="maintainers only: re-score an artifact built from code where bubblewrap cannot run (said in the report)",
    )


def _cmd_verify(args: argparse.Namespace) -> int:
    """re-run a cheap subset of an entry's evaluation and check its record (exit 1 on a mismatch)"""
    from bench.checkpoint import CheckpointError
    from bench.frontends.submit import SubmissionError
    from bench.frontends.verify import VerificationError, verify
    from bench.manifest import ManifestError
    from bench.results.records import RecordError

    try:
        report = verify(
            args.name,
            track=args.track,
            n=args.n,
            results_root=args.results,
            store=args.store,
            device=args.device,
            data_root=args.data_root,
            entry_dir=args.entry_dir,
            artifact=args.artifact,
            stages=args.stages or None,
            quick=args.quick,
            z=args.z,
            slack=args.slack,
            allow_unisolated=args.allow_unisolated,
        )
    except (VerificationError, RecordError, ManifestError, CheckpointError, SubmissionError) as exc:
        _err(str(exc))
        return 2
    _out(json.dumps(report.to_json(), indent=2, sort_keys=True) if args.json else report.summary())
    return 0 if report.ok else 1


# ------------------------------------------------------------------------------------------ compare
def _configure_compare(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", help="entry name")
    p.add_argument("--against", nargs="+", metavar="NAME", help="entries to compare with (default: the baselines)")
    options.add(p, "track", track=ONE_OF_SEVERAL_TRACKS)
    options.add(p, "results", "quick", quick={"help": "compare quick-mode records"}, results=READ_RESULTS)
    p.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05)")
    p.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples (default 2000)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


def _cmd_compare(args: argparse.Namespace) -> int:
    """every score of an entry against others, with paired significance on the same images"""
    from bench.results.compare import baseline_records, compare_records, find_record_in
    from bench.results.compare_text import dumps, format_text
    from bench.results.places import record_roots
    from bench.results.records import RecordError

    if not 0 < args.alpha < 1:
        _err("--alpha must lie in (0, 1)")
        return 2
    try:
        record, root = find_record_in(record_roots(args.results), args.name, track=args.track, quick=args.quick)
        roots = [root, *(r for r in record_roots(args.results) if r != root)]  # the entry's own folder first
        if args.against:
            others = [find_record_in(roots, o, track=record.track, quick=args.quick)[0] for o in args.against]
        else:
            others = baseline_records(roots, record)
            if not others:
                kind = "quick " if args.quick else ""
                hint = " (`robex run --quick --entries standard` writes one)" if args.quick else ""
                _err(f"no baseline {kind}records on {record.track!r} to compare with{hint}; pass --against NAME")
                return 2
    except RecordError as exc:
        _err(str(exc))
        return 2
    comparisons = [
        compare_records(record, o, alpha=args.alpha, resamples=args.resamples, seed=args.seed) for o in others
    ]
    _out(dumps(comparisons) if args.json else format_text(comparisons))
    return 0


COMMANDS.add("submit", (_configure_submit, _cmd_submit))
COMMANDS.add("verify", (_configure_verify, _cmd_verify))
COMMANDS.add("compare", (_configure_compare, _cmd_compare))
