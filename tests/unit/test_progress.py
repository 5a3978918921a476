"""Progress per stage with an estimate of the time left (:mod:`bench.running.progress`), and the strict parsing of
the machine lines a parent reads from its (sandboxed) children (:func:`bench.frontends.sandbox._pump`)."""

from __future__ import annotations

import io
import json
from collections import deque
from pathlib import Path

import pytest

from bench.frontends.sandbox import _pump
from bench.running.progress import (
    PREFIX,
    PhaseReporter,
    ProgressEvent,
    RunProgress,
    describe,
    estimate_left,
    parse_event,
    progress_style,
    show_progress_lines,
    step_reporter,
)
from bench.running.runner import Cell, CellResult


def _cell(stage: str, i: int) -> Cell:
    return Cell(stage=stage, entry=f"e{i}", source=None, key=f"{stage}{i}", deps=(), settings={}, level=0)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_time_left_is_remaining_cells_times_the_stage_mean_over_the_workers() -> None:
    per, total, rough = estimate_left({"ara": 3, "clean": 0}, {"ara": [2.0, 4.0], "clean": [0.5]}, workers=1)
    assert per == {"ara": 9.0, "clean": 0.0} and total == 9.0 and not rough
    per, total, _ = estimate_left({"ara": 3}, {"ara": [2.0, 4.0]}, workers=3)
    assert per == {"ara": 3.0} and total == 3.0
    # a stage not yet timed takes the run's mean cell time (5 s here), and the estimate is rough
    per, total, rough = estimate_left({"ara": 1, "autoattack": 2}, {"ara": [4.0, 6.0]}, workers=1)
    assert per == {"ara": 5.0, "autoattack": 10.0} and total == 15.0 and rough
    assert estimate_left({"ara": 2}, {}, workers=2) == ({"ara": None}, None, True)  # nothing timed: no estimate


def test_a_run_reports_each_stage_with_its_estimate_and_throttles_its_lines() -> None:
    clock, seen = Clock(), []
    progress = RunProgress(seen.append, interval_s=10.0, clock=clock)
    cells = [_cell("train", i) for i in range(2)] + [_cell("pgd", i) for i in range(3)]
    progress.begin(cells, workers=1)
    clock.now += 30
    first = progress.finished(cells[0], CellResult("train0", "l", ok=True, cached=False, wall_time_s=30.0))
    assert (first.done, first.total, first.run_done, first.run_total) == (1, 2, 1, 5)
    assert first.elapsed_s == 30.0 and first.stage_left_s == 30.0
    assert first.run_left_s == 30.0 + 3 * 30.0 and first.rough  # pgd not timed yet: the run's mean cell time
    clock.now += 1
    progress.finished(cells[2], CellResult("pgd0", "l", ok=True, cached=True))  # cached: counted, not timed
    assert len(seen) == 1  # within 10 s of the last line, and no stage completed
    clock.now += 1
    done = progress.finished(cells[1], CellResult("train1", "l", ok=True, cached=False, wall_time_s=10.0))
    assert len(seen) == 2 and seen[-1] == done  # train completed: always reported
    assert done.stage_left_s == 0.0 and done.run_left_s == 2 * 20.0 and done.rough
    assert progress.postfix("pgd") == "pgd 1/3, ~40 s left"


def test_events_round_trip_through_their_machine_line() -> None:
    event = ProgressEvent("autoattack", 3, 11, 45, 253, 130.5, 112.25, None, rough=True)
    assert event.line().startswith(PREFIX) and "\n" not in event.line()
    assert parse_event(event.line() + "\n") == event


GOOD = json.loads(ProgressEvent("pgd", 1, 2, 3, 4, 5.0, 6.0, 7.0).line()[len(PREFIX) :])


def _line(**change: object) -> str:
    return PREFIX + json.dumps({**GOOD, **change})


@pytest.mark.parametrize(
    "line",
    [
        _line(stage="<script>alert(1)</script>"),
        _line(stage="pgd\x1b[2J"),  # a terminal escape
        _line(stage="p" * 33),
        _line(stage="PGD"),
        _line(done=5),  # more than the stage's total
        _line(run_done=-1),
        _line(total=True),
        _line(total=10**9),
        _line(elapsed_s=float("nan")),
        _line(run_left_s=1e12),
        _line(stage_left_s="soon"),
        _line(rough="yes"),
        _line(extra=1),
        PREFIX + json.dumps({k: v for k, v in GOOD.items() if k != "rough"}),
        PREFIX + "[1, 2]",
        PREFIX + "{not json",
        _line(stage="pgd" + " " * 600),
        "robex-progress " + json.dumps(GOOD),
        "  " + _line(),
    ],
)
def test_anything_but_an_exact_progress_line_is_not_progress(line: str) -> None:
    assert parse_event(line) is None


def _stream(lines: list[str]) -> io.BufferedReader:
    return io.BufferedReader(io.BytesIO("".join(lines).encode()))  # type: ignore[arg-type]


