"""Drilldown searches as they ship must be SPL that the project's parser reads.

The check reads the rendered ``savedsearches.conf`` and ``macros.conf`` (what
the package ships, placeholders already substituted), expands each drilldown's
macros with the pack's own definitions and parses it. ``$field$`` tokens are
filled by Enterprise Security at run time, so each becomes a plain value first,
and comments are dropped as Splunk drops them.
"""
from __future__ import annotations

import json
import re

from .. import spl
from ..conf import Stanza
from ..content.fields import without_comments
from ..content.mappings import CIM_MACRO_DEFINITIONS
from ..content.model import Detection, Pack
from ..errors import Finding
from .render import RenderedApp, search_stanza_name

TOKEN = re.compile(r"\$[^$\s]+\$")


def drilldown_findings(pack: Pack, rendered: RenderedApp) -> list[Finding]:
    """One finding per shipped drilldown search that does not expand and parse.

    A drilldown that repeats a detection search our parser cannot read is left out: that is the
    search's own problem, not the drilldown's. Macros the CIM app provides are read with CIM's
    definition where the pack does not define them."""
    searches = rendered.parsed["default/savedsearches.conf"]
    stanzas = [Stanza(name, {"definition": definition, "args": ", ".join(args)})
               for name, (args, definition) in CIM_MACRO_DEFINITIONS.items()]
    stanzas += [Stanza(name, entries) for name, entries in rendered.parsed["default/macros.conf"].items()]
    macros = spl.macros_from_stanzas(stanzas)
    findings, seen = [], {}

    def problem(search: str) -> str | None:
        text = TOKEN.sub("TOKEN", without_comments(search))
        if text not in seen:  # many drilldowns read the same once their tokens are filled
            seen[text] = spl_problem(text, macros)
        return seen[text]

    for d in pack.detections:
        stanza = searches.get(search_stanza_name(pack.app, d), {})
        for i, drilldown in enumerate(json.loads(stanza.get("action.notable.param.drilldown_searches", "[]"))):
            if problem(drilldown["search"]) and not (d.search in drilldown["search"] and problem(d.search)):
                findings.append(_finding(d, i, problem(drilldown["search"])))
    return findings


def spl_problem(search: str, macros) -> str | None:
    """Why ``search`` (with ES tokens) is not SPL our parser reads, or None."""
    try:
        spl.parse(spl.expand(TOKEN.sub("TOKEN", without_comments(search)), macros))
    except spl.SplError as error:
        return str(error)
    return None


def _finding(d: Detection, index: int, problem: str) -> Finding:
    path = f"drilldown_searches[{index}].search"
    return Finding(d.where(path), path, f"after substitution, not SPL the parser reads: {problem}",
                   "a search that expands and parses")
