"""One SPL construct per test, each pinned on small inline rows with the behaviour its
Search Reference page documents (cited in the engine beside the code)."""
from __future__ import annotations

import re

import pytest

from detpack.spl import SplError, output_rows, parse
from detpack.spl.plan import plan

DM = "Endpoint.Processes"


def run(spl: str, rows: list[dict], inputs=None) -> list[dict]:
    return output_rows(plan(parse(spl), {DM}).execute(rows, inputs))[0]


def fails(spl: str, message: str) -> None:
    with pytest.raises(SplError, match=re.escape(message)):
        plan(parse(spl), {DM})


# --- search: free text, operators, a leading "search" ----------------------------------

EVENTS = [
    {"_raw": "user alice logged on from HOST-1", "EventCode": "4624"},
    {"_raw": "user bob logged off", "EventCode": "4634"},
    {"_raw": "alicette ran a shell", "EventCode": "1"},
]


def codes(spl: str) -> list[str]:
    return [r["EventCode"] for r in run(spl, EVENTS)]


def test_free_text_term_matches_a_whole_word_case_insensitively():
    assert codes("| search ALICE") == ["4624"]


def test_free_text_term_with_a_wildcard():
    assert codes("| search alice*") == ["4624", "1"]


def test_quoted_phrase_matches_its_words_in_order():
    assert codes('| search "logged off"') == ["4634"]
    assert codes('| search "off logged"') == []


def test_lower_case_and_or_not_are_search_terms_not_operators():
    assert codes("| search user and bob") == []  # the raw text must contain "and"
    assert codes("| search user AND bob") == ["4634"]
    assert codes("| search alice or bob") == []
    assert codes("| search alice OR bob") == ["4624", "4634"]
    assert codes("| search not bob") == []


def test_free_text_combines_with_field_comparisons():
    assert codes("| search user EventCode=4634") == ["4634"]


def test_a_search_may_start_with_the_word_search():
    assert codes("search EventCode=1") == ["1"]
    assert codes("SEARCH EventCode=1 | head 1") == ["1"]


def test_quoted_field_name_with_in():
    rows = [{"result.status": "FAILED"}, {"result.status": "ok"}]
    assert run('| search "result.status" IN ("fail*", "x")', rows) == [{"result.status": "FAILED"}]


def test_in_list_tolerates_missing_and_trailing_commas():
    assert codes('| search EventCode IN ("1" "4624",)') == ["4624", "1"]


# Search Manual, "Use CASE() and TERM() to match phrases".
DIRECTIVE_EVENTS = [
    {"_raw": "from 10.0.0.1 - Error", "EventCode": "1"},
    {"_raw": "from 10.0.0.12 - error", "EventCode": "2"},
    {"_raw": "x=110.0.0.1,ERROR", "EventCode": "3"},
]


def directive_codes(spl: str) -> list[str]:
    return [r["EventCode"] for r in run(spl, DIRECTIVE_EVENTS)]


def test_case_directive_matches_a_term_case_sensitively():
    assert directive_codes("| search CASE(Error)") == ["1"]


def test_case_directive_on_a_field_value():
    assert directive_codes("| search EventCode=CASE(1) OR x=CASE(error)") == ["1"]


def test_term_directive_matches_a_whole_term_between_major_breakers():
    assert directive_codes("| search TERM(10.0.0.1)") == ["1"]


def test_term_directive_with_a_major_breaker_inside_is_refused():
    with pytest.raises(SplError, match="TERM\\(\\) cannot hold the major breaker ' '"):
        parse('| search TERM("a b")')


def test_term_directive_on_a_field_value_is_refused_by_name():
    with pytest.raises(SplError, match="unsupported directive 'TERM' in a field value"):
        parse("| search x=TERM(a.b)")


def test_free_text_in_tstats_where_is_refused_with_its_position():
    fails(f"| tstats count from datamodel={DM} where alice", "unsupported free-text term 'alice' in tstats")


