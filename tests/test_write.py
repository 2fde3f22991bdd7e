"""detpack.build.write: files are replaced whole, and an unchanged file is left as it is."""
from __future__ import annotations

import os
import stat
from pathlib import Path

from detpack.build.write import write_atomically, write_if_changed


def _aged(path: Path) -> int:
    os.utime(path, ns=(10**18, 10**18))
    return path.stat().st_mtime_ns


def test_text_is_written_as_utf8_with_its_line_ends_and_mode_0644(tmp_path):
    write_atomically(tmp_path / "a" / "x.conf", "é\r\nline\n")
    assert (tmp_path / "a" / "x.conf").read_bytes() == "é\r\nline\n".encode()
    assert stat.S_IMODE((tmp_path / "a" / "x.conf").stat().st_mode) == 0o644
    assert os.listdir(tmp_path / "a") == ["x.conf"]  # no temporary file left


def test_an_unchanged_file_keeps_its_time_stamp(tmp_path):
    path = tmp_path / "x.conf"
    write_atomically(path, b"same\n")
    mtime = _aged(path)
    assert write_if_changed(path, b"same\n") is False
    assert path.stat().st_mtime_ns == mtime


def test_a_changed_file_is_replaced(tmp_path):
    path = tmp_path / "x.conf"
    write_atomically(path, b"old\n")
    mtime = _aged(path)
    assert write_if_changed(path, b"new\n") is True
    assert path.read_bytes() == b"new\n" and path.stat().st_mtime_ns != mtime
    assert write_if_changed(path, b"new\nmore\n") is True  # same start, longer
    assert path.read_bytes() == b"new\nmore\n"


def test_the_same_bytes_under_another_mode_are_written_again_as_0644(tmp_path):
    path = tmp_path / "x.conf"
    path.write_bytes(b"same\n")
    path.chmod(0o600)
    assert write_if_changed(path, b"same\n") is True
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_a_link_or_fifo_holding_the_bytes_is_replaced_by_a_file(tmp_path):
    target = tmp_path / "target.conf"
    write_atomically(target, b"same\n")
    (tmp_path / "link.conf").symlink_to(target)
    assert write_if_changed(tmp_path / "link.conf", b"same\n") is True
    assert not (tmp_path / "link.conf").is_symlink() and (tmp_path / "link.conf").read_bytes() == b"same\n"
    os.mkfifo(tmp_path / "fifo.conf")
    assert write_if_changed(tmp_path / "fifo.conf", b"same\n") is True  # and did not wait for a writer
    assert (tmp_path / "fifo.conf").read_bytes() == b"same\n"


def test_a_missing_file_and_folder_are_made(tmp_path):
    assert write_if_changed(tmp_path / "new" / "x.conf", b"x\n") is True
    assert (tmp_path / "new" / "x.conf").read_bytes() == b"x\n"
