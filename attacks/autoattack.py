"""AutoAttack (Croce & Hein, ICML 2020, https://arxiv.org/abs/2003.01690) through ``pyautoattack`` 0.2.0.

The adapter adds nothing to the attack: it builds ``pyautoattack.AutoAttack`` with the threat model's norm
and ε, the explicit ``seed`` and ``version``, and calls ``run_standard_evaluation`` on the points the base
hands it (the correctly classified ones, which are exactly the points AutoAttack itself attacks), so the
adversarial inputs are identical to calling pyautoattack directly with the same seed and batch size.

Around the call it
- captures the ``auto-attack`` logger: its sanity-check warnings (randomised/dynamic defence, zero
  gradients, Square beating the gradient attacks, ...) go to ``details["warnings"]`` and are re-logged here;
  its per-batch debug lines give the exact number of points each attack broke, from which
  ``details["per_attack"]`` = robust accuracy over all inputs after each attack of the ensemble;
- forks the global PRNG (pyautoattack reseeds it with ``seed``), so callers' random state is untouched;
- resets pyautoattack's global call counters of its "dynamic defence" check (which otherwise keep counting
  across runs and misfire) and restores the tracing function that check replaces (``sys.settrace``).

The ``generator`` argument is not used: pyautoattack draws from the global PRNG seeded by ``seed``.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from bench.plugins import ATTACKS
from bench.protocols import Attack, Proposal
from bench.types import Norm, ThreatModel

log = logging.getLogger(__name__)

AA_LOGGER = "auto-attack"
VERSIONS = ("standard", "plus", "rand", "custom")
ATTACK_NAMES = ("apgd-ce", "apgd-dlr", "fab", "square", "apgd-t", "fab-t")
NORM_NAMES: Mapping[Norm, str] = {Norm.LINF: "Linf", Norm.L2: "L2"}
# pyautoattack 0.2.0's ``_set_version`` (used only to describe a call in which no point was left to attack)
VERSION_ATTACKS: Mapping[str, tuple[str, ...]] = {
    "standard": ("apgd-ce", "apgd-t", "fab-t", "square"),
    "plus": ("apgd-ce", "apgd-dlr", "fab", "square", "apgd-t", "fab-t"),
    "rand": ("apgd-ce", "apgd-dlr"),
}
# "<attack> - <batch>/<batches> - <k> out of <m> successfully perturbed"; k is printed from a 0-d tensor.
_BATCH_LINE = re.compile(r"^(?P<attack>[\w-]+) - \d+/\d+ - (?:tensor\()?(?P<k>\d+)\D.*out of (?P<m>\d+) successfully")
_RUNNING_LINE = re.compile(r"^running (?P<attack>[\w-]+)$")


class _Capture(logging.Handler):
    """Collects every record of the ``auto-attack`` logger."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def _captured_aa_log() -> Iterator[_Capture]:
    """Route the ``auto-attack`` logger (all levels) into a list, and nowhere else, for the duration."""
    logger = logging.getLogger(AA_LOGGER)
    handler = _Capture()
    saved = (logger.level, logger.propagate)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