def test_thousands_of_nested_parentheses_are_one_error_not_a_crash():
    deep = "(" * 5000 + "a=1" + ")" * 5000
    with pytest.raises(SplError, match=r"parentheses nested deeper than 50 at position \d+"):
        parse(f"| search {deep}")
    with pytest.raises(SplError, match=r"parentheses nested deeper than 50"):
        parse(f"| where {deep.replace('a=1', '1')}")
    with pytest.raises(SplError, match=r"parentheses nested deeper than 50"):
        parse("| where " + "NOT " * 5000 + "true()")


# --- tstats span -------------------------------------------------------------------------

TIMED = [
    {"_time": "3600", "dest": "a"},
    {"_time": "3660", "dest": "a"},
    {"_time": "7300", "dest": "a"},
    {"_time": "7300", "dest": "b"},
]


def test_tstats_span_groups_time_into_bins():
    spl = f"| tstats count from datamodel={DM} by _time, Processes.dest span=1h"
    assert run(spl, TIMED) == [
        {"_time": "3600", "Processes.dest": "a", "count": "2"},
        {"_time": "7200", "Processes.dest": "a", "count": "1"},
        {"_time": "7200", "Processes.dest": "b", "count": "1"},
    ]


def test_tstats_span_units():
    spl = f"| tstats count from datamodel={DM} by _time span=10m"
    assert [r["_time"] for r in run(spl, TIMED)] == ["3600", "7200"]


def test_span_needs_time_in_the_by_clause():
    with pytest.raises(SplError, match="span needs _time in the BY clause"):
        parse(f"| tstats count from datamodel={DM} by Processes.dest span=1h")


@pytest.mark.parametrize("span", ["1mon", "0s", "5x", "h"])
def test_unsupported_spans_are_named(span):
    with pytest.raises(SplError, match=f"unsupported span '{span}'"):
        parse(f"| tstats count from datamodel={DM} by _time span={span}")


# --- bin / bucket ----------------------------------------------------------------------


def test_bin_floors_time_to_the_span():
    assert [r["_time"] for r in run("| bin _time span=1h", TIMED)] == ["3600", "3600", "7200", "7200"]


def test_bucket_is_bin():
    assert run("| bucket span=5m _time as t | table t", TIMED[:1]) == [{"t": "3600"}]


def test_bin_of_a_number_is_its_range():
    assert run("| bin size span=10", [{"size": "25"}]) == [{"size": "20-30"}]


def test_bin_without_span_is_refused():
    with pytest.raises(SplError, match=re.escape("bin without span= (automatic bins) is not supported")):
        parse("| bin _time")
    with pytest.raises(SplError, match="unsupported bin option 'bins'"):
        parse("| bin bins=10 _time")


# --- rex ----------------------------------------------------------------------------


def test_rex_named_groups_become_fields():
    rows = run('| rex field=cmd "(?<exe>\\w+)\\.exe (?<arg>\\S+)"', [{"cmd": "run cmd.exe /c"}])
    assert rows == [{"cmd": "run cmd.exe /c", "exe": "cmd", "arg": "/c"}]


def test_rex_reads_raw_by_default_and_leaves_fields_when_nothing_matches():
    rows = run('| rex "id=(?<id>\\d+)"', [{"_raw": "no id", "id": "7"}])
    assert rows == [{"_raw": "no id", "id": "7"}]


def test_rex_max_match_makes_multivalue_fields():
    rows = run('| rex max_match=0 field=x "(?<n>\\d)"', [{"x": "a1b2c3"}])
    assert rows[0]["n"] == ["1", "2", "3"]
    rows = run('| rex max_match=2 field=x "(?<n>\\d)"', [{"x": "a1b2c3"}])
    assert rows[0]["n"] == ["1", "2"]


