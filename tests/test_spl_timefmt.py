"""ctime formatting: strftime-style directives, always UTC."""
from __future__ import annotations

import pytest

from detpack.spl import SplError
from detpack.spl.timefmt import compile_format

EPOCH = 1599011050.608  # 2020-09-02T01:44:10.608Z


def test_security_content_format_in_utc_truncates_subseconds():
    assert compile_format("%Y-%m-%dT%H:%M:%S")(EPOCH) == "2020-09-02T01:44:10"


def test_convert_default_format():
    assert compile_format("%m/%d/%Y %H:%M:%S")(EPOCH) == "09/02/2020 01:44:10"


def test_names_12_hour_clock_and_zone():
    assert compile_format("%a %A %b %B %e %I %p %j %Z %z %%")(EPOCH) == \
        "Wed Wednesday Sep September  2 01 AM 246 UTC +0000 %"


def test_subsecond_directives():
    assert compile_format("%S.%3N|%6N|%9N")(EPOCH) == "10.608|608000|608000000"


def test_percent_n_without_a_width_has_nine_digits():
    # Search Reference, "Date and time format variables": "%N ... The default is %9N".
    assert compile_format("%S.%N")(EPOCH) == "10.608000000"


def test_percent_q_has_three_digits_by_default():
    # Same page: "%Q ... The default is milliseconds, %3Q".
    assert compile_format("%S.%Q|%6Q")(EPOCH) == "10.608|608000"


@pytest.mark.parametrize("epoch, text", [
    (1.000001, "000|000001|000001000|0000"),
    (1.999999, "999|999999|999999000|9999"),
    (1599011050.000001, "000|000001|000001000|0000"),
])
def test_subseconds_are_whole_microseconds_truncated_or_zero_padded(epoch, text):
    assert compile_format("%3N|%6N|%9N|%4N")(epoch) == text


def test_unknown_directive_fails_with_position():
    with pytest.raises(SplError, match=r"unsupported time format directive '%q' at position 7"):
        compile_format("%Y %q", 7)


# --- parsing: strptime reads what compile_format writes -----------------------------------

from detpack.spl.timefmt import compile_parser, parse_time  # noqa: E402


def test_strptime_nine_digit_subseconds():
    assert parse_time("2020-09-02T01:44:10.608000000", "%Y-%m-%dT%H:%M:%S.%9N") == EPOCH


def test_strptime_three_digit_q_subseconds():
    assert parse_time("01:44:10.608 2020-09-02", "%H:%M:%S.%3Q %Y-%m-%d") == EPOCH


def test_strptime_q_and_n_in_one_format():
    assert parse_time("608 608000 2020-09-02 01:44:10", "%Q %6N %F %T") == EPOCH


def test_strptime_space_padded_day():
    assert parse_time("Sep  2 2020 01:44:10", "%b %e %Y %H:%M:%S") == int(EPOCH)


def test_strptime_zone_name():
    # EST is five hours behind UTC.
    assert parse_time("2020-09-01 20:44:10 EST", "%Y-%m-%d %H:%M:%S %Z") == int(EPOCH)


def test_strptime_numeric_zone_offset():
    assert parse_time("2020-09-02 03:44:10 +0200", "%Y-%m-%d %H:%M:%S %z") == int(EPOCH)


def test_strptime_text_not_matching_is_null():
    assert parse_time("2020-09-02", "%Y-%m-%d %H") is None


def test_strptime_unknown_directive_is_refused_when_compiled():
    with pytest.raises(SplError, match="unsupported time format directive '%K'"):
        compile_parser("%Y %K", 7)


def test_strptime_of_what_strftime_wrote_round_trips():
    fmt = "%a %d %B %Y %I:%M:%S.%6N %p %j %z"
    assert parse_time(compile_format(fmt)(EPOCH), fmt) == EPOCH


def test_a_format_made_once_is_reused_and_a_bad_one_fails_every_time():
    assert compile_format("%Y-%m-%d", 4) is compile_format("%Y-%m-%d", 4)
    for _ in range(2):
        with pytest.raises(SplError, match="unsupported time format"):
            compile_format("%Y %!", 9)


from hypothesis import given, settings, strategies as st  # noqa: E402

from detpack.spl.timefmt import FIELDS  # noqa: E402

ATTRIBUTE_PIECES = [f"%{letter}" for letter in FIELDS] + ["-", "/", " ", "T", "x", "{0}", "%%d"]


@settings(max_examples=300, deadline=None)
@given(pieces=st.lists(st.sampled_from(ATTRIBUTE_PIECES), max_size=10),
       epoch=st.one_of(st.integers(0, 253402300799), st.floats(0, 253402300799)))
def test_a_format_of_attributes_only_writes_what_the_directive_by_directive_way_writes(pieces, epoch):
    """A trailing %p makes the format go directive by directive; its text is then cut off."""
    fmt = "".join(pieces)
    general = compile_format(fmt + "%p")(epoch)
    assert compile_format(fmt)(epoch) == general[:-2] and general[-2:] in ("AM", "PM")


@settings(max_examples=200, deadline=None)
@given(pieces=st.lists(st.sampled_from(ATTRIBUTE_PIECES + ["%y", "%I", "%p", "%j", "%a", "%B"]), max_size=10),
       epoch=st.integers(0, 253402300799))
def test_formatting_writes_what_the_c_library_writes(pieces, epoch):
    """Years 1970..9999 in UTC, where the C library's strftime writes these directives alike."""
    from datetime import datetime, timezone
    fmt = "".join(pieces)
    assert compile_format(fmt)(epoch) == datetime.fromtimestamp(epoch, tz=timezone.utc).strftime(fmt)


def test_beyond_year_9999_either_way_fails_alike():
    for fmt in ("%Y", "%Y%p"):
        with pytest.raises((OverflowError, ValueError, OSError)):
            compile_format(fmt)(253402300800 * 2)
