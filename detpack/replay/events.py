"""Windows events as Splunk indexes them with sourcetype ``XmlWinEventLog``.

``read_events`` streams events out of a file (plain or gzip): normally one
``<Event>`` per line; an event may also span lines, starting at a line that
begins with ``<Event`` and ending at the line that ends with ``</Event>``.
Broken input never stops the read: each bad piece is counted in
``ReadStats.events_skipped`` and reported as ``file:line: reason``.

Counting: every unit the reader delimits is counted in ``events_read`` (good
events, events the ``keep`` prefilter rejects, and bad units: a bad event, or a
run of text outside any event). ``events_skipped`` counts the bad ones, so
``events_read - events_skipped`` is the number of good events. A caller whose
``parse_event`` call fails records that with ``stats.skip(...)`` (or passes
``stats=`` to ``parse_event``), which keeps that arithmetic true.

``parse_event`` turns one event into search-time fields the way the Sysmon and
Windows add-ons extract them from XmlWinEventLog (regex extraction of System
elements and ``<Data Name='X'>v</Data>``), after a well-formedness check.
"""
from __future__ import annotations

import atexit
import calendar
import functools
import os
import pyexpat
import queue
import re
import stat
import threading
from contextlib import closing
from dataclasses import dataclass, field
from typing import BinaryIO, Callable, Iterator

try:  # zlib-ng: the same interface and output as zlib, about twice as fast
    from zlib_ng import zlib_ng as zlib
except ImportError:  # not installed (requirements.txt pins it): the standard one reads the same
    import zlib

DEFAULT_SOURCETYPE = "XmlWinEventLog"
SOURCE_PREFIX = "XmlWinEventLog:"

# XML entity decoding of extracted values: the one switch. Default False: the
# add-ons' documented ancestor extracts with `<Data Name='(.*?)'>(.*?)</Data>`,
# which leaves `&amp;` etc. encoded. Unverified for the current add-ons. Keeping
# values encoded also keeps every extracted value a substring of _raw, which
# the SPL planner's literal prefilter relies on.
DECODE_ENTITIES = False

READ_BYTES = 1 << 20            # bytes read (and decompressed) per step
READ_AHEAD = 4                  # pieces the reading thread may hold ready
# A file from this size up is read by a second process where one can be forked: below, the
# fork costs about what it saves (*unverified* beyond the data sets measured).
READ_BESIDE_BYTES = 1 << 20
FRAME_EVENTS = 64               # events the reading process sends at once, at most,
FRAME_CHARS = 1 << 20           # and characters of them, past which it sends the batch it has
MAX_LINE_BYTES = 1 << 22        # a longer line is reported and dropped
MAX_EVENT_LINES = 1000          # an event spanning more lines is reported and dropped
MAX_EVENT_CHARS = 1 << 22       # so is a multi-line event longer than this in all
MAX_STORED_PROBLEMS = 1000      # problems beyond this are counted, not stored

_GZIP_MAGIC = b"\x1f\x8b"
_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_START = ("<Event ", "<Event>")  # not "<EventData>"
_END = "</Event>"


class EventReadError(Exception):
    """A file that cannot be read at all (missing, a directory, no permission, I/O error)."""


class BadEvent(ValueError):
    """An event ``parse_event_strict`` cannot turn into fields; the message is the reason."""


@dataclass(frozen=True, slots=True)
class RawEvent:
    raw: str         # the event text as Splunk would index it (_raw)
    source: str      # given, or derived per event from <Channel>: f"XmlWinEventLog:{channel}"
    sourcetype: str  # given, else "XmlWinEventLog"
    origin: str      # "file:line" of the event's first line


@dataclass(slots=True)
class ReadStats:
    events_read: int = 0
    events_skipped: int = 0
    problems: list[str] = field(default_factory=list)  # "file:line: reason", first MAX_STORED_PROBLEMS

    def skip(self, origin: str, reason: str) -> None:
        """Count one bad unit (already counted in events_read) and keep its reason."""
        self.events_skipped += 1
        if len(self.problems) < MAX_STORED_PROBLEMS:
            self.problems.append(f"{origin}: {reason}")


class _StreamBroken(Exception):
    """The byte stream cannot go on (corrupt or truncated gzip); message is the reason."""


# ---------------------------------------------------------------- reading

def read_events(
    path: str | os.PathLike,
    *,
    source: str | None = None,
    sourcetype: str | None = None,
    stats: ReadStats,
    keep: Callable[[str], bool] | None = None,
) -> Iterator[RawEvent]:
    """Stream the events of ``path``; the file is opened now, so a missing file raises here.
    ``keep`` may run in the process that reads a large file beside this one, so it must be a
    test of the raw text alone (as the planner's prefilters are): what it changes elsewhere,
    that process's copy of the program sees and this one does not."""
    name = os.fspath(path)
    try:
        handle = open(name, "rb")
    except OSError as error:
        raise EventReadError(f"{name}: cannot read: {error.strerror or error}") from None
    sourcetype = sourcetype or DEFAULT_SOURCETYPE
    if _worth_a_process(handle):
        return _events_beside(handle, name, source, sourcetype, stats, keep)
    return _events(handle, name, source, sourcetype, stats, keep)


