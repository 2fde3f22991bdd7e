"""Splunk semantics of the evaluator, each pinned on small inline rows.

Data-model searches (`| tstats ... from datamodel=Endpoint.Processes`) take
unprefixed CIM rows; other searches take event field dicts.
"""
from __future__ import annotations

import weakref

import pytest

from detpack.spl import SplError, output_rows, parse
from detpack.spl.plan import plan

DM = "| tstats count from datamodel=Endpoint.Processes"


def run(spl: str, rows: list[dict]) -> list[dict]:
    return output_rows(plan(parse(spl), {"Endpoint.Processes"}).execute(rows))[0]


def columns(spl: str, rows: list[dict]) -> list[str]:
    return output_rows(plan(parse(spl), {"Endpoint.Processes"}).execute(rows))[1]


def count(where: str, rows: list[dict]) -> int:
    return int(run(f"{DM} where {where}", rows)[0]["count"])


ROWS = [
    {"process_name": "SCRCONS.EXE", "user": "alice"},
    {"process_name": "scrcons.exe"},
    {"process_name": "wmic.exe", "user": "bob"},
]

# --- matching in search / tstats where -----------------------------------------


def test_field_equals_value_is_case_insensitive():
    assert count("Processes.process_name=ScrCons.exe", ROWS) == 2


def test_wildcards():
    assert count("Processes.process_name=*CONS*", ROWS) == 2
    assert count("Processes.process_name=w*.exe", ROWS) == 1
    assert count("Processes.process_name=*", ROWS) == 3


def test_wildcard_does_not_treat_regex_characters_specially():
    assert count("Processes.process_name=scrcons?exe", ROWS) == 0


def test_missing_field_never_equals_anything_even_star():
    assert count("Processes.user=*", ROWS) == 2


def test_not_equal_needs_the_field_but_not_does_not():
    assert count("Processes.user!=alice", ROWS) == 1
    assert count("NOT Processes.user=alice", ROWS) == 2


def test_in_list_and_or_and_parentheses():
    assert count("Processes.process_name IN (wmic.exe, SCRCONS.exe)", ROWS) == 3
    assert count("(Processes.user=alice OR Processes.user=bob) Processes.process_name=w*", ROWS) == 1


def test_search_or_binds_before_implicit_and():
    rows = [{"a": "1", "b": "0", "c": "1"}]
    assert len(run("| search a=0 b=1 OR c=1", rows)) == 0  # a=0 AND (b=1 OR c=1)


def test_numeric_ordering_in_search():
    rows = [{"n": "9"}, {"n": "10"}]
    assert [r["n"] for r in run("| search n>8", rows)] == ["9", "10"]
    assert run("| search n<10", rows) == [{"n": "9"}]


def test_multivalue_matches_when_any_value_matches():
    assert len(run("| search x=b", [{"x": ["a", "B"]}])) == 1


def test_quoted_value_keeps_wildcards_and_backslashes():
    rows = [{"process": r"C:\Windows\System32\wbem\scrcons.exe -Embedding"}]
    assert len(run(r'| search process="C:\\windows\\*\\scrcons.exe *"', rows)) == 1


def test_fields_outside_the_datamodel_are_null_in_tstats():
    assert count("dest=*", [{"dest": "x"}]) == 0

# --- tstats grouping ----------------------------------------------------------------


def test_by_rows_with_nulls_are_dropped_without_fillnull():
    rows = run(f"{DM} by Processes.process_name Processes.user", ROWS)
    assert [(r["Processes.process_name"], r["Processes.user"]) for r in rows] == [
        ("SCRCONS.EXE", "alice"), ("wmic.exe", "bob")]


def test_fillnull_value_fills_by_fields():
    rows = run("| tstats fillnull_value=null count from datamodel=Endpoint.Processes "
               "by Processes.process_name Processes.user", ROWS)
    assert ("scrcons.exe", "null") in [(r["Processes.process_name"], r["Processes.user"]) for r in rows]


def test_groups_are_sorted_lexicographically_by_the_by_fields():
    rows = [{"process_id": v} for v in ("9", "10", "b", "B", "a")]
    out = run(f"{DM} by Processes.process_id", rows)
    assert [r["Processes.process_id"] for r in out] == ["10", "9", "B", "a", "b"]


def test_by_values_are_case_sensitive_groups():
    out = run(f"{DM} by Processes.process_name", ROWS)
    assert [r["count"] for r in out] == ["1", "1", "1"]


