"""The planner's raw-text prefilter: pushed only when provably safe."""
from __future__ import annotations

import pytest

from detpack.spl import Prefilter, SplError, parse
from detpack.spl.plan import RawPieces, plan

VERBATIM = {"process_name", "process", "dest"}
CONSTANTS = {"unknown", "allowed"}


def prefilter(where: str) -> Prefilter | None:
    spl = f"| tstats count from datamodel=Endpoint.Processes where {where} by Processes.dest"
    return plan(parse(spl), {"Endpoint.Processes"}, VERBATIM, CONSTANTS).prefilter


def test_literal_on_a_verbatim_field_is_pushed_lower_cased():
    assert prefilter("Processes.process_name=SCRCONS.exe") == Prefilter(((("scrcons.exe",),),))


def test_wildcard_literal_needs_every_fixed_part():
    assert prefilter("Processes.process=*wbem*Scrcons*") == Prefilter(((("wbem", "scrcons"),),))


def test_or_and_in_become_alternatives_and_and_terms_become_clauses():
    got = prefilter("(Processes.process_name=a.exe OR Processes.process_name=b.exe) Processes.dest=h*")
    assert got == Prefilter(((("a.exe",), ("b.exe",)), (("h",),)))
    assert prefilter("Processes.process_name IN (a.exe, b.exe)") == Prefilter(((("a.exe",), ("b.exe",)),))


def test_only_the_safe_and_terms_are_pushed():
    assert prefilter("Processes.process_name=a.exe Processes.user=bob") == Prefilter(((("a.exe",),),))


@pytest.mark.parametrize("where", [
    "Processes.user=bob",                                  # not a verbatim field
    "Processes.process_name=unknown",                      # the normaliser's own constant
    "Processes.process_name=unk*",                         # a pattern that matches a constant
    "Processes.process_name=*",                            # no fixed part
    'Processes.process="a & b"',                           # an XML-entity character
    "Processes.process=\"it's\"",
    "Processes.process_name!=a.exe",                       # != and NOT are never pushed
    "NOT Processes.process_name=a.exe",
    "Processes.process_name>a",
    "Processes.process_name=a.exe OR Processes.user=bob",  # one unsafe alternative spoils the OR
    "process_name=a.exe",                                  # not a data-model field
])
def test_unsafe_terms_get_no_prefilter(where):
    assert prefilter(where) is None


def test_keep_is_case_insensitive_and_requires_all_clauses():
    keep = prefilter("Processes.process_name=scrcons.exe Processes.dest=ws6*").compile()
    assert keep("<Data>C:\\WBEM\\SCRCONS.EXE</Data><Computer>WS6.local</Computer>")
    assert not keep("<Data>C:\\WBEM\\SCRCONS.EXE</Data><Computer>DC1</Computer>")
    single = prefilter("Processes.process_name=scrcons.exe").compile()
    assert single("..ScrCons.Exe..") and not single("scrcons")


def test_search_without_tstats_has_no_prefilter_and_no_datamodel():
    planned = plan(parse("| search a=b"), {"Endpoint.Processes"}, VERBATIM, CONSTANTS)
    assert planned.prefilter is None and planned.datamodel is None


def test_with_the_builtin_knowledge_the_seed_term_is_pushed():
    from detpack.replay.search import plan_search

    spl = "| tstats count from datamodel=Endpoint.Processes where Processes.process_name=scrcons.exe"
    planned = plan_search(spl, {})
    assert planned.datamodel == "Endpoint.Processes"
    assert planned.prefilter == Prefilter(((("scrcons.exe",),),))


@pytest.mark.parametrize("where, position", [
    ("nodename=Processes", 55),
    ("Processes.process_name=a.exe (NOT NodeName IN (Processes))", 89),
])
def test_nodename_is_refused_with_its_position(where, position):
    with pytest.raises(SplError, match="unsupported tstats filter '(?i:nodename)' \\(data-model node selection\\)") as error:
        prefilter(where)
    assert error.value.position == position


def test_tstats_names_the_data_model_fields_it_reads():
    spl = ("| tstats count min(_time) as firstTime values(Processes.process_id) from datamodel=Endpoint.Processes "
           "where Processes.process_name=a.exe NOT Processes.user=x by Processes.dest host Other.field")
    assert plan(parse(spl), {"Endpoint.Processes"}).reads == frozenset(
        {"_time", "process_id", "process_name", "user", "dest", "host"})


@pytest.mark.parametrize("spl", ["| tstats count from datamodel=Endpoint.Processes where Processes.proc*=a",
                                 "| tstats count from datamodel=Endpoint.Processes by Processes.*"])
def test_a_wildcard_field_name_reads_everything(spl):
    assert plan(parse(spl), {"Endpoint.Processes"}).reads is None


def pieces_prefilter(where: str, pieces) -> Prefilter | None:
    spl = f"| tstats count from datamodel=Endpoint.Processes where {where} by Processes.dest"
    return plan(parse(spl), {"Endpoint.Processes"}, {"process": pieces}, CONSTANTS).prefilter


@pytest.mark.parametrize("where, pushed", [
    ("Processes.process=scrcons.exe", (("scrcons.exe",),)),
    ("Processes.process=*scrcons*-e*", (("scrcons", "-e"),)),
    ("Processes.process=\"scrcons.exe -e\"", None),  # a space may join two raw pieces
    ("Processes.process=*;x*", None),
    ("Processes.process=*K*", None),  # the Kelvin sign folds into "k"
])
def test_a_field_of_raw_pieces_pushes_only_literals_without_their_separators(where, pushed):
    got = pieces_prefilter(where, RawPieces(frozenset(" ;\u212a")))
    assert got == (Prefilter((pushed,)) if pushed else None)


@pytest.mark.parametrize("where, pushed", [
    ("Processes.process=15", False),
    ("Processes.process=*1.5*", False),
    ("Processes.process=inf", False),  # a number's text can be inf or nan
    ("Processes.process=*1*x*", True),
    ("Processes.process=a.exe", True),
])
def test_a_field_that_may_be_a_computed_number_pushes_only_literals_no_number_holds(where, pushed):
    assert (pieces_prefilter(where, RawPieces(numbers=True)) is not None) == pushed
