"""Splunk's PCRE run by Python's re (spl.pcre): each place the two read a pattern
differently, translated or refused, one construct per test."""
from __future__ import annotations

import pytest

from detpack.spl import SplError, output_rows, parse
from detpack.spl.plan import plan
from detpack.spl.pcre import PcreError, compile_pcre


def test_named_group_in_pcre_syntax():
    assert compile_pcre("(?<user>\\w+)").match("bob").group("user") == "bob"


def test_code_point_escape():
    assert compile_pcre("\\x{202E}").search("a\u202eb")


def test_posix_class_inside_brackets_matches_its_characters():
    assert compile_pcre("^[[:alpha:]]+$").match("Abc")
    assert not compile_pcre("^[[:alpha:]]+$").match("a1")


def test_posix_class_beside_other_members():
    assert compile_pcre("^[[:digit:]_x]+$").match("1_x2")


def test_negated_posix_class_is_refused():
    with pytest.raises(PcreError, match="unsupported POSIX class"):
        compile_pcre("[[:^alpha:]]")


def test_digit_class_is_ascii_as_in_pcre():
    assert not compile_pcre("\\d").search("\u0663")  # ARABIC-INDIC DIGIT THREE


def test_ucp_makes_the_classes_unicode():
    assert compile_pcre("(*UCP)\\d").search("\u0663")



def test_a_posix_class_that_ucp_makes_unicode_is_refused_under_ucp():
    """pcre2pattern, "POSIX character classes": with UCP, [:alpha:] and the like use Unicode
    properties (é is alpha) while [:xdigit:] stays ASCII; an ASCII range would be wrong."""
    with pytest.raises(PcreError, match=r"POSIX class '\[:alpha:\]' under \(\*UCP\)"):
        compile_pcre("(*UCP)[[:alpha:]]+")
    assert compile_pcre("(*UCP)[[:xdigit:]]+").search("\u00e9Af").group() == "Af"
    assert compile_pcre("[[:alpha:]]+").search("\u00e9b").group() == "b"

def test_empty_minimum_repeat_is_a_literal():
    assert compile_pcre("a{,2}").fullmatch("a{,2}")
    assert not compile_pcre("a{,2}").fullmatch("aa")


def test_a_bracket_inside_a_class_is_a_member_as_in_pcre():
    assert compile_pcre("^[[a]+$").match("[a[")


def test_catastrophic_backtracking_stops_with_a_one_line_error():
    with pytest.raises(SplError, match="backtracks beyond the match limit"):
        compile_pcre("(a|aa)+b").search("a" * 40)


def test_rex_with_catastrophic_backtracking_stops():
    rows = [{"_raw": "a" * 40}]
    with pytest.raises(SplError, match="backtracks beyond the match limit"):
        list(plan(parse('| rex "(?<w>(a|aa)+b)"'), set()).execute(rows))


def test_literal_bracket_first_in_a_class():
    assert compile_pcre("^[]a]+$").match("]a]")


def test_eval_match_uses_the_same_translation():
    rows = [{"x": "Abc"}, {"x": "a1"}]
    result = output_rows(plan(parse('| where match(x, "^[[:alpha:]]+$")'), set()).execute(rows))[0]
    assert result == [{"x": "Abc"}]


def test_a_regex_error_says_its_position_once():
    with pytest.raises(SplError) as caught:
        parse('| rex "(?<a>x"')
    assert str(caught.value).count("position") == 1
