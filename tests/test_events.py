"""Event reader and field extraction: each input shape, each kind of broken input."""
from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest
from hypothesis import example, given, settings, strategies as st

from detpack.replay import events
from detpack.replay.events import (
    BadEvent, EventReadError, RawEvent, ReadStats, parse_event, parse_event_strict, read_events,
)

SYSMON_SOURCE = "XmlWinEventLog:Microsoft-Windows-Sysmon/Operational"


def make_event(code: str = "1", channel: str = "Microsoft-Windows-Sysmon/Operational",
               time: str = "2026-03-10T10:00:01.250000000Z", data: str = "<Data Name='Image'>C:\\a\\b.exe</Data>") -> str:
    return ("<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>"
            "<Provider Name='Microsoft-Windows-Sysmon' Guid='{11111111-2222-3333-4444-555555555555}'/>"
            f"<EventID>{code}</EventID><Version>5</Version><Level>4</Level><Task>1</Task><Opcode>0</Opcode>"
            f"<Keywords>0x8000000000000000</Keywords><TimeCreated SystemTime='{time}'/>"
            "<EventRecordID>42</EventRecordID><Correlation/><Execution ProcessID='2980' ThreadID='3312'/>"
            f"<Channel>{channel}</Channel><Computer>ws1.example.local</Computer>"
            "<Security UserID='S-1-5-18'/></System>"
            f"<EventData>{data}</EventData></Event>")


GOOD = make_event()


def write(tmp_path: Path, content: str | bytes, name: str = "events.xml.log") -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def read(path: Path, **kwargs) -> tuple[list[RawEvent], ReadStats]:
    stats = ReadStats()
    return list(read_events(path, stats=stats, **kwargs)), stats


# ---------------------------------------------------------------- good input

def test_one_event_per_line(tmp_path):
    path = write(tmp_path, GOOD + "\n" + make_event(channel="Security") + "\n")
    got, stats = read(path)
    assert [(e.raw, e.source, e.sourcetype, e.origin) for e in got] == [
        (GOOD, SYSMON_SOURCE, "XmlWinEventLog", f"{path}:1"),
        (make_event(channel="Security"), "XmlWinEventLog:Security", "XmlWinEventLog", f"{path}:2"),
    ]
    assert (stats.events_read, stats.events_skipped, stats.problems) == (2, 0, [])


def test_given_source_and_sourcetype_win(tmp_path):
    got, _ = read(write(tmp_path, GOOD + "\n"), source="XmlWinEventLog:Custom", sourcetype="st")
    assert (got[0].source, got[0].sourcetype) == ("XmlWinEventLog:Custom", "st")


def test_last_line_without_newline(tmp_path):
    got, stats = read(write(tmp_path, GOOD + "\n" + GOOD))
    assert [e.origin[-2:] for e in got] == [":1", ":2"] and stats.events_skipped == 0


def test_multi_line_event_is_joined_and_located_at_its_first_line(tmp_path):
    spread = GOOD.replace("<System>", "\n<System>\n").replace("</EventData>", "</EventData>\n")
    path = write(tmp_path, GOOD + "\n" + spread + "\n" + GOOD + "\n")
    got, stats = read(path)
    assert [e.origin for e in got] == [f"{path}:1", f"{path}:2", f"{path}:6"]
    assert got[1].raw == spread and got[1].source == SYSMON_SOURCE
    assert stats.events_read == 3 and stats.events_skipped == 0


def test_gzip_file(tmp_path):
    path = write(tmp_path, gzip.compress(((GOOD + "\n") * 3).encode()), "events.xml.log.gz")
    got, stats = read(path)
    assert [e.raw for e in got] == [GOOD] * 3 and stats.events_skipped == 0


def test_concatenated_gzip_members(tmp_path):
    member = gzip.compress((GOOD + "\n").encode())
    got, stats = read(write(tmp_path, member + member, "x.gz"))
    assert len(got) == 2 and stats.events_skipped == 0


def test_gzip_members_split_anywhere_by_the_reads(tmp_path, monkeypatch):
    """A member may end exactly at a read boundary, or one byte of the next member may
    arrive alone: every member is still read, and NUL padding at the end is fine."""
    first = gzip.compress((GOOD + "\n").encode())
    data = first + gzip.compress((GOOD + "\n") .encode() * 2) + gzip.compress(b"") + b"\0" * 5
    path = write(tmp_path, data, "m.xml.log.gz")
    for size in (len(first) - 1, len(first), len(first) + 1, len(first) + 2, 7, 1 << 20):
        monkeypatch.setattr(events, "READ_BYTES", size)
        got, stats = read(path)
        assert (len(got), stats.problems) == (3, []), size


