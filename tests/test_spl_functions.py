"""Eval functions, one per test, on the values the Search Reference documents."""
from __future__ import annotations

import time

import pytest

from detpack.spl import SplError, output_rows, parse
from detpack.spl.plan import plan
from detpack.spl.functions import FUNCTIONS


def value(expression: str, row: dict | None = None):
    """The value of ``expression`` as Splunk would output it (None for null)."""
    rows = output_rows(plan(parse(f"| eval v={expression}"), ()).execute([dict(row or {})]))[0]
    return rows[0].get("v")


MV = {"mv": ["a", "b", "c"]}


def test_mvindex_is_zero_based_with_negative_from_the_end_and_an_inclusive_end():
    assert value("mvindex(mv, 0)", MV) == "a"
    assert value("mvindex(mv, -1)", MV) == "c"
    assert value("mvindex(mv, 1, 2)", MV) == ["b", "c"]
    assert value("mvindex(mv, 5)", MV) is None


def test_mvappend_skips_nulls():
    assert value('mvappend(mv, "d", nothing)', MV) == ["a", "b", "c", "d"]


def test_mvjoin():
    assert value('mvjoin(mv, ";")', MV) == "a;b;c"


def test_mvfind_returns_the_first_matching_index():
    assert value('mvfind(mv, "[bc]")', MV) == "1"
    assert value('mvfind(mv, "z")', MV) is None


def test_mvfilter_keeps_values_for_which_the_predicate_is_true():
    assert value('mvfilter(mv!="b")', MV) == ["a", "c"]
    with pytest.raises(SplError, match="mvfilter\\(\\) must name exactly one field"):
        value("mvfilter(a=b)")


def test_mvmap_maps_each_value():
    assert value('mvmap(mv, upper(mv))', MV) == ["A", "B", "C"]


def test_mvdedup_mvsort_mvzip():
    assert value("mvdedup(mvappend(mv, mv))", MV) == ["a", "b", "c"]
    assert value('mvsort(mvappend("b", "a"))') == ["a", "b"]
    assert value('mvzip(mv, mv, "=")', MV) == ["a=a", "b=b", "c=c"]


def test_split():
    assert value('split("a,b", ",")') == ["a", "b"]
    assert value('split("ab", "")') == ["a", "b"]


def test_true_and_false_are_booleans_for_conditions():
    assert value('if(true(), "y", "n")') == "y"
    assert value('if(false(), "y", "n")') == "n"


def test_urldecode():
    assert value('urldecode("http%3A%2F%2Fx.test%2Fa%20b")') == "http://x.test/a b"


def test_trim_ltrim_rtrim():
    assert value('trim("  x\t")') == "x"
    assert value('ltrim("--x--", "-")') == "x--"
    assert value('rtrim("--x--", "-")') == "--x"


def test_tostring_and_tonumber():
    assert value("tostring(255, \"hex\")") == "0xff"
    assert value('tostring(1234567, "commas")') == "1,234,567"
    assert value('tostring(3725, "duration")') == "01:02:05"
    assert value('tonumber("ff", 16)') == "255"
    assert value('tonumber("x")') is None


def test_round_rounds_halves_away_from_zero():
    assert value("round(2.5)") == "3"
    assert value("round(2.345, 2)") == "2.35"


def test_math_functions():
    assert value("abs(-2)") == "2"
    assert value("floor(1.7)") == "1" and value("ceil(1.2)") == "2" and value("ceiling(1.2)") == "2"
    assert value("pow(2, 10)") == "1024"
    assert value("sqrt(-1)") is None
    assert value("log(100)") == "2" and value("ln(1)") == "0"


def test_min_and_max_put_text_above_numbers():
    assert value('max(3, "10", 2)') == "10"
    assert value('max(3, "a")') == "a"
    assert value('min(3, "a", 2)') == "2"


def test_hashes_and_cidrmatch():
    assert value('md5("a")') == "0cc175b9c0f1b6a831c399e269772661"
    assert value('if(cidrmatch("10.0.0.0/8", "10.1.2.3"), "in", "out")') == "in"
    assert value('if(cidrmatch("10.0.0.0/8", "not an ip"), "in", "out")') == "out"


def test_type_functions():
    assert value('typeof("a")') == "String" and value("typeof(1)") == "Number"
    assert value("typeof(nothing)") == "Invalid"
    assert value('if(isnum("1.5") AND isint(2) AND isstr("x"), "y", "n")') == "y"


def test_relative_time_offsets_and_snaps():
    day = 86400
    assert value(f'relative_time({10 * day + 3600}, "-1d@d")') == str(9 * day)
    assert value(f'relative_time({10 * day}, "+2h")') == str(10 * day + 7200)
    assert value('relative_time(0, "+1mon")') == str(31 * day)
    assert value('relative_time(0, "bogus")') is None


def test_strftime_and_strptime_are_utc():
    assert value('strftime(86400, "%Y-%m-%d %H:%M")') == "1970-01-02 00:00"
    assert value('strptime("1970-01-02 00:00:01", "%Y-%m-%d %H:%M:%S")') == "86401"
    assert value('strptime("nope", "%Y")') is None


def test_now_is_the_search_start_time():
    assert abs(int(value("now()")) - time.time()) < 60


def test_unknown_function_is_named():
    with pytest.raises(SplError, match="unsupported eval function 'nosuch' at position 9"):
        value("nosuch(1)")


