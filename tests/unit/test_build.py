"""What a build returns is untrusted: links, oversized or malformed files and junk metadata are refused."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path

import pytest
import torch
from safetensors.torch import save

from bench.checkpoint import state_dict_bytes
from bench.entries import Entry
from bench.frontends.build import GRAPH, META, WEIGHTS, BuildError, install_artifact
from bench.frontends.sandbox import SandboxResult
from bench.manifest import parse_manifest
from bench.models import build_architecture
from bench.track import load_track

RESULT = SandboxResult(0, False, 1.0, "")
MANIFEST = {
    "name": "e",
    "title": "t",
    "authors": "a",
    "track": "mnist5k",
    "defense": {"name": "x_defense", "module": "defense.py"},
}


@pytest.fixture
def entry(tmp_path: Path) -> Entry:
    return Entry(parse_manifest(MANIFEST), str(tmp_path))


def _out(tmp_path: Path, meta: Mapping[str, object], weights: bytes) -> Path:
    out = tmp_path / "out"
    out.mkdir()
    (out / META).write_text(json.dumps(meta))
    (out / WEIGHTS).write_bytes(weights)
    return out


def _weights() -> bytes:
    track = load_track("mnist5k")
    return state_dict_bytes(build_architecture(track.architecture, track))


def test_a_good_weights_artifact_is_installed_with_its_sha256(entry: Entry, tmp_path: Path) -> None:
    import hashlib

    weights = _weights()
    meta = {"kind": "weights", "training": {"trained": True, "steps": 3, "epochs": float("nan"), "runs": "x"}}
    built = install_artifact(entry, load_track("mnist5k"), _out(tmp_path, meta, weights), tmp_path / "s", "b", RESULT)
    assert built.sha256 == hashlib.sha256(weights).hexdigest() == built.folder.name
    assert (built.folder / WEIGHTS).read_bytes() == weights
    assert built.claimed_training == {"trained": True, "steps": 3}  # NaN and a malformed run list are dropped
    assert f'architecture = "{load_track("mnist5k").architecture}"' in (built.folder / "entry.toml").read_text()


@pytest.mark.parametrize("which", [META, WEIGHTS])
def test_links_in_the_build_output_are_never_followed(entry: Entry, tmp_path: Path, which: str) -> None:
    host = tmp_path / "host_secret"
    host.write_bytes(_weights() if which == WEIGHTS else b'{"kind": "weights"}')
    out = _out(tmp_path, {"kind": "weights"}, _weights())
    (out / which).unlink()
    (out / which).symlink_to(host)
    with pytest.raises(BuildError, match=re.escape(f"{which} is a symbolic link, not a regular file")):
        install_artifact(entry, load_track("mnist5k"), out, tmp_path / "s", "b", RESULT)
    assert not (tmp_path / "s").exists()


def test_an_output_folder_replaced_by_a_link_to_a_host_folder_is_refused(entry: Entry, tmp_path: Path) -> None:
    (tmp_path / "host").mkdir()
    host = _out(tmp_path / "host", {"kind": "weights"}, _weights())  # a valid artifact, but the host's
    (tmp_path / "scratch").mkdir()
    (tmp_path / "scratch" / "out").symlink_to(host, target_is_directory=True)
    with pytest.raises(BuildError, match=r"unusable output folder: out/ is a symbolic link, not a folder"):
        install_artifact(entry, load_track("mnist5k"), tmp_path / "scratch" / "out", tmp_path / "s", "b", RESULT)
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("special", ["fifo", "socket", "folder"])
def test_special_files_in_the_build_output_are_refused_without_blocking(
    entry: Entry, tmp_path: Path, special: str
) -> None:
    import socket
    import threading

    out = _out(tmp_path, {"kind": "weights"}, _weights())
    (out / META).unlink()
    if special == "fifo":
        os.mkfifo(out / META)  # opening it for reading without O_NONBLOCK would wait for a writer forever
    elif special == "socket":
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(out / META))
        sock.close()
    else:
        (out / META).mkdir()
    outcome: list[BaseException] = []

    def install() -> None:
        try:
            install_artifact(entry, load_track("mnist5k"), out, tmp_path / "s", "b", RESULT)
        except BaseException as exc:  # the test asserts on what was raised
            outcome.append(exc)

    worker = threading.Thread(target=install, daemon=True)
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive(), "reading the build output blocked"
    words = {"fifo": "a FIFO", "socket": "a socket", "folder": "a folder"}[special]
    assert isinstance(outcome[0], BuildError) and f"{META} is {words}, not a regular file" in str(outcome[0])


def test_an_output_over_its_cap_is_refused_before_it_is_read(
    entry: Entry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bench.frontends.build as build

    out = _out(tmp_path, {"kind": "weights"}, b"")
    os.truncate(out / WEIGHTS, build.MAX_WEIGHTS_BYTES + 1)  # sparse: no disk used, a huge size
    reads: list[int] = []
    real_read = build.read_regular

    def counted(fd: int, name: str, cap: int) -> bytes:
        reads.append(cap)
        return real_read(fd, name, cap)

    monkeypatch.setattr(build, "read_regular", counted)
    with pytest.raises(BuildError, match=rf"{WEIGHTS} is {build.MAX_WEIGHTS_BYTES + 1} bytes, over the cap"):
        install_artifact(entry, load_track("mnist5k"), out, tmp_path / "s", "b", RESULT)
    assert reads == [build.MAX_META_BYTES, build.MAX_WEIGHTS_BYTES]


def test_entry_folders_holding_special_files_are_refused_before_the_build(entry: Entry, tmp_path: Path) -> None:
    from bench.frontends.build import build_artifact
    from bench.frontends.isolation import UNISOLATED, Isolation
    from bench.frontends.sandbox import Limits

    os.mkfifo(tmp_path / "pipe")  # copying it would block on open: it must be refused, never opened
    scratch = tmp_path / "scratch"
    never = Isolation(UNISOLATED, ("/bin/false", "--"), {}, str(scratch))  # the build must not even start
    with pytest.raises(BuildError, match=r"the entry folder holds \S+/pipe, a FIFO: only regular files"):
        build_artifact(
            entry,
            load_track("mnist5k"),
            store=tmp_path / "s",
            quick=True,
            limits=Limits(),
            isolation=never,
            scratch=scratch,
        )
    assert not (tmp_path / "s").exists()


def test_the_scratch_folder_is_removed_whatever_the_build_left_in_it(tmp_path: Path) -> None:
    from bench.frontends.safe_files import remove_tree

    scratch = tmp_path / "scratch"
    (scratch / "out" / "locked" / "deep").mkdir(parents=True)
    (scratch / "out" / "locked" / "deep" / "f").write_text("x")
    os.mkfifo(scratch / "out" / "fifo")
    (scratch / "out" / "link").symlink_to(tmp_path / "host", target_is_directory=True)
    (tmp_path / "host").mkdir()
    (tmp_path / "host" / "kept").write_text("host file")
    (scratch / "out" / "locked").chmod(0)
    remove_tree(scratch)
    assert not scratch.exists()
    assert (tmp_path / "host" / "kept").read_text() == "host file"  # the link was removed, not followed


@pytest.mark.parametrize(
    ("meta", "weights", "message"),
    [
        ({"kind": "pickle"}, None, "without a valid 'kind'"),
        ({"kind": "weights"}, b"\x80\x04\x95" + bytes(64), "not a safetensors file (it looks like a pickle"),
        ({"kind": "weights"}, save({"w": torch.zeros(2)}), "do not fit small_cnn"),
        ({"kind": "graph"}, None, "graph.json does not exist"),
    ],
    ids=["unknown-kind", "pickle-weights", "wrong-weights", "graph-missing"],
)
def test_malformed_build_output_is_refused(
    entry: Entry, tmp_path: Path, meta: dict[str, object], weights: bytes | None, message: str
) -> None:
    out = _out(tmp_path, meta, _weights() if weights is None else weights)
    with pytest.raises(BuildError, match=re.escape(message)):
        install_artifact(entry, load_track("mnist5k"), out, tmp_path / "s", "b", RESULT)


def test_an_oversized_metadata_file_is_refused(entry: Entry, tmp_path: Path) -> None:
    out = _out(tmp_path, {"kind": "weights"}, _weights())
    (out / META).write_text(json.dumps({"kind": "weights", "pad": "x" * (2 << 20)}))
    with pytest.raises(BuildError, match=r"artifact\.json is \d+ bytes, over the cap of 1048576"):
        install_artifact(entry, load_track("mnist5k"), out, tmp_path / "s", "b", RESULT)


def _graph_out(tmp_path: Path, meta: dict[str, object], edit: str) -> Path:
    """A graph build output for the track's architecture, edited as ``edit`` says."""
    from bench.artifact import export_graph

    track = load_track("mnist5k")
    graph, tensors = export_graph(build_architecture(track.architecture, track), torch.rand(2, *track.input_shape))
    parsed = json.loads(graph)
    if edit == "python":
        parsed["nodes"][0]["op"] = "builtins.exec"
    elif edit == "smuggled-tensor":
        tensors["pool"] = torch.rand(100, 784)
    elif edit == "noise":
        first = parsed["nodes"][0]["args"][0]
        parsed["nodes"].insert(0, {"op": "aten.randn_like.default", "args": [first], "kwargs": {}, "outputs": ["n"]})
    out = _out(tmp_path, {"kind": "graph", **meta}, save(tensors))
    (out / GRAPH).write_text(json.dumps(parsed))
    return out


