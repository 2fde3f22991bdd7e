"""A large file is read by a second process (``read_events`` through ``beside.stream_beside``):
the caller gets the same events, counts, problems and errors as when it reads the file itself,
whatever the input and however the reading process ends."""
from __future__ import annotations

import gc
import gzip
import os
import signal
import subprocess
import sys
import time
import warnings
from contextlib import closing
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from detpack import beside
from detpack.replay import events
from detpack.replay.events import EventReadError, ReadStats, read_events
from test_events_scan import ENDS, KEEPS, PIECES, event, events_file
from test_two_processes import _children

ROOT = Path(__file__).resolve().parent.parent
needs_two_cores = pytest.mark.skipif(not beside.two_cores(), reason="needs fork and two cores")


def read_all(path, keep=None, *, forked: bool, monkeypatch, stats: ReadStats | None = None):
    """(events, (read, skipped, problems)) of ``path``, read by a second process or by this one."""
    stats = stats or ReadStats()
    with monkeypatch.context() as patch:
        patch.setattr(events, "READ_BESIDE_BYTES", 0 if forked else 1 << 62)
        got = [(e.raw, e.source, e.sourcetype, e.origin) for e in read_events(path, stats=stats, keep=keep)]
    return got, (stats.events_read, stats.events_skipped, stats.problems)


@needs_two_cores
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.tuples(st.sampled_from(range(len(PIECES))), st.sampled_from(ENDS)), max_size=30),
       compress=st.booleans(), cut=st.integers(0, 30), read_bytes=st.sampled_from([7, 300, 1 << 20]),
       keep=st.sampled_from(sorted(KEEPS)))
def test_a_second_process_reads_exactly_as_this_one(tmp_path_factory, monkeypatch, lines, compress, cut,
                                                    read_bytes, keep):
    path = events_file(tmp_path_factory.mktemp("beside"), b"".join(PIECES[i] + end for i, end in lines), compress, cut)
    monkeypatch.setattr(events, "READ_BYTES", read_bytes)
    monkeypatch.setattr(events, "FRAME_EVENTS", 3)
    assert consume(path, KEEPS[keep], forked=True, monkeypatch=monkeypatch) == \
        consume(path, KEEPS[keep], forked=False, monkeypatch=monkeypatch)


def many_events(tmp_path, count=400, broken_every=7, compress=True):
    lines = [event(image=f"C:\\w\\{i}.exe") if i % broken_every else "junk" for i in range(count)]
    text = ("\n".join(lines) + "\n").encode()
    path = tmp_path / ("many.xml.log.gz" if compress else "many.xml.log")
    path.write_bytes(gzip.compress(text) if compress else text)
    return path


@needs_two_cores
def test_the_file_is_read_by_another_process(tmp_path, monkeypatch):
    """The events come from a child: the reading code runs in a process other than this one."""
    real = events._event_frames

    def frames(*args):
        for steps in real(*args):
            yield [*steps, (0, 0, [f"read by {os.getpid()}"])]

    monkeypatch.setattr(events, "_event_frames", frames)
    got, (_, _, problems) = read_all(many_events(tmp_path), forked=True, monkeypatch=monkeypatch)
    readers = {p for p in problems if p.startswith("read by")}
    assert len(got) == 400 - 58 and readers and f"read by {os.getpid()}" not in readers


def stopping_after(after: int, how: str):
    """``_event_frames`` whose reading process, after ``after`` batches, is killed (``how`` is
    "killed") or fails with an error; in this process it reads as it does."""
    real = events._event_frames
    parent = os.getpid()

    def frames(*args):
        for sent, frame in enumerate(real(*args)):
            if sent == after and os.getpid() != parent:
                if how == "killed":
                    os.kill(os.getpid(), signal.SIGKILL)
                raise RuntimeError("reading failed")
            yield frame

    return frames