EXTREMES = ("1e308", "-1e308", "1e400", "nan", '"x"', "nothing", "0", "-1", "400", "-400", "mv")


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_no_function_crashes_on_extreme_arguments(name):
    """Every function gives a value, null or an SplError: never a Python exception."""
    _, least, most = FUNCTIONS[name]
    for count in {least, min(most, least + 1), min(most, 3)}:
        for extreme in EXTREMES:
            args = ", ".join([extreme] * count)
            try:
                value(f"{name}({args})", MV)
            except SplError:
                pass


@pytest.mark.parametrize("function", ["strftime(0, \"%Y %K\")", "strptime(\"x\", \"%Y %K\")"])
def test_a_literal_time_format_is_checked_when_the_search_is_planned(function):
    with pytest.raises(SplError, match="unsupported time format directive '%K'"):
        plan(parse(f"| eval v={function}"), ())


def test_strptime_with_nine_digit_subseconds():
    assert value('strptime("1970-01-01 00:00:01.500000000", "%Y-%m-%d %H:%M:%S.%9N")') == "1.5"


def test_a_text_function_reads_a_multivalue_argument_as_its_first_value():
    assert value("trim(mv)", MV) == "a"
    assert value("md5(mv)", MV) == value('md5("a")')


def test_concatenation_with_a_multivalue_field_reads_its_first_value():
    assert value('mv."!"', MV) == "a!"


def test_eval_equals_on_a_multivalue_field_is_true_when_any_value_is():
    assert value('if("b"=mv, "yes", "no")', MV) == "yes"


# Search Reference, replace(<str>,<regex>,<replacement>): "\1" style backreferences.

def test_replace_backreference():
    assert value(r'replace("ab", "(a)(b)", "\\2\\1")') == "ba"


def test_replace_keeps_other_backslashes_literally():
    assert value(r'replace("x", "x", "C:\\Windows\\temp")') == r"C:\Windows\temp"


def test_replace_backreference_to_a_missing_group_is_empty():
    assert value(r'replace("a", "(a)", "<\\2>")') == "<>"


# --- choosing functions and AND/OR compute only what decides them ------------------------
# A pattern taken from a field is compiled when the expression runs, so a bad one is a
# run-time error: where it sits in an argument that is not computed, nothing fails.
FAILS = "match(s, bad)"  # bad = "(": invalid regular expression, found when computed
ROW = {"s": "x", "bad": "("}


def test_a_run_time_failure_fails_when_computed():
    with pytest.raises(SplError, match="invalid regular expression"):
        value(FAILS, ROW)


@pytest.mark.parametrize("expression, expected", [
    (f'if(s="x", "then", {FAILS})', "then"),
    (f'if(s="y", {FAILS}, "else")', "else"),
    (f'if(isnull(nothing), "then", {FAILS})', "then"),
    (f'case(s="x", "first", {FAILS}, "second")', "first"),
    (f'case(s="y", {FAILS}, s="x", "second", {FAILS}, {FAILS})', "second"),
    (f'case(s="y", {FAILS}, true(), "default")', "default"),
    (f'coalesce(nothing, s, {FAILS})', "x"),
    (f'coalesce("first", {FAILS}, {FAILS})', "first"),
    (f'if(s="y" AND {FAILS}, "a", "b")', "b"),
    (f'if(s="x" OR {FAILS}, "a", "b")', "a"),
    (f'if(s="y" AND {FAILS} OR s="x", "a", "b")', "a"),
    (f'if(s="x" OR {FAILS} AND {FAILS}, "a", "b")', "a"),
])
def test_arguments_not_chosen_are_not_computed(expression, expected):
    assert value(expression, ROW) == expected


@pytest.mark.parametrize("expression", [
    f'if(s="y", "then", {FAILS})',
    f'case(s="y", "first", true(), {FAILS})',
    f'case({FAILS}, "first", true(), "second")',
    f'coalesce(nothing, {FAILS})',
    f'if(s="x" AND {FAILS}, "a", "b")',
    f'if(s="y" OR {FAILS}, "a", "b")',
    f'if(isnull(nothing) AND {FAILS}, "a", "b")',
])
def test_arguments_chosen_are_computed(expression):
    with pytest.raises(SplError, match="invalid regular expression"):
        value(expression, ROW)


@pytest.mark.parametrize("untaken, message", [
    ("nosuch(1)", "unsupported eval function 'nosuch'"),
    ("len()", r"len\(\) takes 1..1 arguments"),
    ("case(1=1)", r"case\(\) takes 2..254 arguments"),
    ("case(1=1, 2, 3)", "condition/value pairs"),
    ('strftime(0, "%K")', "unsupported time format directive '%K'"),
    ('match(s, "(")', "invalid regular expression '\\('"),
    ('replace(s, "[", "x")', "invalid regular expression '\\['"),
    ('mvfind(s, "a{2,1}")', "invalid regular expression 'a"),
])
@pytest.mark.parametrize("template", [
    'if(true(), "a", {})', 'if(false(), {}, "b")', 'case(true(), "a", false(), {})', 'case(true(), "a", {}, "b")',
    'coalesce("a", {})', 'if(false() AND {}, "a", "b")', 'if(true() OR {}, "a", "b")',
])
def test_an_expression_the_engine_cannot_run_is_refused_even_where_it_would_not_be_computed(template, untaken, message):
    with pytest.raises(SplError, match=message):
        plan(parse(f"| eval v={template.format(untaken)}"), ())


@pytest.mark.parametrize("function", ['match(s, "(")', 'replace(s, "(", "x")', 'mvfind(s, "(")'])
def test_a_quoted_pattern_the_engine_cannot_compile_is_refused_when_the_search_is_planned(function):
    with pytest.raises(SplError, match="invalid regular expression '\\(': .* at position 9"):
        plan(parse(f"| eval v={function}"), ())
