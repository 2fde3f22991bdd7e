"""The build command end to end: outputs, staleness check, nothing written on bad input."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from detpack.cli import main

DETECTION = "detections/endpoint/script_execution_via_wmi.yml"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_no_arguments_builds_the_shipped_app(monkeypatch, tmp_path, capsys):
    """`python build.py` alone builds this project's pack (into a temporary output here)."""
    import detpack.cli as cli

    monkeypatch.setattr(cli, "default_output", lambda args: tmp_path / "dist")
    assert main([]) == 0
    package = tmp_path / "dist" / "DA-ESS-DetPack-1.0.0.spl"
    with tarfile.open(package) as tar:
        names = tar.getnames()
    assert "DA-ESS-DetPack/default/savedsearches.conf" in names
    assert "DA-ESS-DetPack/metadata/default.meta" in names
    assert f"package {package}" in capsys.readouterr().out


def test_build_writes_app_package_and_committed_files(pack_copy, tmp_path):
    out = tmp_path / "out"
    assert main(["build", "--content", str(pack_copy), "--output", str(out)]) == 0
    assert (out / "DA-ESS-DetPack" / "default" / "macros.conf").is_file()
    assert (out / "DA-ESS-DetPack-1.0.0.spl").is_file()
    for committed in ("default/savedsearches.conf", "metadata/default.meta", "app.manifest"):
        assert (pack_copy / committed).read_text() == (out / "DA-ESS-DetPack" / committed).read_text()


