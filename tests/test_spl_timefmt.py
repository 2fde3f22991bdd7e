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
    assert compile_format("%S.%3N|%6N")(EPOCH) == "10.608|608000"


def test_unknown_directive_fails_with_position():
    with pytest.raises(SplError, match=r"unsupported time format directive '%q' at position 7"):
        compile_format("%Y %q", 7)
