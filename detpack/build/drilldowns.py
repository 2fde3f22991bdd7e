"""Drilldown searches as they ship must be SPL that the project's parser reads.

Each drilldown is checked as the package ships it: ``%original_detection_search%``
replaced by the detection's search (``Detection.drilldown_search``), its macros
expanded with the definitions the package ships (the pack's macros, each
detection's filter macro, and CIM's where the pack has none) and parsed.
``$field$`` tokens are filled by Enterprise Security at run time, so each
becomes a plain value first, and comments are dropped as Splunk drops them.

Two outcomes are told apart. SPL that is not valid (a parenthesis never
closed, a missing command) is a warning, an error under ``--strict``. A
construct the offline parser does not read yet (its "unsupported ..." errors,
spl/parse.py) or a knowledge object it does not know (``spl.UnknownKnowledge``)
says nothing about the drilldown: it is a note, which never fails a build.

A detection search that our parser cannot read is the search's own problem, not
its drilldown's, and is not reported here. So where the placeholder stands for a
whole pipeline (first, and followed by ``|`` or the end), ``| search *`` stands
in for the detection's search: the pipeline parses command by command, so the drilldown
parses exactly when the search and the rest do. The many drilldowns that then
read the same are parsed once.

``validate`` and ``build`` both run these checks through ``check_with_drilldowns``,
so they report the same findings and fail ``--strict`` alike.
"""
from __future__ import annotations

import re
from pathlib import Path

from .. import spl
from ..content.fields import without_comments
from ..content.mappings import CIM_MACRO_DEFINITIONS
from ..content.model import ORIGINAL_SEARCH_PLACEHOLDER, Detection, Pack
from ..content.load import load_pack
from ..content.validate import Loaded, check_loaded
from ..errors import Finding, InvalidInput, record

TOKEN = re.compile(r"\$[^$\s]+\$")
WHOLE_PIPELINE = re.compile(r"\A\s*" + re.escape(ORIGINAL_SEARCH_PLACEHOLDER) + r"(?=\s*(\||\Z))")
STAND_IN = "| search *"
# How spl/parse.py words a construct it does not read (as opposed to SPL that is wrong).
UNSUPPORTED = "unsupported "


@record
class DrilldownProblem:
    message: str
    unsupported: bool  # True: our parser's limit, not evidence the drilldown is wrong


@record
class CheckedDrilldowns:
    pack: Pack
    warnings: list[Finding]  # the pack's warnings and the drilldowns that are not valid SPL
    notes: list[Finding]  # drilldowns the offline parser cannot check


def check_with_drilldowns(content_dir: Path, strict: bool = False) -> CheckedDrilldowns:
    """The pack validated, and its shipped drilldowns checked; InvalidInput as ``check_pack`` raises it,
    and when strict also for a drilldown that is not valid SPL."""
    return check_loaded_with_drilldowns(load_pack(Path(content_dir)), strict)


def check_loaded_with_drilldowns(loaded: Loaded, strict: bool = False) -> CheckedDrilldowns:
    """``check_with_drilldowns`` of a pack already loaded (``load_pack``)."""
    checked = check_loaded(loaded, strict)
    invalid, notes = drilldown_findings(checked.pack)
    if strict and invalid:
        raise InvalidInput(invalid)
    return CheckedDrilldowns(checked.pack, sorted(checked.warnings + invalid), notes)


def shipped_macros(pack: Pack) -> dict[str, spl.MacroDef]:
    """The macro definitions the package ships, with CIM's for the macros CIM provides."""
    macros = {name: spl.MacroDef(name, args, definition) for name, (args, definition) in CIM_MACRO_DEFINITIONS.items()}
    macros |= {d.filter_macro: spl.MacroDef(d.filter_macro, (), "search *") for d in pack.detections}
    macros |= {m.stanza: spl.MacroDef(m.stanza, m.arguments, m.definition) for m in pack.macros}
    return macros


def drilldown_findings(pack: Pack) -> tuple[list[Finding], list[Finding]]:
    """Drilldowns that are not valid SPL, and drilldowns the offline parser cannot check."""
    macros = shipped_macros(pack)
    seen: dict[str, DrilldownProblem | None] = {}
    invalid, notes = [], []
    for d in pack.detections:
        for i, drilldown in enumerate(d.drilldowns):
            text = d.drilldown_search(WHOLE_PIPELINE.sub(STAND_IN, drilldown.search))
            text = TOKEN.sub("TOKEN", without_comments(text))
            if text not in seen:
                seen[text] = spl_problem(text, macros)
            if problem := seen[text]:
                (notes if problem.unsupported else invalid).append(_finding(d, i, problem))
    return invalid, notes


def spl_problem(search: str, macros) -> DrilldownProblem | None:
    """Why ``search`` (with ES tokens) is not SPL our parser reads, or None."""
    try:
        spl.parse(spl.expand(TOKEN.sub("TOKEN", without_comments(search)), macros))
    except spl.UnknownKnowledge as error:
        return DrilldownProblem(str(error), True)
    except spl.SplError as error:
        return DrilldownProblem(str(error), error.message.startswith(UNSUPPORTED))
    return None


def _finding(d: Detection, index: int, problem: DrilldownProblem) -> Finding:
    path = f"drilldown_searches[{index}].search"
    if problem.unsupported:
        return Finding(d.where(path), path, f"not checked: the offline parser does not read it yet: {problem.message}")
    return Finding(d.where(path), path, f"after substitution, not SPL the parser reads: {problem.message}",
                   "a search that expands and parses")