@needs_two_cores
@pytest.mark.parametrize("how", ["killed", "error"])
@pytest.mark.parametrize("after", [0, 1, 5])
def test_a_reading_process_that_stops_leaves_the_rest_to_this_one(tmp_path, monkeypatch, how, after):
    """Killed or failing after ``after`` batches: this process reads the file again and hands
    out only what the child did not, so nothing is lost, doubled or counted twice."""
    monkeypatch.setattr(events, "FRAME_EVENTS", 10)
    monkeypatch.setattr(events, "READ_BYTES", 2000)
    path = many_events(tmp_path)
    expected = read_all(path, forked=False, monkeypatch=monkeypatch)
    monkeypatch.setattr(events, "_event_frames", stopping_after(after, how))
    assert read_all(path, forked=True, monkeypatch=monkeypatch) == expected


@needs_two_cores
def test_an_error_in_the_file_is_raised_where_one_process_raises_it(tmp_path, monkeypatch):
    """A read that fails half-way: the same events first, then the same error."""
    monkeypatch.setattr(events, "READ_BYTES", 2000)
    path = many_events(tmp_path, compress=False)
    real_read = events._Lines._read

    def read(self):
        self.reads = getattr(self, "reads", 0) + 1
        if self.reads == 3:
            raise events._ReadFailed("Input/output error")
        return real_read(self)

    monkeypatch.setattr(events._Lines, "_read", read)
    outcomes = []
    for forked in (True, False):
        monkeypatch.setattr(events, "READ_BESIDE_BYTES", 0 if forked else 1 << 62)
        got = []
        with pytest.raises(EventReadError) as error:
            for e in read_events(path, stats=ReadStats()):
                got.append(e.origin)
        outcomes.append((got, str(error.value)))
    assert outcomes[0] == outcomes[1] and outcomes[0][0]


@needs_two_cores
def test_leaving_early_stops_the_reading_process(tmp_path, monkeypatch):
    monkeypatch.setattr(events, "READ_BESIDE_BYTES", 0)
    monkeypatch.setattr(events, "READ_BYTES", 2000)
    reading = read_events(many_events(tmp_path), stats=ReadStats())
    next(reading)
    assert len(beside._LIVE) == 1
    reading.close()
    assert not beside._LIVE


@needs_two_cores
def test_stored_problems_stay_bounded_across_files(tmp_path, monkeypatch):
    """Problems already stored count towards the bound, as when this process reads the file."""
    monkeypatch.setattr(events, "MAX_STORED_PROBLEMS", 70)
    path = many_events(tmp_path, broken_every=3)  # 134 problems
    results = []
    for forked in (True, False):
        stats = ReadStats()
        stats.skip("earlier.log:1", "an earlier problem")
        results.append(read_all(path, forked=forked, monkeypatch=monkeypatch, stats=stats))
    assert results[0] == results[1] and len(results[0][1][2]) == 70


def test_small_files_and_pipes_are_read_here(tmp_path, monkeypatch):
    """Below READ_BESIDE_BYTES, or from a pipe (which cannot be read again from its start),
    this process reads the file itself."""
    def no_fork(produce):
        raise AssertionError("a second process was started")

    monkeypatch.setattr(beside, "stream_beside", no_fork)
    small = tmp_path / "small.xml.log"
    small.write_text(event() + "\n")
    assert len(list(read_events(small, stats=ReadStats()))) == 1
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    monkeypatch.setattr(events, "READ_BESIDE_BYTES", 0)
    writer = os.fork()
    if writer == 0:
        with open(fifo, "w") as pipe:
            pipe.write(event() + "\n")
        os._exit(0)
    try:
        assert len(list(read_events(fifo, stats=ReadStats()))) == 1
    finally:
        os.waitpid(writer, 0)


