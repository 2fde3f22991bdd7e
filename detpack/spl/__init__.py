"""The project's SPL engine: macros → parse → plan → evaluate.

    expand(spl, macros)        backtick macros replaced (macros.py)
    parse(spl)                 ast.Pipeline (parse.py; lexer.py, ast.py)
    plan.plan(pipeline, ...)   Plan: stages + optional raw-text prefilter (plan.py)
    check_search(...)          can the engine run it? (check.py, for validate --spl)
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
- Macro arguments are substituted as written (quotes kept), by name when every
  one is written ``name=value`` with the macro's argument names; error positions
  are offsets in the expanded search, except undefined/recursive macros, which
  point at the outermost call in the original text.
- stats/tstats groups come out sorted by their BY values as plain text
  (lexicographic: "10" before "9"). Unverified: Splunk may order
  numeric-looking values numerically.
- Events reach a search newest first (by _time, file order among equal times) when
  a command picks rows or values by order (head, dedup, first/last/list); other
  searches stream in file order, so their result rows may come out in another order
  than Splunk's. tstats rows are not reordered.
- Columns come out in the order fields first appear in the result rows
  (BY fields, then aggregations, for stats/tstats).
- Commands not listed in parse.py, subsearches other than join's, and options
  a command does not support are refused with their name and position, never
  ignored.
- Free-text terms and quoted phrases match ``_raw`` case-insensitively and not
  inside a longer word, a breaker being anything but a letter or digit (an
  approximation of Splunk's segmentation; unverified at the edges). Only
  upper-case AND/OR/NOT are operators.
- Quoted and unquoted pieces written together are one argument, quotes removed
  (``"Processes".*`` is ``Processes.*``), which is how a quoted macro argument
  reads once substituted. Unverified beyond the searches that rely on it.
- ``IN`` lists tolerate missing and trailing commas, as production searches
  written so run in Splunk.
- Time bins (tstats ``span``, ``bin``) and ``relative_time`` snaps are
  aligned in UTC; months (``span=1mon``) are refused.
- ``join`` plans its subsearch with the search; its rows come from the
  ``inputs`` the caller gives ``Plan.execute`` (the subsearch reads the events
  again, maybe through another data model); without them it fails by name.
- ``spath`` reads JSON; XML input fails by name at run time. ``now()`` is the
  time the search is planned.
- ``check.check_search`` says whether a search runs offline; a data model or
  lookup the engine lacks is reported as missing knowledge, and the rest of
  the search is still checked.
"""
from . import ast
from .errors import SplError, UnknownKnowledge
from .macros import MacroDef, as_macro_table, expand, macros_from_stanzas
from .parse import parse

# The planner and the evaluator load when first asked for: checking that a search parses
# (``validate`` and ``build`` check the drilldowns) needs neither. The function ``plan`` is
# imported from ``spl.plan``, where it lives: the package's name ``plan`` is that module.
LOADED_ON_USE = {"Plan": "plan", "Prefilter": "plan", "output_rows": "evaluate"}


def __getattr__(name: str):
    if name not in LOADED_ON_USE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f"{__name__}.{LOADED_ON_USE[name]}"), name)
    globals()[name] = value
    return value


__all__ = ["SplError", "UnknownKnowledge", "MacroDef", "Plan", "Prefilter", "as_macro_table", "ast", "expand",
           "macros_from_stanzas", "output_rows", "parse"]