def test_crlf_line_ends(tmp_path):
    spread = GOOD.replace("<System>", "\r\n<System>")
    got, stats = read(write(tmp_path, GOOD + "\r\n" + spread + "\r\n"))
    assert [e.raw for e in got] == [GOOD, GOOD.replace("<System>", "\n<System>")]
    assert stats.events_skipped == 0


def test_utf8_bom_is_ignored(tmp_path):
    got, stats = read(write(tmp_path, b"\xef\xbb\xbf" + (GOOD + "\n").encode()))
    assert [e.raw for e in got] == [GOOD] and stats.events_skipped == 0


def test_blank_lines_between_events_are_fine(tmp_path):
    got, stats = read(write(tmp_path, "\n" + GOOD + "\n\n  \n" + GOOD + "\n\n"))
    assert len(got) == 2 and stats.problems == []


def test_empty_files(tmp_path):
    assert read(write(tmp_path, ""))[1] == ReadStats()
    assert read(write(tmp_path, gzip.compress(b""), "e.gz"))[1] == ReadStats()


def test_event_data_named_like_the_event_start_is_not_a_new_event(tmp_path):
    spread = GOOD.replace("<EventData>", "\n<EventData>")
    got, stats = read(write(tmp_path, spread + "\n"))
    assert [e.raw for e in got] == [spread] and stats.problems == []


# ---------------------------------------------------------------- prefilter

def test_keep_rejects_are_read_but_not_yielded(tmp_path):
    other = make_event(data="<Data Name='Image'>C:\\x\\scrcons.exe</Data>")
    seen = []
    keep = lambda raw: seen.append(raw) or "scrcons" in raw  # noqa: E731
    got, stats = read(write(tmp_path, GOOD + "\n" + other + "\n" + GOOD + "\n"), keep=keep)
    assert [e.raw for e in got] == [other]
    assert seen == [GOOD, other, GOOD]  # complete event texts, in order
    assert (stats.events_read, stats.events_skipped) == (3, 0)


def test_keep_sees_multi_line_events_whole(tmp_path):
    spread = GOOD.replace("<System>", "\n<System>\n")
    seen = []
    read(write(tmp_path, spread + "\n"), keep=lambda raw: seen.append(raw) or False)
    assert seen == [spread]


def test_bad_units_are_reported_whatever_keep_says(tmp_path):
    _, stats = read(write(tmp_path, "junk\n" + GOOD + "\n"), keep=lambda raw: False)
    assert (stats.events_read, stats.events_skipped) == (2, 1)


# ---------------------------------------------------------------- broken input

def problems_of(tmp_path: Path, content, name: str = "bad.xml.log") -> tuple[Path, list[RawEvent], ReadStats]:
    path = write(tmp_path, content, name)
    got, stats = read(path)
    assert stats.events_skipped == len(stats.problems)
    return path, got, stats


def test_missing_file_raises_one_line_error(tmp_path):
    with pytest.raises(EventReadError) as raised:
        read_events(tmp_path / "nope.xml.log", stats=ReadStats())
    assert str(raised.value) == f"{tmp_path / 'nope.xml.log'}: cannot read: No such file or directory"


def test_directory_raises(tmp_path):
    with pytest.raises(EventReadError, match=str(tmp_path)):
        read_events(tmp_path, stats=ReadStats())


def test_text_outside_an_event_is_one_problem_per_run(tmp_path):
    path, got, stats = problems_of(tmp_path, "hello\nworld\n" + GOOD + "\ntrailer\n")
    assert stats.problems == [f"{path}:1: text outside an <Event>", f"{path}:4: text outside an <Event>"]
    assert len(got) == 1 and stats.events_read == 3


def test_unterminated_event_before_the_next_one(tmp_path):
    path, got, stats = problems_of(tmp_path, "<Event xmlns='x'><System>\n" + GOOD + "\n")
    assert stats.problems == [f"{path}:1: unterminated <Event> (a new event starts at line 2)"]
    assert [e.origin for e in got] == [f"{path}:2"]