@needs_two_cores
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs /proc to see the child")
def test_ctrl_c_while_a_second_process_reads_exits_130_and_leaves_no_process(tmp_path):
    path = tmp_path / "large.xml.log"
    path.write_text("".join(event(image=f"C:\\w\\{i}.exe") + "\n" for i in range(60_000)))  # about 20 MB
    argv = [sys.executable, str(ROOT / "build.py"), "replay", str(path), "--detection", "Script Execution via WMI"]
    run = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                           text=True)
    deadline = time.monotonic() + 120
    while not _children(run.pid) and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    assert run.poll() is None, "the file was read before a second process was seen"
    os.killpg(run.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole foreground group
    _, err = run.communicate(timeout=60)
    assert run.returncode == 130 and err.strip().endswith("interrupted"), err
    with pytest.raises(ProcessLookupError):
        os.killpg(run.pid, 0)  # no process of the group is left


def test_a_batch_of_events_stays_small_whatever_the_events_size(tmp_path, monkeypatch):
    """A batch is sent once it holds FRAME_CHARS characters of events, so events of
    megabytes never pile up FRAME_EVENTS at a time in either process."""
    monkeypatch.setattr(events, "FRAME_CHARS", 3000)
    path = many_events(tmp_path, broken_every=1000)
    longest = max(len(line) for line in gzip.decompress(path.read_bytes()).decode().splitlines())
    frames = list(events._event_frames(open(path, "rb"), str(path), None, "XmlWinEventLog", None))
    events_sent = [[step[0] for step in steps if len(step) == 5] for steps in frames]  # (raw, ..., read)
    sizes = [sum(map(len, raws)) for raws in events_sent]
    assert sum(map(len, events_sent)) == 399 and max(sizes) < 3000 + longest


@pytest.mark.parametrize("why", ["one core", "fork refused"])
def test_without_a_second_process_the_file_is_read_here(tmp_path, monkeypatch, why):
    path = many_events(tmp_path)
    expected = read_all(path, forked=False, monkeypatch=monkeypatch)

    def refused():  # as fork fails at a process limit
        raise BlockingIOError(11, "Resource temporarily unavailable")

    if why == "one core":
        monkeypatch.setattr(beside, "two_cores", lambda: False)
        monkeypatch.setattr(os, "fork", lambda: pytest.fail("forked on one core"))
    else:
        monkeypatch.setattr(beside, "two_cores", lambda: True)
        monkeypatch.setattr(os, "fork", refused)
    assert read_all(path, forked=True, monkeypatch=monkeypatch) == expected


def consume(path, keep=None, *, forked: bool, monkeypatch, stop_after: int | None = None):
    """What a search sees: each event parsed as it comes (a malformed one recorded in the
    same stats, as ``parse_event`` does), the counts looked at after each event, and the
    read left early after ``stop_after`` events (as ``| head`` leaves it)."""
    stats = ReadStats()
    seen = []
    with monkeypatch.context() as patch:
        patch.setattr(events, "READ_BESIDE_BYTES", 0 if forked else 1 << 62)
        reading = read_events(path, stats=stats, keep=keep)
        for e in reading:
            events.parse_event(e, stats=stats)
            seen.append((e.origin, stats.events_read, stats.events_skipped, len(stats.problems)))
            if stop_after is not None and len(seen) == stop_after:
                break
        reading.close()
    return seen, (stats.events_read, stats.events_skipped, stats.problems)


def mixed_events(tmp_path, count=400):
    """Good events, events the parser rejects (no time) and lines the reader rejects."""
    lines = []
    for i in range(count):
        good = event(image=f"C:\\w\\{i}.exe")
        lines.append("junk" if i % 7 == 3 else good.replace("<TimeCreated", "<Time") if i % 5 == 1 else good)
    path = tmp_path / "mixed.xml.log"
    path.write_text("\n".join(lines) + "\n")
    return path


@needs_two_cores
@pytest.mark.parametrize("stop_after", [None, 1, 30])
def test_counts_and_problems_follow_each_event_as_one_process_gives_them(tmp_path, monkeypatch, stop_after):
    """The caller's own problems (an event it cannot parse) fall between the reader's in
    file order, and a read left early has counted what one process counts at that event."""
    monkeypatch.setattr(events, "READ_BYTES", 3000)
    path = mixed_events(tmp_path)
    assert consume(path, forked=True, monkeypatch=monkeypatch, stop_after=stop_after) == \
        consume(path, forked=False, monkeypatch=monkeypatch, stop_after=stop_after)


@needs_two_cores
@pytest.mark.parametrize("after", [1, 3])
def test_a_reading_process_that_dies_keeps_the_callers_own_problems(tmp_path, monkeypatch, after):
    """The caller recorded problems of the events it was handed before the child died: the
    read again here neither drops those nor counts the child's twice."""
    monkeypatch.setattr(events, "READ_BYTES", 3000)
    monkeypatch.setattr(events, "FRAME_EVENTS", 10)
    path = mixed_events(tmp_path)
    expected = consume(path, forked=False, monkeypatch=monkeypatch)
    monkeypatch.setattr(events, "_event_frames", stopping_after(after, "killed"))
    assert consume(path, forked=True, monkeypatch=monkeypatch) == expected


def context_chain(error: BaseException) -> list[str]:
    chain = []
    while error is not None:
        chain.append(type(error).__name__)
        error = error.__context__
    return chain


@needs_two_cores
def test_an_error_after_the_reading_process_failed_is_raised_as_one_process_raises_it(tmp_path, monkeypatch):
    """A prefilter that fails half-way (as a regex over its time bound does) fails the child,
    then again here: the error is not chained to the child's failure."""
    path = many_events(tmp_path, compress=False)

    def keep(raw):
        if "\\200.exe" in raw:
            raise ValueError("the regex ran over its time bound")
        return True

    outcomes = []
    for forked in (True, False):
        monkeypatch.setattr(events, "READ_BESIDE_BYTES", 0 if forked else 1 << 62)
        stats = ReadStats()
        with pytest.raises(ValueError) as error:
            for _ in read_events(path, stats=stats, keep=keep):
                pass
        outcomes.append((context_chain(error.value), stats.events_read))
    assert outcomes[0] == outcomes[1]


def test_a_pipe_the_system_refuses_leaves_the_read_to_this_process(tmp_path, monkeypatch):
    """Out of file descriptors (EMFILE) for the pipe to a child: this process reads the file
    itself, as it does when fork is refused, rather than failing a read one process can do."""
    path = many_events(tmp_path)
    expected = read_all(path, forked=False, monkeypatch=monkeypatch)

    def no_pipe():
        raise OSError(24, "Too many open files")

    monkeypatch.setattr(beside, "two_cores", lambda: True)
    monkeypatch.setattr(os, "pipe", no_pipe)
    monkeypatch.setattr(os, "fork", lambda: pytest.fail("forked without a pipe"))
    assert read_all(path, forked=True, monkeypatch=monkeypatch) == expected


# ---------------------------------------------------------------- several files (replay.search)

SEARCH = "Image=* | stats count by Image"


def search_files(tmp_path, count=3, missing_at=None, broken_every=7):
    """Files of events, each 50 events; the one at ``missing_at`` is named but absent."""
    paths = []
    for index in range(count):
        folder = tmp_path / f"f{index}"
        folder.mkdir()
        path = many_events(folder, count=50, broken_every=broken_every)
        if index == missing_at:
            path.unlink()
        paths.append(str(path))
    return paths


def search_outcome(paths, forked: bool, monkeypatch):
    """The rows and counts of a search over ``paths``, and the events the reader handed out
    before a file that could not be read stopped it (with that error)."""
    from detpack.replay.search import FilterBySourcetype, raw_event_stream, run_search

    with monkeypatch.context() as patch:
        patch.setattr(events, "READ_BESIDE_BYTES", 0 if forked else 1 << 62)
        stats, handed = ReadStats(), []
        try:
            for event in raw_event_stream(paths, FilterBySourcetype(lambda kind: None), stats, None, None):
                handed.append(event.origin)
            result = run_search(SEARCH, {}, paths)
            return result.rows, result.events_read, result.events_skipped, result.problems
        except EventReadError as error:
            return handed, stats.events_read, stats.problems, str(error)


@needs_two_cores
@pytest.mark.parametrize("missing_at", [None, 0, 1, 2])
def test_files_read_ahead_give_what_one_process_gives(tmp_path, monkeypatch, missing_at):
    """The next file is opened (and its reading process started) while this one's events are
    worked on; results, counts, problems, and the error of a file that cannot be read, are
    those of one process reading the files one after the other."""
    paths = search_files(tmp_path, missing_at=missing_at)
    outcome = search_outcome(paths, True, monkeypatch)
    assert outcome == search_outcome(paths, False, monkeypatch)
    assert len(outcome[0]) == 42 * (1 if missing_at is None else missing_at)  # rows, or events before the error


@needs_two_cores
def test_the_next_file_is_read_while_this_ones_events_are_worked_on(tmp_path, monkeypatch):
    from detpack.replay.search import FilterBySourcetype, raw_event_stream

    monkeypatch.setattr(events, "READ_BESIDE_BYTES", 0)
    paths = search_files(tmp_path)
    stream = raw_event_stream(paths, FilterBySourcetype(lambda kind: None), ReadStats(), None, None)
    next(stream)
    assert len(beside._LIVE) == 2  # this file's reading process and the next one's
    stream.close()
    assert not beside._LIVE  # leaving early stops both


def test_an_input_given_lazily_is_taken_one_item_at_a_time(tmp_path):
    """An input that is not a sequence (events arriving one by one, say) is asked for its next
    item only once this one's events are handed out: an item it waits for does not hold back
    the events before it, and an error it raises comes after them, as when nothing is read ahead."""
    from detpack.replay.search import FilterBySourcetype, raw_event_stream

    path = search_files(tmp_path, count=1)[0]
    first = next(read_events(path, stats=ReadStats()))
    expected = [first.origin] + [e.origin for e in read_events(path, stats=ReadStats())]

    def arriving():
        yield first
        yield path
        raise RuntimeError("the input broke")

    handed = []
    with pytest.raises(RuntimeError, match="the input broke"):
        for event_ in raw_event_stream(arriving(), FilterBySourcetype(lambda kind: None), ReadStats(), None, None):
            handed.append(event_.origin)
    assert handed == expected


@needs_two_cores
def test_a_pipe_named_next_is_opened_only_when_its_turn_comes(tmp_path, monkeypatch):
    """Opening a named pipe waits for its writer; one that comes only once the events before
    it are read (as for a single process) must not be waited for before those events."""
    from detpack.replay.search import FilterBySourcetype, raw_event_stream

    monkeypatch.setattr(events, "READ_BESIDE_BYTES", 0)
    path = search_files(tmp_path, count=1)[0]
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    opened = []

    def recording_open(name, mode="r", *args, **kwargs):  # a named pipe is opened without waiting here
        opened.append(os.fspath(name))
        if os.fspath(name) == str(fifo):
            return os.fdopen(os.open(name, os.O_RDONLY | os.O_NONBLOCK), mode)
        return open(name, mode, *args, **kwargs)

    monkeypatch.setattr(events, "open", recording_open, raising=False)
    stream = raw_event_stream([path, str(fifo)], FilterBySourcetype(lambda kind: None), ReadStats(), None, None)
    with closing(stream):
        next(stream)
        assert opened == [path]


@needs_two_cores
def test_a_next_file_that_cannot_be_opened_raises_when_its_turn_comes(tmp_path, monkeypatch):
    """A file whose status can be read but which cannot be opened (no permission) is opened
    early all the same; its error comes after the events of the file before it."""
    from detpack.replay.search import FilterBySourcetype, raw_event_stream

    monkeypatch.setattr(events, "READ_BESIDE_BYTES", 0)
    first, refused = search_files(tmp_path, count=2)
    expected = [e.origin for e in read_events(first, stats=ReadStats())]

    def refusing_open(name, *args, **kwargs):
        if os.fspath(name) == refused:
            raise PermissionError(13, "Permission denied", name)
        return open(name, *args, **kwargs)

    monkeypatch.setattr(events, "open", refusing_open, raising=False)
    handed = []
    with pytest.raises(EventReadError, match="Permission denied"):
        for event_ in raw_event_stream([first, refused], FilterBySourcetype(lambda kind: None), ReadStats(), None, None):
            handed.append(event_.origin)
    assert handed == expected



@needs_two_cores
def test_closing_a_reader_before_its_first_event_stops_its_process_and_closes_the_file(tmp_path, monkeypatch):
    """The reading process starts when the file is opened (a file opened ahead is not read
    yet); closing its reader before any event stops that process and closes the file, rather
    than leaving the file to be closed when the reader is freed."""
    monkeypatch.setattr(events, "READ_BESIDE_BYTES", 0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        reading = read_events(many_events(tmp_path), stats=ReadStats())
        assert len(beside._LIVE) == 1
        reading.close()
        assert not beside._LIVE
        del reading
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]
