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


@pytest.mark.parametrize("flag", ["--site", "--out"])
def test_leaderboard_takes_site_and_its_former_name_out(flag: str) -> None:
    args = build_parser().parse_args(["leaderboard", flag, "/tmp/s"])
    assert (args.site or args.out) == "/tmp/s"


def test_list_covers_entries_and_says_what_each_stage_computes(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.cli import main
    from bench.entries import load_entries
    from bench.plugins import STAGES
    from bench.track import DEFAULT_TRACK, load_track

    assert main(["list", "entries"]) == 0
    listed = {line.split()[0] for line in capsys.readouterr().out.splitlines()}
    assert {e.name for e in load_entries(load_track(DEFAULT_TRACK))} <= listed
    assert main(["list", "stages"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(STAGES.names())
    for line in lines:
        name = line.split()[0]
        assert STAGES.get(name).summary in line
    assert main(["list", "tracks"]) == 0
    by_track = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "embedded data" in by_track[DEFAULT_TRACK]
    assert all("--data-root" in line for name, line in by_track.items() if name != DEFAULT_TRACK)