def test_unterminated_event_at_end_of_file(tmp_path):
    path, got, stats = problems_of(tmp_path, GOOD + "\n" + GOOD[:100] + "\n")
    assert stats.problems == [f"{path}:2: unterminated <Event> at end of file"]
    assert len(got) == 1


def test_text_after_end_of_event(tmp_path):
    path, got, stats = problems_of(tmp_path, GOOD + "junk\n" + GOOD + "\n")
    assert stats.problems == [f"{path}:1: text after </Event> on the same line"]
    assert [e.origin for e in got] == [f"{path}:2"]


def test_nul_bytes(tmp_path):
    path, got, stats = problems_of(tmp_path, GOOD + "\n" + GOOD.replace("C:", "C\x00") + "\n" + GOOD + "\n")
    column = GOOD.index("C:") + 2
    assert stats.problems == [f"{path}:2: binary data: NUL byte at column {column}"]
    assert [e.origin for e in got] == [f"{path}:1", f"{path}:3"]


def test_binary_junk_between_events(tmp_path):
    path, got, stats = problems_of(tmp_path, (GOOD + "\n").encode() + b"\x00\x01\x02\xff\n" + (GOOD + "\n").encode())
    assert stats.problems == [f"{path}:2: binary data: NUL byte at column 1"]
    assert len(got) == 2


def test_invalid_utf8_inside_an_event_keeps_the_event(tmp_path):
    bad = GOOD.encode().replace(b"b.exe", b"b\xe9.exe")
    path, got, stats = problems_of(tmp_path, bad + b"\n" + (GOOD + "\n").encode())
    assert stats.problems == [] and [e.origin for e in got] == [f"{path}:1", f"{path}:2"]
    assert "b\ufffd.exe" in got[0].raw and parse_event(got[0]) is not None


def test_cr_only_line_ends_split_events(tmp_path):
    path, got, stats = problems_of(tmp_path, (GOOD + "\r" + GOOD + "\r").encode())
    assert stats.problems == [] and [e.origin for e in got] == [f"{path}:1", f"{path}:2"]


def test_a_cr_at_a_read_boundary_before_its_lf_is_one_line_end(tmp_path, monkeypatch):
    text = (GOOD + "\r\n" + GOOD + "\r\n").encode()
    monkeypatch.setattr(events, "READ_BYTES", len(GOOD) + 1)
    path, got, stats = problems_of(tmp_path, text)
    assert stats.problems == [] and [e.origin for e in got] == [f"{path}:1", f"{path}:2"]


def test_an_indented_event_is_read(tmp_path):
    path, got, stats = problems_of(tmp_path, ("  " + GOOD + "\n\t" + GOOD + "\n").encode())
    assert stats.problems == [] and len(got) == 2 and all(parse_event(e) is not None for e in got)


def test_a_byte_order_mark_in_the_middle_of_a_file_is_dropped(tmp_path):
    bom = b"\xef\xbb\xbf"
    path, got, stats = problems_of(tmp_path, bom + (GOOD + "\n").encode() + bom + (GOOD + "\n").encode())
    assert stats.problems == [] and [e.raw for e in got] == [GOOD, GOOD]


def test_problem_on_a_continuation_line_is_reported_at_the_event_start(tmp_path):
    spread = GOOD.replace("<EventData>", "\n<EventData>").replace("b.exe", "b\x00.exe")
    path, got, stats = problems_of(tmp_path, spread + "\n" + GOOD + "\n")
    assert [p.split(": ")[0] for p in stats.problems] == [f"{path}:1"] and len(got) == 1


def test_utf16_file(tmp_path):
    path, got, stats = problems_of(tmp_path, (GOOD + "\n").encode("utf-16"))
    assert got == [] and stats.problems == [f"{path}:1: UTF-16 text (byte-order mark); expected UTF-8"]


def test_truncated_gzip_keeps_what_came_before(tmp_path):
    whole = gzip.compress(((GOOD + "\n") * 3).encode())
    path, got, stats = problems_of(tmp_path, whole[:-12], "t.xml.log.gz")
    assert len(got) == 2
    assert stats.problems == [f"{path}:3: gzip data ends early (truncated file)"]
    assert (stats.events_read, stats.events_skipped) == (3, 1)  # the cut-short event counted once


