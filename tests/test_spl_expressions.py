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