def test_the_parent_takes_progress_lines_as_data_and_keeps_everything_else_as_output() -> None:
    good = ProgressEvent("clean", 1, 1, 1, 9, 2.0, 0.0, 16.0).line() + "\n"
    hostile = _line(stage="<b>x</b>") + "\n"
    tail: deque[str] = deque(maxlen=10)
    echo = io.StringIO()
    events: list[ProgressEvent] = []
    _pump(_stream(["hello\n", good, hostile, "bye\n"]), tail, echo, events.append)
    assert events == [parse_event(good)]
    assert list(tail) == ["hello\n", hostile, "bye\n"] and echo.getvalue() == "hello\n" + hostile + "bye\n"
    tail.clear()
    _pump(_stream([good, "x" * 70_000 + "\n"]), tail, None, None)  # no listener: still never kept as output
    assert len(tail) == 2 and "".join(tail) == "x" * 70_000 + "\n"  # a long line is read in bounded pieces


def test_the_human_line_fits_a_terminal_and_says_what_is_left() -> None:
    big = ProgressEvent("explanation_sanity", 999_999, 1_000_000, 9_999_999, 10_000_000, 9e6, 9e6, 9e6, rough=True)
    assert len(describe(big, "baselines")) <= 120
    line = describe(ProgressEvent("pgd", 3, 11, 45, 253, 130.0, 112.0, 540.0), "scorer")
    assert line == "[scorer] pgd: 3/11, about 1 min 52 s left; all: 45/253, 2 min 10 s so far, about 9 min 00 s left"
    assert (
        describe(ProgressEvent("pgd", 11, 11, 253, 253, 130.0, 0.0, 0.0))
        == "pgd: 11/11; all: 253/253, 2 min 10 s so far"
    )


@pytest.fixture
def stderr_lines(capsys: pytest.CaptureFixture[str]) -> pytest.CaptureFixture[str]:
    """stderr, where the progress logger's lines go."""
    show_progress_lines()
    capsys.readouterr()
    return capsys


def test_a_phase_reporter_shows_its_phases_and_throttled_events(stderr_lines: pytest.CaptureFixture[str]) -> None:
    clock = Clock()
    show = PhaseReporter(interval_s=10.0, clock=clock).phase("scorer", "submit x: scoring 'x'")
    show(ProgressEvent("clean", 1, 4, 1, 8, 1.0, 3.0, 21.0))
    clock.now += 5
    show(ProgressEvent("clean", 2, 4, 2, 8, 6.0, 2.0, 14.0))  # throttled
    show(ProgressEvent("clean", 4, 4, 4, 8, 7.0, 0.0, 8.0))  # the stage completed
    lines = stderr_lines.readouterr().err.splitlines()
    assert lines[0] == "submit x: scoring 'x'"
    assert [line.split(";")[0] for line in lines[1:]] == ["[scorer] clean: 1/4, about 3 s left", "[scorer] clean: 4/4"]


def test_training_steps_are_reported_as_machine_lines_with_the_rate_so_far(
    stderr_lines: pytest.CaptureFixture[str],
) -> None:
    clock = Clock()
    report = step_reporter("train", interval_s=2.0, clock=clock)
    for step in range(1, 11):
        clock.now += 1.0
        report(step, 10)
    events = [parse_event(line) for line in stderr_lines.readouterr().err.splitlines()]
    assert all(e is not None for e in events)
    assert [(e.done, e.stage_left_s) for e in events if e] == [
        (1, 9.0),
        (3, 7.0),
        (5, 5.0),
        (7, 3.0),
        (9, 1.0),
        (10, 0.0),
    ]


def test_auto_is_bars_on_a_terminal_and_lines_elsewhere() -> None:
    assert progress_style("auto", terminal=True).bars and progress_style("auto", terminal=True).progress is not None
    lines = progress_style("auto", terminal=False)
    assert not lines.bars and lines.progress is not None and lines.progress.emit is not None
    assert progress_style("none").progress is None


def test_robex_run_reports_stages_on_stderr_and_keeps_stdout_for_the_summary(
    tmp_path: Path, quick_store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench.cli import main

    argv = ["run", "--quick", "--entries", "standard", "--stages", "clean", "--device", "cpu", "--workers", "1"]
    argv += ["--store", str(quick_store), "--results", str(tmp_path / "r"), "--no-site"]
    assert main([*argv, "--progress-style", "json"]) == 0
    out = capsys.readouterr()
    events = [e for e in map(parse_event, out.err.splitlines()) if e is not None]
    assert events and events[-1].run_done == events[-1].run_total and PREFIX not in out.out
    assert {e.stage for e in events} == {"train", "clean"}
    assert main([*argv, "--progress-style", "lines"]) == 0
    out = capsys.readouterr()
    assert "clean: 1/1; all: 2/2," in out.err and "Clean acc." in out.out and "all: " not in out.out
