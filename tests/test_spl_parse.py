"""The SPL parser: each construct on its own, and every unsupported one named with its position."""
from __future__ import annotations

import re

import pytest

from detpack.spl import SplError, ast, parse


def only(spl: str) -> ast.Command:
    (command,) = parse(spl).commands
    return command


def where_of(spl: str) -> ast.SearchExpr:
    return only(f"| tstats count from datamodel=Endpoint.Processes where {spl}").where


def test_tstats_options_aggregations_datamodel_and_by():
    command = only("| tstats summariesonly=false allow_old_summaries=true fillnull_value=null "
                   "count count(Processes.process) dc(Processes.user) as users values(Processes.process) "
                   "min(_time) as firstTime max(_time) as lastTime from datamodel=Endpoint.Processes "
                   "by Processes.dest Processes.user")
    assert command.options == (("summariesonly", "false"), ("allow_old_summaries", "true"), ("fillnull_value", "null"))
    assert [a.name for a in command.aggregations] == [
        "count", "count(Processes.process)", "users", "values(Processes.process)", "firstTime", "lastTime"]
    assert command.datamodel == "Endpoint.Processes"
    assert command.where is None
    assert command.by == ("Processes.dest", "Processes.user")


def test_tstats_where_compare_operators_and_quoted_values():
    assert where_of('Processes.process_name="scrcons.exe"') == ast.Compare("Processes.process_name", "=", "scrcons.exe", 55)
    assert where_of("Processes.user!=SYSTEM").op == "!="
    assert where_of("Processes.process_id>=4").op == ">="


def test_quoted_values_unescape_backslash_and_quote_only():
    value = where_of(r'Processes.process="C:\\Windows\System32\\x \"y\""').value
    assert value == r'C:\Windows\System32\x "y"'


def test_wildcards_stay_in_the_value():
    assert where_of("Processes.process_name=*scr*.exe").value == "*scr*.exe"


def test_in_list():
    expr = where_of('Processes.process_name IN (scrcons.exe, "wmic.exe")')
    assert isinstance(expr, ast.InList) and expr.values == ("scrcons.exe", "wmic.exe")


def test_implicit_and_explicit_and_or_not_and_parentheses():
    expr = where_of("a=1 AND b=2 c=3")
    assert isinstance(expr, ast.And) and len(expr.items) == 3
    expr = where_of("NOT (a=1 OR b=2)")
    assert isinstance(expr, ast.Not) and isinstance(expr.item, ast.Or)


def test_in_search_or_binds_tighter_than_and():
    expr = where_of("a=1 b=2 OR c=3")
    assert isinstance(expr, ast.And)
    assert isinstance(expr.items[1], ast.Or)


def test_where_stops_at_by():
    command = only("| tstats count from datamodel=Endpoint.Processes where Processes.process_name=x by Processes.dest")
    assert isinstance(command.where, ast.Compare) and command.by == ("Processes.dest",)


def test_search_without_leading_pipe_is_a_search_command():
    command = only("dest=WORKSTATION* NOT user=SYSTEM")
    assert isinstance(command, ast.Search) and isinstance(command.expr, ast.And)


def test_search_star_matches_all():
    assert isinstance(only("| search *").expr, ast.MatchAll)


def test_rename_with_wildcards_and_quotes():
    assert only('| rename "Processes.*" as *, a AS b').pairs == (("Processes.*", "*"), ("a", "b"))


def test_rename_wildcard_counts_must_agree():
    with pytest.raises(SplError, match="wildcards must match"):
        parse("| rename Processes.* as x")


def test_convert_ctime_with_timeformat_and_alias():
    command = only('| convert timeformat="%Y-%m-%dT%H:%M:%S" ctime(firstTime) ctime(lastTime) as last')
    assert command.timeformat == "%Y-%m-%dT%H:%M:%S"
    assert command.conversions == (ast.Conversion("ctime", "firstTime", None), ast.Conversion("ctime", "lastTime", "last"))


def test_convert_default_timeformat():
    assert only("| convert ctime(t)").timeformat == "%m/%d/%Y %H:%M:%S"


