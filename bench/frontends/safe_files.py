"""Reading what an untrusted process left in a folder without ever following a link, blocking or over-reading.

A folder is opened as a directory handle with ``O_NOFOLLOW`` (a folder replaced by a link is refused), each file
relative to that handle: its type is taken from ``lstat`` first (only regular files are opened: never a FIFO,
which would block, a device, which could have side effects, or a socket), then it is opened with ``O_NOFOLLOW |
O_NONBLOCK`` and checked again on the open handle (the same inode, still a regular file), and read up to a size
cap decided before reading. Every refusal is an :class:`UnsafeFileError` with a one-line reason.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

_KINDS = {
    stat.S_IFLNK: "a symbolic link",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a folder",
}


class UnsafeFileError(ValueError):
    """A path that is not what it must be (a link, a FIFO, a device, oversized, absent)."""


def kind(mode: int) -> str:
    """Words for a file type (``a FIFO``, ``a symbolic link``, ``a regular file``)."""
    return _KINDS.get(stat.S_IFMT(mode), "a regular file" if stat.S_ISREG(mode) else "a special file")


@contextlib.contextmanager
def open_folder(path: Path, dir_fd: int | None = None) -> Iterator[int]:
    """A directory handle on ``path`` (relative to ``dir_fd`` when given), refusing a link or a non-folder."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except FileNotFoundError:
        raise UnsafeFileError(f"{path.name}/ does not exist") from None
    except OSError:
        try:
            what = kind(os.lstat(path, dir_fd=dir_fd).st_mode)
        except OSError:
            what = "not a folder"
        raise UnsafeFileError(f"{path.name}/ is {what}, not a folder") from None
    try:
        yield fd
    finally:
        os.close(fd)


def read_regular(dir_fd: int, name: str, cap: int) -> bytes:
    """The bytes of the regular file ``name`` in the folder ``dir_fd``, at most ``cap`` of them (else refused)."""
    try:
        before = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        raise UnsafeFileError(f"{name} does not exist") from None
    if not stat.S_ISREG(before.st_mode):
        raise UnsafeFileError(f"{name} is {kind(before.st_mode)}, not a regular file")
    if before.st_size > cap:
        raise UnsafeFileError(f"{name} is {before.st_size} bytes, over the cap of {cap}")
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError as exc:
        raise UnsafeFileError(f"{name} cannot be opened: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as fh:
        now = os.fstat(fh.fileno())
        if not stat.S_ISREG(now.st_mode) or (now.st_dev, now.st_ino) != (before.st_dev, before.st_ino):
            raise UnsafeFileError(f"{name} was replaced while being opened")
        data = fh.read(cap + 1)
    if len(data) > cap:
        raise UnsafeFileError(f"{name} grew over the cap of {cap} bytes while being read")
    return data


def read_file(path: Path, cap: int) -> bytes:
    """:func:`read_regular` for one path: its folder opened without following a link, then the file."""
    with open_folder(path.parent) as fd:
        return read_regular(fd, path.name, cap)


def remove_tree(path: Path) -> None:
    """Remove ``path`` and everything below it, whatever its content (folders without permissions, FIFOs, links:
    nothing is opened or followed); what still resists is left behind without an error."""
    if os.path.islink(path) or (os.path.lexists(path) and not os.path.isdir(path)):
        os.unlink(path)
        return
    if not os.path.isdir(path):
        return
    with contextlib.suppress(OSError):
        os.chmod(path, 0o700)
    for root, dirs, _files in os.walk(path):  # top-down: a folder is made listable before it is listed
        for d in dirs:
            with contextlib.suppress(OSError):
                if not os.path.islink(os.path.join(root, d)):
                    os.chmod(os.path.join(root, d), 0o700)
    shutil.rmtree(path, ignore_errors=True)