@contextlib.contextmanager
def _isolated_globals(device: torch.device) -> Iterator[None]:
    """Fork the global PRNG, reset pyautoattack's dynamic-defence counters, restore ``sys.settrace``."""
    from pyautoattack import checks

    trace = sys.gettrace()
    devices = (
        [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []
    )
    for key in checks.funcs:
        checks.funcs[key] = 0
    try:
        with torch.random.fork_rng(devices=devices):
            yield
    finally:
        sys.settrace(trace)


def parse_breakdown(records: Sequence[logging.LogRecord]) -> tuple[list[str], dict[str, int]]:
    """(attacks in the order they ran, points each one broke) from pyautoattack's debug lines.

    >>> rec = lambda msg: logging.LogRecord("auto-attack", logging.DEBUG, "", 0, msg, None, None)
    >>> lines = ["running apgd-ce", "apgd-ce - 1/1 - tensor(3) out of 3 successfully perturbed", "running apgd-t",
    ...          "no robust datapoints left, skipping remaining attacks"]
    >>> parse_breakdown([rec(line) for line in lines])
    (['apgd-ce'], {'apgd-ce': 3})
    """
    order: list[str] = []
    broken: dict[str, int] = {}
    for record in records:
        message = record.getMessage()
        if m := _RUNNING_LINE.match(message):
            order.append(m["attack"])
            broken.setdefault(m["attack"], 0)
        elif message.startswith("no robust datapoints left") and order:
            broken.pop(order.pop())  # logged after "running <attack>", which then did not run
        elif m := _BATCH_LINE.match(message):
            broken[m["attack"]] = broken.get(m["attack"], 0) + int(m["k"])
    return order, broken


@ATTACKS.register("autoattack")
class AutoAttackAdapter(Attack):
    """pyautoattack's AutoAttack, unchanged, with its warnings and per-attack breakdown kept.

    Args:
        threat: ℓ∞ or ℓ2 budget on [0, 1] inputs (pyautoattack clips to [0, 1]).
        version: ``standard`` (APGD-CE, APGD-T, FAB-T, Square 5000), ``plus``, ``rand`` (for randomised
            defences: APGD-CE/DLR with 20 EOT iterations) or ``custom`` (with ``attacks``).
        seed: pyautoattack's seed (it reseeds the global PRNG before each attack; we fork it).
        batch_size: pyautoattack's batch size (results depend on it only through batching).
        attacks: Attack names for ``version="custom"``.
    """

    smoke_kwargs: ClassVar[Mapping[str, Any]] = {"version": "custom", "attacks": ("apgd-ce",)}

    def __init__(
        self,
        threat: ThreatModel,
        version: str = "standard",
        seed: int = 0,
        batch_size: int = 500,
        attacks: Sequence[str] | None = None,
    ) -> None:
        super().__init__(threat)
        if version not in VERSIONS:
            raise ValueError(f"AutoAttack version must be one of {VERSIONS}, got {version!r}")
        if (version == "custom") != (attacks is not None):
            raise ValueError("pass `attacks` exactly when version='custom'")
        unknown = sorted(set(attacks or ()) - set(ATTACK_NAMES))
        if unknown:
            raise ValueError(f"unknown AutoAttack attack(s) {unknown}; known: {list(ATTACK_NAMES)}")
        if (threat.lower, threat.upper) != (0.0, 1.0):
            raise ValueError(f"pyautoattack assumes inputs in [0, 1]; the threat model's domain is {threat}")
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.version = version
        self.seed = seed
        self.batch_size = batch_size
        self.attacks = None if attacks is None else list(attacks)

    def build(self, model: nn.Module, device: torch.device) -> Any:
        """The ``pyautoattack.AutoAttack`` object this adapter runs (also what a direct call would build)."""
        from pyautoattack import AutoAttack

        return AutoAttack(
            model,
            attacks=self.attacks,  # type: ignore[arg-type]
            device=device,
            eps=self.threat.eps,
            norm=NORM_NAMES[self.threat.norm],  # type: ignore[arg-type]
            seed=self.seed,
            version=self.version,  # type: ignore[arg-type]
        )

    def run(self, model: nn.Module, x: Tensor, y: Tensor, *, generator: torch.Generator) -> Proposal:
        """One ``run_standard_evaluation`` on the correctly classified points."""
        with _captured_aa_log() as capture, _isolated_globals(x.device):
            aa = self.build(model, x.device)
            x_adv, y_adv = aa.run_standard_evaluation(x, y, batch_size=self.batch_size)
            planned = list(aa.attacks_to_run)
        warnings_seen: list[str] = []
        for record in capture.records:
            if record.levelno >= logging.WARNING and record.getMessage() not in warnings_seen:
                warnings_seen.append(record.getMessage())
                log.warning("pyautoattack: %s", record.getMessage())
        order, broken = parse_breakdown(capture.records)
        robust_left = int((y_adv == y).sum())
        if sum(broken.values()) != len(x) - robust_left:
            message = (
                f"pyautoattack's log accounts for {sum(broken.values())} broken points but {len(x) - robust_left} "
                "were broken; per-attack breakdown unavailable"
            )
            log.warning(message)
            warnings_seen.append(message)
            planned, order, broken = [], [], {}
        details = {"planned": planned, "order": order, "broken": broken, "warnings": warnings_seen}
        return Proposal(x_adv=x_adv.detach(), details=details)

    def describe(self, details: Mapping[str, Any], *, attacked: Tensor, success: Tensor) -> Mapping[str, Any]:
        """``per_attack``: robust accuracy over all inputs after each attack (attacks skipped because no
        point was left keep the previous value and are listed in ``skipped``; empty if pyautoattack's log could
        not be read); ``warnings``; counts."""
        n = len(attacked)
        robust = int(attacked.sum())
        per_attack: dict[str, float] = {}
        broken: Mapping[str, int] = details.get("broken", {})
        order: list[str] = list(details.get("order", []))
        for name in order:
            robust -= broken.get(name, 0)
            per_attack[name] = robust / n if n else 0.0
        planned = list(details.get("planned", self.attacks or VERSION_ATTACKS.get(self.version, ())))
        skipped = [name for name in planned if name not in order]
        for name in skipped:
            per_attack[name] = robust / n if n else 0.0
        return {
            "per_attack": per_attack,
            "warnings": list(details.get("warnings", [])),
            "skipped": skipped,
            "n": n,
            "clean": int(attacked.sum()),
            "robust": int((~success).sum()),
            "version": self.version,
            "seed": self.seed,
        }