def test_truncated_gzip_inside_a_multi_line_event_is_one_event_reported_once(tmp_path):
    second = GOOD.replace("<EventData>", "\n<EventData>").replace("</EventData>", "\n</EventData>")
    whole = gzip.compress((GOOD + "\n" + second + "\n").encode())
    cut = next(n for n in range(len(whole) // 2, len(whole)) if _decodable_lines(whole[:n]) == 2)
    path, got, stats = problems_of(tmp_path, whole[:cut], "t.xml.log.gz")
    assert len(got) == 1 and stats.problems == [f"{path}:2: gzip data ends early (truncated file)"]
    assert (stats.events_read, stats.events_skipped) == (2, 1)


def _decodable_lines(data: bytes) -> int:
    """Whole lines in the cut stream, or -1 when it ends at a line end."""
    import zlib

    text = zlib.decompressobj(31).decompress(data)
    return text.count(b"\n") if not text.endswith(b"\n") else -1


def test_corrupt_gzip(tmp_path):
    whole = gzip.compress(((GOOD + "\n") * 3).encode())
    path, got, stats = problems_of(tmp_path, whole[:20] + b"\xff" * 16 + whole[36:], "c.gz")
    assert got == [] and len(stats.problems) == 1
    assert stats.problems[0].startswith(f"{path}:1: corrupt gzip data (")


@pytest.mark.parametrize("trailing", [b"trailing", b"\x1f", b"\0\0\0x"])
def test_garbage_after_gzip_stream(tmp_path, monkeypatch, trailing):
    member = gzip.compress((GOOD + "\n").encode())
    monkeypatch.setattr(events, "READ_BYTES", len(member))
    path, got, stats = problems_of(tmp_path, member + trailing, "g.gz")
    assert len(got) == 1 and stats.problems == [f"{path}:2: data after the end of the gzip stream"]


def test_overlong_line_is_dropped(tmp_path, monkeypatch):
    monkeypatch.setattr(events, "MAX_LINE_BYTES", 4096)
    monkeypatch.setattr(events, "READ_BYTES", 1024)
    path, got, stats = problems_of(tmp_path, GOOD + "\n" + "<Event " + "x" * 10000 + "\n" + GOOD + "\n")
    assert stats.problems == [f"{path}:2: line longer than 4096 bytes"]
    assert [e.origin for e in got] == [f"{path}:1", f"{path}:3"]



@pytest.mark.parametrize("read_bytes", [40, 41, 99, 100, 101, 250, 375, 376])  # 3000: CR last in a read
def test_an_overlong_line_ended_by_crlf_is_one_line(tmp_path, monkeypatch, read_bytes):
    """The CR and LF after a dropped line end it once, also when a read ends between them."""
    monkeypatch.setattr(events, "MAX_LINE_BYTES", 1000)
    monkeypatch.setattr(events, "READ_BYTES", read_bytes)
    path, got, stats = problems_of(tmp_path, "x" * 2999 + "\r\n" + GOOD + "\r\njunk\r\n" + GOOD + "\r\n")
    assert stats.problems == [f"{path}:1: line longer than 1000 bytes", f"{path}:3: text outside an <Event>"]
    assert [e.origin for e in got] == [f"{path}:2", f"{path}:4"]

def test_event_with_too_many_lines(tmp_path, monkeypatch):
    monkeypatch.setattr(events, "MAX_EVENT_LINES", 3)
    spread = GOOD.replace("><", ">\n<")
    path, got, stats = problems_of(tmp_path, spread + "\n" + GOOD + "\n")
    assert stats.problems == [f"{path}:1: event longer than 3 lines"] and len(got) == 1


def test_multi_line_event_longer_than_the_cap_is_dropped(tmp_path, monkeypatch):
    monkeypatch.setattr(events, "MAX_EVENT_CHARS", len(GOOD) + 100)
    spread = GOOD.replace("<Data Name='Image'>", "\n".join(["<Data Name='Image'>"] + ["x" * 40] * 5))
    path, got, stats = problems_of(tmp_path, spread + "\n" + GOOD.replace("><", ">\n<") + "\n")
    first_lines = spread.count("\n") + 1
    assert stats.problems == [f"{path}:1: event longer than {len(GOOD) + 100} characters"]
    assert [e.origin for e in got] == [f"{path}:{first_lines + 1}"]


def test_event_without_channel_needs_a_source(tmp_path):
    no_channel = GOOD.replace("<Channel>Microsoft-Windows-Sysmon/Operational</Channel>", "")
    path, got, stats = problems_of(tmp_path, no_channel + "\n")
    assert got == [] and stats.problems == [f"{path}:1: no <Channel> to derive the source from (pass source=)"]
    assert read(path, source="XmlWinEventLog:X")[0][0].source == "XmlWinEventLog:X"


def test_problem_list_is_capped_but_counting_goes_on(tmp_path, monkeypatch):
    monkeypatch.setattr(events, "MAX_STORED_PROBLEMS", 2)
    _, stats = read(write(tmp_path, "x\n" + GOOD + "\ny\n" + GOOD + "\nz\n" + GOOD + "\n"))
    assert (stats.events_skipped, len(stats.problems)) == (3, 2)


class RecordingFile:
    """A binary file that counts the bytes read from it."""

    def __init__(self, name, mode):
        self.file, self.bytes_read = open(name, mode), 0

    def read(self, size=-1):
        data = self.file.read(size)
        self.bytes_read += len(data)
        return data

    def fileno(self):
        return self.file.fileno()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.file.close()


@pytest.mark.parametrize("compress", [False, True])
def test_reader_streams(tmp_path, monkeypatch, compress):
    """The first event comes out after a few reads, not after the whole file is in memory:
    the reading thread stays at most READ_AHEAD pieces (one read each here) ahead."""
    monkeypatch.setattr(events, "READ_BESIDE_BYTES", 1 << 62)  # read in this process, by its side thread
    opened = []
    monkeypatch.setattr(events, "open", lambda *a: opened.append(RecordingFile(*a)) or opened[-1], raising=False)
    monkeypatch.setattr(events, "READ_BYTES", 512)
    content = "".join(make_event(data=f"<Data Name='N'>{i}</Data>") + "\n" for i in range(5000)).encode()
    path = write(tmp_path, gzip.compress(content) if compress else content, "s.gz" if compress else "s.log")
    assert path.stat().st_size > 20 * 512
    iterator = read_events(path, stats=ReadStats())
    assert next(iterator).origin == f"{path}:1"
    assert opened[0].bytes_read <= (events.READ_AHEAD + 3) * 512


# ---------------------------------------------------------------- parse_event

def event_of(raw: str, source: str = SYSMON_SOURCE) -> RawEvent:
    return RawEvent(raw, source, "XmlWinEventLog", "f:1")


def test_parse_event_system_and_data_fields():
    fields = parse_event(event_of(make_event(data="<Data Name='Image'>C:\\a\\b.exe</Data><Data Name='Empty'></Data>")))
    assert fields == {
        "EventCode": "1", "EventID": "1", "Version": "5", "Level": "4", "Task": "1", "Opcode": "0",
        "Keywords": "0x8000000000000000", "RecordNumber": "42", "EventRecordID": "42",
        "Channel": "Microsoft-Windows-Sysmon/Operational", "Computer": "ws1.example.local", "host": "ws1.example.local",
        "Name": "Microsoft-Windows-Sysmon", "Guid": "{11111111-2222-3333-4444-555555555555}",
        "SystemTime": "2026-03-10T10:00:01.250000000Z", "ProcessID": "2980", "ThreadID": "3312", "UserID": "S-1-5-18",
        "Image": "C:\\a\\b.exe",  # an empty <Data> makes no field (extractions drop empty values)
        "_time": 1773136801.25, "source": SYSMON_SOURCE, "sourcetype": "XmlWinEventLog",
        "_raw": make_event(data="<Data Name='Image'>C:\\a\\b.exe</Data><Data Name='Empty'></Data>"),
    }


def test_event_id_with_qualifiers_and_double_quoted_names():
    raw = make_event().replace("<EventID>1</EventID>", "<EventID Qualifiers='0'>4688</EventID>")
    raw = raw.replace("<Data Name='Image'>", '<Data Name="Image">')
    fields = parse_event(event_of(raw))
    assert (fields["EventCode"], fields["Image"]) == ("4688", "C:\\a\\b.exe")


def test_time_is_utc_epoch_with_microseconds():
    assert parse_event(event_of(make_event(time="1970-01-01T00:00:01.0000019Z")))["_time"] == 1.000001
    assert parse_event(event_of(make_event(time="2020-09-02T01:44:10Z")))["_time"] == 1599011050.0


@pytest.mark.parametrize("time, reason", [
    ("yesterday", "TimeCreated SystemTime 'yesterday' is not YYYY-MM-DDTHH:MM:SS[.f]Z"),
    ("2026-02-30T00:00:00Z", "TimeCreated SystemTime '2026-02-30T00:00:00Z' is not a valid time"),
    ("0000-03-10T10:00:01Z", "TimeCreated SystemTime '0000-03-10T10:00:01Z' is not a valid time"),
])
def test_bad_time(time, reason):
    with pytest.raises(BadEvent) as raised:
        parse_event_strict(event_of(make_event(time=time)))
    assert str(raised.value) == reason


def test_missing_time():
    raw = make_event().replace("<TimeCreated SystemTime='2026-03-10T10:00:01.250000000Z'/>", "")
    with pytest.raises(BadEvent, match=r"^no <TimeCreated SystemTime='\.\.\.'/>$"):
        parse_event_strict(event_of(raw))


def test_malformed_xml_is_none_with_reason_in_stats():
    stats = ReadStats(events_read=1)
    broken = event_of(make_event().replace("</EventData>", "</EventDat>"))
    assert parse_event(broken, stats=stats) is None
    assert stats.events_skipped == 1
    assert stats.problems[0].startswith("f:1: malformed XML: mismatched tag (event line 1, column ")


def test_control_character_is_malformed_xml():
    with pytest.raises(BadEvent, match="malformed XML: not well-formed"):
        parse_event_strict(event_of(make_event(data="<Data Name='X'>a\x01b</Data>")))


def test_multi_line_event_fields():
    raw = make_event(data="<Data Name='CommandLine'>a\nb</Data>\n<Data Name='User'>u</Data>").replace("><", ">\n<")
    fields = parse_event(event_of(raw))
    assert (fields["CommandLine"], fields["User"], fields["EventCode"]) == ("a\nb", "u", "1")


ENCODED = "<Data Name='CommandLine'>cmd /c &quot;a&amp;b&quot; &lt;x&gt; &apos;y&apos; &#65;&#x42;</Data>"


def test_entities_stay_encoded_by_default():
    assert events.DECODE_ENTITIES is False
    assert parse_event(event_of(make_event(data=ENCODED)))["CommandLine"] == \
        "cmd /c &quot;a&amp;b&quot; &lt;x&gt; &apos;y&apos; &#65;&#x42;"


def test_entity_switch_decodes():
    fields = parse_event(event_of(make_event(data=ENCODED)), decode_entities=True)
    assert fields["CommandLine"] == "cmd /c \"a&b\" <x> 'y' AB"


def test_module_default_switch(monkeypatch):
    monkeypatch.setattr(events, "DECODE_ENTITIES", True)
    assert parse_event(event_of(make_event(data=ENCODED)))["CommandLine"].startswith('cmd /c "a&b"')


def test_system_fields_win_over_same_named_data():
    fields = parse_event(event_of(make_event(data="<Data Name='Computer'>other</Data>")))
    assert fields["Computer"] == "ws1.example.local"


def test_decoded_data_names_that_meet_keep_the_first_value():
    raw = make_event(data="<Data Name='a&amp;b'>first</Data><Data Name='a&#38;b'>second</Data>")
    assert parse_event(event_of(raw), decode_entities=True)["a&b"] == "first"
    fields = parse_event(event_of(raw))
    assert (fields["a&amp;b"], fields["a&#38;b"]) == ("first", "second")


# A scan for leaf elements of any name, backtracking: the reference the reader's patterns for
# chosen names (possessive) must agree with.
BACKTRACKING_ELEMENT = re.compile(r"<(\w+)(?:\s[^>]*)?>([^<]*)</\1>")


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(["<", ">", "/", "</", "/>", " ", "\t", "a", "ab", "b", "'", '"', "=", "x y",
                                 "<a>", "</a>", "<a ", "<a/>", "<ab>", "</ab>", "<b x='1'>", "<b x='>'/>"]),
                max_size=30).map("".join),
       st.sets(st.sampled_from(["a", "ab", "b"]), min_size=1))
