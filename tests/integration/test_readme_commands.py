"""Every shell command of the README runs as written, in a clone-like copy of the repository, and leaves the copy's
``git status`` clean.

The README's ```bash blocks are split into commands (comments dropped, ``&&`` separating commands). A command is
skipped only by one of the explicit rules of :data:`SKIP_RULES` (network, the suite itself, a GPU, full datasets,
a Ray cluster, full-budget training, submission and re-evaluation); quick ones run — the README's submit ``--quick``
→ compare → verify chain among them, on the records it writes where ``robex run`` writes; the test
asserts that the skipped commands are exactly :data:`EXPECTED_SKIPPED`, so a new README command is either run here
or consciously added to that list. ``robex`` is run as ``python -m bench`` from the copy; the placeholders
``DIR`` and ``SITE`` stand for the committed records and a temporary folder.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from bench.results.places import user_results_root, user_site_root

REPO = Path(__file__).resolve().parents[2]

Argv = list[str]

# (reason, predicate): the first rule that matches a command skips it
SKIP_RULES: list[tuple[str, Callable[[Argv], bool]]] = [
    ("installs packages (network)", lambda a: a[:2] == ["pip", "install"]),
    ("the test suite itself", lambda a: a[0] == "pytest"),
    ("needs a Ray cluster", lambda a: a[0] == "ray" or "ray" in _values(a, "--executor")),
    ("needs a GPU", lambda a: "cuda" in _values(a, "--device")),
    ("needs the full datasets", lambda a: "--data-root" in a),
    ("trains every baseline at the full budget", lambda a: a[:2] == ["robex", "run"] and "--quick" not in a),
    ("builds and evaluates a submission at the full budget", lambda a: a[:2] == ["robex", "submit"] and _full(a)),
    ("needs a full submission's record", lambda a: a[0] == "robex" and "gaussian_noise" in a and _full(a)),
    ("re-runs an evaluation at the full budget", lambda a: a[:2] == ["robex", "verify"] and _full(a)),
]


def _full(argv: Argv) -> bool:
    return "--quick" not in argv


EXPECTED_SKIPPED = {
    "pip install -e .": "installs packages (network)",
    "robex run": "trains every baseline at the full budget",
    "pip install -e '.[dev]'": "installs packages (network)",
    "pytest": "the test suite itself",
    "robex run --results leaderboard/results": "trains every baseline at the full budget",
    "robex run --track mnist --data-root DATA --store STORE --results leaderboard/results": "needs the full datasets",
    "robex run --track fashion-mnist --data-root DATA --store STORE --results leaderboard/results": (
        "needs the full datasets"
    ),
    "robex run --track cifar10 --data-root DATA --entries standard pgd_at --device cuda --results "
    "leaderboard/results": "needs a GPU",
    "robex submit examples/gaussian_noise": "builds and evaluates a submission at the full budget",
    "robex compare gaussian_noise": "needs a full submission's record",
    "robex verify pgd_at": "re-runs an evaluation at the full budget",
    "robex verify gaussian_noise --n 200": "needs a full submission's record",
    "pip install -e '.[ray]'": "installs packages (network)",
    "ray start --head --port=6379": "needs a Ray cluster",
    "ray start --address=HEAD_IP:6379": "needs a Ray cluster",
    "robex run --track mnist --data-root /shared/data --store /shared/robex-store --executor ray --address auto "
    "--device auto": "needs a Ray cluster",
}


def _values(argv: Argv, flag: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == flag]


def readme_commands(text: str) -> list[Argv]:
    """The commands of the README's ```bash blocks, in order (comments dropped, split at ``&&``)."""
    commands: list[Argv] = []
    inside = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("```"):
            inside = stripped == "```bash" if not inside else False
            continue
        if not inside:
            continue
        current: Argv = []
        for token in shlex.split(stripped, comments=True):
            if token == "&&":
                commands.append(current)
                current = []
            else:
                current.append(token)
        if current:
            commands.append(current)
    return commands


def skip_reason(argv: Argv) -> str | None:
    """The first :data:`SKIP_RULES` reason that applies to ``argv``, or ``None`` when it is run."""
    return next((reason for reason, applies in SKIP_RULES if applies(argv)), None)