def test_rex_python_style_group_names_and_pcre_code_points():
    rows = run('| rex field=x "(?P<a>.)\\x{202E}"', [{"x": "z\u202e"}])
    assert rows[0]["a"] == "z"


def test_rex_sed_mode_replaces_in_the_field():
    assert run('| rex field=x mode=sed "s/a(b)/<\\1>/g"', [{"x": "abab"}]) == [{"x": "<b><b>"}]
    assert run('| rex field=x mode=sed "s/a/-/"', [{"x": "aa"}]) == [{"x": "-a"}]


def test_rex_sed_number_flag_replaces_only_that_occurrence():
    assert run('| rex field=x mode=sed "s/a/-/2"', [{"x": "aaa"}]) == [{"x": "a-a"}]


def test_rex_sed_zero_flag_is_refused_by_name():
    with pytest.raises(SplError, match="unsupported sed flag '0'"):
        parse('| rex field=x mode=sed "s/a/-/0"')


def test_rex_errors_are_named():
    with pytest.raises(SplError, match="rex needs a named group"):
        parse('| rex field=x "\\d+"')
    with pytest.raises(SplError, match="invalid regular expression"):
        parse('| rex "(?<a>"')
    with pytest.raises(SplError, match="unsupported rex option 'offset_field'"):
        parse('| rex offset_field=o "(?<a>.)"')


# --- stats functions -----------------------------------------------------------------

STATS_ROWS = [
    {"_time": "20", "u": "a", "n": "4", "cmd": "second"},
    {"_time": "10", "u": "a", "n": "2", "cmd": "first"},
    {"_time": "30", "u": "b", "n": "x", "cmd": "third"},
]


def stat(function: str) -> str | list[str]:
    return run(f"| stats {function} as v", STATS_ROWS)[0]["v"]


def test_sum_adds_the_numeric_values():
    assert stat("sum(n)") == "6"


def test_avg_and_mean():
    assert stat("avg(n)") == "3" and stat("mean(n)") == "3"


def test_stdev_is_the_sample_standard_deviation():
    assert stat("stdev(n)") == "1.414214"


def test_range():
    assert stat("range(n)") == "2"


def test_earliest_and_latest_follow_time_not_order():
    assert stat("earliest(cmd)") == "first"
    assert stat("latest(cmd)") == "third"


def test_earliest_of_time_in_tstats():
    spl = f"| tstats earliest(_time) as e latest(_time) as l from datamodel={DM}"
    assert run(spl, TIMED) == [{"e": "3600", "l": "7300"}]


def test_first_and_last_follow_event_order_newest_first():
    assert stat("first(cmd)") == "third" and stat("last(cmd)") == "first"


def test_list_keeps_order_and_duplicates():
    assert stat("list(u)") == ["b", "a", "a"]


def test_distinct_count_is_dc():
    assert stat("distinct_count(u)") == "2"


def test_count_of_an_eval_expression_counts_where_true():
    assert run('| stats count(eval(u="a")) as a_rows', STATS_ROWS) == [{"a_rows": "2"}]


def test_values_of_an_eval_expression():
    spl = '| stats values(eval(if(u="a", cmd, null()))) as cmds'
    assert run(spl, STATS_ROWS) == [{"cmds": ["first", "second"]}]


def test_an_eval_expression_must_be_renamed():
    with pytest.raises(SplError, match=re.escape("count(eval(...)) must be renamed with AS")):
        parse('| stats count(eval(u="a"))')


def test_tstats_takes_no_eval_expression():
    fails(f"| tstats count(eval(x=1)) as c from datamodel={DM}", "tstats takes no eval expressions")


def test_stats_by_list_with_commas():
    assert run("| stats count by u, cmd", STATS_ROWS[:1]) == [{"u": "a", "cmd": "second", "count": "1"}]


# --- eventstats ------------------------------------------------------------------------


