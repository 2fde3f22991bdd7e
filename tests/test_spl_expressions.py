"""Eval texts compiled once and shared: only when sharing cannot change what they compute."""
from __future__ import annotations

import pytest

import time

from detpack.spl import SplError
from detpack.spl import expressions
from detpack.spl.expressions import compile_eval_text


def test_a_repeated_text_is_compiled_once():
    assert compile_eval_text("lower(Image) . \"x\"") is compile_eval_text("lower(Image) . \"x\"")


def test_now_is_the_time_each_search_starts_not_the_first(monkeypatch):
    monkeypatch.setattr(time, "time", lambda: 1000.0)
    first = compile_eval_text("now() - 60").evaluate({})
    monkeypatch.setattr(time, "time", lambda: 5000.0)
    assert (first, compile_eval_text("now() - 60").evaluate({})) == (940, 4940)


def test_a_bad_text_fails_wherever_it_appears():
    for _ in range(2):
        with pytest.raises(SplError):
            compile_eval_text("lower(Image")


def test_the_cache_is_bounded():
    expressions._parsed_eval.cache_clear()
    bound = expressions._parsed_eval.cache_info().maxsize
    assert bound == 4096
    for n in range(bound + 50):
        compile_eval_text(f"x + {n}")
    assert expressions._parsed_eval.cache_info().currsize == bound


# --- results remembered by the values an expression reads ----------------------------------

from hypothesis import given, settings, strategies as st  # noqa: E402

from detpack.spl.expressions import EvalExpression, remembered  # noqa: E402

REMEMBERED_TEXTS = [
    'mvindex(split(Image, "\\\\"), -1)',
    'case(EventCode=="4688", NewProcessId, EventCode IN ("1", "4696"), split(Image, "\\\\"), true(), typeof(Image))',
    'if(match(Image, "^\\\\w+\\\\\\\\"), replace(Image, "^(\\\\w+).*", "\\\\1"), coalesce(EventCode, "none"))',
    'Image . " " . EventCode',
    'tonumber(EventCode) + 1',
    'mvappend(EventCode, Image)',
]
ROW_VALUES = st.one_of(st.none(), st.sampled_from(["", "1", "4688", "4696", "C:\\\\x\\\\a.exe", "a.exe", "0x1f"]),
                       st.integers(-2, 5000), st.floats(allow_nan=False), st.booleans(),
                       st.lists(st.sampled_from(["1", "a\\\\b", ""]), min_size=1, max_size=3))


@settings(max_examples=300, deadline=None)
@given(text=st.sampled_from(REMEMBERED_TEXTS),
       rows=st.lists(st.fixed_dictionaries({"Image": ROW_VALUES, "EventCode": ROW_VALUES, "NewProcessId": ROW_VALUES}),
                     min_size=1, max_size=8))
def test_a_remembered_expression_gives_what_it_computes(text, rows):
    expression = compile_eval_text(text)
    fast = remembered(expression)
    for row in rows * 2:  # every row again, so each is answered from memory at least once
        row = {k: v for k, v in row.items() if v is not None}
        expected = expression.evaluate(row)
        got = fast(row)
        assert (got, type(got)) == (expected, type(expected))


def counting(text: str) -> tuple[EvalExpression, list]:
    """The compiled ``text`` with its evaluations counted."""
    expression, calls = compile_eval_text(text), []

    def evaluate(row):
        calls.append(row)
        return expression.evaluate(row)

    return EvalExpression(expression.expr, evaluate, expression.fields), calls


def test_the_same_text_values_are_computed_once():
    expression, calls = counting('lower(Image) . "x"')
    fast = remembered(expression)
    assert [fast({"Image": "A", "other": n}) for n in range(3)] == ["ax"] * 3
    assert len(calls) == 1


def test_values_that_are_not_text_are_always_computed():
    """1, 1.0 and True are equal dictionary keys, yet typeof() tells them apart."""
    expression, calls = counting("typeof(x)")
    fast = remembered(expression)
    assert [fast({"x": v}) for v in (1, 1.0, True, ["1"], ["1"])] == \
        ["Number", "Number", "Boolean", "Multivalue", "Multivalue"]
    assert len(calls) == 5


def test_a_long_value_is_computed_each_time():
    expression, calls = counting("len(x)")
    fast = remembered(expression)
    long = "a" * (expressions.REMEMBERED_VALUE_CHARS + 1)
    assert fast({"x": long}) == fast({"x": long}) == len(long)
    assert len(calls) == 2 and not fast.results


def test_each_row_gets_its_own_multivalue():
    fast = remembered(compile_eval_text('split(x, ",")'))
    first = fast({"x": "a,b"})
    first.append("changed")
    assert fast({"x": "a,b"}) == ["a", "b"]


def test_a_clock_reading_expression_is_not_remembered():
    for text in ("time() + len(x)", "now() - len(x)"):
        expression = compile_eval_text(text)
        assert remembered(expression) is expression.evaluate


def test_remembered_results_are_bounded():
    fast = remembered(compile_eval_text("lower(x)"))
    for n in range(expressions.REMEMBERED_RESULTS + 10):
        assert fast({"x": f"V{n}"}) == f"v{n}"
    assert 0 < len(fast.results) <= expressions.REMEMBERED_RESULTS


def test_remembered_characters_are_bounded():
    fast = remembered(compile_eval_text("x . y"))
    value = "v" * 1000
    for n in range(200):
        assert fast({"x": value, "y": str(n)}) == value + str(n)
    held = sum(len(x) + len(y) + len(result) for (x, y), result in fast.results.items())
    assert 0 < held <= expressions.REMEMBERED_CHARS
