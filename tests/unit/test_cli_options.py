"""Options are declared once (bench.frontends.cli_options) and turned back into argv from the same declarations."""

from __future__ import annotations

import argparse

import pytest

from bench.cli import build_parser
from bench.frontends.cli_options import OPTIONS, to_argv


def _subparser(name: str) -> argparse.ArgumentParser:
    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[name]


@pytest.mark.parametrize("quick", [False, True])
@pytest.mark.parametrize("stages", [None, ["clean", "pgd"]])
def test_submit_argv_parses_back_to_the_same_values(quick: bool, stages: list[str] | None) -> None:
    values = {
        "track": "mnist5k",
        "entry_dir": ["/tmp/entry"],
        "entries": ["standard", "mine"],
        "store": "/tmp/store",
        "results": "/tmp/results",
        "no_site": True,
        "device": "cpu",
        "quick": quick,
        "stages": stages,
        "data_root": None,
    }
    args = build_parser().parse_args(to_argv("run", **values))
    assert args.command == "run"
    for name, value in values.items():
        assert getattr(args, name) == value, name


@pytest.mark.parametrize("command", ["run", "submit", "verify", "compare", "leaderboard"])
def test_shared_flags_come_from_the_declarations(command: str) -> None:
    """Every flag of a subcommand that is declared in OPTIONS keeps the declared type and action."""
    parser = _subparser(command)
    for action in parser._actions:
        if not action.option_strings or action.dest not in OPTIONS:
            continue
        declared = OPTIONS.get(action.dest)
        assert action.option_strings == [declared.flag]
        assert action.nargs == declared.kwargs.get("nargs", action.nargs)


def test_unknown_option_names_fail_loudly() -> None:
    with pytest.raises(KeyError, match="did you mean: data_root"):
        to_argv("run", data_rot="/data")
