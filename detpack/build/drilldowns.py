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
from ..content.model import Detection, Pack
from ..errors import Finding
from .render import RenderedApp, search_stanza_name

TOKEN = re.compile(r"\$[^$\s]+\$")


def drilldown_findings(pack: Pack, rendered: RenderedApp) -> list[Finding]:
    """One finding per shipped drilldown search that does not expand and parse."""
    searches = rendered.parsed["default/savedsearches.conf"]
    macros = spl.macros_from_stanzas(Stanza(name, entries) for name, entries in rendered.parsed["default/macros.conf"].items())
    findings, seen = [], {}
    for d in pack.detections:
        stanza = searches.get(search_stanza_name(pack.app, d), {})
        for i, drilldown in enumerate(json.loads(stanza.get("action.notable.param.drilldown_searches", "[]"))):
            text = TOKEN.sub("TOKEN", without_comments(drilldown["search"]))
            if text not in seen:  # many drilldowns read the same once their tokens are filled
                seen[text] = spl_problem(text, macros)
            if seen[text]:
                findings.append(_finding(d, i, seen[text]))
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