def read_beside(path: str | os.PathLike) -> bool:
    """Whether ``read_events`` reads ``path`` in a second process (where one can be forked)."""
    try:
        return _large_regular_file(os.stat(path))
    except OSError:  # missing, or no permission: read_events says which, when it opens it
        return False


def _worth_a_process(handle: BinaryIO) -> bool:
    try:
        status = os.fstat(handle.fileno())
    except OSError:  # pragma: no cover - an open file whose status cannot be read
        return False
    return _large_regular_file(status)


def _large_regular_file(status: os.stat_result) -> bool:
    """A regular file (which can be read again from its start, and whose opening never waits,
    as a named pipe's does) of READ_BESIDE_BYTES or more."""
    return stat.S_ISREG(status.st_mode) and status.st_size >= READ_BESIDE_BYTES


def _events_beside(handle, name, source, sourcetype, stats: ReadStats, keep) -> Iterator[RawEvent]:
    """``_events``, read by a second process: it reads, gunzips, scans and tests the events
    while this one works on those it has sent. What the counts grew by and the problems
    found come in the order found, between the events, and are added here as each comes,
    so that the counts at each event, and the caller's own problems among the reader's,
    are those of one process. Should the child fail (an error in the file, a signal), the
    file is read again here from its start, handing out only the events it did not send.
    The child starts now, not when the first event is asked for, so that a caller can have
    the next file read while it works on this one's events."""
    from ..beside import stream_beside

    frames = stream_beside(lambda: _event_frames(handle, name, source, sourcetype, keep))
    if frames is None:  # no second process to be had
        return _events(handle, name, source, sourcetype, stats, keep)
    received = _events_received(frames, handle, name, source, sourcetype, stats, keep)
    next(received)  # into its try block: closing it before its first event stops the child and closes the file
    return received


def _events_received(frames, handle, name, source, sourcetype, stats: ReadStats, keep) -> Iterator[RawEvent]:
    from ..beside import ChildFailed

    found = [0, 0, 0]  # what the child's reading added to stats: events read, skipped, problems found
    handed = 0
    try:
        yield None  # taken by _events_beside itself
        try:
            for steps in frames:
                for step in steps:
                    if len(step) == 5:  # an event, and the events read up to it
                        raw, event_source, event_sourcetype, origin, read = step
                        stats.events_read += read
                        found[0] += read
                        handed += 1
                        yield RawEvent(raw, event_source, event_sourcetype, origin)
                    else:
                        _add_found(stats, found, *step)
            return
        except ChildFailed:
            pass
        # Out of the except block, so that an error the file gives here is not chained to
        # the child's failure. The child, which read through the same open file, is gone.
        handle.seek(0)
        yield from _events_again(handle, name, source, sourcetype, stats, keep, handed, found)
    finally:
        frames.close()
        handle.close()


def _add_found(stats: ReadStats, found: list[int], read: int, skipped: int, problems: list[str]) -> None:
    """Add what the reading found (units read, bad ones, their problems) to the caller's stats and to ``found``."""
    stats.events_read += read
    stats.events_skipped += skipped
    stats.problems.extend(problems[:max(0, MAX_STORED_PROBLEMS - len(stats.problems))])
    found[0] += read
    found[1] += skipped
    found[2] += len(problems)


def _events_again(handle, name, source, sourcetype, stats: ReadStats, keep, handed: int,
                  found: list[int]) -> Iterator[RawEvent]:
    """The events of the file read here from its start, after the child that read it failed:
    the first ``handed`` are not handed out again, and of what this reading counts, only what
    goes past ``found`` (what the child's reading added) is added to ``stats``."""
    again = ReadStats()

    def catch_up() -> None:
        _add_found(stats, found, max(0, again.events_read - found[0]), max(0, again.events_skipped - found[1]),
                   again.problems[found[2]:])

    reading = _events(handle, name, source, sourcetype, again, keep)
    try:
        for event in reading:
            catch_up()
            if handed:
                handed -= 1
                continue
            yield event
    finally:
        reading.close()
        catch_up()  # what the reading counted up to its end, or to the error it raised


