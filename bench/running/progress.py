"""Progress of a run per stage, with an estimate of the time left: human lines on stderr, or machine lines that a
parent process (``robex submit``, whose children run in sandboxes) parses strictly and renders itself.

**Estimate** (:func:`estimate_left`). For each stage, the mean wall time of the cells computed so far (cells found
in the store are not timed: they take no time); the time a stage has left is

    left(stage) = remaining(stage) · mean(stage) / workers

and the run's is the sum over stages. A stage none of whose cells has been computed yet takes the mean over every
computed cell of the run (the estimate is then marked rough, ``~``); before any cell is computed there is no
estimate. Cells of different stages vary a thousandfold (an AutoAttack cell against a clean-accuracy cell), so the
estimate sharpens as each stage's first cell finishes.

**Machine lines** (:meth:`ProgressEvent.line`, :func:`parse_event`): ``ROBEX-PROGRESS {json}`` on one line of at
most :data:`MAX_LINE` characters, exactly the fields of :class:`ProgressEvent`, a stage name of lowercase letters,
digits and ``_``, counts and seconds within bounds. Anything else is not progress (it stays ordinary output), so
a child — whose build may run entry code — can change nothing but the numbers and the short stage name the
parent shows.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import re
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bench.registry import Registry

if TYPE_CHECKING:
    from bench.running.runner import Cell, CellResult

PROGRESS_LOG = logging.getLogger("bench.progress")
PREFIX = "ROBEX-PROGRESS "
MAX_LINE = 512
MAX_COUNT = 10_000_000
MAX_SECONDS = 1e7
STAGE = re.compile(r"[a-z][a-z0-9_]{0,31}")
MAX_TEXT = 120  # columns of a human line


@dataclass(frozen=True)
class ProgressEvent:
    """Where a run stands when one of its cells (or steps) finished: the stage's ``done`` of ``total`` and the
    run's, the seconds elapsed and the estimated seconds left (``None``: no estimate yet); ``rough`` when a stage
    still to run has not been timed."""

    stage: str
    done: int
    total: int
    run_done: int
    run_total: int
    elapsed_s: float
    stage_left_s: float | None = None
    run_left_s: float | None = None
    rough: bool = False

    def line(self) -> str:
        """The machine line a parent parses (:func:`parse_event`)."""
        return PREFIX + json.dumps(dataclasses.asdict(self), sort_keys=True, separators=(",", ":"))


_FIELDS = {f.name: f for f in dataclasses.fields(ProgressEvent)}


def _count(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= MAX_COUNT


def _seconds(v: object, optional: bool) -> bool:
    if v is None:
        return optional
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and 0 <= v <= MAX_SECONDS


def parse_event(line: str) -> ProgressEvent | None:
    """The event a machine line carries, or ``None`` when ``line`` is not exactly one (see the module docstring).

    >>> e = ProgressEvent("pgd", 3, 11, 45, 253, 130.0, 112.0, 540.0)
    >>> parse_event(e.line()) == e
    True
    >>> parse_event(e.line().replace('"pgd"', '"<b>pgd</b>"')) is None
    True
    """
    text = line.rstrip("\n")
    if not text.startswith(PREFIX) or len(text) > MAX_LINE:
        return None
    try:
        data = json.loads(text[len(PREFIX) :])
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or set(data) != set(_FIELDS):
        return None
    ok = (
        isinstance(data["stage"], str)
        and STAGE.fullmatch(data["stage"]) is not None
        and all(_count(data[k]) for k in ("done", "total", "run_done", "run_total"))
        and data["done"] <= data["total"]
        and data["run_done"] <= data["run_total"]
        and _seconds(data["elapsed_s"], optional=False)
        and _seconds(data["stage_left_s"], optional=True)
        and _seconds(data["run_left_s"], optional=True)
        and isinstance(data["rough"], bool)
    )
    return ProgressEvent(**data) if ok else None


def duration_text(seconds: float) -> str:
    """``42 s``, ``3 min 05 s``, ``1 h 07 min``.

    >>> duration_text(42.4), duration_text(185), duration_text(4020)
    ('42 s', '3 min 05 s', '1 h 07 min')
    """
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def describe(event: ProgressEvent, phase: str = "") -> str:
    """The human line of an event (at most :data:`MAX_TEXT` characters): the stage's finished and planned cells
    (or steps) and its time left, then the whole run's; ``~`` marks a rough estimate.

    >>> describe(ProgressEvent("pgd", 3, 11, 45, 253, 130.0, 112.0, 540.0, rough=True), "scorer")
    '[scorer] pgd: 3/11, about 1 min 52 s left; all: 45/253, 2 min 10 s so far, ~9 min 00 s left'
    """
    head = f"[{phase}] " if phase else ""
    stage = f"{event.stage}: {event.done}/{event.total}"
    if event.stage_left_s is not None and event.done < event.total:
        stage += f", about {duration_text(event.stage_left_s)} left"
    run = f"all: {event.run_done}/{event.run_total}, {duration_text(event.elapsed_s)} so far"
    if event.run_left_s is not None and event.run_done < event.run_total:
        run += f", {'~' if event.rough else 'about '}{duration_text(event.run_left_s)} left"
    return f"{head}{stage}; {run}"[:MAX_TEXT]


def estimate_left(
    remaining: Mapping[str, int], timed: Mapping[str, Sequence[float]], workers: int
) -> tuple[dict[str, float | None], float | None, bool]:
    """Seconds left per stage and for the run, and whether the run's estimate is rough (see the module docstring).

    >>> per, total, rough = estimate_left({"clean": 2, "pgd": 4}, {"clean": [1.0, 3.0]}, workers=2)
    >>> per, total, rough
    ({'clean': 2.0, 'pgd': 4.0}, 6.0, True)
    """
    every = [t for times in timed.values() for t in times]
    fallback = sum(every) / len(every) if every else None
    per: dict[str, float | None] = {}
    rough = False
    for stage, left in remaining.items():
        times = timed.get(stage, ())
        mean = sum(times) / len(times) if times else fallback
        rough = rough or (not times and left > 0)
        per[stage] = None if mean is None else left * mean / max(1, workers)
    known = [v for v in per.values() if v is not None]
    total = sum(known) if fallback is not None else None
    return per, total, rough


@dataclass
class RunProgress:
    """Counts a run's cells per stage as they finish and reports :class:`ProgressEvent` s to ``emit`` — at most
    every ``interval_s`` seconds, and always when a stage or the run completes."""

    emit: Callable[[ProgressEvent], None] | None = None
    interval_s: float = 0.0
    clock: Callable[[], float] = time.monotonic
    planned: dict[str, int] = field(default_factory=dict)
    finished_cells: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    timed: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    workers: int = 1
    start: float = 0.0
    last_emit: float = -math.inf

    def begin(self, cells: Sequence[Cell], workers: int) -> None:
        """The plan: how many cells each stage has, and how many run side by side."""
        self.planned = defaultdict(int)
        for c in cells:
            self.planned[c.stage] += 1
        self.workers = max(1, int(workers))
        self.start = self.clock()

    def finished(self, cell: Cell, result: CellResult) -> ProgressEvent:
        """Count a finished cell (timed when it was computed) and report where the run stands."""
        self.finished_cells[cell.stage] += 1
        if result.ok and not result.cached and result.wall_time_s > 0:
            self.timed[cell.stage].append(result.wall_time_s)
        event = self.event(cell.stage)
        now = self.clock()
        complete = event.done == event.total or event.run_done == event.run_total
        if self.emit is not None and (complete or now - self.last_emit >= self.interval_s):
            self.last_emit = now
            self.emit(event)
        return event

    def event(self, stage: str) -> ProgressEvent:
        """Where the run stands, seen from ``stage``."""
        remaining = {s: n - self.finished_cells.get(s, 0) for s, n in self.planned.items()}
        per, total, rough = estimate_left(remaining, self.timed, self.workers)
        return ProgressEvent(
            stage=stage,
            done=min(self.finished_cells.get(stage, 0), self.planned.get(stage, 0)),
            total=self.planned.get(stage, 0),
            run_done=min(sum(self.finished_cells.values()), sum(self.planned.values())),
            run_total=sum(self.planned.values()),
            elapsed_s=max(0.0, self.clock() - self.start),
            stage_left_s=per.get(stage),
            run_left_s=total,
            rough=rough,
        )

    def postfix(self, stage: str) -> str:
        """A short text for a progress bar: the stage's cells and the run's time left."""
        e = self.event(stage)
        left = f", ~{duration_text(e.run_left_s)} left" if e.run_left_s is not None else ""
        return f"{stage} {e.done}/{e.total}{left}"


# ------------------------------------------------------------------------------------------ styles
@dataclass(frozen=True)
class ProgressStyle:
    """How a run shows its progress: tqdm bars on a terminal, and/or a :class:`RunProgress` reporting lines."""

    bars: bool
    progress: RunProgress | None


def _human(event: ProgressEvent) -> None:
    PROGRESS_LOG.info(describe(event))


def _machine(event: ProgressEvent) -> None:
    PROGRESS_LOG.info(event.line())


PROGRESS_STYLES: Registry[Callable[[], ProgressStyle]] = Registry("progress style")
PROGRESS_STYLES.add("bars", lambda: ProgressStyle(True, RunProgress()))
PROGRESS_STYLES.add("lines", lambda: ProgressStyle(False, RunProgress(_human, interval_s=10.0)))
PROGRESS_STYLES.add("json", lambda: ProgressStyle(False, RunProgress(_machine, interval_s=1.0)))
PROGRESS_STYLES.add("none", lambda: ProgressStyle(False, None))


def progress_style(name: str, terminal: bool | None = None) -> ProgressStyle:
    """The style ``name``; ``auto`` is ``bars`` on a terminal and ``lines`` elsewhere (a log, a pipe)."""
    if name == "auto":
        name = "bars" if (sys.stderr.isatty() if terminal is None else terminal) else "lines"
    return PROGRESS_STYLES.get(name)()


class _Stderr(logging.Handler):
    """Each message as it is, on one line of whatever ``sys.stderr`` is when it is emitted."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:  # a closed or broken stream: logging's own handling, never the run's failure
            self.handleError(record)


