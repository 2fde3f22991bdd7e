"""The conf writer and the strict reader, including hostile values."""
from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detpack.conf import (
    ConfError, ConfValueError, ConfWriter, Stanza, check_key, check_value, format_value, parse_conf, verify_conf,
    write_conf,
)


def roundtrip(value: str) -> str:
    text = write_conf([Stanza("s", {"key": value, "next": "after"})])
    parsed = {s.name: s.entries for s in parse_conf(text, "t.conf")}
    assert parsed["s"]["next"] == "after", "a value swallowed the following key"
    return parsed["s"]["key"]


def test_multiline_value_becomes_backslash_continuations():
    text = write_conf([Stanza("s", {"search": "| tstats count\n| table count"})])
    assert "search = | tstats count\\\n| table count\n" in text
    assert roundtrip("| tstats count\n| table count") == "| tstats count\n| table count"


def test_value_that_looks_like_a_stanza_or_key_stays_a_value():
    assert roundtrip("x\n[evil]\nenableSched = 1") == "x\n[evil]\nenableSched = 1"


@pytest.mark.parametrize("value", ["tab\tand\nline", "non-breaking\xa0space", "zero\u200bwidth", "line\u2028separator"])
def test_text_that_is_not_printable_but_has_no_control_character_is_written(value):
    assert roundtrip(value) == value


def test_inner_backslash_before_newline_is_preserved():
    assert roundtrip("a\\\nb") == "a\\\nb"


@pytest.mark.parametrize("value, problem", [
    ("ends with \\", "ends with a backslash"),
    ("bell \x07", r"control characters U\+0007"),
    ("crlf\r\nline", r"control characters U\+000D"),
    ("next line \x85 (C1)", r"control characters U\+0085"),
    ("non-breaking\xa0space, then \x1b", r"control characters U\+001B"),
    (" padded", "leading or trailing white space"),
])
def test_unsafe_values_are_refused(value, problem):
    with pytest.raises(ConfValueError, match=problem):
        write_conf([Stanza("s", {"key": value})])


@pytest.mark.parametrize("name", ["a]b", "[x", "new\nline", " space"])
def test_unsafe_stanza_names_are_refused(name):
    with pytest.raises(ConfValueError):
        write_conf([Stanza(name, {})])


def test_a_refused_value_names_its_stanza_and_key():
    """The value's problem alone would not say which of a large pack's ~100,000 values it is."""
    with pytest.raises(ConfValueError, match=r"^\[Rule 7\] description: value ends with a backslash"):
        write_conf([Stanza("Rule 7", {"search": "index=main", "description": "ends with \\"})])


def test_writer_refuses_duplicates_and_bad_keys():
    writer = ConfWriter()
    writer.stanza("a")
    writer.entry("k", "1")
    with pytest.raises(ConfValueError, match="duplicate key"):
        writer.entry("k", "2")
    with pytest.raises(ConfValueError, match="not a valid conf key"):
        writer.entry("k = v", "2")
    with pytest.raises(ConfValueError, match="duplicate stanza"):
        writer.stanza("a")


@pytest.mark.parametrize("text, message", [
    ("[a]\nk = 1\n[a]\n", "t.conf:3: duplicate stanza [a]"),
    ("[a]\nk = 1\nk = 2\n", "t.conf:3: duplicate key 'k' in [a]"),
    ("k = 1\n", "t.conf:1: key 'k' outside any stanza"),
    ("[a]\njust words\n", "t.conf:2: line is neither a stanza, a key = value, nor a comment"),
    ("[a\n", "t.conf:1: stanza header is not closed with ']'"),
])
def test_strict_reader_errors_name_file_and_line(text, message):
    with pytest.raises(ConfError) as error:
        parse_conf(text, "t.conf")
    assert str(error.value) == message


def test_reader_accepts_crlf_and_comments():
    stanzas = parse_conf("# c\r\n[a]\r\nk = v\r\n", "t.conf")
    assert [(s.name, s.entries, s.line) for s in stanzas] == [("a", {"k": "v"}, 2)]