def test_eval_assignments_and_precedence():
    command = only("| eval a = 1 + 2 * 3, 'b c' = lower(x) . \"s\", Processes.d = if(x==1, \"y\", null())")
    names = [name for name, _ in command.assignments]
    assert names == ["a", "b c", "Processes.d"]
    total = command.assignments[0][1]
    assert total.op == "+" and total.right.op == "*"
    assert isinstance(command.assignments[2][1], ast.Call) and command.assignments[2][1].name == "if"


def test_where_boolean_precedence_is_not_and_or():
    expr = only("| where a=1 OR b=2 AND NOT c=3").expr
    assert expr.op == "OR" and expr.right.op == "AND" and expr.right.right.op == "NOT"


def test_where_like_and_in_operators():
    assert only('| where x LIKE "a%"').expr.op == "LIKE"
    assert isinstance(only('| where x IN ("a", "b")').expr, ast.InExpr)


def test_stats_table_fields_dedup_sort_head():
    stats = only("| stats count values(x) as xs by a, b")
    assert [a.name for a in stats.aggregations] == ["count", "xs"] and stats.by == ("a", "b")
    assert only("| table a b*, c").fields == ("a", "b*", "c")
    fields = only("| fields - a b")
    assert fields.remove and fields.fields == ("a", "b")
    assert only("| dedup a b").fields == ("a", "b")
    sort = only("| sort 0 -count, +name x")
    assert sort.limit == 0
    assert sort.keys == (ast.SortKey("count", True), ast.SortKey("name", False), ast.SortKey("x", False))
    assert only("| sort - count").keys == (ast.SortKey("count", True),)
    assert only("| sort a").limit == 10000
    assert only("| head 3").count == 3 and only("| head").count == 10


@pytest.mark.parametrize("spl, message", [
    ("| tstats count from datamodel=X | nosuchcommand foo bar", "unsupported command 'nosuchcommand' at position 34"),
    ("| inputlookup", "inputlookup needs a table at position 2"),
    ("| tstats prestats=t count from datamodel=X", "unsupported tstats option 'prestats' at position 9"),
    ("| tstats count from X", "only 'from datamodel=X.Y'"),
    ("| tstats perc95(x) from datamodel=X", "unsupported aggregation 'perc95' at position 9"),
    ("| stats count by", "expected a field after 'by'"),
    ("| search a=1 [search b=2]", "unsupported subsearch '[' at position 13"),
    ('| search a="open', "unterminated quoted string at position 11"),
    ("| search (a=1", "expected ')' to close '('"),
    ("| search a IN (1, 2", "expected ')' to close the IN list"),
    ("| convert dur2sec(x)", "unsupported convert argument 'dur2sec'"),
    ("| dedup 3 a", "unsupported dedup count"),
    ("| dedup keepempty=true a", "expected a field name, found '='"),
    ("| dedup a sortby -_time", "unsupported dedup option 'sortby' at position 10"),
    ("| dedup a SORTBY b", "unsupported dedup option 'SORTBY' at position 10"),
    ("| stats count by _time span=1h", "unsupported BY option 'span' here (bin _time first) at position 23"),
    ("| sort num(a)", "unsupported sort function 'num'"),
    ("| head x>1", "unsupported head argument 'x'"),
    ("| eval = 1", "invalid eval target field"),
    ("| eval a=1 b=2", "expected ',' between eval assignments"),
    ("| where a = ", "expected a value, field or function, found end of command"),
    ("| where a ~ b", "unexpected character '~' in expression at position 10"),
    ("| where 'a = 1", "unterminated quoted string at position 8"),
    ("a=1 | | head", "missing command after '|' at position 6"),
    ("", "empty search"),
])
def test_unsupported_or_broken_spl_is_named_with_its_position(spl, message):
    with pytest.raises(SplError, match=re.escape(message)):
        parse(spl)


def test_error_message_is_one_line():
    with pytest.raises(SplError) as error:
        parse("| tstats count from datamodel=X | nosuchcommand foo bar")
    assert "\n" not in str(error.value) and error.value.position == 34