def show_progress_lines() -> None:
    """Send :data:`PROGRESS_LOG`'s lines to stderr as they are (once per process; for command-line front ends)."""
    if any(isinstance(h, _Stderr) for h in PROGRESS_LOG.handlers):
        return
    PROGRESS_LOG.addHandler(_Stderr())
    PROGRESS_LOG.setLevel(logging.INFO)
    PROGRESS_LOG.propagate = False


def step_reporter(
    stage: str, interval_s: float = 2.0, clock: Callable[[], float] = time.monotonic
) -> Callable[[int, int], None]:
    """An ``on_step(done, total)`` callback (training) that emits machine lines, the time left from the rate so far:
    left = elapsed · (total − done) / done."""
    start, last = clock(), [-math.inf]

    def report(done: int, total: int) -> None:
        now = clock()
        if done < total and now - last[0] < interval_s:
            return
        last[0] = now
        elapsed = max(0.0, now - start)
        left = elapsed * (total - done) / done if done > 0 else None
        total_c, done_c = min(total, MAX_COUNT), min(done, total, MAX_COUNT)
        _machine(ProgressEvent(stage, done_c, total_c, done_c, total_c, elapsed, left, left))

    return report


@dataclass
class PhaseReporter:
    """A parent's view of its children's progress (``robex submit``: build, baselines, scorer): a line when a phase
    starts, then each child event as :func:`describe` renders it under the phase's name — at most every
    ``interval_s`` seconds, and always when a stage or the child's run completes. The phase texts are the
    parent's; from a child only a parsed :class:`ProgressEvent` (numbers and a short stage name) is shown."""

    interval_s: float = 10.0
    clock: Callable[[], float] = time.monotonic

    def phase(self, name: str, text: str) -> Callable[[ProgressEvent], None]:
        """Announce phase ``name`` with ``text``; the callback that shows its child's events."""
        PROGRESS_LOG.info("%s", text)
        last = [-math.inf]

        def show(event: ProgressEvent) -> None:
            now = self.clock()
            complete = event.done == event.total or event.run_done == event.run_total
            if complete or now - last[0] >= self.interval_s:
                last[0] = now
                PROGRESS_LOG.info("%s", describe(event, name))

        return show

    def note(self, text: str) -> None:
        """A line of the parent's own (a phase skipped, the result)."""
        PROGRESS_LOG.info("%s", text)
