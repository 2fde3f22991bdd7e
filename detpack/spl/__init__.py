"""The project's SPL engine: macros → parse → plan → evaluate.

    expand(spl, macros)        backtick macros replaced (macros.py)
    parse(spl)                 ast.Pipeline (parse.py; lexer.py, ast.py)
    plan(pipeline, ...)        Plan: stages + optional raw-text prefilter (plan.py)
    Plan.execute(rows)         result rows (evaluate.py; functions.py, timefmt.py)
    output_rows(rows)          rows as Splunk returns them, and their columns

Choices where Splunk leaves room or could not be checked here:
- ``convert ctime()`` formats in UTC (Splunk uses the searching user's zone).
- Numbers print as Splunk prints them in results: integers as digits, other
  values with at most 6 decimals and no trailing zeros, so ``min(_time)`` of an
  event at .608 s is ``1599011050.608`` and of a whole second ``1599011049``.
- ``summariesonly`` and ``allow_old_summaries`` are accepted and do not change
  results: replayed events count as summarised.
- Empty strings in BY fields count as null (the index keeps no empty values).
- Macro arguments are substituted as written (quotes kept); error positions
  are offsets in the expanded search, except undefined/recursive macros, which
  point at the outermost call in the original text.
- stats/tstats groups come out sorted by their BY values as plain text
  (lexicographic: "10" before "9"). Unverified: Splunk may order
  numeric-looking values numerically.
- Columns come out in the order fields first appear in the result rows
  (BY fields, then aggregations, for stats/tstats).
- Free-text search terms, subsearches and commands not listed in parse.py
  are refused with their position, never ignored.
"""
from . import ast
from .errors import SplError
from .evaluate import output_rows
from .macros import MacroDef, as_macro_table, expand, macros_from_stanzas
from .parse import parse
from .plan import Plan, Prefilter, plan

__all__ = ["SplError", "MacroDef", "Plan", "Prefilter", "as_macro_table", "ast", "expand",
           "macros_from_stanzas", "output_rows", "parse", "plan"]