def test_verify_reports_differences():
    text = "[a]\nk = 1\n"
    assert verify_conf(text, "t.conf", [Stanza("a", {"k": "1"})]) == []
    assert verify_conf(text, "t.conf", [Stanza("a", {"k": "2"})]) == [
        "t.conf: [a] k: read back differently from what was written"]
    assert verify_conf(text, "t.conf", [Stanza("b", {})]) == [
        "t.conf: stanza [b] missing", "t.conf: unexpected stanza [a]"]


PIECES = ["\n", "\r", "\r\n", "\\", "\\\n", "[", "]", "=", "$", '"', "'", "#", " ", "\t", "key = value",
          "\n[stanza]", "\nkey = value", "é", "☃", "\x00", "\x1b", "\u2028"]
HOSTILE = st.lists(st.one_of(st.sampled_from(PIECES), st.characters()), max_size=30).map("".join)


@settings(max_examples=400, deadline=None)
@given(HOSTILE)
def test_any_value_is_either_refused_or_read_back_exactly(value):
    try:
        check_value(value)
    except ConfValueError:
        with pytest.raises(ConfValueError):
            write_conf([Stanza("s", {"key": value})])
        return
    assert roundtrip(value) == value


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.from_regex(r"[a-z][a-z0-9_.]{0,10}", fullmatch=True), HOSTILE), max_size=5, unique_by=lambda kv: kv[0]))
def test_whole_stanzas_read_back_or_are_refused(entries):
    stanza = Stanza("s", dict(entries))
    try:
        text = write_conf([stanza])
    except ConfValueError:
        return
    assert verify_conf(text, "t.conf", [stanza]) == []


@pytest.mark.parametrize("text, allowed, found", [
    ("plain text", "", []),
    ("non-breaking\xa0space", "", []),  # not printable, yet no control character
    ("tab\tand\nline", "\n\t", []),
    ("tab\tand\nline", "", ["U+0009", "U+000A"]),
    ("\xa0bell\x07", "\n\t", ["U+0007"]),
])
def test_control_characters_are_exactly_unicode_category_cc(text, allowed, found):
    from detpack.conf import control_characters

    assert control_characters(text, allowed) == found


def _value_as_first_formatted(value: str) -> str:
    """A value by format_value's first definition: check it, then continue its line breaks."""
    check_value(value)
    return value.replace("\n", "\\\n")


def _line_as_first_written(key: str, value: str) -> str:
    """The writer's line by its first definition: the formatted value, the end trimmed."""
    return f"{key} = {_value_as_first_formatted(value)}".rstrip(" ")


@settings(max_examples=400, deadline=None)
@given(HOSTILE)
def test_the_fast_value_is_the_checked_value_or_the_same_refusal(value):
    try:
        expected = _value_as_first_formatted(value)
    except ConfValueError as error:
        with pytest.raises(ConfValueError, match=re.escape(str(error))):
            format_value(value)
        return
    assert format_value(value) == expected


def _lines_as_first_written(pairs: list[tuple[str, object]]) -> list[str]:
    """One stanza's entries by the writer's first definition: key check, duplicate check, then the line."""
    lines, seen = [], set()
    for key, value in pairs:
        check_key(key)
        if key in seen:
            raise ConfValueError(f"duplicate key {key!r} in [s]")
        seen.add(key)
        lines.append(_line_as_first_written(key, str(value)))
    return lines


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c", "bad key"]), st.one_of(HOSTILE, st.integers())), max_size=6))
def test_a_run_of_entries_writes_and_refuses_as_one_entry_at_a_time(pairs):
    writer = ConfWriter()
    writer.stanza("s")
    try:
        expected = _lines_as_first_written(pairs)
    except ConfValueError as error:
        with pytest.raises(ConfValueError, match=re.escape(str(error))):
            writer.entry_lines(pairs)
        return
    assert writer.entry_lines(pairs) == expected
    assert writer.stanzas[0].entries == {key: str(value) for key, value in pairs}


def test_keys_outside_a_stanza_are_refused_in_a_run_too():
    with pytest.raises(ConfValueError, match="'k' written outside a stanza"):
        ConfWriter().entry_lines([("k", "v")])
    with pytest.raises(ConfValueError, match="'k' written outside a stanza"):
        ConfWriter().entry("k", "v")