def test_eventstats_adds_group_statistics_to_every_row():
    rows = run("| eventstats count as c by u | table u c", STATS_ROWS)
    assert rows == [{"u": "a", "c": "2"}, {"u": "a", "c": "2"}, {"u": "b", "c": "1"}]


def test_eventstats_leaves_rows_without_the_by_field():
    assert run("| eventstats count as c by missing", [{"u": "a"}]) == [{"u": "a"}]


# --- fillnull ----------------------------------------------------------------------------


def test_fillnull_fills_every_field_of_the_results_with_zero():
    rows = run("| fillnull", [{"a": "1"}, {"b": "2"}])
    assert rows == [{"a": "1", "b": "0"}, {"a": "0", "b": "2"}]


def test_fillnull_value_and_field_list():
    rows = run("| fillnull value=NULL a c", [{"b": "2"}])
    assert rows == [{"a": "NULL", "c": "NULL", "b": "2"}]


# --- spath ---------------------------------------------------------------------------------

JSON = '{"user": {"name": "bob"}, "ips": ["1.1.1.1", "2.2.2.2"], "ok": true, "n": 3}'


def test_spath_extracts_every_leaf_by_its_path():
    row = run("| spath", [{"_raw": JSON}])[0]
    assert row["user.name"] == "bob" and row["ips{}"] == ["1.1.1.1", "2.2.2.2"]
    assert row["ok"] == "true" and row["n"] == "3"


def test_spath_path_and_output():
    assert run("| spath output=who path=user.name | table who", [{"_raw": JSON}]) == [{"who": "bob"}]
    assert run("| spath input=j ips{2} | table ips{2}", [{"j": JSON}]) == [{"ips{2}": "2.2.2.2"}]


def test_spath_on_text_that_is_not_json_extracts_nothing():
    assert run("| spath", [{"_raw": "plain text"}]) == [{"_raw": "plain text"}]


def test_spath_refuses_xml_by_name():
    with pytest.raises(SplError, match="spath: XML input is not supported"):
        run("| spath", [{"_raw": "<a>1</a>"}])


# --- foreach ---------------------------------------------------------------------------


def test_foreach_runs_its_eval_per_matching_field():
    rows = run("| foreach n_* [eval <<FIELD>>=<<FIELD>>*10, total=total+<<FIELD>>]",
               [{"n_a": "1", "n_b": "2", "total": "0", "m": "5"}])
    assert rows == [{"n_a": "10", "n_b": "20", "total": "30", "m": "5"}]


def test_foreach_matchstr_is_what_the_wildcard_matched():
    assert run('| foreach x_* [eval y_<<MATCHSTR>>="<<MATCHSTR>>"]', [{"x_q": "1"}])[0]["y_q"] == "q"


def test_foreach_accepts_only_eval():
    fails("| foreach a* [where a>1]", "foreach supports only eval in its [subsearch]")


# --- regex -------------------------------------------------------------------------------


def test_regex_keeps_matching_results():
    rows = [{"f": "evil.exe"}, {"f": "good.dll"}]
    assert run('| regex f="\\.exe$"', rows) == [{"f": "evil.exe"}]
    assert run('| regex f!="\\.exe$"', rows) == [{"f": "good.dll"}]


def test_regex_reads_raw_by_default():
    assert codes('| regex "HOST-\\d"') == ["4624"]


# --- mvexpand / makemv --------------------------------------------------------------------


def test_mvexpand_makes_one_row_per_value():
    assert run("| mvexpand v", [{"v": ["1", "2"], "k": "x"}]) == [{"v": "1", "k": "x"}, {"v": "2", "k": "x"}]
    assert run("| mvexpand v limit=1", [{"v": ["1", "2"]}]) == [{"v": "1"}]


def test_makemv_splits_on_its_delimiter():
    assert run('| makemv delim="," v', [{"v": "a,b,,c"}]) == [{"v": ["a", "b", "c"]}]
    assert run("| makemv v", [{"v": "a b"}]) == [{"v": ["a", "b"]}]
    assert run('| makemv tokenizer="(\\d)" v', [{"v": "a1b2"}]) == [{"v": ["1", "2"]}]