def test_two_builds_are_byte_identical(pack_copy, tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    assert main(["build", "--content", str(pack_copy), "--output", str(first)]) == 0
    (pack_copy / DETECTION).touch()
    assert main(["build", "--content", str(pack_copy), "--output", str(second)]) == 0
    assert sha256(first / "DA-ESS-DetPack-1.0.0.spl") == sha256(second / "DA-ESS-DetPack-1.0.0.spl")


def test_check_passes_on_the_committed_project_files(capsys):
    assert main(["build", "--check"]) == 0
    assert "up to date" in capsys.readouterr().out


def test_check_fails_when_committed_files_are_stale(pack_copy, tmp_path, capsys):
    assert main(["build", "--content", str(pack_copy), "--output", str(tmp_path / "out")]) == 0
    capsys.readouterr()
    text = (pack_copy / DETECTION).read_text().replace("version: 4", "version: 5")
    (pack_copy / DETECTION).write_text(text)
    (pack_copy / "default" / "extra.conf").write_text("[x]\n")
    assert main(["build", "--check", "--content", str(pack_copy)]) == 1
    err = capsys.readouterr().err
    assert "stale: default/savedsearches.conf" in err
    assert "stale: default/extra.conf (not produced by the build)" in err


def test_invalid_content_writes_nothing(pack_copy, tmp_path, capsys):
    text = (pack_copy / DETECTION).read_text().replace("version: 4", "version: zero")
    (pack_copy / DETECTION).write_text(text)
    out = tmp_path / "out"
    assert main(["build", "--content", str(pack_copy), "--output", str(out)]) == 2
    assert not out.exists()
    assert not (pack_copy / "default").exists()
    err = capsys.readouterr().err
    assert f"{DETECTION}:3:10: version: is text (expected a whole number >= 1)" in err
    assert "nothing was written" in err


def test_a_failed_build_keeps_the_previous_outputs(pack_copy, tmp_path):
    out = tmp_path / "out"
    assert main(["build", "--content", str(pack_copy), "--output", str(out)]) == 0
    before = sha256(out / "DA-ESS-DetPack-1.0.0.spl")
    (pack_copy / DETECTION).write_text((pack_copy / DETECTION).read_text().replace("type: TTP", "type: ttp"))
    assert main(["build", "--content", str(pack_copy), "--output", str(out)]) == 2
    assert sha256(out / "DA-ESS-DetPack-1.0.0.spl") == before
    assert sorted(p.name for p in out.iterdir()) == ["DA-ESS-DetPack", "DA-ESS-DetPack-1.0.0.spl"]


def test_missing_content_directory_and_settings(tmp_path, capsys):
    assert main(["validate", "--content", str(tmp_path / "nope")]) == 2
    assert "(content): is not a directory" in capsys.readouterr().err
    assert main(["validate", "--content", str(tmp_path)]) == 2
    assert "contentctl.yml: (file): is missing (expected the pack's app settings)" in capsys.readouterr().err


def test_usage_errors_exit_2():
    with pytest.raises(SystemExit) as exit:
        main(["build", "--no-such-flag"])
    assert exit.value.code == 2


@pytest.mark.parametrize("failing", ["file_entries", "write_archive"], ids=["its checks", "its writing"])
def test_a_package_that_fails_keeps_the_previous_app_folder_and_package(pack_copy, tmp_path, monkeypatch, failing):
    from detpack.build import package
    from detpack.build.package import PackageError

    out = tmp_path / "out"
    assert main(["build", "--content", str(pack_copy), "--output", str(out)]) == 0
    before = sha256(out / "DA-ESS-DetPack" / "default" / "savedsearches.conf"), sha256(out / "DA-ESS-DetPack-1.0.0.spl")
    committed = sha256(pack_copy / "default" / "savedsearches.conf")
    (pack_copy / DETECTION).write_text((pack_copy / DETECTION).read_text().replace("version: 4", "version: 5"))

    def refuse(*args, **kwargs):
        raise PackageError("x.txt: not in the package allow-list")

    monkeypatch.setattr(package, failing, refuse)
    assert main(["build", "--content", str(pack_copy), "--output", str(out)]) == 1
    assert (sha256(out / "DA-ESS-DetPack" / "default" / "savedsearches.conf"), sha256(out / "DA-ESS-DetPack-1.0.0.spl")) == before
    assert sorted(p.name for p in out.iterdir()) == ["DA-ESS-DetPack", "DA-ESS-DetPack-1.0.0.spl"]
    assert sha256(pack_copy / "default" / "savedsearches.conf") == committed  # nor the committed copy


def test_a_package_that_cannot_go_in_keeps_the_previous_app_folder_and_package(pack_copy, tmp_path, monkeypatch):
    """The app folder and the package go in together or not at all (the folder failing to go in: see
    test_a_swap_whose_second_rename_fails_puts_the_previous_app_folder_back)."""
    out = tmp_path / "out"
    assert main(["build", "--content", str(pack_copy), "--output", str(out)]) == 0
    before = {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    (pack_copy / DETECTION).write_text((pack_copy / DETECTION).read_text().replace("version: 4", "version: 5"))
    real = os.replace

    def replace(source, target):
        if str(target).endswith(".spl"):
            raise OSError(16, "Device or resource busy", str(target))
        return real(source, target)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OSError, match="busy"):
        main(["build", "--content", str(pack_copy), "--output", str(out)])
    assert {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()} == before
    assert sorted(p.name for p in out.iterdir()) == ["DA-ESS-DetPack", "DA-ESS-DetPack-1.0.0.spl"]


@pytest.mark.parametrize("where", ["write_files", "PackageFile"], ids=["once staging began", "once the package is named"])
def test_an_interruption_at_the_start_of_packaging_leaves_the_previous_output_alone(pack_copy, tmp_path, monkeypatch,
                                                                                     where):
    """Ctrl-C or SIGTERM can land between any two steps: right after the staging folder is made, or
    right after the package's temporary file is named, nothing the build began may stay behind."""
    from detpack.build import app, package

    out = tmp_path / "out"
    assert main(["build", "--content", str(pack_copy), "--output", str(out)]) == 0
    before = {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    module = app if where == "write_files" else package
    real = getattr(module, where)

    def interrupted(*args, **kwargs):
        real(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(module, where, interrupted)
    assert main(["build", "--content", str(pack_copy), "--output", str(out)]) == 130
    assert sorted(p.name for p in out.iterdir()) == ["DA-ESS-DetPack", "DA-ESS-DetPack-1.0.0.spl"]
    assert {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()} == before


def test_an_interruption_between_the_app_folder_s_renames_waits_until_the_new_folder_is_in_place(pack_copy, tmp_path,
                                                                                                  monkeypatch):
    """A Ctrl-C landing just after the previous app folder is moved aside: the new folder still goes in
    and the previous one is removed, then the build stops (exit 130); never no folder at all."""
    import signal
    from pathlib import Path

    out = tmp_path / "out"
    assert main(["build", "--content", str(pack_copy), "--output", str(out)]) == 0
    real = Path.rename

    def rename(self, target):
        moved = real(self, target)
        if self.name == "DA-ESS-DetPack":  # the previous folder, moved aside
            os.kill(os.getpid(), signal.SIGINT)
        return moved

    monkeypatch.setattr(Path, "rename", rename)
    assert main(["build", "--content", str(pack_copy), "--output", str(out)]) == 130
    assert sorted(p.name for p in out.iterdir()) == ["DA-ESS-DetPack", "DA-ESS-DetPack-1.0.0.spl"]
    assert (out / "DA-ESS-DetPack" / "default" / "savedsearches.conf").is_file()


def test_committed_files_the_build_would_not_change_keep_their_time_stamps(pack_copy, tmp_path):
    out = tmp_path / "out"
    assert main(["build", "--content", str(pack_copy), "--output", str(out)]) == 0
    committed = [p for p in (pack_copy / "default").rglob("*") if p.is_file()] + [pack_copy / "app.manifest"]
    for path in committed:
        os.utime(path, ns=(10**18, 10**18))
    (pack_copy / DETECTION).write_text((pack_copy / DETECTION).read_text().replace("version: 4", "version: 5"))
    assert main(["build", "--content", str(pack_copy), "--output", str(out)]) == 0
    changed = sorted(p.relative_to(pack_copy).as_posix() for p in committed if p.stat().st_mtime_ns != 10**18)
    assert changed == ["default/savedsearches.conf"]
    assert main(["build", "--check", "--content", str(pack_copy)]) == 0


def test_a_build_run_from_another_thread_keeps_the_default_sigterm(pack_copy, tmp_path, request):
    import signal
    import threading

    # From the default, whatever an earlier test's forking left (beside.py stops children on SIGTERM).
    previous = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    request.addfinalizer(lambda: signal.signal(signal.SIGTERM, previous))
    codes = []
    worker = threading.Thread(target=lambda: codes.append(main(["build", "--content", str(pack_copy),
                                                                 "--output", str(tmp_path / "out")])))
    worker.start()
    worker.join()
    assert codes == [0]  # only the main thread may set handlers: the build runs without its own
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_a_build_takes_sigterm_only_where_the_caller_left_it_to_python():
    """SIGTERM ignored by whoever started the build stays ignored, as Python leaves an ignored
    SIGINT alone; a handler the caller set is put back afterwards."""
    import signal

    from detpack.cli import SigtermAsInterrupt

    def callers(signum, frame):
        pass

    previous = signal.getsignal(signal.SIGTERM)
    try:
        for handler in (signal.SIG_IGN, callers, signal.SIG_DFL):
            signal.signal(signal.SIGTERM, handler)
            with SigtermAsInterrupt():
                during = signal.getsignal(signal.SIGTERM)
            assert (during is signal.SIG_IGN) == (handler is signal.SIG_IGN)
            assert signal.getsignal(signal.SIGTERM) == handler
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_a_build_leaves_a_sigterm_handler_set_outside_python(monkeypatch):
    """``signal.signal`` answers None for a handler an embedding program set in C: it could not be
    put back, so the build does not replace it."""
    import signal

    from detpack.cli import SigtermAsInterrupt

    set_to = []
    monkeypatch.setattr(signal, "getsignal", lambda signum: None)
    monkeypatch.setattr(signal, "signal", lambda signum, handler: set_to.append(handler))
    with SigtermAsInterrupt():
        pass
    assert set_to == []


READING = """
import sys
from pathlib import Path
from detpack.build import app

loaded = []

def reading(produce, *, items):  # where a large pack forks the process that reads its files
    loaded.append(sorted(m for m in ("detpack.build.package", "detpack.build.render", "jinja2") if m in sys.modules))
    return None

app.stream_beside_if_large = reading
from detpack import cli  # the command line, as build.py runs it: it imports nothing of the stages either
assert cli.main(["build", "--content", sys.argv[1], "--output", sys.argv[2]]) == 0
print(loaded)
"""


def test_the_build_imports_what_renders_and_packages_only_once_the_pack_s_files_are_being_read(pack_copy, tmp_path):
    """In a fresh process, nothing that renders or packages is imported before ``load_pack`` has
    started its reading process: those imports are made while that process reads (``app._reading``),
    the command line's included (it catches ``BuildFailed``, not each stage's error)."""
    done = subprocess.run([sys.executable, "-c", READING, str(pack_copy), str(tmp_path / "out")], capture_output=True,
                          text=True, timeout=120, cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[[]]"  # after what the build printed


def test_a_folder_where_a_committed_file_belongs_is_refused_before_anything_is_written(pack_copy, tmp_path, capsys):
    """The build writes its committed copies (default/, metadata/, app.manifest) beside the content;
    a folder in the way is the input's problem, named on one line, and stops the build before the
    package and app folder are written, not with a traceback after them."""
    out = tmp_path / "out"
    (pack_copy / "default" / "savedsearches.conf").mkdir(parents=True)
    assert main(["build", "--content", str(pack_copy), "--output", str(out)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-2:] == ["default/savedsearches.conf: (file): is a folder (expected a file the build writes)",
                        "1 problem(s) found; nothing was written"]
    assert not out.exists() or list(out.iterdir()) == []
    assert (pack_copy / "default" / "savedsearches.conf").is_dir()
    assert not (pack_copy / "default" / "macros.conf").exists()  # nor any other committed copy


def test_a_file_where_a_committed_folder_belongs_is_refused_before_anything_is_written(pack_copy, tmp_path, capsys):
    """``metadata`` a file: the committed default.meta cannot go in it. Named on one line before the package
    and app folder are written, as a folder where a file belongs is, not with a traceback after them."""
    import shutil

    out = tmp_path / "out"
    shutil.rmtree(pack_copy / "metadata", ignore_errors=True)
    (pack_copy / "metadata").write_text("")
    assert main(["build", "--content", str(pack_copy), "--output", str(out)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-2:] == ["metadata: (file): is a file (expected a folder the build writes in)",
                        "1 problem(s) found; nothing was written"]
    assert not out.exists() or list(out.iterdir()) == []
    assert (pack_copy / "metadata").read_text() == ""
    assert not (pack_copy / "default" / "macros.conf").exists()  # nor any other committed copy


@pytest.mark.parametrize("umask", [0o077, 0o000])
def test_the_app_folder_has_folders_0755_and_files_0644_whatever_the_umask(pack_copy, tmp_path, umask):
    """The app folder is what Splunk reads, as the package is: its modes are the package's, not the
    umask's (0600 files under 077 would be unreadable to a splunk user; 0666 under 000 writable by all)."""
    import stat

    out = tmp_path / "out"
    previous = os.umask(umask)
    try:
        assert main(["build", "--content", str(pack_copy), "--output", str(out)]) == 0
    finally:
        os.umask(previous)
    app = out / "DA-ESS-DetPack"
    modes = {p.relative_to(app).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in [app, *app.rglob("*")]}
    assert {path: mode for path, mode in modes.items() if mode != (0o755 if (app / path).is_dir() else 0o644)} == {}
    assert stat.S_IMODE((out / "DA-ESS-DetPack-1.0.0.spl").stat().st_mode) == 0o644


def test_an_interruption_as_the_swap_holds_the_signals_leaves_them_unheld(pack_copy, tmp_path,
                                                                         interrupt_as_signals_are_held):
    """A Ctrl-C that came while the swap asked to hold the signals is handled as that call returns,
    before the swap's try: the signals must not stay held, or the next Ctrl-C of a caller that
    builds in process (a test run, a watcher) would never come."""
    import signal

    out = tmp_path / "out"
    assert main(["build", "--content", str(pack_copy), "--output", str(out)]) == 0
    unheld = interrupt_as_signals_are_held()
    assert main(["build", "--content", str(pack_copy), "--output", str(out)]) == 130
    assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == unheld
    assert sorted(p.name for p in out.iterdir()) == ["DA-ESS-DetPack", "DA-ESS-DetPack-1.0.0.spl"]


@pytest.mark.parametrize("kind", ["file", "link to a folder", "dangling link"])
def test_what_lies_at_the_app_folder_s_place_is_replaced_and_nothing_stays_hidden(pack_copy, tmp_path, kind):
    """A file or a link where the app folder goes is replaced by the folder, as a previous folder is,
    and removed: no hidden copy of it stays beside, and a link's target is left alone."""
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (elsewhere / "kept.txt").write_text("kept\n")
    if kind == "file":
        (out / "DA-ESS-DetPack").write_text("not a folder\n")
    else:
        (out / "DA-ESS-DetPack").symlink_to(elsewhere if kind == "link to a folder" else tmp_path / "missing")
    assert main(["build", "--content", str(pack_copy), "--output", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["DA-ESS-DetPack", "DA-ESS-DetPack-1.0.0.spl"]
    assert not (out / "DA-ESS-DetPack").is_symlink()
    assert (out / "DA-ESS-DetPack" / "default" / "savedsearches.conf").is_file()
    assert [p.name for p in elsewhere.iterdir()] == ["kept.txt"]


def test_a_swap_whose_second_rename_fails_puts_the_previous_app_folder_back(pack_copy, tmp_path, monkeypatch):
    """The previous folder is moved aside first: should the staged one then fail to go in, the
    previous one goes back rather than leaving no app folder and a hidden one beside it, and the
    previous package stays with it."""
    import signal

    out = tmp_path / "out"
    assert main(["build", "--content", str(pack_copy), "--output", str(out)]) == 0
    before = sha256(out / "DA-ESS-DetPack" / "default" / "savedsearches.conf"), sha256(out / "DA-ESS-DetPack-1.0.0.spl")
    (pack_copy / DETECTION).write_text((pack_copy / DETECTION).read_text().replace("version: 4", "version: 5"))
    (out / "DA-ESS-DetPack" / "mark").write_text("previous\n")
    real, failed = Path.rename, []

    def rename(self, target):  # the staged folder's rename fails; the previous one's return does not
        if self.name.startswith(".DA-ESS-DetPack.") and Path(target).name == "DA-ESS-DetPack" and not failed:
            failed.append(self)
            raise OSError(28, "No space left on device")
        return real(self, target)

    monkeypatch.setattr(Path, "rename", rename)
    unheld = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    with pytest.raises(OSError, match="No space"):
        main(["build", "--content", str(pack_copy), "--output", str(out)])
    assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == unheld
    assert sorted(p.name for p in out.iterdir()) == ["DA-ESS-DetPack", "DA-ESS-DetPack-1.0.0.spl"]
    assert (out / "DA-ESS-DetPack" / "mark").read_text() == "previous\n"
    assert (sha256(out / "DA-ESS-DetPack" / "default" / "savedsearches.conf"), sha256(out / "DA-ESS-DetPack-1.0.0.spl")) == before


@pytest.mark.parametrize("command", ["build", "inspect"])
def test_an_output_folder_that_cannot_be_made_is_refused_on_one_line(pack_copy, tmp_path, capsys, command):
    """``--output`` under a file: the input's problem, named on one line with exit 2, not a traceback
    once the app has been rendered; nothing is written in the pack."""
    (tmp_path / "file").write_text("")
    out = tmp_path / "file" / "out"
    before = sorted(p.relative_to(pack_copy) for p in pack_copy.rglob("*"))
    assert main([command, "--content", str(pack_copy), "--output", str(out)]) == 2
    said = capsys.readouterr()
    finding = f"{out}: --output: cannot be made: Not a directory (expected a folder the build can write in)"
    assert said.err.splitlines() in ([finding], [finding, "1 problem(s) found; nothing was written"]), said.err
    assert said.out == ""
    assert sorted(p.relative_to(pack_copy) for p in pack_copy.rglob("*")) == before


def test_a_package_that_cannot_be_made_leaves_no_output_folder(pack_copy, tmp_path, monkeypatch, capsys):
    """The package's checks (here SOURCE_DATE_EPOCH) come before the output folder is made: a build that
    fails them leaves not even an empty folder."""
    out = tmp_path / "out"
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "soon")
    assert main(["build", "--content", str(pack_copy), "--output", str(out)]) == 1
    assert capsys.readouterr().err.startswith("build failed: SOURCE_DATE_EPOCH: 'soon'")
    assert not out.exists()