def _event_frames(handle, name, source, sourcetype, keep) -> Iterator[list[tuple]]:
    """In the reading process: the steps of ``_events`` in batches. A step is an event as a
    plain tuple with the events read up to it, or, where units were skipped or problems found
    (and at the end of each piece), (events read, skipped, problems found) since the step
    before. A batch goes at the end of each piece read, so that the caller's counts keep up,
    and once it holds FRAME_EVENTS steps or FRAME_CHARS characters of events."""
    stats = ReadStats()
    steps: list[tuple] = []
    read = skipped = stored = size = 0  # the counts sent so far; characters of events in ``steps``

    def add_counts(also_read: bool) -> None:
        """A counts step, where units were skipped or problems found since the last step (or,
        with ``also_read``, events read)."""
        nonlocal read, skipped, stored
        if (stats.events_skipped != skipped or len(stats.problems) != stored
                or (also_read and stats.events_read != read)):
            steps.append((stats.events_read - read, stats.events_skipped - skipped, stats.problems[stored:]))
            read, skipped, stored = stats.events_read, stats.events_skipped, len(stats.problems)

    for event in _events(handle, name, source, sourcetype, stats, keep, in_reading_process=True):
        add_counts(also_read=event is None)
        if event is not None:
            steps.append((event.raw, event.source, event.sourcetype, event.origin, stats.events_read - read))
            read = stats.events_read
            size += len(event.raw)
        if steps and (event is None or len(steps) >= FRAME_EVENTS or size >= FRAME_CHARS):
            yield steps
            steps, size = [], 0
    add_counts(also_read=True)
    if steps:
        yield steps


def _events(handle, name, source, sourcetype, stats, keep, in_reading_process: bool = False) -> Iterator[RawEvent | None]:
    """The events of the open file. ``in_reading_process``: read in the process that reads
    beside the caller's, without a side thread (the caller's process is the work it
    overlaps), yielding None after each piece too."""
    units = _Units(name, stats)

    def make(first: int, raw: str) -> RawEvent | None:
        event_source = source or _source_from_channel(raw)
        if event_source is None:
            stats.skip(f"{name}:{first}", "no <Channel> to derive the source from (pass source=)")
            return None
        return RawEvent(raw, event_source, sourcetype, f"{name}:{first}")

    scan = getattr(keep, "scan", None)  # a byte-level test run before keep (spl.plan.RawScan)
    reader = _Lines(handle, name, stats, scan, threaded=not in_reading_process)
    with handle, closing(reader.pieces()) as pieces:
        for data, start, end, overlong, one_per_line in pieces:
            before = reader.line
            if one_per_line is not None and units.idle:
                count, hits = one_per_line
                reader.line += count
                yield from _scanned(data, start, end, before, count, hits, keep, stats, make)
                if in_reading_process:
                    yield None
                continue
            if overlong:
                lines, bad = [data.decode("utf-8", "replace")], {before + 1: f"line longer than {MAX_LINE_BYTES} bytes"}
            else:
                lines, bad = _split(data[start:end], before)
            reader.line += len(lines)
            for lineno, line in enumerate(lines, before + 1):
                done = units.feed(lineno, line, bad.get(lineno) if bad else None)
                if done is None:
                    continue
                stats.events_read += 1
                if keep is not None and not keep(done[1]):
                    continue
                event = make(*done)
                if event is not None:
                    yield event
            if in_reading_process:
                yield None
        units.finish(reader.broken)


# Between two events alone on their lines. Events written <Event> without attributes
# (not how Windows writes them) take the line path.
_SEPARATOR = b"</Event>\n<Event "
_START_BYTES = tuple(start.encode() for start in _START)


def _event_shaped(data: bytes, start: int, end: int) -> bool:
    """Whether ``data[start:end]`` (whole lines) starts with ``<Event``, ends with
    ``</Event>`` (and its line end), and holds no CR and no NUL.
    A piece this long may hold a line too long to be an event (a line carried over reads
    is joined, up to MAX_LINE_BYTES + READ_BYTES): the line path judges it."""
    if end - start >= MAX_EVENT_CHARS or not data.startswith(_START_BYTES, start, end):
        return False
    last = end - 1 if data[end - 1] == 10 else end  # 10: b"\n"
    return (data.endswith(b"</Event>", start, last)
            and data.find(b"\r", start, end) < 0 and data.find(b"\0", start, end) < 0)