def test_multivalue_by_field_splits_into_groups():
    out = run(f"{DM} by Processes.x", [{"x": ["a", "b"]}])
    assert [r["Processes.x"] for r in out] == ["a", "b"]


def test_count_without_by_is_one_row_even_when_nothing_matches():
    assert run(f"{DM} where Processes.process_name=none", ROWS) == [{"count": "0"}]


def test_columns_are_by_fields_then_aggregations():
    spl = ("| tstats count max(_time) as lastTime from datamodel=Endpoint.Processes "
           "by Processes.process_name")
    assert columns(spl, [{"process_name": "a", "_time": 1.0}]) == ["Processes.process_name", "count", "lastTime"]


def test_aggregations():
    rows = [
        {"dest": "h", "user": "b", "process": "p1", "_time": 1599011050.608},
        {"dest": "h", "user": "a", "process": "p2", "_time": 1599011051.0},
        {"dest": "h", "user": "a", "_time": 1599011049.0},
    ]
    spl = ("| tstats count count(Processes.process) dc(Processes.user) values(Processes.user) as users "
           "min(_time) as firstTime max(_time) as lastTime from datamodel=Endpoint.Processes by Processes.dest")
    assert run(spl, rows) == [{
        "Processes.dest": "h", "count": "3", "count(Processes.process)": "2",
        "dc(Processes.user)": "2", "users": ["a", "b"],
        "firstTime": "1599011049", "lastTime": "1599011051",
    }]


def test_epoch_with_subseconds_prints_up_to_six_decimals():
    out = run("| tstats min(_time) as t from datamodel=Endpoint.Processes", [{"_time": 1599011050.608}])
    assert out[0]["t"] == "1599011050.608"


def test_values_with_one_value_is_a_single_value():
    out = run("| stats values(x) as xs", [{"x": "a"}, {"x": "a"}])
    assert out == [{"xs": "a"}]


def test_min_max_prefer_numbers_then_text():
    rows = [{"v": "b"}, {"v": "10"}, {"v": "9"}]
    assert run("| stats min(v) as lo max(v) as hi", rows) == [{"lo": "9", "hi": "10"}]
    assert run("| stats min(v) as lo", [{"v": "b"}, {"v": "a"}]) == [{"lo": "a"}]

# --- pipeline commands -----------------------------------------------------------------


def test_rename_wildcard_strips_the_prefix_in_place():
    out = run(f"{DM} by Processes.process_name | rename Processes.* as *", ROWS[:1])
    assert out == [{"process_name": "SCRCONS.EXE", "count": "1"}]


def test_rename_wildcard_renames_alike_past_the_names_it_keeps(monkeypatch):
    from detpack.spl import evaluate
    monkeypatch.setattr(evaluate, "RENAMES_KEPT", 2)
    rows = [{f"P.f{i}": str(i), "other": "x"} for i in range(5)] * 2
    assert run("| rename P.* as new_*", rows) == [{f"new_f{i}": str(i), "other": "x"} for i in range(5)] * 2


def test_rename_overwrites_an_existing_field():
    assert run("| rename a as b", [{"b": "old", "a": "new"}]) == [{"b": "new"}]


def test_ctime_formats_numbers_in_utc_and_leaves_text():
    rows = [{"t": 1599011050.608, "u": "soon"}]
    out = run('| convert timeformat="%Y-%m-%dT%H:%M:%S" ctime(t) ctime(u) ctime(t) as copy', rows)
    assert out == [{"t": "2020-09-02T01:44:10", "u": "soon", "copy": "2020-09-02T01:44:10"}]


def test_search_star_passes_everything():
    assert len(run("| search *", ROWS)) == 3


def test_where_is_case_sensitive_and_typed():
    rows = [{"n": "10", "s": "Abc"}, {"n": "9", "s": "abc"}]
    assert run('| where s="abc"', rows) == [rows[1]]
    assert run("| where n > 9", rows) == [rows[0]]


def test_where_with_null_is_not_true():
    assert run("| where x!=1", [{"y": "1"}]) == []
    assert run("| where NOT x=1", [{"y": "1"}]) == []


def test_eval_arithmetic_concatenation_and_null_removes_the_field():
    out = run('| eval a=n*2+1, b=s."!", c=n/4, d=null(), e=s+"x", n=n-1', [{"n": "10", "s": "hi", "d": "x"}])
    assert out == [{"n": "9", "s": "hi", "a": "21", "b": "hi!", "c": "2.5", "e": "hix"}]


