"""The reader's byte-level path (events alone on their lines, scanned in bulk) against its
line path: the same events, counts and problems on any input, however hostile."""
from __future__ import annotations

import gzip
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from detpack.replay import events
from detpack.replay.events import ReadStats, read_events
from detpack.replay.search import event_code_scan
from detpack.spl.evaluate import fold
from detpack.spl.plan import ASCII_FOLDING, Prefilter

ROOT = Path(__file__).resolve().parent.parent
CHANNEL = "Microsoft-Windows-Sysmon/Operational"


def event(code: str = "1", image: str = "C:\\w\\a.exe", channel: str = CHANNEL, start: str = "<Event xmlns='x'>") -> str:
    return (f"{start}<System><EventID>{code}</EventID><TimeCreated SystemTime='2026-01-02T03:04:05Z'/>"
            f"<Channel>{channel}</Channel><Computer>h</Computer></System><EventData>"
            f"<Data Name='Image'>{image}</Data><Data Name='Empty'/></EventData></Event>")


def codes(code: str) -> bool:
    return f">{code}</EventID>" in code


# Lines (bytes, without their line end) that each exercise one rule of the reader.
PIECES = [
    event().encode(),
    event(image="C:\\w\\SCRCONS.EXE").encode(),
    event(image="C:\\w\\ſcrcons.exe").encode(),           # folds to scrcons.exe
    event(image="C:\\w\\Groß\\scrcons.exe").encode(),
    event(image="C:\\w\\ßcrcons.exe").encode(),            # "sscrcons.exe" once folded
    event(image="C:\\w\\café.exe").encode(),
    event(code="4688").encode(),
    event(code="4688", image="scrcons.exe").encode(),
    event(code="5").encode(),
    event(start="<Event>").encode(),
    event().encode().replace(b"a.exe", b"a\xe9\xff.exe"),  # invalid UTF-8 is kept
    event().encode().replace(b"a.exe", b"scrcons\xe9.exe"),
    event(channel="").encode(),
    event().encode().replace(b"<Channel>", b"<Chan>"),     # no channel: reported
    event().encode().replace(b"</EventData>", b"</EventDat>"),
    b"\xef\xbb\xbf" + event().encode(),                     # a BOM where files were joined
    b"  " + event().encode(),                               # indented
    b"\t" + event(image="scrcons.exe").encode(),
    event().encode() + b"junk",
    event().encode().replace(b"<EventData>", b"\n<EventData>"),  # two lines of one event
    event(image="scrcons.exe").encode().replace(b"<System>", b"<System>\n"),
    event().encode()[:80],                                  # cut short
    event().encode().replace(b"a.exe", b"a\x00.exe"),       # NUL
    b"",                                                    # blank line
    b"   ",
    b"junk text",
    b"<EventData>",
    b"</Event>",
    event(code="1").encode().replace(b"<EventID>1</EventID>", b"<EventID Qualifiers='0'>1</EventID>"),
]
ENDS = [b"\n", b"\n", b"\n", b"\r\n", b"\r"]


def keeps():
    single = Prefilter(((("scrcons.exe",),),))
    two = Prefilter(((("scrcons.exe",), ("a.exe",)), (("c:",),)))
    by_code = lambda raw: any(f">{c}</EventID>" in raw for c in ("1", "4688"))  # noqa: E731
    by_code.scan = event_code_scan({"1", "4688"})
    return {
        "none": None,
        "needle": single.compile(),
        "needle+codes": single.compile(then=by_code),
        "alternatives": two.compile(),
        "codes": by_code,
    }


KEEPS = keeps()


def read_all(path, keep, line_path: bool, monkeypatch):
    with monkeypatch.context() as patch:
        if line_path:
            patch.setattr(events, "_one_event_per_line", lambda *args: None)
        stats = ReadStats()
        got = [(e.raw, e.source, e.origin) for e in read_events(path, stats=stats, keep=keep)]
    return got, (stats.events_read, stats.events_skipped, stats.problems)


