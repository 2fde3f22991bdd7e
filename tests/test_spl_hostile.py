"""Hostile searches: each is a one-line SplError or runs in bounded time, never a
traceback or a hang."""
from __future__ import annotations

import pytest

from detpack.spl import SplError, output_rows, parse
from detpack.spl.plan import plan
from detpack.spl.check import check_search


def run(spl: str, rows: list[dict]) -> list[dict]:
    return output_rows(plan(parse(spl), set()).execute(rows))[0]


def test_a_thousand_term_or_chain_in_where_runs():
    assert run("| where " + " OR ".join(["a=2"] * 999 + ["a=1"]), [{"a": "1"}]) == [{"a": "1"}]


def test_a_thousand_term_sum_in_eval_runs():
    assert run("| eval x=" + "+".join(["1"] * 1000), [{}]) == [{"x": "1000"}]


def test_a_thousand_term_concatenation_runs():
    assert run('| eval x=' + ".".join(['"b"'] * 1000), [{}])[0]["x"] == "b" * 1000


def test_too_deep_a_search_is_a_check_problem_not_a_traceback(monkeypatch):
    import detpack.spl.check as check_module

    def overflow(*args, **kwargs):
        raise RecursionError

    monkeypatch.setattr(check_module, "plan", overflow)
    result = check_search("d", "| eval x=1", {}, set())
    assert (result.outcome, result.problem) == ("plan", "search nested too deeply for this engine")


HUGE = "9" * 5000  # beyond Python's int() length limit


@pytest.mark.parametrize("spl", [
    f"| head {HUGE}", f"| sort {HUGE} x", f"| sort limit={HUGE} x", f"| eval y={HUGE}", f"| where x<{HUGE}",
    f"| mvexpand limit={HUGE} x", f'| rex max_match={HUGE} "(?<a>x)"', f'| rex mode=sed "s/a/b/{HUGE}"',
    f"| eval y=round(1,{HUGE})", f"| eval y=x+1",
])
def test_a_huge_integer_is_read_or_refused_in_one_line(spl):
    try:
        run(spl, [{"x": HUGE}])
    except SplError as error:
        assert "\n" not in str(error)


def test_a_huge_integer_literal_is_a_double():
    assert run(f"| eval y={'1' + '0' * 20}", [{}]) == [{"y": "100000000000000000000"}]


def test_a_span_beyond_any_number_is_refused():
    with pytest.raises(SplError, match="unsupported span"):
        parse(f"| bin span={HUGE} x")


# --- wildcards in linear time ---------------------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from detpack.spl.evaluate import glob_captures, wildcard_regex  # noqa: E402


@settings(max_examples=300, deadline=None)
@given(pattern=st.text(alphabet="ab*", max_size=7), text=st.text(alphabet="ab", max_size=9))
def test_glob_matching_agrees_with_a_greedy_regex(pattern, text):
    m = wildcard_regex(pattern).match(text)
    assert glob_captures(pattern.split("*"), text) == (list(m.groups()) if m else None)


def test_a_many_star_wildcard_on_a_long_value_finishes():
    # A backtracking regex needs about 5000**6 steps here: the test would not end.
    assert run('| search x="*a*a*a*a*a*a*b"', [{"x": "a" * 5000}]) == []


def test_a_many_star_free_text_term_on_a_long_event_finishes():
    assert run("| search *a*a*a*a*a*a*b", [{"_raw": "a" * 5000}]) == []


@settings(max_examples=300, deadline=None)
@given(term=st.text(alphabet="ab* ", min_size=1, max_size=6).filter(lambda t: "*" in t and t.strip()),
       text=st.text(alphabet="ab -", max_size=10))
def test_free_text_wildcards_agree_with_a_backtracking_regex(term, text):
    import re

    from detpack.spl.evaluate import term_finder

    body = ".*?".join(re.escape(p) for p in term.split("*"))
    start = r"(?<![^\W_])" if term[:1].isalnum() else ""
    end = r"(?![^\W_])" if term[-1:].isalnum() else ""
    expected = re.search(start + body + end, text, re.DOTALL) is not None
    assert term_finder(term.split("*"), term[:1].isalnum(), term[-1:].isalnum())(text) == expected


@pytest.mark.parametrize("command", ["spath input=j", "spath input=j path=a", "fromjson j"])
@pytest.mark.parametrize("depth", [150, 2000])
def test_deeply_nested_json_is_invalid_json_for_that_event(command, depth):
    rows = [{"j": "[" * depth + "]" * depth}, {"j": '{"a": "b"}'}]
    out = run(f"| {command}", rows)
    assert out[0] == rows[0] and len(out) == 2


def test_makemv_with_an_empty_delimiter_is_refused():
    with pytest.raises(SplError, match="makemv delim must not be empty"):
        parse('| makemv delim="" x')


def test_long_commands_are_not_kept_once_parsed():
    """Each distinct command text is parsed once per process, but a pack could carry thousands of
    distinct commands of up to a megabyte each (a file's bound, or a macro's expansion): their
    tokens and syntax trees, dozens of times the text, would stay in memory to the end."""
    import gc
    import tracemalloc

    long = "search " + " ".join(f"f{i}=v{i}" for i in range(4000))
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(3):
            parse(f"{long} n={n} | stats count by f{n} | where count > {n}")
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept < len(long)  # less than one copy of the text: no tokens or nodes kept