def test_eval_sees_earlier_assignments():
    assert run("| eval a=1, b=a+1", [{}]) == [{"a": "1", "b": "2"}]


@pytest.mark.parametrize("expression, expected", [
    ("lower(s)", "mixed"),
    ("upper(s)", "MIXED"),
    ('if(s="MiXeD", "yes", "no")', "yes"),
    ('case(len(s)>9, "long", len(s)>3, "mid")', "mid"),
    ('if(like(s, "Mi%D"), 1, 0)', "1"),
    ('if(like(s, "mi%"), 1, 0)', "0"),
    ('if(match(s, "^M.X"), 1, 0)', "1"),
    ("coalesce(nothing, s)", "MiXeD"),
    ("len(s)", "5"),
    ("substr(s, 2, 3)", "iXe"),
    ("substr(s, -2)", "eD"),
    ('replace(s, "X(e)", "y\\\\1")', "MiyeD"),
    ("mvcount(mv)", "2"),
    ("mvcount(s)", "1"),
    ('if(isnull(nothing), "null", "set")', "null"),
    ('if(isnotnull(s), "set", "null")', "set"),
    ('if(s IN ("a", "MiXeD"), 1, 0)', "1"),
])
def test_eval_functions(expression, expected):
    out = run(f"| eval r={expression}", [{"s": "MiXeD", "mv": ["a", "b"]}])
    assert out[0]["r"] == expected


def test_case_with_no_true_branch_is_null():
    assert "r" not in run('| eval r=case(1=2, "x")', [{}])[0]


def test_eval_boolean_result_is_an_error():
    with pytest.raises(SplError, match="boolean"):
        run("| eval r=1=1", [{}])


@pytest.mark.parametrize("spl, message", [
    ("| eval r=frobnicate(1)", "unsupported eval function 'frobnicate' at position 9"),
    ("| eval r=if(1, 2)", r"if\(\) takes 3..3 arguments, got 2"),
    ("| eval r=case(1=1)", r"case\(\) takes 2..254 arguments"),
    ("| eval r=case(1=1, 2, 3)", "condition/value pairs"),
    ("| convert timeformat=\"%q\" ctime(t)", "unsupported time format directive '%q'"),
    ("| head 1 | tstats count from datamodel=Endpoint.Processes", "tstats must be the first command"),
    ("| tstats count from datamodel=Network_Traffic.All_Traffic", "unknown data model 'Network_Traffic.All_Traffic'"),
    ("| tstats summariesonly=maybe count from datamodel=Endpoint.Processes", "summariesonly must be true or false"),
])
def test_planning_errors(spl, message):
    with pytest.raises(SplError, match=message):
        plan(parse(spl), {"Endpoint.Processes"})


def test_invalid_regex_in_match_is_an_spl_error():
    with pytest.raises(SplError, match="invalid regular expression"):
        run('| where match(s, "(")', [{"s": "x"}])


def test_table_fields_dedup_sort_head():
    rows = [{"a": "2", "b": "x", "c": "1"}, {"a": "10", "b": "y"}, {"a": "2", "b": "z"}, {"b": "w"}]
    assert run("| table b a", rows[:1]) == [{"b": "x", "a": "2"}]
    assert run("| table c*, a", rows[:1]) == [{"c": "1", "a": "2"}]
    assert run("| fields - a", rows[:1]) == [{"b": "x", "c": "1"}]
    assert [r["b"] for r in run("| dedup a", rows)] == ["x", "y"]
    assert [r["b"] for r in run("| sort - a", rows)] == ["y", "x", "z", "w"]
    assert [r["b"] for r in run("| sort a, -b", rows)] == ["z", "x", "y", "w"]
    assert [r["b"] for r in run("| sort b | head 2", rows)] == ["w", "x"]


def test_sort_default_limit_is_ten_thousand():
    rows = [{"n": str(i)} for i in range(10005)]
    assert len(run("| sort n", rows)) == 10000
    assert len(run("| sort 0 n", rows)) == 10005


def test_stats_drops_null_groups_and_sorts():
    rows = [{"k": "b"}, {"k": "a"}, {"x": "1"}, {"k": "b"}]
    assert run("| stats count by k", rows) == [{"k": "a", "count": "1"}, {"k": "b", "count": "2"}]


class Row(dict):
    """A row that can be watched with a weak reference (plain dicts cannot)."""


