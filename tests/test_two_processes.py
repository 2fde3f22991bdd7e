"""A large pack's work split across two processes (``detpack.beside``) gives what one process gives:
the same package bytes, the same findings in the same order, the same output and exit codes;
and it falls back to one process where ``fork`` is missing, stops cleanly on Ctrl-C, and a
small pack starts no second process at all."""
from __future__ import annotations

import functools
import os
import pickle
import re
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import zlib
from contextlib import contextmanager
from pathlib import Path

import pytest

from detpack import cli
from detpack import beside
from detpack.build.app import build_app
from detpack.beside import WORTH_A_PROCESS, Beside
from detpack.errors import InvalidInput, replace

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))
from generate_pack import generate  # noqa: E402
from test_content_objects import BASELINE  # noqa: E402

SAVEDSEARCHES = "default/savedsearches.conf"
needs_two_cores = pytest.mark.skipif(not beside.two_cores(), reason="needs fork and two cores")

# Searches of several shapes, so that the two shares check different SPL and some do not parse.
SEARCHES = [
    None,  # the shipped search
    "| tstats count from datamodel=Endpoint.Processes by Processes.dest Processes.user "
    "| `drop_dm_object_name(Processes)` | rex field=dest \"(?<host>[^.]+)\" | table dest user host | `{filter}`",
    "index=main sourcetype=wineventlog EventCode=4688 | stats count by dest user | `{filter}`",
    "index=main | eval x=if(len(dest)>3, \"long\", \"short\" | `{filter}`",  # not SPL: a parenthesis never closed
    "| tstats count from datamodel=Change.All_Changes by All_Changes.dest | `{filter}`",
]


def varied_pack(root: Path, count: int = WORTH_A_PROCESS + 20) -> Path:
    """A generated pack whose detections use the searches above in turn."""
    generate(root, count)
    for i, path in enumerate(sorted((root / "detections" / "endpoint").glob("*.yml"))):
        search = SEARCHES[i % len(SEARCHES)]
        if search:
            text = path.read_text()
            start = text.index("search: '| tstats")
            end = text.index("\n", start)
            search = search.format(filter=f"{path.stem}_filter").replace("'", "''")
            path.write_text(text[:start] + f"search: '{search}'" + text[end:])
    return root