# --- join ----------------------------------------------------------------------------------


def test_join_inner_overwrites_with_the_subsearch_fields():
    rows = [{"k": "1", "a": "x"}, {"k": "2", "a": "y"}]
    sub = [{"k": "1", "a": "sub", "b": "z"}]
    result = run("| join k [| search k=* | eval b=b]", rows, inputs=lambda datamodel: sub)
    assert result == [{"k": "1", "a": "sub", "b": "z"}]


def test_join_left_keeps_unmatched_rows_and_max_zero_takes_every_match():
    rows = [{"k": "1"}, {"k": "2"}]
    sub = [{"k": "1", "b": "p"}, {"k": "1", "b": "q"}]
    result = run("| join type=left max=0 k [| search k=*]", rows, inputs=lambda datamodel: sub)
    assert result == [{"k": "1", "b": "p"}, {"k": "1", "b": "q"}, {"k": "2"}]


def test_join_subsearch_reads_its_own_data_model():
    asked = []
    spl = f"| search a=1 | join dest [| tstats count from datamodel={DM} by Processes.dest | rename Processes.dest as dest]"

    def inputs(datamodel):
        asked.append(datamodel)
        return [{"dest": "h"}]

    assert run(spl, [{"a": "1", "dest": "h"}], inputs) == [{"a": "1", "dest": "h", "count": "1"}]
    assert asked == [DM]


def test_join_without_rows_for_its_subsearch_says_so():
    with pytest.raises(SplError, match="join: the caller gave no rows for the subsearch"):
        run("| join k [| search k=1]", [{"k": "1"}])


def test_join_errors_are_named():
    with pytest.raises(SplError, match=re.escape("join needs a [subsearch]")):
        parse("| join k")
    with pytest.raises(SplError, match="unsupported join type 'full'"):
        parse("| join type=full k [| search a=1]")
    with pytest.raises(SplError, match="unsupported command 'nosuch' at position 12"):
        parse("| join k [| nosuch]")


# --- convert ------------------------------------------------------------------------------


def test_convert_ctime_of_a_wildcard_converts_every_matching_field():
    rows = run("| convert ctime(*Time)", [{"firstTime": "0", "lastTime": "86400", "other": "0"}])
    assert rows == [{"firstTime": "01/01/1970 00:00:00", "lastTime": "01/02/1970 00:00:00", "other": "0"}]


def test_convert_ctime_of_a_wildcard_with_as():
    rows = run("| convert ctime(*Time) as *_text", [{"firstTime": "0"}])
    assert rows == [{"firstTime": "0", "first_text": "01/01/1970 00:00:00"}]


@pytest.mark.parametrize("value", ["1e20", "-1e20", "inf", "nan"])
def test_convert_ctime_of_a_time_no_calendar_holds_leaves_the_value(value):
    assert run("| convert ctime(t)", [{"t": value}]) == [{"t": value}]


# --- head ------------------------------------------------------------------------------------


def test_head_with_a_huge_count_returns_everything():
    assert len(run("| head 99999999999999999999999999", EVENTS)) == 3


# --- xmlkv / fromjson / addtotals / replace ---------------------------------------------------


def test_xmlkv_turns_text_elements_into_fields():
    rows = run("| xmlkv Message", [{"Message": "<Data><User>bob</User><Id a='1'>7</Id></Data>"}])
    assert rows[0]["User"] == "bob" and rows[0]["Id"] == "7" and "Data" not in rows[0]


def test_xmlkv_reads_raw_by_default():
    assert run("| xmlkv | table k", [{"_raw": "<k>v</k>"}]) == [{"k": "v"}]


