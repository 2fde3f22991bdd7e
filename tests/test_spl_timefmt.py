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
