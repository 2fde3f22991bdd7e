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