def test_the_system_element_pattern_finds_what_a_backtracking_one_finds(text, names):
    expected = [m for m in BACKTRACKING_ELEMENT.findall(text) if m[0] in names]
    assert events._elements_named(sorted(names)).findall(text) == expected


# ---------------------------------------------------------------- shared data sets

# README counts; splunk_attack_data_art's README says 25,184 events but its two
# files hold 23,560 + 1,380 = 24,940 lines, each one complete <Event>.
SHARED_COUNTS = {
    "otrf_covenant_wmi_asec/sysmon.xml.log": 2951,
    "otrf_covenant_wmi_asec/security.xml.log": 742,
    "splunk_attack_data_art/sysmon.xml.log": 23560,
    "splunk_attack_data_art/security.xml.log": 1380,
    "otrf_atomic_host/sysmon.xml.log.gz": 477649,
    "otrf_atomic_host/security.xml.log.gz": 107394,
}


def test_shared_datasets_read_cleanly(shared_datasets):
    totals = {}
    for name, expected in SHARED_COUNTS.items():
        stats = ReadStats()
        sources = {e.source for e in read_events(shared_datasets / name, stats=stats)}
        assert (stats.events_read, stats.events_skipped, stats.problems) == (expected, 0, [])
        assert sources == {SYSMON_SOURCE if "sysmon" in name else "XmlWinEventLog:Security"}
        totals[name.split("/")[0]] = totals.get(name.split("/")[0], 0) + stats.events_read
    assert totals == {"otrf_covenant_wmi_asec": 3693, "splunk_attack_data_art": 24940, "otrf_atomic_host": 585043}


