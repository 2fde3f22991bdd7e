"""Hostile searches: each is a one-line SplError or runs in bounded time, never a
traceback or a hang."""
from __future__ import annotations

import pytest

from detpack.spl import SplError, output_rows, parse, plan
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