def _one_event_per_line(data: bytes, start: int, end: int, scan) -> tuple[int, list[tuple[int, int]] | None] | None:
    """(lines, hits) when each line of ``data[start:end]`` (whole lines) is one whole event
    on its own (starts with ``<Event`` and ends with ``</Event>``), lines end with LF and
    no NUL byte is there: the shape where each line is an event exactly as the line path
    would take it; None otherwise. ``hits`` is None without a ``scan``, else the lines
    it finds, as (lines before it in the piece, its start offset). When every line break
    is a separator (which cannot overlap), each line starts and ends an event; a
    byte-order mark or blank line after a line end, an indented or multi-line event,
    junk: each leaves a break that is not a separator. Run by the reading thread, which
    walks the line breaks once, between the scan's hits: the scan releases the GIL, so
    on two cores it overlaps the caller's work on the events."""
    if not _event_shaped(data, start, end):
        return None
    breaks, counted, hits = 0, start, None
    if scan is not None:
        hits = []
        for at in scan.line_starts(data, start, end):
            between = _separating_breaks(data, counted, at)
            if between is None:
                return None
            breaks += between
            counted = at
            hits.append((breaks, at))
    rest = _separating_breaks(data, counted, end - 1 if data[end - 1] == 10 else end)
    return None if rest is None else (breaks + rest + 1, hits)


def _separating_breaks(data: bytes, begin: int, end: int) -> int | None:
    """How many line breaks ``data[begin:end]`` holds, when each one separates two
    events (``_SEPARATOR`` around it); else
    None. find() jumps from break to break with memchr, where counting one byte would
    test every byte, and a break comes once in hundreds of bytes."""
    count = 0
    at = data.find(b"\n", begin, end)
    while at >= 0:
        # 8: len(b"</Event>"). A break closer than that to the piece's start is not one:
        # the piece starts with b"<Event" after a line end (or at the data's start).
        if not data.startswith(_SEPARATOR, at - 8):
            return None
        count += 1
        at = data.find(b"\n", at + 1, end)
    return count


def _scanned(data: bytes, start: int, end: int, before: int, count: int, hits, keep,
             stats: ReadStats, make) -> Iterator[RawEvent]:
    """The events of ``count`` lines that are each one event (``_one_event_per_line``),
    the first being line ``before + 1``: with the scan's ``hits``, only those lines are
    decoded and tested, the others counted. ``events_read`` counts each event before it
    is handed out, as the line path does."""
    if hits is None:
        text = data[start:end].decode("utf-8", "replace")
        lines = text.split("\n")
        if text.endswith("\n"):
            lines.pop()
        for lineno, line in enumerate(lines, before + 1):
            stats.events_read += 1
            if keep is not None and not keep(line):
                continue
            event = make(lineno, line)
            if event is not None:
                yield event
        return
    read = before  # events counted
    for lines_before, at in hits:
        lineno = before + lines_before + 1
        stats.events_read += lineno - read
        read = lineno
        stop = data.find(b"\n", at, end)
        raw = data[at:stop if stop >= 0 else end].decode("utf-8", "replace")
        if keep(raw):
            event = make(lineno, raw)
            if event is not None:
                yield event
    stats.events_read += before + count - read