def broken_pack(root: Path) -> Path:
    """The varied pack with schema errors, cross-check errors and warnings spread over it."""
    varied_pack(root)
    files = sorted((root / "detections" / "endpoint").glob("*.yml"))
    for i, path in enumerate(files):
        text = path.read_text()
        if i % 11 == 3:
            text = text.replace("Suspicious WMI Use", "No Such Story")
        if i % 13 == 5:
            text = text.replace("type: TTP", "type: Nonsense")
        if i % 17 == 7:
            text = text.replace("- field: user", "- field: not_returned")
        if i % 19 == 3:  # values PyYAML cannot make, or that no one could write: one line each, in either process
            version = ("2024-02-30", ".inf", "! '5'", "0x" + "f" * 5000, "0:" * 200 + "0.0")[i // 19 % 5]
            text = re.sub(r"(?m)^version: \d+", f"version: {version}", text)
        path.write_text(text)
    (files[40]).write_text("name: [unclosed\n")
    (root / "stories" / "broken.yml").write_text("name: A story\nid: not-a-uuid\n")
    (root / "data_sources").mkdir()
    (root / "data_sources" / "sysmon.yml").write_text("name: Sysmon EventID 1\n")
    (root / "data_sources" / "broken.yml").write_text("description: no name\n")
    return root


@pytest.fixture
def one_process(monkeypatch):
    """Run as on a machine without fork: every share is computed in this process."""
    def switch():
        monkeypatch.setattr(beside, "two_cores", lambda: False)
    return switch


@pytest.fixture
def forks(monkeypatch):
    """How many processes the work forked."""
    count = []
    real_fork = os.fork

    def fork():
        pid = real_fork()
        if pid:
            count.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", fork)
    return count


def _build(root: Path, out: Path) -> bytes:
    return build_app(root, out, sync_committed=False).package.read_bytes()


@needs_two_cores
def test_a_large_pack_builds_to_the_same_bytes_in_two_processes(tmp_path, forks, one_process):
    root = varied_pack(tmp_path / "pack")
    two = _build(root, tmp_path / "two")
    assert len(forks) == 3  # one reads half the files, the next renders savedsearches.conf, the last writes the package
    one_process()
    assert _build(root, tmp_path / "one") == two
    assert len(forks) == 3  # the second build forked nothing


def _findings(root: Path, strict: bool = False):
    from detpack.build.app import checked_render

    try:
        checked = checked_render(root, strict)
    except InvalidInput as error:
        return "invalid", [str(f) for f in error.findings]
    return "built", [str(f) for f in checked.warnings], [str(f) for f in checked.notes], checked.rendered.files


@needs_two_cores
@pytest.mark.parametrize("strict", [False, True])
def test_a_broken_pack_has_the_same_findings_in_two_processes(tmp_path, forks, one_process, strict):
    root = broken_pack(tmp_path / "pack")
    two = _findings(root, strict)
    assert two[0] == "invalid" and len(two[1]) > 10
    assert len({f.split(": version: ")[1][:12] for f in two[1] if ": version: " in f}) == 5  # each kind of value
    assert len(forks) == 2
    one_process()
    assert _findings(root, strict) == two


@needs_two_cores
def test_warnings_and_notes_are_the_same_in_two_processes(tmp_path, forks, one_process):
    root = varied_pack(tmp_path / "pack")
    for path in sorted((root / "detections" / "endpoint").glob("*.yml"))[::9]:
        path.write_text(path.read_text().replace("- field: user", "- field: not_returned"))
    two = _findings(root)
    assert two[0] == "built" and two[1]
    one_process()
    assert _findings(root) == two


def _validate(capsys, root: Path, *flags: str):
    code = cli.main(["validate", "--spl", *flags, "--content", str(root)])
    out, err = capsys.readouterr()
    return code, out, err


@needs_two_cores
@pytest.mark.parametrize("flags", [(), ("--json",)])
def test_validate_spl_says_the_same_in_two_processes(tmp_path, capsys, forks, one_process, flags):
    root = varied_pack(tmp_path / "pack")
    two = _validate(capsys, root, *flags)
    assert len(forks) == 2  # one reads half the files, the next checks searches
    assert two[0] == 1 and "parse error" in two[1] + two[2] or "\"parse\"" in two[1]
    one_process()
    assert _validate(capsys, root, *flags) == two


@needs_two_cores
def test_validate_spl_of_a_broken_pack_reports_only_the_findings(tmp_path, capsys, forks, one_process):
    root = broken_pack(tmp_path / "pack")
    two = _validate(capsys, root)
    assert two[0] == 2 and two[1] == "" and "nothing was written" in two[2]
    assert len(forks) == 2
    one_process()
    assert _validate(capsys, root) == two


@needs_two_cores
def test_validate_says_the_same_in_two_processes(tmp_path, capsys, forks, one_process):
    root = broken_pack(tmp_path / "pack")
    two = cli.main(["validate", "--json", "--content", str(root)]), capsys.readouterr()
    assert len(forks) == 1  # reading; without --spl nothing else
    one_process()
    assert (cli.main(["validate", "--json", "--content", str(root)]), capsys.readouterr()) == two


def test_a_small_pack_starts_no_second_process(pack_copy, tmp_path, capsys, forks):
    build_app(pack_copy, tmp_path / "out", sync_committed=False)
    assert cli.main(["validate", "--spl", "--content", str(pack_copy)]) == 0
    assert forks == []


def test_without_fork_the_work_is_done_in_this_process(tmp_path, monkeypatch, capsys):
    monkeypatch.delattr(os, "fork")
    root = varied_pack(tmp_path / "pack")
    assert _validate(capsys, root)[0] == 1
    assert _build(root, tmp_path / "out")


def test_the_corpus_builds_to_the_same_bytes_in_two_processes(security_content, tmp_path, one_process):
    if not beside.two_cores():
        pytest.skip("needs fork and two cores")
    two = _build(security_content, tmp_path / "two")
    one_process()
    assert _build(security_content, tmp_path / "one") == two


# --- the helper itself ------------------------------------------------------------------


def _pid_and_square(x):
    return os.getpid(), x * x


@needs_two_cores
def test_the_value_is_computed_in_a_child_and_comes_back():
    with Beside(_pid_and_square, 7) as work:
        assert work.forked
        pid, value = work.result()
    assert value == 49 and pid != os.getpid()


def test_without_two_cores_the_value_is_computed_here(one_process):
    one_process()
    with Beside(_pid_and_square, 7) as work:
        assert not work.forked
        assert work.result() == (os.getpid(), 49)


def _fails_in_the_child(parent: int):
    if os.getpid() != parent:
        raise ValueError("only in the child")
    return "done here"


def _killed_in_the_child(parent: int):
    if os.getpid() != parent:
        os.kill(os.getpid(), signal.SIGKILL)
    return "done here"


@needs_two_cores
@pytest.mark.parametrize("work", [_fails_in_the_child, _killed_in_the_child])
def test_a_failed_child_leaves_the_work_to_this_process(work):
    with Beside(work, os.getpid()) as beside_work:
        assert beside_work.forked
        assert beside_work.result() == "done here"


def _raises(parent: int):
    raise KeyError(f"raised in {'this process' if os.getpid() == parent else 'the child'}")


@needs_two_cores
def test_an_error_is_raised_here_as_one_process_raises_it():
    with pytest.raises(KeyError, match="raised in this process"):
        with Beside(_raises, os.getpid()) as work:
            work.result()


def _square_once_both_began(log: Path, job: int):
    """The process that did it and ``job * job``, once both processes have begun a job: the child
    waits in its first job for this process to join in, however the two are scheduled."""
    me = str(os.getpid())
    with open(log, "a") as handle:  # O_APPEND: both processes' lines kept whole
        handle.write(f"{me}\n")
    began = log.read_text().split()
    deadline = time.monotonic() + 10  # only so that a failure ends: the assertion below reports it
    while began.count(me) == 1 and len(set(began)) < 2 and time.monotonic() < deadline:
        time.sleep(0.001)
        began = log.read_text().split()
    return os.getpid(), job * job


@needs_two_cores
def test_jobs_are_shared_between_the_child_and_this_process(tmp_path):
    with beside.Jobs(40, functools.partial(_square_once_both_began, tmp_path / "began")) as jobs:
        results = [jobs.result(job) for job in range(40)]
    assert [value for _, value in results] == [job * job for job in range(40)]
    assert len({pid for pid, _ in results}) == 2  # this process took those left


@needs_two_cores
def test_each_job_is_done_once(tmp_path):
    log = tmp_path / "done"

    def note(job: int) -> int:
        with open(log, "a") as handle:  # O_APPEND: both processes' lines kept whole
            handle.write(f"{job}\n")
        return job

    with beside.Jobs(beside.MOST_JOBS, note) as jobs:
        assert [jobs.result(job) for job in range(beside.MOST_JOBS)] == list(range(beside.MOST_JOBS))
    assert sorted(map(int, log.read_text().split())) == list(range(beside.MOST_JOBS))


def test_without_a_child_each_job_is_done_here_when_asked(one_process):
    one_process()
    asked = []
    with beside.Jobs(5, lambda job: asked.append(job) or job) as jobs:
        assert asked == []
        assert [jobs.result(job) for job in (3, 0, 3)] == [3, 0, 3]
    assert asked == [3, 0]


def _fails_at_3_and_5_and_dies_at_7_in_the_child(parent: int, job: int):
    if job in (3, 5):
        raise ValueError(f"job {job}")
    if job == 7 and os.getpid() != parent:
        os._exit(3)
    return job


@pytest.mark.parametrize("cores", [1, 2])
def test_a_failed_job_raises_when_its_result_is_asked_in_the_callers_order(cores, one_process):
    if cores == 1:
        one_process()
    elif not beside.two_cores():
        pytest.skip("needs fork and two cores")
    work = functools.partial(_fails_at_3_and_5_and_dies_at_7_in_the_child, os.getpid())
    with beside.Jobs(10, work) as jobs:
        assert [jobs.result(job) for job in (9, 8, 7, 6, 4)] == [9, 8, 7, 6, 4]  # 7: the child died; done here
        with pytest.raises(ValueError, match="job 5"):
            jobs.result(5)
        with pytest.raises(ValueError, match="job 3"):
            jobs.result(3)
        assert jobs.result(0) == 0


def test_more_jobs_than_a_byte_numbers_are_refused():
    with pytest.raises(ValueError, match="257 jobs: at most 256"):
        beside.Jobs(beside.MOST_JOBS + 1, lambda job: job)


@needs_two_cores
@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to see open files")
def test_leaving_jobs_early_kills_the_child_and_closes_the_pipe():
    open_before = sorted(os.listdir("/proc/self/fd"))
    with pytest.raises(KeyError):
        with beside.Jobs(3, lambda job: time.sleep(30)) as jobs:
            child = jobs._child.pid
            raise KeyError("early")
    with pytest.raises(ChildProcessError):
        os.waitpid(child, os.WNOHANG)  # reaped
    assert sorted(os.listdir("/proc/self/fd")) == open_before


def _path():
    return Path("/")


@needs_two_cores
def test_only_plain_data_crosses_from_the_child():
    with pytest.raises(pickle.UnpicklingError, match="not plain data"):
        with Beside(_path) as work:
            work.result()


def _chatty():
    print("from the child")
    print("from the child", file=sys.stderr)
    return 1


@needs_two_cores
def test_the_child_prints_nothing(capfd):
    with Beside(_chatty) as work:
        assert work.result() == 1
    assert capfd.readouterr() == ("", "")


def _sleeps():
    time.sleep(60)


@needs_two_cores
def test_leaving_early_kills_and_reaps_the_child():
    with pytest.raises(RuntimeError):
        with Beside(_sleeps) as work:
            pid = work.pid
            raise RuntimeError("the caller failed")
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reaped: no such child any more


def _large_answer():
    return "a line of a stanza, é\n" * 200_000  # 4.6 MB: seventy times what a pipe holds


def _ended(pid: int) -> bool:
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT | os.WNOHANG) is not None


