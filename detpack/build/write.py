"""Writing files so that a reader never sees half of one."""
from __future__ import annotations

import os
import stat
from pathlib import Path

TYPE_CHECKING = False  # typing.TYPE_CHECKING, as type checkers read it, without loading typing at every start
if TYPE_CHECKING:
    from typing import BinaryIO

FILE_MODE = 0o644


def hidden_name(path: Path, suffix: str = "") -> Path:
    """A hidden name beside ``path`` that no other run picks (96 random bits). A temporary file or
    folder is named before it is made, inside the ``try`` that removes it: Ctrl-C or SIGTERM can land
    between any two steps, and one landing just after a ``mkstemp`` or ``mkdtemp`` made its file
    would leave a file nobody knows the name of."""
    return path.with_name(f".{path.name}.{os.urandom(12).hex()}{suffix}")


def create_private(path: Path) -> BinaryIO:
    """``path`` made anew (mode 0600, never through a link) and opened to write."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    return os.fdopen(fd, "wb")


def remove_if_there(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def write_atomically(path: Path, content: str | bytes) -> None:
    """Write ``content`` (text as UTF-8) to a temporary file beside ``path``, then rename it over ``path``."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = hidden_name(path, ".tmp")
    try:
        with create_private(temporary) as handle:
            handle.write(data)
        os.chmod(temporary, FILE_MODE)
        os.replace(temporary, path)
    except BaseException:
        remove_if_there(temporary)
        raise


def cannot_write(path: Path, error: OSError) -> str:
    """Why ``write_atomically`` could not write ``path``, for a one-line message: the reason, and the
    folder in its way when there is one (a file where a parent folder belongs). The hidden temporary
    file the error may name instead is no name a user gave or can act on."""
    blamed = error.filename
    in_the_way = blamed is not None and Path(blamed) != path and path.is_relative_to(blamed)
    return f"cannot be written: {error.strerror}" + (f": {blamed}" if in_the_way else "")


def holds(path: Path, data: bytes) -> bool:
    """Whether ``path`` is already a regular file of mode 0644 holding ``data``: one the build need
    not write again (it keeps its time stamp). A link is never followed: ``write_atomically``
    replaces it by a file."""
    try:
        handle = open_unfollowed(path)
    except OSError:
        return False
    with handle:
        status = os.fstat(handle.fileno())
        if not stat.S_ISREG(status.st_mode) or stat.S_IMODE(status.st_mode) != FILE_MODE or status.st_size != len(data):
            return False
        return handle.read(len(data) + 1) == data


def open_unfollowed(path: Path) -> BinaryIO:
    """``path`` opened to read its bytes, never through a link (OSError for one), and at once
    even when it is a FIFO with no writer: the caller then looks at what it opened."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    return os.fdopen(fd, "rb")