class _Lines:
    """Whole lines of a file's bytes, in pieces; problems of the byte stream go to stats."""

    def __init__(self, handle: BinaryIO, name: str, stats: ReadStats, scan=None, threaded: bool = True):
        self.handle, self.name, self.stats, self.scan = handle, name, stats, scan
        self.threaded = threaded
        self.line = 0  # number of the last line handed out (the caller counts them)
        self.broken: tuple[int, str] | None = None  # (line, why) when the stream broke

    def pieces(self) -> Iterator[tuple[bytes, int, int, bool, tuple | None]]:
        """(data, start, end, False, one_per_line): ``data[start:end]`` is whole lines, and
        ``one_per_line`` what ``_one_event_per_line`` finds in them; (first bytes, 0, 200,
        True, None) for each overlong line. The caller adds
        the lines of each piece to ``line`` before it asks for the next. The side thread
        reads, gunzips, cuts and judges the pieces: zlib and the scan release the GIL,
        so on two cores this work overlaps the caller's."""
        try:
            yield from _ahead(self._judged) if self.threaded else self._judged()
        except _StreamBroken as error:  # at the line it cut short, or the line after the last whole one
            self.broken = (self.line + 1, str(error))
        except _ReadFailed as error:
            raise EventReadError(f"{self.name}: read failed after line {self.line}: {error}") from None

    def _judged(self) -> Iterator[tuple[bytes, int, int, bool, tuple | None]]:
        for data, start, end, overlong in self._pieces():
            yield data, start, end, overlong, None if overlong else _one_event_per_line(data, start, end, self.scan)

    def _pieces(self) -> Iterator[tuple[bytes, int, int, bool]]:
        """Lines end at LF, CRLF or a lone CR (Splunk's default LINE_BREAKER is
        ``([\\r\\n]+)``); a CR as the very last byte waits for the next read, which may
        bring its LF. When the stream breaks (_StreamBroken), the line it cut short is
        not handed out: ``pieces`` reports it once, as the break. The line that runs
        from one read into the next is joined and handed out alone, so that the rest
        of each read is handed out in place, not copied."""
        carry = b""
        dropping = False
        dropped_at_cr = False  # a dropped line ended at a read's last byte, a CR: its LF may follow
        first = True
        for data in self._bytes():
            if first:
                data = self._strip_bom(data)
                first = False
            start = 1 if dropped_at_cr and data.startswith(b"\n") else 0
            dropped_at_cr = False
            if dropping:
                cut = min((i for i in (data.find(b"\n"), data.find(b"\r")) if i >= 0), default=-1)
                if cut < 0:
                    continue
                if data.startswith(b"\r\n", cut):
                    cut += 1  # one line end, not an empty line after the dropped one
                dropped_at_cr = cut == len(data) - 1 and data[cut] == 13  # 13: b"\r"
                start, dropping = cut + 1, False
            last = max(data.rfind(b"\n", start), data.rfind(b"\r", start, len(data) - 1))
            if last < 0:
                carry += data[start:]
            else:
                if carry:
                    joined = data.find(b"\n", start, last + 1)
                    joined = last if joined < 0 else joined
                    head = carry + data[start:joined + 1]
                    yield head, 0, len(head), False
                    start = joined + 1
                if start <= last:
                    yield data, start, last + 1, False
                carry = data[last + 1:]
            if len(carry) > MAX_LINE_BYTES:
                yield carry[:200], 0, 200, True
                carry, dropping = b"", True
        if carry and not dropping:
            yield carry, 0, len(carry), False

    def _strip_bom(self, data: bytes) -> bytes:
        if data.startswith(_UTF8_BOM):
            return data[len(_UTF8_BOM):]
        if data[:2] in _UTF16_BOMS:
            raise _StreamBroken("UTF-16 text (byte-order mark); expected UTF-8")
        return data

    def _bytes(self) -> Iterator[bytes]:
        """Raw or gunzipped bytes of the file, READ_BYTES at a time."""
        head = self._read()
        if head.startswith(_GZIP_MAGIC):
            yield from self._gunzip(head)
            return
        while head:
            yield head
            head = self._read()

    def _gunzip(self, data: bytes) -> Iterator[bytes]:
        # zlib directly rather than gzip: output can be taken up to the point of
        # corruption, and concatenated gzip members are followed.
        unzip = zlib.decompressobj(31)
        while True:
            if not data:
                data = self._read()
                if not data:
                    break
            try:
                out = unzip.decompress(data, READ_BYTES)
            except zlib.error as error:
                raise _StreamBroken(f"corrupt gzip data ({error})") from None
            if out:
                yield out
            data = unzip.unconsumed_tail
            if unzip.eof:
                data = self._next_member(unzip.unused_data)
                if data is None:
                    return
                unzip = zlib.decompressobj(31)
        out = unzip.flush()
        if out:
            yield out
        if not unzip.eof:
            raise _StreamBroken("gzip data ends early (truncated file)")

    def _next_member(self, rest: bytes) -> bytes | None:
        """The start of the next gzip member after one ended, or None when only NUL
        padding (or nothing) follows. Judged on two bytes, the magic's length, or at EOF."""
        while len(rest) < len(_GZIP_MAGIC):
            more = self._read()
            if not more:
                break
            rest += more
        if rest.startswith(_GZIP_MAGIC):
            return rest
        while rest:
            if rest.strip(b"\0"):
                raise _StreamBroken("data after the end of the gzip stream")
            rest = self._read()
        return None

    def _read(self) -> bytes:
        try:
            return self.handle.read(READ_BYTES)
        except OSError as error:
            raise _ReadFailed(error.strerror or error) from None


class _ReadFailed(Exception):
    """An I/O error while reading ahead; the reader reports it where the caller has got to."""


_DONE = object()
_READING: set[Callable[[], None]] = set()  # how to stop and wait for each reading thread running


@atexit.register
def _stop_reading() -> None:
    """Stop the reading threads of readers still open at exit. A generator nobody closed
    is closed only while the interpreter finalizes, when a daemon thread inside a read can
    no longer finish it, and closing the file that read holds aborts Python."""
    for halt in list(_READING):
        halt()


