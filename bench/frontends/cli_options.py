"""Command-line options declared once: every ``robex`` subcommand that takes an option adds it from here, and
:func:`to_argv` turns values back into the same flags (``robex submit`` runs ``robex run`` in a sandbox)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bench.registry import Registry
from bench.track import DEFAULT_TRACK


@dataclass(frozen=True)
class Option:
    """One option: its flag and its :meth:`argparse.ArgumentParser.add_argument` keywords."""

    flag: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    @property
    def dest(self) -> str:
        """The attribute the parsed value lands in (``--data-root`` → ``data_root``)."""
        return self.flag.lstrip("-").replace("-", "_")

    def add(self, parser: argparse.ArgumentParser, **override: Any) -> None:
        """Add this option to ``parser`` (``override``: keywords that differ for one command, e.g. ``help``)."""
        parser.add_argument(self.flag, **{**self.kwargs, **override})

    def argv(self, value: Any) -> list[str]:
        """The flags that make the parser read ``value`` back (nothing for a default-like value).

        >>> OPTIONS.get("quick").argv(True), OPTIONS.get("stages").argv(["clean", "pgd"])
        (['--quick'], ['--stages', 'clean', 'pgd'])
        >>> OPTIONS.get("entry_dir").argv(["a", "b"]), OPTIONS.get("store").argv(None)
        (['--entry-dir', 'a', '--entry-dir', 'b'], [])
        """
        action, nargs = self.kwargs.get("action"), self.kwargs.get("nargs")
        if action == "store_true":
            return [self.flag] if value else []
        if value is None:
            return []
        if action == "append":
            return [x for v in value for x in (self.flag, str(v))]
        if nargs in ("*", "+"):
            return [self.flag, *(str(v) for v in value)] if value or nargs == "*" else []
        return [self.flag, str(value)]


OPTIONS: Registry[Option] = Registry("command-line option")


def _declare(flag: str, **kwargs: Any) -> None:
    option = Option(flag, kwargs)
    OPTIONS.add(option.dest, option)


_declare("--results", default=None, help="records folder (default: the committed leaderboard/results)")
_declare("--site", default=None, help="site folder (default: 'site' beside the records folder)")
_declare("--store", default=None, help="cell cache folder (default: $ROBEX_STORE or the user cache)")
_declare(
    "--base-store",
    default=None,
    metavar="DIR",
    help="also read cells from this store, never writing it (new cells go to --store)",
)
_declare("--device", default="auto", help="auto | cpu | cuda")
_declare("--data-root", default=None, help="dataset root for mnist/fashion-mnist/cifar10 ($ROBEX_DATA)")
_declare("--quick", action="store_true", help="smoke mode: tiny budgets; records are marked quick")
_declare("--stages", nargs="*", metavar="STAGE", help="only these stages (train is always run)")
_declare("--no-site", action="store_true", help="do not render the leaderboard")
_declare("--track", default=DEFAULT_TRACK, help=f"track name (default: {DEFAULT_TRACK}, embedded, no download)")
_declare("--entries", nargs="*", metavar="NAME", help="only these baseline entries")
_declare("--entry-dir", action="append", metavar="PATH", help="also run a submitted entry folder")
_declare(
    "--checkpoints",
    default=None,
    metavar="DIR",
    help="published checkpoints folder (default: the clone's leaderboard/checkpoints); a baseline whose checkpoint "
    "matches its recipe is loaded, not trained",
)
_declare("--retrain", action="store_true", help="train every baseline even when its published checkpoint matches")
_declare(
    "--publish-checkpoints",
    action="store_true",
    help="maintainers: write every baseline this run trained into the checkpoints folder",
)
_declare(
    "--threads",
    type=int,
    default=1,
    help="intra-op CPU threads per cell (default 1); part of the protocol: records are identical for a given value "
    "whatever the executor or worker count",
)
_declare(
    "--progress-style",
    default="auto",
    choices=["auto", "bars", "lines", "json", "none"],
    help="progress per stage with the time left: bars on a terminal, lines in a log (auto: bars on a terminal, "
    "else lines); json: machine lines for a parent process",
)
_declare("--executor", default="local", help="local (default) | ray")
_declare("--address", default=None, help="Ray cluster address (with --executor ray)")
_declare(
    "--workers", type=int, default=None, help="worker processes of the local executor (default: one per CPU, max 4)"
)


def add(parser: argparse.ArgumentParser, *names: str, **overrides: Mapping[str, Any]) -> None:
    """Add the options ``names`` (their ``dest``) to ``parser``; ``overrides[name]`` changes keywords for one
    command (a help text, a default)."""
    for name in names:
        OPTIONS.get(name).add(parser, **overrides.get(name, {}))


def to_argv(command: str, **values: Any) -> list[str]:
    """``[command, *flags]`` that parse back to ``values`` (keyword: an option's ``dest``), in the given order."""
    out = [command]
    for name, value in values.items():
        out += OPTIONS.get(name).argv(value)
    return out
