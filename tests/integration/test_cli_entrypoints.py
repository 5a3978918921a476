"""``robex``, ``python -m bench`` and ``python -m bench.cli`` expose the same subcommands."""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from bench.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]


def _subcommands(parser: argparse.ArgumentParser) -> set[str]:
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return set(actions[0].choices)


def _help_of(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120
    )


def test_the_console_script_is_the_cli_main() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    module, _, attr = scripts["robex"].partition(":")
    assert getattr(importlib.import_module(module), attr) is importlib.import_module("bench.cli").main


def test_every_front_door_knows_the_same_commands() -> None:
    expected = _subcommands(build_parser())
    assert {"list", "run", "leaderboard", "submit", "verify", "compare"} <= expected
    for module in ("bench", "bench.cli"):
        out = _help_of(module, "--help")
        assert out.returncode == 0, out.stderr
        listed = out.stdout.split("{", 1)[1].split("}", 1)[0].split(",")
        assert set(listed) == expected, module


@pytest.mark.parametrize("module", ["bench", "bench.cli"])
@pytest.mark.parametrize("command", ["submit", "verify", "compare"])
def test_extra_commands_parse_under_python_m(module: str, command: str) -> None:
    out = _help_of(module, command, "--help")
    assert out.returncode == 0, out.stderr
    assert f"usage: robex {command}" in out.stdout
