"""Drilldown searches as they ship must be SPL that the project's parser reads.

Each drilldown is checked as the package ships it: ``%original_detection_search%``
replaced by the detection's search (``render.drilldown_search``), its macros
expanded with the macros the package ships and parsed. ``$field$`` tokens are
filled by Enterprise Security at run time, so each becomes a plain value first,
and comments are dropped as Splunk drops them.

A detection search that our parser cannot read is the search's own problem, not
its drilldown's, and is not reported here. So where the placeholder stands for a
whole pipeline (first, and followed by ``|`` or the end), ``| search *`` stands
in for the detection's search: the pipeline parses command by command, so the drilldown
parses exactly when the search and the rest do. The many drilldowns that then
read the same are parsed once.
"""
from __future__ import annotations

import re

from .. import spl
from ..conf import Stanza
from ..content.fields import without_comments
from ..content.mappings import CIM_MACRO_DEFINITIONS
from ..content.model import Detection, Pack
from ..errors import Finding
from .render import ORIGINAL_SEARCH_PLACEHOLDER, RenderedApp, drilldown_search

TOKEN = re.compile(r"\$[^$\s]+\$")
WHOLE_PIPELINE = re.compile(r"\A\s*" + re.escape(ORIGINAL_SEARCH_PLACEHOLDER) + r"(?=\s*(\||\Z))")
STAND_IN = "| search *"


def drilldown_findings(pack: Pack, rendered: RenderedApp) -> list[Finding]:
    """One finding per shipped drilldown search that does not expand and parse.

    Macros the CIM app provides are read with CIM's definition where the pack has none."""
    stanzas = [Stanza(name, {"definition": definition, "args": ", ".join(args)})
               for name, (args, definition) in CIM_MACRO_DEFINITIONS.items()]
    stanzas += [Stanza(name, entries) for name, entries in rendered.parsed["default/macros.conf"].items()]
    macros = spl.macros_from_stanzas(stanzas)
    seen: dict[str, str | None] = {}
    findings = []
    for d in pack.detections:
        for i, drilldown in enumerate(d.drilldowns):
            text = drilldown_search(d, WHOLE_PIPELINE.sub(STAND_IN, drilldown.search))
            text = TOKEN.sub("TOKEN", without_comments(text))
            if text not in seen:
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