def events_file(folder: Path, content: bytes, compress: bool, cut: int) -> Path:
    """``content`` written to a file in ``folder``; gzipped, less its last ``cut`` bytes
    (a truncated stream), when ``compress``."""
    if compress:
        content = gzip.compress(content)
        content = content[:len(content) - cut] if cut < len(content) else content
    path = folder / ("e.xml.log.gz" if compress else "e.xml.log")
    path.write_bytes(content)
    return path


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.tuples(st.sampled_from(range(len(PIECES))), st.sampled_from(ENDS)), max_size=40),
       simple_run=st.integers(0, 30), last_end=st.booleans(), compress=st.booleans(),
       cut=st.integers(0, 40), read_bytes=st.sampled_from([7, 64, 300, 1 << 20]),
       keep=st.sampled_from(sorted(KEEPS)))
def test_the_scanned_path_reads_exactly_as_the_line_path(tmp_path_factory, monkeypatch, lines, simple_run,
                                                        last_end, compress, cut, read_bytes, keep):
    good = [PIECES[i % 9] + b"\n" for i in range(simple_run)]  # runs of the simple shape
    content = b"".join(good[:simple_run // 2]) + b"".join(PIECES[i] + end for i, end in lines) + b"".join(good[simple_run // 2:])
    if not last_end:
        content = content.rstrip(b"\r\n")
    path = events_file(tmp_path_factory.mktemp("scan"), content, compress, cut)
    monkeypatch.setattr(events, "READ_BYTES", read_bytes)
    assert read_all(path, KEEPS[keep], False, monkeypatch) == read_all(path, KEEPS[keep], True, monkeypatch)


def test_the_scan_decodes_only_the_lines_that_may_pass(tmp_path):
    """A thousand events alone on their lines, one of which holds the needle: the test
    sees that one line only, and every event is counted, at its line."""
    lines = [event(image=f"C:\\w\\{i}.exe") for i in range(1000)]
    lines[700] = event(image="C:\\w\\ScrCons.exe")
    path = tmp_path / "many.xml.log"
    path.write_text("\n".join(lines) + "\n")
    seen = []
    needle = Prefilter(((("scrcons.exe",),),)).compile()
    keep = lambda raw: seen.append(raw) or needle(raw)  # noqa: E731
    keep.scan = needle.scan
    stats = ReadStats()
    got = list(read_events(path, stats=stats, keep=keep))
    assert seen == [lines[700]] and [e.origin for e in got] == [f"{path}:701"]
    assert (stats.events_read, stats.events_skipped) == (1000, 0)


def test_the_characters_folding_into_ascii_are_all_known():
    """The scan's soundness rests on this list: every character whose casefold holds an
    ASCII character, over all of Unicode (this Python's tables)."""
    found = {chr(c) for c in range(0x80, sys.maxunicode + 1)
             if unicodedata.category(chr(c)) != "Cs" and any(ord(x) < 0x80 for x in fold(chr(c)))}
    assert found == set(ASCII_FOLDING)


@pytest.mark.parametrize("text, found", [
    ("C:\\w\\SCRCONS.exe", True), ("ſcrcons.exe", True), ("sſcrcons.exe", True),
    ("scrcons.ex", False), ("scrcons\u00e9exe", False), ("ßcrcons.exe", True),
])
def test_a_needle_scan_finds_every_casefold_match(text, found):
    scan = Prefilter(((("scrcons.exe",),),)).scan()
    line = event(image=text).encode()
    assert bool(scan.line_starts(line, 0, len(line))) == found
    assert ("scrcons.exe" in fold(event(image=text))) == found


def test_a_needle_with_non_ascii_or_line_break_has_no_scan():
    assert Prefilter(((("café",),),)).scan() is None
    assert Prefilter(((("a\nb",),),)).scan() is None
    assert Prefilter(((("café",),), (("cmd",),))).scan().pattern == b"cmd"


@pytest.mark.parametrize("extra", [-1, 0, 50])
def test_an_event_line_carried_over_reads_past_the_event_limit_is_judged_as_the_line_path_does(
        tmp_path, monkeypatch, extra):
    """A line that runs over several reads is handed out joined, and may then be longer
    than an event may be (MAX_EVENT_CHARS): the line path reports it, so must the scan."""
    monkeypatch.setattr(events, "READ_BYTES", 64)
    monkeypatch.setattr(events, "MAX_LINE_BYTES", 400)
    monkeypatch.setattr(events, "MAX_EVENT_CHARS", 400)
    long = event(image="C:\\w\\" + "a" * (400 + extra - len(event(image="C:\\w\\"))))
    assert len(long) == 400 + extra
    path = tmp_path / "long.xml.log"
    path.write_text("\n".join([event(), long, event()]) + "\n")
    for keep in ("none", "needle"):
        scanned, by_line = read_all(path, KEEPS[keep], False, monkeypatch), read_all(path, KEEPS[keep], True, monkeypatch)
        assert scanned == by_line
    assert [problem.rsplit(": ", 1)[0] for problem in by_line[1][2]] == ([f"{path}:2"] if extra >= 0 else [])


EXIT_WITH_A_READER_OPEN = """
import atexit, sys, threading
# registered before the reader's modules are imported, so it runs after those modules' own
atexit.register(lambda: print("reading threads and processes at exit:",
                              [t.name for t in threading.enumerate() if t.name == "event-reader"], sorted(beside._LIVE)))
from detpack import beside
from detpack.replay import events
events.READ_BESIDE_BYTES = int(sys.argv[2])
reader = events.read_events(sys.argv[1], stats=events.ReadStats())
next(reader)
"""


@pytest.mark.parametrize("beside_bytes", [1 << 62, 0], ids=["side thread", "second process"])
def test_a_reader_left_open_at_exit_stops_its_reading_before_the_interpreter_finalizes(tmp_path, beside_bytes):
    """A generator nobody closed is closed while the interpreter finalizes, when a daemon
    thread caught inside a read cannot finish it any more (Python then aborts, closing the
    file that read holds): the reading thread is stopped at exit, before that; so is a
    reading process, and the generator's own clean-up then finds nothing left to stop."""
    path = tmp_path / "many.xml.log"
    path.write_text("".join(event(image=f"C:\\w\\{i}.exe") + "\n" for i in range(20000)))
    done = subprocess.run([sys.executable, "-c", EXIT_WITH_A_READER_OPEN, str(path), str(beside_bytes)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout, done.stderr) == (0, "reading threads and processes at exit: [] []\n", "")


READ_WITHOUT_ZLIB_NG = """
import sys
sys.modules["zlib_ng"] = None  # not installed
from detpack.replay.events import ReadStats, read_events
stats = ReadStats()
print(len(list(read_events(sys.argv[1], stats=stats))), stats.events_read, stats.problems)
"""


def test_gzip_files_are_read_with_the_standard_zlib_when_zlib_ng_is_missing(tmp_path):
    path = tmp_path / "e.xml.log.gz"
    path.write_bytes(gzip.compress("".join(event() + "\n" for _ in range(3)).encode())[:-3])
    done = subprocess.run([sys.executable, "-c", READ_WITHOUT_ZLIB_NG, str(path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout) == (0, f"3 4 ['{path}:4: gzip data ends early (truncated file)']\n"), done.stderr


def gzip_cases() -> dict[str, bytes]:
    body = "".join(event(image=f"C:\\w\\{i}.exe") + "\n" for i in range(300)).encode()
    first, second = gzip.compress(body[:5000]), gzip.compress(body[5000:])
    return {"two members": first + second, "an empty member between": first + gzip.compress(b"") + second,
            "truncated": (first + second)[:-100], "NUL padding": first + b"\0" * 1000,
            "data after": first + b"xyz", "bad header": b"\x1f\x8b\x09" + first[3:],
            "corrupt": first[:200] + b"\xff" * 50 + first[250:], "magic alone": b"\x1f\x8b"}


@pytest.mark.parametrize("case", sorted(gzip_cases()))
@pytest.mark.parametrize("read_bytes", [1, 7, 300, 1 << 20])
def test_zlib_ng_reads_gzip_as_the_standard_zlib_does(tmp_path, monkeypatch, case, read_bytes):
    """The fallback when zlib-ng is missing: the same events, counts and problems."""
    import zlib

    from zlib_ng import zlib_ng

    path = tmp_path / "e.xml.log.gz"
    path.write_bytes(gzip_cases()[case])
    monkeypatch.setattr(events, "READ_BYTES", read_bytes)
    monkeypatch.setattr(events, "zlib", zlib_ng)
    with_ng = read_all(path, None, False, monkeypatch)
    monkeypatch.setattr(events, "zlib", zlib)
    assert with_ng == read_all(path, None, False, monkeypatch)