@pytest.mark.parametrize(
    ("edit", "meta", "message"),
    [
        ("python", {}, "refused: not an ATen operator"),
        ("smuggled-tensor", {}, r"tensors the graph does not declare: \['pool'\]"),
        ("noise", {}, "allowed only in an entry declared randomised"),
        ("noise", {"randomized": False}, "allowed only in an entry declared randomised"),
    ],
    ids=["python", "smuggled-tensor", "random-undeclared", "random-declared-false"],
)
def test_a_hostile_graph_is_refused(
    entry: Entry, tmp_path: Path, edit: str, meta: dict[str, object], message: str
) -> None:
    out = _graph_out(tmp_path, meta, edit)
    with pytest.raises(BuildError, match=message):
        install_artifact(entry, load_track("mnist5k"), out, tmp_path / "s", "b", RESULT)
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize(("edit", "meta"), [("none", {}), ("noise", {"randomized": True})], ids=["plain", "noise"])
def test_a_graph_artifact_is_installed_when_its_checks_pass(
    entry: Entry, tmp_path: Path, edit: str, meta: dict[str, object]
) -> None:
    out = _graph_out(tmp_path, meta, edit)
    built = install_artifact(entry, load_track("mnist5k"), out, tmp_path / "s", "b", RESULT)
    assert built.kind == "graph" and (built.folder / GRAPH).read_bytes() == (out / GRAPH).read_bytes()
    assert ("randomized = true" in (built.folder / "entry.toml").read_text()) == (edit == "noise")
