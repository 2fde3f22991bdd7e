"""detpack.build.write: files are replaced whole, and an unchanged file is left as it is."""
from __future__ import annotations

import os
import stat
from pathlib import Path

from detpack.build.write import holds, write_atomically


def _aged(path: Path) -> int:
    os.utime(path, ns=(10**18, 10**18))
    return path.stat().st_mtime_ns


def test_text_is_written_as_utf8_with_its_line_ends_and_mode_0644(tmp_path):
    write_atomically(tmp_path / "a" / "x.conf", "é\r\nline\n")
    assert (tmp_path / "a" / "x.conf").read_bytes() == "é\r\nline\n".encode()
    assert stat.S_IMODE((tmp_path / "a" / "x.conf").stat().st_mode) == 0o644
    assert os.listdir(tmp_path / "a") == ["x.conf"]  # no temporary file left


def test_a_regular_file_of_mode_0644_with_the_same_bytes_holds_them(tmp_path):
    path = tmp_path / "x.conf"
    write_atomically(path, b"same\n")
    assert holds(path, b"same\n")
    assert not holds(path, b"new\n")
    assert not holds(path, b"same\nmore\n")  # same start, longer
    assert not holds(path, b"sam")  # shorter


def test_the_same_bytes_under_another_mode_do_not_hold_them(tmp_path):
    path = tmp_path / "x.conf"
    path.write_bytes(b"same\n")
    path.chmod(0o600)
    assert not holds(path, b"same\n")


def test_a_link_or_fifo_never_holds_the_bytes_and_is_not_waited_for(tmp_path):
    target = tmp_path / "target.conf"
    write_atomically(target, b"same\n")
    (tmp_path / "link.conf").symlink_to(target)
    assert not holds(tmp_path / "link.conf", b"same\n")
    os.mkfifo(tmp_path / "fifo.conf")
    assert not holds(tmp_path / "fifo.conf", b"same\n")  # and did not wait for a writer


def test_a_missing_file_holds_nothing_and_is_made_with_its_folder(tmp_path):
    assert not holds(tmp_path / "new" / "x.conf", b"x\n")
    write_atomically(tmp_path / "new" / "x.conf", b"x\n")
    assert (tmp_path / "new" / "x.conf").read_bytes() == b"x\n"


def test_a_link_is_replaced_by_a_file_and_its_target_left_alone(tmp_path):
    target = tmp_path / "target.conf"
    write_atomically(target, b"old\n")
    (tmp_path / "link.conf").symlink_to(target)
    write_atomically(tmp_path / "link.conf", b"new\n")
    assert not (tmp_path / "link.conf").is_symlink() and (tmp_path / "link.conf").read_bytes() == b"new\n"
    assert target.read_bytes() == b"old\n"


def test_an_interruption_just_after_the_temporary_file_is_made_leaves_no_file(tmp_path, monkeypatch):
    """Ctrl-C or SIGTERM landing right after the temporary file exists, before anything else runs."""
    import pytest

    from detpack.build import write

    real = write.create_private

    def interrupted(path):
        real(path).close()
        raise KeyboardInterrupt

    monkeypatch.setattr(write, "create_private", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomically(tmp_path / "x.conf", b"x\n")
    assert os.listdir(tmp_path) == []
