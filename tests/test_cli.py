"""detpack.cli: a parser built for one command parses that command, and explains it, exactly as the whole parser does."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from detpack.cli import COMMANDS, make_parser

ROOT = Path(__file__).resolve().parent.parent


def commands_of(parser) -> dict:
    [subparsers] = [a for a in parser._actions if a.dest == "command"]
    return subparsers.choices


def options_of(parser, command: str) -> list[tuple]:
    return [(tuple(a.option_strings), a.dest, a.default, a.nargs) for a in commands_of(parser)[command]._actions]


@pytest.mark.parametrize("command", COMMANDS)
def test_the_parser_for_one_command_has_all_its_options(command):
    whole, only = make_parser(), make_parser(only=command)
    assert options_of(only, command) == options_of(whole, command)
    assert len(options_of(whole, command)) > 1  # more than --help


@pytest.mark.parametrize("command", COMMANDS)
def test_the_parser_for_one_command_gives_the_same_help(command):
    assert commands_of(make_parser(only=command))[command].format_help() == \
        commands_of(make_parser())[command].format_help()


def test_the_parser_for_one_command_holds_that_command_alone():
    assert list(commands_of(make_parser(only="validate"))) == ["validate"]


@pytest.mark.parametrize("first", ["--help", "-h", "bogus"])
def test_help_and_a_wrong_command_name_see_every_command_bare(first):
    parser = make_parser(only=first)
    assert list(commands_of(parser)) == list(COMMANDS)
    assert all([o for o, *_ in options_of(parser, name)] == [("-h", "--help")] for name in COMMANDS)
    assert parser.format_help() == make_parser().format_help()


def test_an_interrupted_command_says_so_in_one_line_and_exits_130(monkeypatch, capsys):
    from detpack import cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "cmd_validate", interrupted)
    assert cli.main(["validate"]) == 130
    assert capsys.readouterr().err == "interrupted\n"


# $COLUMNS as shells export it, set to nonsense, and unset (None); the terminal's own width or none.
@pytest.mark.parametrize("columns", [None, "", "abc", "0", "-5", "60", "200"])
@pytest.mark.parametrize("terminal", [None, 133])
def test_help_is_as_wide_as_argparse_would_make_it(columns, terminal, monkeypatch):
    """The parser tells argparse's formatter the terminal's width (so that argparse need not load
    shutil for every argument); the width, and so every help text, is the one argparse finds itself."""
    import argparse
    import os
    import shutil

    from detpack import cli

    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)

    def terminal_size(fd=None):
        if terminal is None:
            raise OSError("not a terminal")
        return os.terminal_size((terminal, 40))

    monkeypatch.setattr(os, "get_terminal_size", terminal_size)
    assert cli.terminal_columns() == shutil.get_terminal_size().columns
    ours = {name: parser.format_help() for name, parser in commands_of(make_parser()).items()}
    monkeypatch.setattr(cli, "help_formatter", argparse.HelpFormatter)
    assert ours == {name: parser.format_help() for name, parser in commands_of(make_parser()).items()}


@pytest.mark.parametrize("argv", [["build"], ["validate"], ["inspect"], ["test"], ["replay", "events.xml"],
                                  ["splunk-test", "--splunk-url", "https://localhost:8089"]])
def test_every_command_runs_with_the_garbage_collector_on_and_its_stage_loaded(argv, monkeypatch):
    """The stage is imported with the collector paused (start-up makes no garbage, and collections
    would rescan it); the handler itself runs, as long as it takes, with the collector collecting."""
    import gc
    import sys

    from detpack import cli

    seen = {}

    def handler(args):
        seen.update(collecting=gc.isenabled(), stage=f"detpack{args.stage}" in sys.modules)
        return 0

    handler_name = "cmd_" + argv[0].replace("-", "_")
    monkeypatch.setattr(cli, handler_name, handler)
    assert gc.isenabled()
    assert cli.main(argv) == 0
    assert seen == {"collecting": True, "stage": True}
    assert gc.isenabled()


def test_a_command_run_again_in_the_same_process_leaves_earlier_garbage_collectable(monkeypatch):
    """Only the import of a stage is kept out of later collections: a caller that runs
    commands again and again (the tests, an embedding tool) does not have the cycles it
    left behind kept for good."""
    import gc
    import weakref

    from detpack import cli

    class Node:
        pass

    monkeypatch.setattr(cli, "cmd_validate", lambda args: 0)
    assert cli.main(["validate"]) == 0  # the stage is loaded from here on
    node = Node()
    node.itself = node
    left = weakref.ref(node)
    del node
    assert cli.main(["validate"]) == 0
    gc.collect()
    assert left() is None


# --- the end of the process ---------------------------------------------------

LEAVING = """
import atexit, sys
from detpack.cli import leave

class Held:  # what a command leaves to the end of the process
    def __del__(self):
        print("freed", file=sys.stderr, flush=True)