def test_tstats_streams_without_keeping_rows():
    live = set()  # ids of the rows not yet freed

    def rows_that_must_not_be_kept():
        for i in range(20_000):
            assert len(live) <= 2, f"{len(live)} rows kept alive by tstats"
            row = Row(process_name="x", _time=float(i))
            live.add(i)
            weakref.finalize(row, live.discard, i)
            yield row
            del row

    out = run("| tstats count max(_time) as last from datamodel=Endpoint.Processes where Processes.process_name=x "
              "by Processes.process_name", rows_that_must_not_be_kept())
    assert out == [{"Processes.process_name": "x", "count": "20000", "last": "19999"}]


@pytest.mark.parametrize("a, b, same", [
    ("0012", "12", True), ("12", "13", False), ("1.0", "1", True), ("4688", "4688", True),
    ("12345678901234567890", "12345678901234567891", True),  # beyond 18 digits: compared as doubles
    ("\u0661\u0662", "12", True), ("abc", "ABC", False), ("x", "x", True),
    (" 12", "12", True), ("+1", "1", True), (".5", "0.5", True), ("1e3", "1000", True), ("", "0", False),
    ("C:\\a.exe", "1", False), ("0x10", "16", False),
])
def test_eval_equality_of_texts(a, b, same):
    from detpack.spl.evaluate import equals

    assert equals(a, b) is same


# --- comparisons with a quoted text are equals() with the text's facts learnt once -------------
from hypothesis import given, settings, strategies as st  # noqa: E402

from detpack.spl import ast  # noqa: E402
from detpack.spl.evaluate import compile_expr, equals, logical_not  # noqa: E402

TEXTS = st.sampled_from(["", "0", "4688", "04688", "+4688", " 4688", "4688.0", "4.688e3", "1e3", "٤", "x", "X",
                         "-", ".", "0x10", "16", "a b", "99999999999999999999", "4688 "])
VALUES = st.one_of(st.none(), TEXTS, st.text(max_size=6), st.integers(-5, 5000), st.floats(allow_nan=False),
                   st.lists(TEXTS, min_size=1, max_size=3))


@settings(max_examples=400, deadline=None)
@given(value=VALUES, text=TEXTS, others=st.lists(TEXTS, max_size=2))
def test_a_comparison_with_quoted_text_is_equals(value, text, others):
    field, literal = ast.FieldRef("f"), ast.Literal(text)
    row = {"f": value}
    assert compile_expr(ast.BinOp("=", field, literal, 0))(row) == equals(value, text)
    assert compile_expr(ast.BinOp("!=", field, literal, 0))(row) == logical_not(equals(value, text))
    items = [literal, *(ast.Literal(o) for o in others)]
    expected = [equals(value, i.value) for i in items]
    got = compile_expr(ast.InExpr(field, tuple(items), 0))(row)
    assert got == (True if True in expected else None if None in expected else False)


BY_VALUES = st.one_of(st.none(), st.sampled_from(["", "a", "B", " ", "null"]), st.integers(-2, 2), st.floats(0, 2),
                      st.lists(st.sampled_from(["", "a", "b"]), max_size=3))


@settings(max_examples=300, deadline=None)
@given(values=st.lists(BY_VALUES, min_size=1, max_size=4), fill=st.sampled_from([None, "null"]))
def test_group_keys_of_a_plain_row_are_those_of_the_general_path(values, fill):
    from detpack.spl.evaluate import group_keys
    fields = [f"f{i}" for i in range(len(values))]
    row = {f: v for f, v in zip(fields, values) if v is not None}
    assert group_keys(row, fields, fill) == group_keys(row, fields, fill, [None] * len(fields))


EXTREME_VALUES = st.one_of(st.integers(-3, 3), st.floats(-3, 3), st.sampled_from(["1", "a", "", "2.5", " 2"]),
                           st.lists(st.one_of(st.integers(-3, 3), st.sampled_from(["1", "b"])), max_size=2))


@settings(max_examples=300, deadline=None)
@given(values=st.lists(EXTREME_VALUES, min_size=1, max_size=6), func=st.sampled_from(["min", "max"]))
def test_min_and_max_keep_what_pick_keeps(values, func):
    """The shortcut for two numbers gives what pick() gives value by value."""
    from detpack.spl.evaluate import Aggregate, pick
    from detpack.spl.functions import values_of
    aggregate, best = Aggregate(func), None
    for value in values:
        aggregate.add(value)
        for v in values_of(value):
            best = pick(best, v, func)
    assert (aggregate.result(), type(aggregate.result())) == (best, type(best))
