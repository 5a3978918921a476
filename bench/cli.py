"""``robex`` command line: list, run, leaderboard (more subcommands register in ``COMMANDS``)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.frontends import cli_options as options
from bench.frontends.commands import COMMANDS
from bench.registry import Registry, RegistryError

if TYPE_CHECKING:
    from bench.track import Track


def _registry(module: str, name: str) -> Any:
    """``module.name``, imported only when a list is printed (building the parser imports no torch)."""
    return getattr(import_module(module), name)


def _doc_line(obj: object) -> str:
    return (obj.__doc__ or "").strip().splitlines()[0] if (obj.__doc__ or "").strip() else ""


def _listables() -> Registry[Callable[[], list[tuple[str, str]]]]:
    def rows(module: str, name: str, describe: Callable[[Any], str]) -> Callable[[], list[tuple[str, str]]]:
        return lambda: [(n, describe(x)) for n, x in _registry(module, name).items()]

    reg: Registry[Callable[[], list[tuple[str, str]]]] = Registry("listable")
    reg.add("tracks", rows("bench.track", "TRACKS", _track_line))
    reg.add("entries", _entry_rows)
    reg.add("defenses", rows("bench.plugins", "DEFENSES", lambda c: c.card.title))
    reg.add("attacks", rows("bench.plugins", "ATTACKS", _doc_line))
    reg.add("explainers", rows("bench.plugins", "EXPLAINERS", _doc_line))
    reg.add(
        "scores",
        rows(
            "bench.plugins",
            "SCORES",
            lambda s: f"{s.title} ({'↑' if s.higher_is_better else '↓'}, {s.unit.value}, {s.category.value})",
        ),
    )
    reg.add(
        "stages",
        rows(
            "bench.plugins",
            "STAGES",
            lambda c: f"{c.summary} ({c.scope.value} stage; needs {', '.join(c.requires) or 'nothing'})",
        ),
    )
    reg.add("architectures", rows("bench.models", "ARCHITECTURES", _doc_line))
    return reg


def _track_line(t: Track) -> str:
    """What a track is and what it needs to run (its data, and the description's word on compute)."""
    from bench.data import DATA_ENV, EMBEDDED_DATASETS

    data = "embedded data" if t.dataset in EMBEDDED_DATASETS else f"needs --data-root DIR or ${DATA_ENV}"
    return f"{t.title} — {t.threat}, v{t.version}, {data}. {t.description}"


def _entry_rows() -> list[tuple[str, str]]:
    """Each baseline entry once: its title and the tracks it is an entry of."""
    from bench.entries import load_entries
    from bench.track import TRACKS

    titles: dict[str, str] = {}
    tracks: dict[str, list[str]] = {}
    for name, t in TRACKS.items():
        for e in load_entries(t):
            titles.setdefault(e.name, e.manifest.title)
            tracks.setdefault(e.name, []).append(name)
    return [(n, f"{titles[n]} (tracks: {', '.join(tracks[n])})") for n in sorted(titles)]


def _cmd_list(args: argparse.Namespace) -> int:
    rows = _listables().get(args.what)()
    width = max((len(n) for n, _ in rows), default=0)
    for name, text in rows:
        if args.pattern is None or name.startswith(args.pattern.rstrip("*")):
            print(f"{name:<{width}}  {text}")
    return 0


def _summary_table(records: Sequence[object]) -> str:
    """The run's records in ranking order with bands and 95% intervals, 120 columns wide
    (:func:`bench.results.summary_text.summary_table`; every registered score, plug-ins included)."""
    from bench.plugins import SCORES
    from bench.results.records import Record
    from bench.results.scores import score_infos
    from bench.results.summary_text import summary_table

    infos = score_infos(spec for _, spec in SCORES.items())
    return summary_table([r for r in records if isinstance(r, Record)], infos)


def _cmd_run(args: argparse.Namespace) -> int:
    from bench.frontends.api import publish, run_track
    from bench.results.places import site_beside, user_results_root
    from bench.running.progress import progress_style, show_progress_lines

    results = Path(args.results) if args.results else user_results_root()
    style = progress_style(args.progress_style)
    show_progress_lines()
    where: dict[str, Any] = {"address": args.address} if args.executor == "ray" else {"workers": _workers(args)}
    report = run_track(
        args.track,
        entries=args.entries or None,
        extra_entries=[Path(p) for p in args.entry_dir or []],
        store=args.store,
        base_store=args.base_store,
        results_root=results,
        quick=args.quick,
        device=args.device,
        data_root=args.data_root,
        stages=args.stages or None,
        executor=args.executor,
        executor_options={**where, "show_progress": style.bars, "progress": style.progress},
        checkpoints=args.checkpoints,
        retrain=args.retrain,
        publish_checkpoints=args.publish_checkpoints,
        threads=args.threads,
    )
    computed, cached, failed = report.counts
    print()
    print(_summary_table(report.records))
    print(
        f"\n{computed} cells computed, {cached} cached, {failed} failed in {report.wall_time_s:.1f} s; "
        f"records: {report.paths[0].parent.resolve() if report.paths else '-'}"
    )
    if not args.no_site:
        index = publish(results, args.site or site_beside(results))
        # quick records are never ranked: they are listed on quick.html, not on the index
        page = index.parent / "quick.html" if args.quick and (index.parent / "quick.html").is_file() else index
        print(f"Leaderboard: {page.resolve()}")
    return 0 if failed == 0 else 3


def _workers(args: argparse.Namespace) -> int:
    """``--workers``, or by default one worker process per usable CPU (at most 4) on the CPU and one on a GPU."""
    if args.workers is not None:
        return int(args.workers)
    from bench.frontends.api import resolve_device
    from bench.running.parallel import usable_cpus

    return 1 if resolve_device(args.device).startswith("cuda") else min(4, usable_cpus())


def _cmd_leaderboard(args: argparse.Namespace) -> int:
    from bench.frontends.publish import publish  # torch-free: rendering the site imports no stage

    index = publish(args.results, args.site or args.out)
    print(f"Leaderboard: {index.resolve()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="robex", description="Robustness + interpretability leaderboard harness.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    listables = list(_listables().names())
    p = sub.add_parser("list", help=f"list {', '.join(listables)}")
    p.add_argument("what", choices=listables)
    p.add_argument("pattern", nargs="?", default=None, help="only names starting with this prefix")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("run", help="train and evaluate a track's entries, write records, render the site")
    options.add(p, "track", "entries", "entry_dir", "store", "base_store")
    options.add(
        p,
        "results",
        "site",
        results={"help": "records folder (default: $ROBEX_RESULTS or the user data folder's robex/results)"},
        site={"help": "site folder (default: 'site' beside the records folder)"},
    )
    options.add(p, "device", "data_root", "quick")
    options.add(p, "stages", "executor", "address", "workers", "no_site", "progress_style")
    options.add(p, "threads", "checkpoints", "retrain", "publish_checkpoints")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("leaderboard", help="render the static site from the records (no compute)")
    options.add(p, "results", "site")
    p.add_argument("--out", default=None, help=argparse.SUPPRESS)  # the former name of --site, still accepted
    p.set_defaults(func=_cmd_leaderboard)

    for name, (configure, handler) in COMMANDS.items():
        p = sub.add_parser(name, help=(handler.__doc__ or "").strip().splitlines()[0] if handler.__doc__ else None)
        configure(p)
        p.set_defaults(func=handler)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``robex`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return int(args.func(args))
    except (RegistryError, ValueError, FileNotFoundError) as exc:
        print(f"robex: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