def _ahead(produce: Callable[[], Iterator[bytes]]) -> Iterator[bytes]:
    """The items of ``produce()`` in order, made by a side thread at most READ_AHEAD
    ahead of the caller (memory stays bounded); an exception it raises is raised here,
    after the items made before it. Closing this generator stops the thread."""
    items: queue.Queue = queue.Queue(READ_AHEAD)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for item in produce():
                if not put(item):
                    return
            put(_DONE)
        except BaseException as error:  # handed to the caller, raised there in its place
            put(error)

    def halt() -> None:
        stop.set()
        thread.join()

    thread = threading.Thread(target=run, name="event-reader", daemon=True)
    thread.start()
    _READING.add(halt)
    try:
        while (item := items.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        halt()
        _READING.discard(halt)


def _split(block: bytes, before: int) -> tuple[list[str], dict[int, str] | None]:
    """Lines of a block of whole lines, and None or {line number: problem} for NUL bytes
    (other control characters are left to parse_event's XML check).

    An invalid UTF-8 byte becomes U+FFFD and the event is kept, as Splunk keeps it
    (*unverified*: the character splunkd puts in its place). A byte-order mark at
    the start of a line (files joined together) is dropped like the file's first.
    """
    text = block.decode("utf-8", "replace")
    bad = None
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\ufeff" in text:
        text = text.replace("\n\ufeff", "\n")
        if text.startswith("\ufeff"):
            text = text[1:]
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()
    if "\x00" in text:
        bad = bad or {}
        for number, line in enumerate(lines, before + 1):
            column = line.find("\x00")
            if column >= 0:
                bad.setdefault(number, f"binary data: NUL byte at column {column + 1}")
    return lines, bad


class _Units:
    """Groups lines into units: an event, or a run of text outside any event.

    Only lines the fast path cannot take come here: event starts that do not
    end on the same line, continuation lines, blank lines, junk, and lines with
    problems. A unit with a problem is reported once, at its first line.
    """

    def __init__(self, name: str, stats: ReadStats):
        self.name, self.stats = name, stats
        self.idle = True
        self.first = 0
        self.lines: list[str] = []
        self.size = 0  # characters in self.lines, line breaks included
        self.problem: str | None = None
        self.in_event = False

    def feed(self, lineno: int, line: str, problem: str | None) -> tuple[int, str] | None:
        starts = line.lstrip().startswith(_START)  # an indented <Event starts one too
        if self.in_event and starts:
            self._close(f"unterminated <Event> (a new event starts at line {lineno})")
        elif not self.in_event and not self.idle and starts:
            self._close(None)  # end of a run of junk
        if self.idle:
            if not starts and not line.strip():
                return None  # blank lines between events are fine
            self._open(lineno, starts, problem)
        elif problem and not self.problem:
            self.problem = problem
        if not self.in_event:
            return None
        return self._add(lineno, line)

    def _open(self, lineno: int, event: bool, problem: str | None) -> None:
        self.idle, self.in_event, self.first = False, event, lineno
        self.lines, self.size = [], 0
        self.problem = problem or (None if event else "text outside an <Event>")

    def _add(self, lineno: int, line: str) -> tuple[int, str] | None:
        if self.problem is None and len(self.lines) >= MAX_EVENT_LINES:
            self.problem = f"event longer than {MAX_EVENT_LINES} lines"
        if self.problem is None and self.size + len(line) + 1 > MAX_EVENT_CHARS:
            self.problem = f"event longer than {MAX_EVENT_CHARS} characters"
        if self.problem is None:  # once there is a problem, lines are no longer kept
            self.lines.append(line)
            self.size += len(line) + 1
        stripped = line.rstrip()
        if stripped.endswith(_END):
            return self._close(None, stripped)
        if _END in line:
            return self._close("text after </Event> on the same line")
        return None

    def _close(self, problem: str | None, last: str | None = None) -> tuple[int, str] | None:
        problem = self.problem or problem
        first, lines = self.first, self.lines
        self.idle, self.in_event, self.lines, self.size, self.problem = True, False, [], 0, None
        if problem:
            self.stats.events_read += 1
            self.stats.skip(f"{self.name}:{first}", problem)
            return None
        if last is not None:
            lines[-1] = last
        return first, "\n".join(lines)

    def finish(self, broken: tuple[int, str] | None = None) -> None:
        """Report what is still open at the end of the file, and where the stream broke
        (``broken``: line, why): an event the break cut short is one event, reported once."""
        if not self.idle and self.in_event:
            self._close(broken[1] if broken else "unterminated <Event> at end of file")
            return
        if not self.idle:
            self._close(None)
        if broken:
            self.stats.events_read += 1
            self.stats.skip(f"{self.name}:{broken[0]}", broken[1])


_SOURCES: dict[str, str] = {}


def _source_from_channel(raw: str) -> str | None:
    start = raw.find("<Channel>")
    if start < 0:
        return None
    start += len("<Channel>")
    end = raw.find("</Channel>", start)
    if end < 0:
        return None
    channel = raw[start:end]
    source = _SOURCES.get(channel)
    if source is None:
        source = SOURCE_PREFIX + channel
        if len(_SOURCES) < 1000:  # a few channels in practice; bounded anyway
            _SOURCES[channel] = source
    return source


# ---------------------------------------------------------------- parsing

# System elements -> field names; the add-ons name EventID "EventCode" and
# EventRecordID "RecordNumber" (both kept; unverified which the current add-on
# prefers).
_SYSTEM_FIELDS: dict[str, tuple[str, ...]] = {
    "EventID": ("EventCode", "EventID"),
    "Version": ("Version",),
    "Level": ("Level",),
    "Task": ("Task",),
    "Opcode": ("Opcode",),
    "Keywords": ("Keywords",),
    "EventRecordID": ("RecordNumber", "EventRecordID"),
    "Channel": ("Channel",),
    "Computer": ("Computer", "host"),  # host: what a forwarder on that machine would set
}
# Attributes of System elements -> field names (unverified naming for Name/Guid).
_SYSTEM_ATTRIBUTES: tuple[tuple[str, str, str], ...] = (
    ("Provider", "Name", "Name"),
    ("Provider", "Guid", "Guid"),
    ("TimeCreated", "SystemTime", "SystemTime"),
    ("Execution", "ProcessID", "ProcessID"),
    ("Execution", "ThreadID", "ThreadID"),
    ("Security", "UserID", "UserID"),
)
_ATTRIBUTE = {
    (element, attribute): re.compile(rf"<{element}\s[^>]*?\b{attribute}=(['\"])(.*?)\1")
    for element, attribute, _ in _SYSTEM_ATTRIBUTES
}
_ATTRIBUTE_FIELDS = tuple((name, _ATTRIBUTE[element, attribute]) for element, attribute, name in _SYSTEM_ATTRIBUTES)
# A name and a value cannot hold '<' (XML escapes it), so neither part can run
# into the next element: a self-closing <Data Name='X'/> (an empty field) is no
# match and cannot swallow the following field, and the scan stays linear in
# the event's size. A value may span lines (multi-line events); unverified
# whether the add-on's regex would cross a line break.
_DATA = re.compile(r"<Data Name=(['\"])([^'\"<]*)\1>([^<]*)</Data>")
_COMPUTER = re.compile(r"<Computer>([^<]*)</Computer>")
_SYSTEM_TIME = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?Z?$")
_ENTITY = re.compile(r"&(amp|lt|gt|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}


def parse_event(
    event: RawEvent,
    *,
    decode_entities: bool | None = None,
    stats: ReadStats | None = None,
    only: frozenset[str] | None = None,
) -> dict[str, str | float] | None:
    """Fields of ``event``, or None when it is malformed (reason recorded in ``stats`` if given).
    ``only``: the fields the caller reads (None: all); see ``parse_event_strict``."""
    try:
        return parse_event_strict(event, decode_entities=decode_entities, only=only)
    except BadEvent as error:
        if stats is not None:
            stats.skip(event.origin, str(error))
        return None


def index_event(event: RawEvent, *, stats: ReadStats | None = None) -> dict[str, str | float] | None:
    """What Splunk stores when it indexes ``event``: ``_raw``, ``_time``, ``source``,
    ``sourcetype`` and ``host`` (the forwarder's machine: ``<Computer>``), or None when
    the event is malformed (reason recorded in ``stats`` if given). Search-time
    fields then come from the add-ons' knowledge."""
    try:
        raw = event.raw
        _check_well_formed(raw)
        system_end = raw.find("</System>")
        system = raw[:system_end] if system_end >= 0 else raw
        found = _ATTRIBUTE["TimeCreated", "SystemTime"].search(system)
        fields: dict[str, str | float] = {"_time": _epoch(found.group(2) if found else None)}
    except BadEvent as error:
        if stats is not None:
            stats.skip(event.origin, str(error))
        return None
    computer = _COMPUTER.search(system)
    if computer:
        fields["host"] = computer.group(1)
    fields["source"] = event.source
    fields["sourcetype"] = event.sourcetype
    fields["_raw"] = raw
    return fields


def parse_event_strict(event: RawEvent, *, decode_entities: bool | None = None,
                       only: frozenset[str] | None = None) -> dict[str, str | float]:
    """Fields of ``event``; raises BadEvent(reason) when it is malformed. With ``only``,
    the fields outside it may be left out (``_time``, ``source``, ``sourcetype``, ``_raw``
    and ``SystemTime``, which ``_time`` comes from, never are); each field kept has the
    value a full read gives it, and the same events are refused for the same reasons."""
    raw = event.raw
    _check_well_formed(raw)
    decode = DECODE_ENTITIES if decode_entities is None else decode_entities
    reading = _reading(only)
    system_end = raw.find("</System>")
    system = raw[:system_end] if system_end >= 0 else raw
    fields: dict[str, str | float] = {}
    if reading.elements is not None:
        for element, text in reading.elements.findall(system):
            text = _decode_entities(text) if decode else text
            for name in _SYSTEM_FIELDS[element]:
                fields[name] = text
    for name, pattern in reading.attributes:
        found = pattern.search(system)
        if found:
            fields[name] = _decode_entities(found.group(2)) if decode else found.group(2)
    for _, name, text in _DATA.findall(raw, max(system_end, 0)):
        # an empty <Data Name='X'></Data> makes no field, as the add-ons' extractions
        # drop empty values (transforms.conf.spec, KEEP_EMPTY_VALS: default false)
        if text:
            if decode:
                name, text = _decode_entities(name), _decode_entities(text)
            if name not in fields and (reading.kept is None or name in reading.kept):
                fields[name] = text  # System fields win over same-named data
    fields["_time"] = _epoch(fields.get("SystemTime"))
    fields["source"] = event.source
    fields["sourcetype"] = event.sourcetype
    fields["_raw"] = raw
    return fields


@dataclass(frozen=True, slots=True)
class _Reading:
    """What to take from an event: the System elements (a pattern for just those names, or
    None), the System attributes ((field, pattern) pairs) and the fields kept (None: all)."""
    elements: re.Pattern | None
    attributes: tuple[tuple[str, re.Pattern], ...]
    kept: frozenset[str] | None


def _elements_named(names: list[str]) -> re.Pattern | None:
    """Leaf elements ``<name ...>text</name>`` with one of these names. It finds what a scan
    for elements of any name (``<(\\w+)...</\\1>``) finds with one of them: such a match holds
    no '<' but its own two, so no match of a named element can start inside one of another
    name. Possessive: no part can give back what it took and still match (a name is followed
    by a blank or '>', the attributes by '>', the text by '<'), and trying to at a self-closing
    element cost most of the System part's scan."""
    if not names:
        return None
    return re.compile(rf"<({'|'.join(map(re.escape, names))})(?:\s[^>]*+)?+>([^<]*+)</\1>")


_FULL_READING = _Reading(_elements_named(sorted(_SYSTEM_FIELDS)), _ATTRIBUTE_FIELDS, None)
_READINGS: dict[frozenset[str], _Reading] = {}


def _reading(only: frozenset[str] | None) -> _Reading:
    if only is None:
        return _FULL_READING
    reading = _READINGS.get(only)
    if reading is None:
        kept = only | {"SystemTime"}  # _time's source (a <Data Name='SystemTime'> when no attribute has one)
        elements = sorted(e for e, names in _SYSTEM_FIELDS.items() if kept.intersection(names))
        reading = _Reading(_elements_named(elements),
                           tuple((name, pattern) for name, pattern in _ATTRIBUTE_FIELDS if name in kept), kept)
        if len(_READINGS) < 1000:  # a few field sets per search in practice; bounded anyway
            _READINGS[only] = reading
    return reading


def _check_well_formed(raw: str) -> None:
    parser = pyexpat.ParserCreate()  # no handlers: a pure C well-formedness pass
    try:
        parser.Parse(raw, True)
    except pyexpat.ExpatError as error:
        raise BadEvent(f"malformed XML: {pyexpat.ErrorString(error.code)} "
                       f"(event line {error.lineno}, column {error.offset + 1})") from None


def _epoch(system_time) -> float:
    if system_time is None:
        raise BadEvent("no <TimeCreated SystemTime='...'/>")
    found = _SYSTEM_TIME.match(system_time)
    if not found:
        raise BadEvent(f"TimeCreated SystemTime '{system_time}' is not YYYY-MM-DDTHH:MM:SS[.f]Z")
    year, month, day, hour, minute, second, fraction = found.groups()
    start = _day_start(year, month, day)
    hour, minute, second = int(hour), int(minute), int(second)
    if start is None or hour >= 24 or minute >= 60 or second >= 60:
        raise BadEvent(f"TimeCreated SystemTime '{system_time}' is not a valid time")
    micros = int((fraction or "0")[:6].ljust(6, "0"))  # Splunk keeps microseconds at most
    return start + hour * 3600 + minute * 60 + second + micros / 1e6


@functools.lru_cache(maxsize=4096)  # the events of a file share a few days
def _day_start(year: str, month: str, day: str) -> int | None:
    """Epoch seconds of the day's first second (UTC), or None for a day no calendar has."""
    year, month, day = int(year), int(month), int(day)
    try:
        # monthrange/timegm raise for years datetime cannot hold (year 0).
        if 1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]:
            return calendar.timegm((year, month, day, 0, 0, 0))
    except (ValueError, OverflowError):
        pass
    return None


def _decode_entities(text: str) -> str:
    if "&" not in text:
        return text
    return _ENTITY.sub(_entity, text)


def _entity(found: re.Match) -> str:
    name = found.group(1)
    if name[0] != "#":
        return _ENTITIES[name]
    code = int(name[2:], 16) if name[1] == "x" else int(name[1:])
    return chr(code) if 0 < code <= 0x10FFFF else found.group()