held = Held()
atexit.register(print, "exit function ran")
print("written", end="")  # left in the buffer until the streams are flushed
{before}
leave(3)
"""


def leaving(before: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", LEAVING.format(before=before)], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)


def test_leaving_runs_the_exit_functions_flushes_the_streams_and_frees_nothing():
    done = leaving()
    assert (done.returncode, done.stdout) == (3, "writtenexit function ran\n")
    assert "freed" not in done.stderr


def test_leaving_with_a_thread_still_running_waits_for_it_as_a_normal_exit_does():
    done = leaving("import threading, time\n"
                   "threading.Thread(target=lambda: (time.sleep(0.3), print('thread done'))).start()")
    assert (done.returncode, done.stdout) == (3, "writtenthread done\nexit function ran\n")
    assert "freed" in done.stderr


def test_leaving_with_a_stream_that_cannot_be_flushed_is_a_normal_exit():
    done = leaving("sys.stdout.close()")  # flushes what was written, then refuses any more
    assert (done.returncode, done.stdout) == (3, "written")
    assert "freed" in done.stderr


@pytest.mark.parametrize("closed", [1, 2], ids=["standard output", "standard error"])
def test_leaving_with_a_standard_stream_closed_keeps_the_exit_code(closed):
    """A process started with its output or error closed (``build.py >&-``) has ``sys.stdout`` or
    ``sys.stderr`` None, and print writes nothing there: a normal exit ends with the command's code."""
    done = subprocess.run([sys.executable, "-c", LEAVING.format(before="")], capture_output=True, text=True,
                          timeout=60, cwd=ROOT, preexec_fn=lambda: os.close(closed))
    assert done.returncode == 3, done.stderr
    assert done.stderr == "" if closed == 1 else done.stdout == "writtenexit function ran\n"


def test_build_py_ends_through_leave_with_the_command_s_output_and_exit_code(pack_copy, tmp_path):
    out = tmp_path / "out"
    ok = subprocess.run([sys.executable, str(ROOT / "build.py"), "build", "--content", str(pack_copy), "--output",
                         str(out)], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines()[-1] == f"package {out / 'DA-ESS-DetPack-1.0.0.spl'}"
    bad = subprocess.run([sys.executable, str(ROOT / "build.py"), "validate", "--content", str(tmp_path / "none")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.strip(), bad


# --- a valid pack whose app cannot be built: one exit code and one form of message in every command ----------

RULE = "DetPack - Script Execution via WMI - Rule"


def rendered_with(monkeypatch, **functions) -> None:
    """The build's Jinja environment with these functions in place of the model's."""
    import detpack.build.render as render

    real = render._environment

    def tampered():
        env = real()
        env.globals.update(functions)
        return env

    monkeypatch.setattr(render, "_environment", tampered)


# How a valid pack's build fails, and the lines it says so in (a line ending in "..." is a start).
BUILD_FAILURES = {
    "package": (lambda monkeypatch: monkeypatch.setenv("SOURCE_DATE_EPOCH", "soon"),
                ["build failed: SOURCE_DATE_EPOCH: 'soon' is not a whole number of seconds since 1970 (0 to 8589934591)"]),
    "render": (lambda monkeypatch: rendered_with(monkeypatch, risk=lambda d: []),  # not the model's risk
               [f"build failed: default/savedsearches.conf: [{RULE}] action.risk.param._risk does not match ..."]),
    "render, two problems": (lambda monkeypatch: rendered_with(monkeypatch, risk=lambda d: [], metadata=lambda d: {}),
                             [f"build failed: default/savedsearches.conf: [{RULE}] action.correlationsearch.metadata "
                              "does not match ...",
                              f"build failed: default/savedsearches.conf: [{RULE}] action.risk.param._risk does not "
                              "match ..."]),
    "conf value": (lambda monkeypatch: rendered_with(monkeypatch, description=lambda d: "ends in \\"),  # refused
                   [f"build failed: default/savedsearches.conf: [{RULE}] description: value ends with a backslash, "
                    "which would join the next line"]),
}


def said_as(lines: list[str], expected: list[str]) -> bool:
    return len(lines) == len(expected) and all(
        line.startswith(want[:-3]) if want.endswith("...") else line == want for line, want in zip(lines, expected))


def files_under(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# Each command that builds, with where it writes: OUT (--output, --junit), and the temporary folder.
BUILDING_COMMANDS = {
    "build": ["build", "--output", "OUT"],
    "build --json": ["build", "--output", "OUT", "--json"],
    "build --check": ["build", "--check"],
    "test": ["test", "--junit", "OUT/junit.xml"],
    "replay": ["replay", "EVENTS"],
    "replay --json": ["replay", "EVENTS", "--json"],
    "inspect": ["inspect", "--output", "OUT"],
}


@pytest.mark.parametrize("name, failure", [(name, failure) for name in BUILDING_COMMANDS for failure in BUILD_FAILURES
                                           if (name, failure) != ("build --check", "package")])  # --check packages nothing
def test_a_valid_pack_that_cannot_be_built_exits_1_saying_build_failed_and_writes_nothing(
        pack_copy, tmp_path, monkeypatch, capsys, name, failure):
    """Every command that builds first ends alike when the build fails (splunk-test too: see
    test_splunk_harness): exit 1, ``build failed: <reason>`` on stderr (a line per reason), nothing on
    stdout (``--json`` included), and nothing written: no app folder, package, report or JUnit file, no
    committed copy in the pack, no temporary folder left."""
    import tempfile

    from detpack import cli

    breaks, expected = BUILD_FAILURES[failure]
    out, temporary = tmp_path / "out", tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    events = tmp_path / "events.xml.log"
    events.write_text("")
    argv = [{"OUT": str(out), "OUT/junit.xml": str(out / "junit.xml"), "EVENTS": str(events)}.get(a, a)
            for a in BUILDING_COMMANDS[name]]
    pack_before = files_under(pack_copy)
    breaks(monkeypatch)
    assert cli.main([*argv, "--content", str(pack_copy)]) == 1
    said = capsys.readouterr()
    assert said_as(said.err.splitlines(), expected), said.err
    assert said.out == ""
    assert not out.exists() or files_under(out) == {}
    assert files_under(pack_copy) == pack_before
    assert list(temporary.iterdir()) == []