def test_the_parser_splits_commands_and_drops_comments() -> None:
    text = "x\n```bash\n# a comment\npip install -e . && robex run   # trailing\n```\n```toml\nrobex no\n```\n"
    assert readme_commands(text) == [["pip", "install", "-e", "."], ["robex", "run"]]


def test_the_skipped_commands_are_exactly_the_stated_ones() -> None:
    commands = readme_commands((REPO / "README.md").read_text(encoding="utf-8"))
    skipped = {shlex.join(a): r for a in commands if (r := skip_reason(a)) is not None}
    assert skipped == {shlex.join(shlex.split(k)): v for k, v in EXPECTED_SKIPPED.items()}
    run = [a for a in commands if skip_reason(a) is None]
    assert run and all(a[0] == "robex" for a in run)
    assert ["robex", "run", "--quick", "--entries", "standard", "--stages", "clean"] in run


def _clone_like_copy(dest: Path) -> None:
    """The working tree's files that git would carry (tracked and not ignored), committed in a fresh repository."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for rel in filter(None, listed.split("\0")):
        src = REPO / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-q"], cwd=dest, check=True)
    subprocess.run([*git, "add", "-A"], cwd=dest, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "copy"], cwd=dest, check=True)


@pytest.mark.slow
def test_every_cheap_readme_command_runs_as_written_and_leaves_the_clone_clean(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.fail("this test copies the repository with git: run it from a git checkout")
    clone = tmp_path / "clone"
    _clone_like_copy(clone)
    commands = readme_commands((clone / "README.md").read_text(encoding="utf-8"))
    placeholders = {"DIR": "leaderboard/results", "SITE": str(tmp_path / "site")}
    data_home = tmp_path / "xdg"  # platformdirs' user data folder on Linux; elsewhere its own default is used
    env = {**os.environ, "PYTHONPATH": str(clone), "XDG_DATA_HOME": str(data_home), "OMP_NUM_THREADS": "1"}
    env["ROBEX_STORE"] = str(tmp_path / "store")
    env.pop("ROBEX_RESULTS", None)
    monkeypatch.delenv("ROBEX_RESULTS", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(data_home))
    user_results, user_site = user_results_root(), user_site_root()  # where the subprocesses' default points
    outputs: dict[str, str] = {}
    errors: dict[str, str] = {}
    for argv in commands:
        if skip_reason(argv) is not None:
            continue
        args = [placeholders.get(a, a) for a in argv[1:]]
        done = subprocess.run(
            [sys.executable, "-m", "bench", *args], cwd=clone, env=env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, f"{shlex.join(argv)} failed:\n{done.stdout}\n{done.stderr}"
        outputs[shlex.join(argv)] = done.stdout
        errors[shlex.join(argv)] = done.stderr
    quick = outputs["robex run --quick --entries standard --stages clean"]
    assert " ranks " not in quick
    assert (user_results / "mnist5k" / "standard.quick.json").is_file()
    assert f"records: {(user_results / 'mnist5k').resolve()}" in quick
    assert quick.rstrip().splitlines()[-1] == f"Leaderboard: {(user_site / 'quick.html').resolve()}"
    assert "pgd_at vs trades on mnist5k" in outputs["robex compare pgd_at --against standard trades"]
    # the submission chain (submit --quick -> compare -> verify) ran as written, on the user's records
    submitted = outputs["robex submit examples/gaussian_noise --quick --stages clean pgd --baselines standard"]
    assert submitted.splitlines()[0] == f"Record: {user_results / 'mnist5k' / 'gaussian_noise.quick.json'}"
    assert "gaussian_noise vs standard on mnist5k" in outputs["robex compare gaussian_noise --quick"]
    verified = outputs["robex verify gaussian_noise --quick --n 100"]
    assert "scores agree with the record within tolerance" in verified
    assert f"record: {user_results / 'mnist5k' / 'gaussian_noise.quick.json'}" in verified
    assert (
        "[build] train: "
        in errors["robex submit examples/gaussian_noise --quick --stages clean pgd --baselines standard"]
    )
    status = subprocess.run(["git", "status", "--porcelain"], cwd=clone, capture_output=True, text=True, check=True)
    assert status.stdout == "", f"README commands changed the clone:\n{status.stdout}"