@needs_two_cores
def test_a_large_answer_is_left_whole_without_waiting_for_this_process_to_read(tmp_path, monkeypatch):
    """The child ends as soon as its answer is written, before this process asks for it; the
    answer's file has no name, so none is left behind."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with Beside(_large_answer) as work:
        deadline = time.monotonic() + 30
        while not _ended(work.pid):
            assert time.monotonic() < deadline, "the child waits for its answer to be read"
            time.sleep(0.01)
        assert work.result() == _large_answer()
    assert list(tmp_path.iterdir()) == []


@needs_two_cores
def test_a_child_left_early_leaves_no_answer_behind(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with Beside(_large_answer) as work:
        answer = work._answer
    assert answer.closed and list(tmp_path.iterdir()) == []


def test_without_a_temporary_file_the_value_is_computed_here(monkeypatch):
    def refused():
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(tempfile, "TemporaryFile", refused)
    with Beside(_pid_and_square, 5) as work:
        assert not work.forked
        assert work.result() == (os.getpid(), 25)


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _started_with_children(argv: list[str], children: int) -> subprocess.Popen:
    """``argv`` started in a session of its own, once it has had ``children`` child processes."""
    run = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, text=True)
    deadline, seen = time.monotonic() + 120, set()
    while len(seen) < children and run.poll() is None and time.monotonic() < deadline:
        seen.update(_children(run.pid))
        time.sleep(0.002)
    assert len(seen) == children and run.poll() is None, "the second process never started"
    return run


def _assert_interrupted_leaving_no_process(run: subprocess.Popen) -> None:
    _, err = run.communicate(timeout=60)
    assert run.returncode == 130, err
    assert err.strip().endswith("interrupted")
    with pytest.raises(ProcessLookupError):
        os.killpg(run.pid, 0)  # no process of the group is left


@needs_two_cores
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs /proc to see the child")
@pytest.mark.parametrize("command, child", [
    (["validate", "--spl"], 1), (["validate", "--spl"], 2), (["build"], 1), (["build"], 2), (["build"], 3),
], ids=["validate while reading", "validate while checking", "build while reading", "build while rendering",
        "build while packaging"])
def test_ctrl_c_exits_130_and_leaves_no_process(tmp_path, command, child):
    root = varied_pack(tmp_path / "pack", count=600)
    argv = [sys.executable, str(PROJECT_ROOT / "build.py"), *command, "--content", str(root)]
    if command == ["build"]:
        argv += ["--output", str(tmp_path / "out")]
    run = _started_with_children(argv, child)
    os.killpg(run.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole foreground group
    _assert_interrupted_leaving_no_process(run)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())  # no staging, no package


def _render_error(root: Path, out: Path) -> str:
    from detpack.build.package import PackageError
    from detpack.build.render import RenderError

    with pytest.raises((RenderError, PackageError)) as error:  # a value the writer refuses included
        build_app(root, out, sync_committed=False)
    assert not (out / "DA-ESS-ContentUpdate").exists() and not list(out.glob("*.spl"))
    return f"{type(error.value).__name__}: {error.value}"


@needs_two_cores
def test_a_render_that_does_not_read_back_fails_alike_in_two_processes(tmp_path, monkeypatch, forks, one_process):
    import detpack.build.render as render

    real = render._environment

    def tampered():  # every third detection's risk is written wrong
        env = real()
        env.globals["risk"] = lambda d: [] if d.name.endswith(("0", "3", "6", "9")) else real_risk(d)
        return env

    real_risk = render.risk
    monkeypatch.setattr(render, "_environment", tampered)
    root = varied_pack(tmp_path / "pack")
    two = _render_error(root, tmp_path / "two")
    assert "action.risk.param._risk does not match" in two and two.count("\n") > 10
    assert len(forks) == 2
    one_process()
    assert _render_error(root, tmp_path / "one") == two == _whole_render_error(root)


def _lines_the_writer_did_not_write(monkeypatch, after: dict[str, str]) -> None:
    """Patch the conf writer so that the stanza of each detection named in ``after`` ends with the
    line given there, which the writer does not record: the file no longer reads back as written."""
    import detpack.build.render as render

    real = render._LineWriter.entries

    def entries(self, pairs):
        text = real(self, pairs)
        label = dict(pairs).get("action.correlationsearch.label", "")
        return text + "".join(f"\n{line}" for name, line in after.items() if f"{name} - Rule" in label)

    monkeypatch.setattr(render._LineWriter, "entries", entries)


def _whole_render_error(root: Path) -> str:
    """The error of one rendering of every file whole, as a small pack is rendered."""
    from detpack.build.render import RenderError, render_app
    from detpack.content.validate import load_valid_pack

    with pytest.raises(RenderError) as error:
        render_app(load_valid_pack(root))
    return f"{type(error.value).__name__}: {error.value}"


@pytest.mark.parametrize("cores", [1, 2])
@pytest.mark.parametrize("after", [
    {"WMI 0070": "search = again"},
    {"WMI 0010": "[Not Written]", "WMI 0070": "extra = 1"},
], ids=["a duplicate key", "problems in two parts"])
def test_a_file_that_does_not_read_back_fails_as_one_rendering_of_it_whole(tmp_path, monkeypatch, one_process,
                                                                            cores, after):
    """What the reader makes of savedsearches.conf is about the whole file: the line it names, and
    its problems in their order, are those of the file rendered whole, not of a part of it."""
    if cores == 1:
        one_process()
    elif not beside.two_cores():
        pytest.skip("needs fork and two cores")
    _lines_the_writer_did_not_write(monkeypatch, after)
    root = varied_pack(tmp_path / "pack")  # parts of 50 detections: 0010 in the first, 0070 in the second
    whole = _whole_render_error(root)
    assert ("duplicate key 'search'" in whole) == ("search = again" in after.values())
    assert _render_error(root, tmp_path / "out") == whole


def test_a_baseline_that_does_not_read_back_fails_as_one_rendering_of_the_file_whole(tmp_path, monkeypatch):
    """The other objects' stanzas, rendered after the parts, are read back as part of the whole file too."""
    import detpack.build.render as render

    real = render._LineWriter.entry

    def entry(self, key, value):  # the baseline's search key, twice
        line = real(self, key, value)
        return line + "\nsearch = again" if (key, value) == ("action.escu.search_type", "support") else line

    monkeypatch.setattr(render._LineWriter, "entry", entry)
    root = with_baseline(varied_pack(tmp_path / "pack"))
    whole = _whole_render_error(root)
    assert "duplicate key 'search' in [DetPack - Previously Seen Hosts]" in whole
    assert _render_error(root, tmp_path / "out") == whole


