"""The project's SPL engine: macros → parse → plan → evaluate.

    expand(spl, macros)        backtick macros replaced (macros.py)
    parse(spl)                 ast.Pipeline (parse.py; lexer.py, ast.py)
    plan(pipeline, ...)        Plan: stages + optional raw-text prefilter (plan.py)
    Plan.execute(rows)         result rows (evaluate.py; functions.py, timefmt.py)
    output_rows(rows)          rows as Splunk returns them, and their columns
"""
from .errors import SplError
from .evaluate import output_rows
from .macros import MacroDef, as_macro_table, expand, macros_from_stanzas
from .parse import parse
from .plan import Plan, Prefilter, plan

__all__ = ["SplError", "MacroDef", "Plan", "Prefilter", "as_macro_table", "expand",
           "macros_from_stanzas", "output_rows", "parse", "plan"]