@pytest.mark.parametrize("name", [n for n in SHARED_COUNTS if not n.endswith(".gz")])
def test_shared_datasets_parse_cleanly(shared_datasets, name):
    stats = ReadStats()
    parsed = [parse_event(e, stats=stats) for e in read_events(shared_datasets / name, stats=stats)]
    assert stats.problems == [] and all(isinstance(f["_time"], float) for f in parsed)


def test_self_closing_data_does_not_swallow_the_next_field():
    fields = parse_event(event_of(make_event(data="<Data Name='Empty'/><Data Name='Image'>C:\\a.exe</Data>")))
    assert fields["Image"] == "C:\\a.exe" and "Empty" not in fields


def test_a_data_match_never_runs_past_the_next_element():
    """What keeps extraction linear (benchmarks/extraction_size.py times a 4 MiB event):
    no match may scan beyond one element, so an unclosed name or value matches nothing."""
    fields = parse_event(event_of(make_event(
        data="<Data Name='A'>x<Data/></Data><Data Name='B'>y</Data><Data Name='C'/>")))
    assert ("A" not in fields, fields["B"], "C" not in fields) == (True, "y", True)


def reference_epoch(system_time: str) -> float | str:
    """The time as calendar.timegm reads the whole text, or the reason it is refused."""
    import calendar
    found = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?Z?", system_time)
    if not found:
        return "format"
    year, month, day, hour, minute, second = (int(p) for p in found.groups()[:6])
    micros = int((found.group(7) or "0")[:6].ljust(6, "0"))
    try:
        if 1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1] and hour < 24 and minute < 60 \
                and second < 60:
            return calendar.timegm((year, month, day, hour, minute, second)) + micros / 1e6
    except ValueError:
        pass
    return "invalid"


@settings(max_examples=500, deadline=None)
@given(st.tuples(st.sampled_from(["0000", "1970", "2000", "2024", "2100", "9999"]), st.integers(0, 13),
                 st.integers(0, 32), st.integers(0, 24), st.integers(0, 60), st.integers(0, 60),
                 st.sampled_from(["", ".5", ".0000019", ".123456789", ".999999"]), st.sampled_from(["Z", ""])))
@example(("2024", 2, 29, 23, 59, 60, "", "Z"))
@example(("2024", 2, 29, 24, 0, 0, "", "Z"))
@example(("2023", 2, 29, 0, 0, 0, "", "Z"))
def test_time_is_what_timegm_reads_from_the_whole_text(parts):
    year, month, day, hour, minute, second, fraction, zone = parts
    text = f"{year}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}{fraction}{zone}"
    expected = reference_epoch(text)
    try:
        got = events._epoch(text)
    except BadEvent as error:
        got = "invalid" if str(error).endswith("is not a valid time") else "format"
    assert got == expected