@needs_two_cores
def test_a_value_that_cannot_be_written_fails_alike_in_two_processes(tmp_path, monkeypatch, forks, one_process):
    import detpack.build.render as render

    real = render._environment

    def tampered():  # a description the writer refuses, from the 50th detection on
        env = real()
        env.globals["description"] = lambda d: d.description + (" \\" if d.name >= "Script Execution via WMI 0050" else "")
        return env

    monkeypatch.setattr(render, "_environment", tampered)
    root = varied_pack(tmp_path / "pack")
    two = _render_error(root, tmp_path / "two")
    assert two == ("RenderError: default/savedsearches.conf: [DetPack - Script Execution via WMI 0050 - Rule] description: "
                   "value ends with a backslash, which would join the next line")
    assert len(forks) == 2
    one_process()
    assert _render_error(root, tmp_path / "one") == two == _whole_render_error(root)


@contextmanager
def sigterm_once_its_child_runs(script: str):
    """``python -c script`` in a session of its own, sent SIGTERM once it printed its
    child's pid; the whole session is killed afterwards, whatever the test found."""
    run = subprocess.Popen([sys.executable, "-c", script], cwd=PROJECT_ROOT, stdout=subprocess.PIPE,
                           text=True, start_new_session=True)
    try:
        assert int(run.stdout.readline()) > 0
        run.send_signal(signal.SIGTERM)
        yield run
    finally:
        try:
            os.killpg(run.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        run.stdout.close()


@needs_two_cores
def test_sigterm_stops_the_child_and_ends_the_process_as_without_one():
    script = ("import time\nfrom detpack.beside import Beside\n"
              "work = Beside(time.sleep, 60)\nprint(work.pid, flush=True)\nwork.result()\n")
    with sigterm_once_its_child_runs(script) as run:
        assert run.wait(timeout=30) == -signal.SIGTERM  # as a process without a child ends
        with pytest.raises(ProcessLookupError):
            os.killpg(run.pid, 0)  # the child did not outlive it


@needs_two_cores
def test_ctrl_c_just_after_the_child_is_reaped_is_still_an_interruption(monkeypatch):
    reap = os.waitpid

    def reaped_then_interrupted(pid, options):
        found = reap(pid, options)
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C between the reaping and its bookkeeping
        return found

    with pytest.raises(KeyboardInterrupt):
        with Beside(_pid_and_square, 3) as work:
            monkeypatch.setattr(os, "waitpid", reaped_then_interrupted)
            work.result()
    monkeypatch.undo()
    assert not beside._LIVE  # nothing left for the exit to kill: its number may be another process's by then


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to see open files")
def test_a_fork_the_system_refuses_leaves_the_work_to_this_process(monkeypatch):
    def refused():  # as fork fails at a process limit (EAGAIN) or without memory to copy into (ENOMEM)
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(beside, "two_cores", lambda: True)
    monkeypatch.setattr(os, "fork", refused)
    open_before = sorted(os.listdir("/proc/self/fd"))
    with Beside(_pid_and_square, 7) as work:
        assert not work.forked
        assert work.result() == (os.getpid(), 49)
    assert sorted(os.listdir("/proc/self/fd")) == open_before  # the pipe is closed


@needs_two_cores
def test_a_child_that_fails_before_its_work_does_not_go_on_with_the_caller():
    script = ("import sys\nsys.modules['pickle'] = None  # the child's import of pickle fails\n"
              "from detpack.beside import Beside\n"
              "with Beside(abs, -3) as work:\n    print(work.result())\n")
    run = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    assert (run.returncode, run.stdout, run.stderr) == (0, "3\n", "")


@needs_two_cores
def test_sigterm_keeps_a_handler_the_process_set_itself():
    script = ("import signal, time\nfrom detpack.beside import Beside\n"
              "def interrupt(signum, frame):\n    raise KeyboardInterrupt\n"
              "signal.signal(signal.SIGTERM, interrupt)  # as splunk-test cleans up on SIGTERM\n"
              "try:\n    with Beside(time.sleep, 60) as work:\n        print(work.pid, flush=True)\n        work.result()\n"
              "except KeyboardInterrupt:\n    print('cleaned up')\n")
    with sigterm_once_its_child_runs(script) as run:
        assert run.stdout.read() == "cleaned up\n" and run.wait(timeout=30) == 0
        with pytest.raises(ProcessLookupError):
            os.killpg(run.pid, 0)


def _endless():
    count = 0
    while True:
        yield count
        count += 1


@needs_two_cores
def test_closing_a_stream_before_its_first_item_kills_and_reaps_the_child():
    """A stream closed before anything was taken from it (the caller stopped at once) still
    stops its child and closes its pipe, rather than leaving both until this process exits."""
    fds = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    stream = beside.stream_beside(_endless)
    assert len(beside._LIVE) == 1
    stream.close()
    assert not beside._LIVE
    if fds is not None:
        assert len(os.listdir("/proc/self/fd")) == fds


SILENT_CHILD_THEN_KILLED = """
import os, signal, sys, time
from detpack import beside

def produce():  # long work before the first item, as a read through a file with no line end
    time.sleep(60)
    yield 1

stream = beside.stream_beside(produce)
print(*beside._LIVE, flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # no clean-up of any kind runs
"""


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@needs_two_cores
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to see the child")
def test_a_child_leaves_soon_after_its_caller_is_killed_outright():
    """SIGKILL runs no clean-up in the caller: a child busy before its next write (which
    would fail on the closed pipe) notices that its caller is gone and leaves."""
    done = subprocess.run([sys.executable, "-c", SILENT_CHILD_THEN_KILLED], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == -signal.SIGKILL
    child = int(done.stdout.split()[0])
    deadline = time.monotonic() + 5
    while _running(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    running = _running(child)
    if running:
        os.kill(child, signal.SIGKILL)
    assert not running


@needs_two_cores
def test_ctrl_c_just_after_the_reaping_with_another_thread_running_leaves_nothing_to_kill(monkeypatch):
    """A thread's signal mask holds a signal only in that thread: with another thread running
    (a progress report, a reading thread), the kernel hands Ctrl-C to it, and Python raises
    KeyboardInterrupt in the main thread at once. The child reaped by then must already be
    forgotten, or the exit would kill its number, perhaps another process's by then."""
    import threading

    reap = os.waitpid
    other_thread_done = threading.Event()
    other = threading.Thread(target=other_thread_done.wait, daemon=True)
    other.start()

    def reaped_then_interrupted(pid, options):
        found = reap(pid, options)
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C between the reaping and its bookkeeping
        while signal.SIGINT in signal.sigpending():  # until the other thread has taken it
            time.sleep(0.001)
        return found

    try:
        with pytest.raises(KeyboardInterrupt):
            with Beside(_pid_and_square, 3) as work:
                monkeypatch.setattr(os, "waitpid", reaped_then_interrupted)
                work.result()
    finally:
        monkeypatch.undo()
        other_thread_done.set()
        other.join()
    left, beside._LIVE = set(beside._LIVE), set()  # the exit would otherwise kill and wait for it
    assert not left


def test_the_stanzas_come_compressed_for_the_package_in_one_process_as_in_two(tmp_path, one_process):
    from detpack.build.app import checked_render

    root = with_baseline(varied_pack(tmp_path / "pack"))
    starts = []
    for _ in range(2):
        checked = checked_render(root)
        whole = checked.rendered.files[SAVEDSEARCHES]
        start = checked.starts[SAVEDSEARCHES]
        assert zlib.decompressobj(-zlib.MAX_WBITS).decompress(start.deflated) == whole[:start.length]
        assert start.length == whole.index(b"\n[DetPack - Previously Seen Hosts]")  # the baseline's, compressed with the package
        starts.append(start)
        one_process()
    assert starts[0] == starts[1]


def test_a_savedsearches_conf_that_does_not_begin_with_its_parts_is_compressed_here(tmp_path, monkeypatch):
    from detpack.build import render
    from detpack.build.app import checked_render

    real = render.join_parts

    def another_start(*args):
        text, *rest = real(*args)
        return (b"# " + text, *rest)

    monkeypatch.setattr(render, "join_parts", another_start)
    root = varied_pack(tmp_path / "pack")
    assert checked_render(root).starts == {}
    result = build_app(root, tmp_path / "out", sync_committed=False)
    with tarfile.open(result.package, "r:gz") as tar:
        packed = tar.extractfile(f"{result.pack.app.app_id}/{SAVEDSEARCHES}").read()
    assert packed.startswith(b"# # Generated") and packed == (result.app_dir / SAVEDSEARCHES).read_bytes()


def test_in_one_process_no_part_is_rendered_after_one_that_cannot_be_placed(tmp_path, monkeypatch, one_process):
    """The file is then rendered whole: rendering the parts after it would be work thrown away."""
    from detpack.build import render
    from detpack.build.app import checked_render

    one_process()
    rendered = []

    def unplaceable(self, chunk, path, first):
        rendered.append(chunk)
        return None, [], [], []

    monkeypatch.setattr(render.Renderer, "part", unplaceable)
    root = varied_pack(tmp_path / "pack")
    checked = checked_render(root)
    assert checked.starts == {} and len(rendered) == 1
    assert checked.rendered.files[SAVEDSEARCHES] == render.render_conf(checked.pack, SAVEDSEARCHES)[0]


def test_a_small_pack_has_no_compressed_start(pack_copy):
    from detpack.build.app import checked_render

    assert checked_render(pack_copy).starts == {}


def with_baseline(root: Path) -> Path:
    (root / "baselines").mkdir()
    (root / "baselines" / "seen.yml").write_text(BASELINE.replace("WMI Abuse", "Suspicious WMI Use"))
    return root


@pytest.mark.parametrize("size", [1, 5, 11, 12, 100])
@pytest.mark.parametrize("baseline", [False, True], ids=["detections alone", "and a baseline"])
def test_savedsearches_rendered_in_parts_is_the_file_rendered_whole(tmp_path, size, baseline):
    """Whatever the parts' size, the parts joined are the whole file, findings included."""
    from detpack.build import render
    from detpack.content.validate import load_valid_pack

    root = varied_pack(tmp_path / "pack", count=12)
    pack = load_valid_pack(with_baseline(root) if baseline else root)
    parts = [render.render_part(chunk, SAVEDSEARCHES, first=i == 0)
             for i, chunk in enumerate(render.detection_chunks(pack, size))]
    assert all(text is not None for text, *_ in parts)
    assert render.join_parts(pack, SAVEDSEARCHES, parts) == render.render_conf(pack, SAVEDSEARCHES)


def test_parts_that_cannot_be_placed_leave_the_file_to_be_rendered_whole(tmp_path):
    from detpack.build import render
    from detpack.content.validate import load_valid_pack

    pack = load_valid_pack(varied_pack(tmp_path / "pack", count=3))
    whole = render.render_conf(pack, SAVEDSEARCHES)
    chunk = render.detection_chunks(pack, 3)[0]
    assert render.render_part(replace(chunk, detections=()), SAVEDSEARCHES, first=True)[0] is None  # a header alone
    assert render.join_parts(pack, SAVEDSEARCHES, [(None, ["not this"], [], [])]) == whole
    assert render.join_parts(pack, SAVEDSEARCHES, []) == whole


@needs_two_cores
def test_an_error_in_the_last_part_of_the_stanzas_fails_alike_in_two_processes(tmp_path, monkeypatch, forks,
                                                                                one_process):
    import detpack.build.render as render

    real = render._environment
    count = WORTH_A_PROCESS + 20
    last = f"Script Execution via WMI {count - 1:04d}"  # in the last part, whichever process renders it

    def tampered(first: str | None):  # a description the writer refuses, in the last detection (and in ``first``)
        def build():
            env = real()
            env.globals["description"] = lambda d: d.description + {last: " \\", first: " "}.get(d.name, "")
            return env
        return build

    root = varied_pack(tmp_path / "pack", count)
    for first, error in [(None, f"[DetPack - {last} - Rule] description: value ends with a backslash, which would join "
                                "the next line"),
                         ("Script Execution via WMI 0010", "[DetPack - Script Execution via WMI 0010 - Rule] description: "
                                                           "value has leading or trailing white space, which Splunk trims")]:
        monkeypatch.setattr(render, "_environment", tampered(first))
        forks.clear()
        monkeypatch.setattr(beside, "two_cores", lambda: True)
        two = _render_error(root, tmp_path / "two")
        assert two == f"RenderError: default/savedsearches.conf: {error}"  # the error one rendering meets first
        assert len(forks) == 2
        one_process()
        assert _render_error(root, tmp_path / "one") == two == _whole_render_error(root)


@needs_two_cores
@pytest.mark.parametrize("stanza_fails", [True, False], ids=["and a stanza of the first part", "alone"])
def test_a_text_file_that_fails_to_render_fails_alike_in_two_processes(tmp_path, monkeypatch, forks, one_process,
                                                                       stanza_fails):
    """The README is rendered while the second process still renders its stanzas, but its error
    comes after theirs, as in one rendering of the files in order."""
    import detpack.build.render as render

    real = render._environment

    def tampered():
        env = real()
        if stanza_fails:
            env.globals["description"] = lambda d: d.description + (" \\" if d.name.endswith(" 0003") else "")
        get_template = env.get_template

        def failing_readme(name, *args, **kwargs):
            if name == "README.md.j2":
                raise render.RenderError("README.md.j2: cannot render")
            return get_template(name, *args, **kwargs)

        env.get_template = failing_readme
        return env

    monkeypatch.setattr(render, "_environment", tampered)
    root = varied_pack(tmp_path / "pack", WORTH_A_PROCESS + 20)
    monkeypatch.setattr(beside, "two_cores", lambda: True)
    two = _render_error(root, tmp_path / "two")
    assert two == ("RenderError: default/savedsearches.conf: [DetPack - Script Execution via WMI 0003 - Rule] description: "
                   "value ends with a backslash, which would join the next line" if stanza_fails
                   else "RenderError: README.md.j2: cannot render")
    assert len(forks) == 2
    one_process()
    assert _render_error(root, tmp_path / "one") == two == _whole_render_error(root)


def _exits_in_a_child(monkeypatch, module, name: str) -> None:
    """Patch ``module.name`` so that a child process calling it exits at once; this process calls it as it is."""
    here, real = os.getpid(), getattr(module, name)

    def exits_in_a_child(*args):
        if os.getpid() != here:
            os._exit(3)
        return real(*args)

    monkeypatch.setattr(module, name, exits_in_a_child)


@needs_two_cores
def test_a_failed_render_child_leaves_its_stanzas_to_this_process(tmp_path, monkeypatch, forks, one_process):
    import detpack.build.render as render

    _exits_in_a_child(monkeypatch, render, "render_conf")
    root = varied_pack(tmp_path / "pack")
    two = _build(root, tmp_path / "two")
    assert len(forks) == 3  # reading, rendering, packaging
    one_process()
    assert _build(root, tmp_path / "one") == two


@needs_two_cores
def test_a_child_that_dies_writing_the_app_folder_leaves_its_files_to_this_process(tmp_path, monkeypatch, forks,
                                                                                    one_process):
    from detpack.build import app

    root = varied_pack(tmp_path / "pack")
    expected = _build(root, tmp_path / "expected")
    _exits_in_a_child(monkeypatch, app, "write_files")
    assert _build(root, tmp_path / "two") == expected
    assert len(forks) == 6  # reading, rendering, packaging: twice
    assert _folder(tmp_path / "two") == _folder(tmp_path / "expected")


def _folder(out: Path) -> dict[str, tuple[int, bytes]]:
    return {p.relative_to(out).as_posix(): (p.stat().st_mode, p.read_bytes() if p.is_file() else b"")
            for p in sorted(out.rglob("*")) if not p.name.endswith(".spl")}


@needs_two_cores
@pytest.mark.parametrize("name", ["README.md", "savedsearches.conf"], ids=["the second process's", "this process's"])
def test_a_file_of_the_app_folder_that_cannot_be_written_fails_alike_in_two_processes(tmp_path, monkeypatch, forks,
                                                                                      one_process, name):
    root = varied_pack(tmp_path / "pack")
    _build(root, tmp_path / "out")
    before = _folder(tmp_path / "out")
    real = Path.write_bytes

    def write_bytes(self, data):
        if self.name == name:
            raise OSError(28, "No space left on device", str(self))
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", write_bytes)
    errors = []
    for _ in range(2):
        with pytest.raises(OSError) as error:
            _build(root, tmp_path / "out")
        errors.append(error.value.strerror)
        assert _folder(tmp_path / "out") == before  # no staging folder left, the previous app folder kept
        one_process()
    assert errors == ["No space left on device"] * 2


@needs_two_cores
def test_ctrl_c_while_the_second_process_writes_the_app_folder_leaves_the_previous_output(tmp_path, monkeypatch):
    from detpack.build import app

    root = varied_pack(tmp_path / "pack")
    _build(root, tmp_path / "out")
    before = _folder(tmp_path / "out") | {"spl": _build_bytes(tmp_path / "out")}
    here, real = os.getpid(), app.write_files

    def write_files(staging, contents):
        if os.getpid() != here:
            time.sleep(0.5)  # still writing when this process is interrupted
        real(staging, contents)
        if os.getpid() == here:
            raise KeyboardInterrupt

    monkeypatch.setattr(app, "write_files", write_files)
    with pytest.raises(KeyboardInterrupt):
        _build(root, tmp_path / "out")
    time.sleep(0.7)  # a child left running would write now
    assert _folder(tmp_path / "out") | {"spl": _build_bytes(tmp_path / "out")} == before


def _build_bytes(out: Path) -> tuple[int, bytes]:
    spl, = out.glob("*.spl")
    return 0, spl.read_bytes()


@needs_two_cores
def test_a_second_process_left_running_never_makes_the_removed_staging_folder_again(tmp_path, monkeypatch, forks):
    """Ctrl-C landing after the fork but before the ``with`` block that stops the child is entered: the
    child runs on until this process exits, and writes its files once the staging folder is removed.
    Its writes fail rather than make the folder again and leave it beside the app folder. (Its package
    is left out here: its temporary file is another matter.)"""
    from detpack.build import app

    root = varied_pack(tmp_path / "pack")
    _build(root, tmp_path / "out")
    before = _folder(tmp_path / "out")
    here = os.getpid()

    def files_once_staging_is_gone(package, staging, contents):
        while os.getpid() != here and staging.exists():
            time.sleep(0.01)
        app.write_files(staging, contents)

    def interrupted_once_forked(*args, **kwargs):
        assert Beside(*args, **kwargs).forked
        raise KeyboardInterrupt

    monkeypatch.setattr(app, "_package_and_files", files_once_staging_is_gone)
    monkeypatch.setattr(app, "Beside", interrupted_once_forked)
    try:
        with pytest.raises(KeyboardInterrupt):
            _build(root, tmp_path / "out")
        child = forks[-1]
        os.waitid(os.P_PID, child, os.WEXITED | os.WNOWAIT)  # it has written all it could
    finally:
        beside._stop_all()
    assert _folder(tmp_path / "out") == before


def _reads_counted_failing_in_a_child(monkeypatch, fail_at: int, failure) -> list[int]:
    """Patch the file reader: in a child, ``failure()`` at its ``fail_at``-th file; in this process,
    count the files read (the list returned)."""
    import detpack.content.load as load

    here, real, mine, theirs = os.getpid(), load._read_file, [], [0]

    def read_file(*args):
        if os.getpid() != here:
            theirs[0] += 1
            if theirs[0] == fail_at:
                failure()
        else:
            mine.append(1)
        return real(*args)

    monkeypatch.setattr(load, "_read_file", read_file)
    return mine


def _killed():
    os.kill(os.getpid(), signal.SIGKILL)


@needs_two_cores
@pytest.mark.parametrize("failure", [_killed, lambda: os._exit(3)], ids=["killed", "exits"])
@pytest.mark.parametrize("position", ["first", "midway", "last"])
def test_a_reading_child_that_fails_leaves_the_rest_to_this_process(tmp_path, monkeypatch, forks, one_process,
                                                                    failure, position):
    from detpack.content.load import KINDS, _second_share

    root = broken_pack(tmp_path / "pack")
    files = sum(len(list(root.glob(pattern))) for pattern, _, _ in KINDS)
    fail_at = {"first": 1, "midway": 20, "last": sum(map(_second_share, range(files)))}[position]
    read_here = _reads_counted_failing_in_a_child(monkeypatch, fail_at, failure)
    two = _findings(root)
    assert len(forks) == 2  # the reading child, then the rendering one
    # The files the child sent were not read again here: the rest were.
    assert len(read_here) == files - (fail_at - 1)
    one_process()
    assert _findings(root) == two


@needs_two_cores
def test_data_sources_a_reading_child_failed_on_are_read_here(tmp_path, monkeypatch, forks, one_process):
    import detpack.content.load as load

    _exits_in_a_child(monkeypatch, load, "_data_source_names")
    root = broken_pack(tmp_path / "pack")
    two = _findings(root)
    assert any("data_sources/broken.yml" in f for f in two[1])
    one_process()
    assert _findings(root) == two


@needs_two_cores
def test_a_reading_child_that_fails_after_its_last_item_is_not_read_again(tmp_path, monkeypatch, forks, one_process):
    import detpack.content.load as load

    here, real = os.getpid(), load._second_share_items
    again = []

    def fails_once_all_is_sent(root, files):
        if os.getpid() == here:
            again.append(len(files))
        yield from real(root, files)
        if os.getpid() != here:
            os._exit(3)

    monkeypatch.setattr(load, "_second_share_items", fails_once_all_is_sent)
    root = broken_pack(tmp_path / "pack")
    two = _findings(root)
    assert len(forks) == 2 and again == []  # every item had come: nothing was read here
    one_process()
    assert _findings(root) == two


@needs_two_cores
def test_an_error_the_reading_child_meets_is_raised_here_at_the_same_file(tmp_path, monkeypatch, forks):
    import detpack.content.load as load

    root = varied_pack(tmp_path / "pack")
    here, real = os.getpid(), load._load_one
    failing = sorted((root / "detections" / "endpoint").glob("*.yml"))[30]

    def fails_on_one_file(root, path, *args):
        if path == failing:
            raise RuntimeError(f"raised in {'this process' if os.getpid() == here else 'the child'}")
        return real(root, path, *args)

    monkeypatch.setattr(load, "_load_one", fails_on_one_file)
    with pytest.raises(RuntimeError, match="raised in this process"):
        _findings(root)
    assert len(forks) == 1


@needs_two_cores
@pytest.mark.parametrize("failure", [_killed, lambda: os._exit(3)], ids=["killed", "exits"])
def test_a_failed_packaging_child_leaves_the_package_to_this_process(tmp_path, monkeypatch, forks, one_process, failure):
    from detpack.build import package

    here, real = os.getpid(), package.write_archive

    def fails_in_a_child(handle, *args):
        if os.getpid() != here:
            handle.write(b"half a package")
            handle.flush()
            failure()
        return real(handle, *args)

    monkeypatch.setattr(package, "write_archive", fails_in_a_child)
    root = varied_pack(tmp_path / "pack")
    two = _build(root, tmp_path / "two")
    assert len(forks) == 3
    one_process()
    assert _build(root, tmp_path / "one") == two
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == ["DA-ESS-DetPack", "DA-ESS-DetPack-1.0.0.spl"]


@needs_two_cores
def test_a_savedsearches_template_that_is_not_header_then_stanzas_still_builds_alike(tmp_path, monkeypatch, forks,
                                                                                    one_process):
    """A line after the header would show up once in each part: the file is then rendered whole."""
    import jinja2

    import detpack.build.render as render

    real = render._environment
    source = (render.TEMPLATES / "savedsearches.conf.j2").read_text()

    def changed():
        env = real()
        env.loader = jinja2.ChoiceLoader([
            jinja2.DictLoader({"savedsearches.conf.j2": source.replace("{{ header }}\n", "{{ header }}\n# detections\n", 1)}),
            env.loader])
        return env

    monkeypatch.setattr(render, "_environment", changed)
    root = varied_pack(tmp_path / "pack")
    two = build_app(root, tmp_path / "two", sync_committed=False)
    assert two.files["default/savedsearches.conf"].count(b"# detections") == 1
    assert len(forks) == 3
    one_process()
    assert _build(root, tmp_path / "one") == two.package.read_bytes()


@needs_two_cores
def test_an_interruption_while_the_pipe_is_read_stays_an_interruption(monkeypatch):
    """Ctrl-C (or a SIGTERM handler that raises) landing while the child's pipe is read, after
    which the pipe is closed: the caller sees the interruption, and the child is stopped."""
    def interrupted(fd):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        with Beside(_sleeps) as work:
            monkeypatch.setattr(beside, "_wait_for_end", interrupted)
            work.result()
    monkeypatch.undo()
    assert not beside._LIVE


@needs_two_cores
def test_a_signal_another_thread_takes_still_stops_the_wait_for_the_child():
    """SIGTERM (or Ctrl-C) taken by another thread, here one started before the main thread held
    the signal (as a progress report's), interrupts no read of the main thread's: its handler must
    still run while the main thread waits for the child, not once the child has finished."""
    script = ("import os, signal, threading, time\nfrom detpack.beside import Beside\n"
              "def interrupt(signum, frame):\n    raise KeyboardInterrupt\n"
              "signal.signal(signal.SIGTERM, interrupt)\n"
              "waiting = threading.Event()\n"
              "def send():\n    waiting.wait()\n    time.sleep(0.3)\n    os.kill(os.getpid(), signal.SIGTERM)\n"
              "threading.Thread(target=send, daemon=True).start()  # takes the signal: the main thread holds it\n"
              "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})\n"
              "try:\n    with Beside(time.sleep, 60) as work:\n        waiting.set()\n        work.result()\n"
              "except KeyboardInterrupt:\n    print('interrupted')\n")
    run = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True,
                         timeout=30, start_new_session=True)
    assert (run.returncode, run.stdout) == (0, "interrupted\n"), run.stderr


@needs_two_cores
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs /proc to see the child")
@pytest.mark.parametrize("child", [1, 3], ids=["while reading", "while packaging"])
@pytest.mark.parametrize("stop", ["sigterm", "ctrl-c"])
def test_a_stopped_build_leaves_the_previous_output(tmp_path, child, stop):
    """CI cancelling a job sends SIGTERM: the build cleans up as on Ctrl-C (no staged folder, no
    temporary package, no process) and the previous app folder and package stay as they were."""
    root = varied_pack(tmp_path / "pack", count=600)
    out = tmp_path / "out"
    argv = [sys.executable, str(PROJECT_ROOT / "build.py"), "build", "--content", str(root), "--output", str(out)]
    subprocess.run(argv, check=True, capture_output=True)
    before = {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    run = _started_with_children(argv, child)
    if stop == "sigterm":
        run.send_signal(signal.SIGTERM)  # to the build alone, as `kill` sends it
    else:
        os.killpg(run.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole foreground group
    _assert_interrupted_leaving_no_process(run)
    assert sorted(p.name for p in out.iterdir()) == ["DA-ESS-DetPack", "DA-ESS-DetPack-1.0.0.spl"]
    assert {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()} == before


@needs_two_cores
def test_a_signal_that_came_during_a_fork_stops_the_child_forked(tmp_path, monkeypatch):
    """Ctrl-C and SIGTERM are held while a child is forked; one that came meanwhile is handled as
    they are let through again, before the caller knows the child. That child (here the one writing
    the package) must be stopped then: left running, it would write the package's temporary file
    after the build removed it, and nobody would remove it."""
    root = varied_pack(tmp_path / "pack")
    out = tmp_path / "out"
    build_app(root, out, sync_committed=False)
    real_fork, real_mask, forks = os.fork, signal.pthread_sigmask, []

    def fork():
        pid = real_fork()
        if pid:
            forks.append(pid)
        return pid

    def pthread_sigmask(how, mask):
        previous = real_mask(how, mask)
        if how == signal.SIG_SETMASK and len(forks) == 3:  # reading, rendering, then packaging
            monkeypatch.setattr(signal, "pthread_sigmask", real_mask)  # once
            raise KeyboardInterrupt
        return previous

    monkeypatch.setattr(os, "fork", fork)
    monkeypatch.setattr(signal, "pthread_sigmask", pthread_sigmask)
    unheld = real_mask(signal.SIG_BLOCK, ())
    with pytest.raises(KeyboardInterrupt):
        build_app(root, out, sync_committed=False)
    assert real_mask(signal.SIG_BLOCK, ()) == unheld
    for pid in list(beside._LIVE):  # a child still running: let it finish what it would write
        os.waitpid(pid, 0)
        beside._LIVE.discard(pid)
    assert sorted(p.name for p in out.iterdir()) == ["DA-ESS-DetPack", "DA-ESS-DetPack-1.0.0.spl"]


@needs_two_cores
def test_a_signal_that_came_as_a_fork_held_the_signals_leaves_them_unheld(interrupt_as_signals_are_held):
    """One handled as the call holding Ctrl-C and SIGTERM returns: no child, and the signals are
    not left held in the thread (its next Ctrl-C would never come)."""
    unheld = interrupt_as_signals_are_held()
    with pytest.raises(KeyboardInterrupt):
        Beside(os.getpid)
    assert signal.pthread_sigmask(signal.SIG_BLOCK, ()) == unheld
    assert not beside._LIVE