def test_fromjson_expands_the_top_level_keys():
    rows = run("| fromjson Data prefix=d_", [{"Data": '{"a": "x", "b": [1, 2], "c": {"d": 1}}'}])
    assert {k: v for k, v in rows[0].items() if k != "Data"} == {"d_a": "x", "d_b": ["1", "2"], "d_c": '{"d":1}'}


def test_fromjson_leaves_text_that_is_not_a_json_object():
    assert run("| fromjson Data", [{"Data": "[1]"}]) == [{"Data": "[1]"}]


def test_addtotals_sums_numeric_fields_into_total():
    assert run("| addtotals", [{"a": "1", "b": "2.5", "c": "x"}])[0]["Total"] == "3.5"


def test_addtotals_fieldname_and_field_list_with_commas():
    rows = run("| addtotals fieldname=Score a, b*", [{"a": "1", "b1": "1", "b2": "1", "c": "5"}])
    assert rows[0]["Score"] == "3"


def test_addtotals_column_totals_are_refused():
    with pytest.raises(SplError, match="unsupported addtotals option 'col=t'"):
        parse("| addtotals col=t")


def test_replace_whole_values_with_wildcards_in_listed_fields():
    rows = run('| replace "::ffff:*" with * in src', [{"src": "::ffff:10.0.0.1", "dest": "::ffff:1"}])
    assert rows == [{"src": "10.0.0.1", "dest": "::ffff:1"}]


def test_replace_the_first_matching_pair_wins_in_every_field():
    rows = run('| replace "%%1" with "Added", "%%2" with "Deleted"', [{"a": "%%2", "b": "%%1", "c": "x%%1"}])
    assert rows == [{"a": "Deleted", "b": "Added", "c": "x%%1"}]


def test_a_stats_name_may_carry_parentheses():
    assert run("| stats values(u) as u(all) count", STATS_ROWS) == [{"u(all)": ["a", "b"], "count": "3"}]


def test_a_plan_names_every_input_its_subsearches_read():
    spl = f"| search a=1 | join dest [| tstats count from datamodel={DM} by Processes.dest]"
    assert plan(parse(spl), {DM}).datamodels() == {None, DM}
    assert plan(parse(f"| tstats count from datamodel={DM}"), {DM}).datamodels() == {DM}


def test_spath_path_errors_are_named_with_the_position():
    fails('| spath path="a{x}"', "unsupported spath path 'a{x}' at position 2")


# --- stats over wildcard fields -------------------------------------------------------

WIDE_ROWS = [{"u": "a", "tcp.in": "1", "tcp.out": "3", "_time": "5"}, {"u": "a", "tcp.in": "3"}, {"u": "b", "x": "y"}]


def test_stats_wildcard_field_renamed_with_its_wildcard():
    assert run("| stats values(*) as * by u", WIDE_ROWS) == [
        {"u": "a", "tcp.in": ["1", "3"], "tcp.out": "3"}, {"u": "b", "x": "y"}]


def test_stats_wildcard_field_without_as_names_each_column_after_its_field():
    assert run("| stats avg(tcp.*)", WIDE_ROWS) == [{"avg(tcp.in)": "2", "avg(tcp.out)": "3"}]


def test_stats_wildcard_as_with_a_prefix():
    assert run("| stats count(tcp.*) as n_*", WIDE_ROWS) == [{"n_in": "2", "n_out": "1"}]


def test_stats_wildcard_as_without_a_wildcard_is_refused():
    with pytest.raises(SplError, match=re.escape("'values(*) as all' needs as many wildcards in the AS name")):
        parse("| stats values(*) as all")


def test_tstats_wildcard_field_is_refused_by_name():
    fails(f"| tstats values(Processes.*) from datamodel={DM}", "unsupported wildcard field 'Processes.*' in tstats")


# --- sort: a final desc, limit= --------------------------------------------------------

SORT_ROWS = [{"n": "2", "m": "a"}, {"n": "10", "m": "b"}, {"n": "1", "m": "c"}]


def test_sort_final_desc_reverses_the_order():
    assert [r["n"] for r in run("| sort n desc", SORT_ROWS)] == ["10", "2", "1"]


def test_sort_final_d_reverses_the_order():
    assert [r["n"] for r in run("| sort n d", SORT_ROWS)] == ["10", "2", "1"]


def test_sort_final_desc_reverses_a_descending_key_too():
    assert [r["n"] for r in run("| sort -n desc", SORT_ROWS)] == ["1", "2", "10"]


def test_sort_limit_option_keeps_that_many():
    assert [r["n"] for r in run("| sort limit=2 n", SORT_ROWS)] == ["1", "2"]


def test_sort_count_and_limit_together_are_refused():
    with pytest.raises(SplError, match="sort takes a count or limit=, not both"):
        parse("| sort 1 limit=2 n")


# --- event order: newest first ---------------------------------------------------------
# Splunk returns events newest first; first() is the most recent value seen.

TIMED_EVENTS = [{"_time": "10", "u": "a", "v": "old"}, {"_time": "30", "u": "a", "v": "new"},
                {"_time": "20", "u": "a", "v": "mid"}]


def test_head_takes_the_newest_event():
    assert [r["v"] for r in run("| search u=a | head 1", TIMED_EVENTS)] == ["new"]


def test_dedup_keeps_the_newest_event():
    assert [r["v"] for r in run("| search u=a | dedup u", TIMED_EVENTS)] == ["new"]


def test_stats_first_is_the_newest_and_last_the_oldest():
    assert run("| search u=a | stats first(v) as f last(v) as l", TIMED_EVENTS) == [{"f": "new", "l": "old"}]


def test_stats_list_is_in_newest_first_order():
    assert run("| search u=a | stats list(v) as l", TIMED_EVENTS) == [{"l": ["new", "mid", "old"]}]


# --- free text on results without _raw ----------------------------------------------------


def test_free_text_after_stats_is_refused_by_name():
    fails("| search EventCode=1 | stats count by user | search alice",
          "unsupported free-text term 'alice' after stats (its results have no _raw)")


def test_free_text_after_table_without_raw_is_refused():
    fails("| search x | table user | search alice", "unsupported free-text term 'alice' after table")


def test_free_text_after_table_keeping_raw_still_runs():
    assert codes("| table _raw EventCode | search alice") == ["4624"]


def test_makemv_with_both_delim_and_tokenizer_is_refused():
    with pytest.raises(SplError, match="makemv takes delim or tokenizer, not both"):
        parse('| makemv delim="," tokenizer="(\\w+)" x')


# --- options and filters the engine cannot honour are refused by name ------------------------


@pytest.mark.parametrize("field", ["index", "earliest", "latest"])
def test_tstats_index_and_time_range_filters_are_refused(field):
    fails(f"| tstats count from datamodel={DM} where {field}=-1d by Processes.dest",
          f"unsupported tstats filter '{field}' (index or time range selection)")


def test_tstats_second_span_is_refused():
    with pytest.raises(SplError, match="a second span in the BY clause"):
        parse(f"| tstats count from datamodel={DM} by _time span=1h span=1d")


def test_xmlkv_maxinputs_is_refused_by_name():
    with pytest.raises(SplError, match="unsupported xmlkv option 'maxinputs'"):
        parse("| xmlkv maxinputs=10 Message")


def test_rex_sed_with_max_match_is_refused():
    with pytest.raises(SplError, match="rex mode=sed takes no max_match"):
        parse('| rex mode=sed max_match=2 "s/a/b/"')


def test_spath_with_both_path_forms_is_refused():
    with pytest.raises(SplError, match="spath takes path= or a positional path, not both"):
        parse("| spath path=a.b c.d")


def test_bin_decimal_span_puts_a_value_in_its_own_bin():
    assert run("| bin x span=0.1", [{"x": "0.3"}]) == [{"x": "0.3-0.4"}]
