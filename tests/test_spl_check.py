"""Whether the offline engine can run a search (spl.check) and `validate --spl`, which
reports it per detection."""
from __future__ import annotations

import json

import pytest

from detpack.cli import main
from detpack.spl import MacroDef
from detpack.spl.check import KNOWLEDGE, OK, PARSE, PLAN, check_search, summary

DM = "Endpoint.Processes"
MACROS = {"ctime(1)": MacroDef("ctime(1)", ("field",), "convert ctime($field$)")}


def check(search: str):
    return check_search("d", search, MACROS, {DM})


def test_a_search_the_engine_runs():
    result = check(f"| tstats count min(_time) as t from datamodel={DM} by Processes.dest | `ctime(t)`")
    assert (result.outcome, result.parsed, result.runs) == (OK, True, True)
    assert str(result) == "d: ok"


def test_a_search_that_does_not_parse_names_the_construct_and_position():
    result = check("a=1 | transaction user")
    assert (result.outcome, result.problem, result.position) == (PARSE, "unsupported command 'transaction'", 6)
    assert str(result) == "d: parse error: unsupported command 'transaction' at position 6 (near \"transaction user\")"


def test_the_context_of_a_problem_is_short_and_on_one_line():
    result = check("a=1 | transaction user\n   maxspan=1h | stats count by user, dest, src, process_name")
    assert result.near == "transaction user maxspan=1h | …"


def test_an_undefined_macro_is_a_parse_error():
    assert check("`nowhere`").problem == "undefined macro 'nowhere'"


def test_a_search_that_parses_but_cannot_be_planned():
    result = check("| head 1 | tstats count from datamodel=X")
    assert (result.outcome, result.parsed, result.problem) == (PLAN, True, "tstats must be the first command")


def test_an_unknown_data_model_alone_is_missing_knowledge():
    result = check("| tstats count from datamodel=Endpoint.Registry by Registry.dest")
    assert (result.outcome, result.missing) == (KNOWLEDGE, ("data model 'Endpoint.Registry'",))
    assert str(result) == "d: needs data model 'Endpoint.Registry' (first at position 2)"


def test_an_unknown_data_model_does_not_hide_another_problem():
    result = check("| tstats count from datamodel=Web where nodename=Web.Proxy")
    assert result.outcome == PLAN and result.missing == ("data model 'Web'",)
    assert result.problem.startswith("unsupported tstats filter 'nodename'")


def test_a_lookup_is_missing_knowledge_and_the_rest_is_still_checked():
    result = check("a=1 | lookup local=t my_table user OUTPUT role | stats count by role")
    assert (result.outcome, result.missing) == (KNOWLEDGE, ("lookup 'my_table'",))
    broken = check("a=1 | lookup my_table user OUTPUT role | transaction role")
    assert (broken.outcome, broken.problem, broken.missing) == (PARSE, "unsupported command 'transaction'", ())


def test_the_summary_counts_each_outcome():
    checks = [check("a=1"), check("a=1 | nosuch"), check("| head 1 | tstats count from datamodel=X"),
              check("| tstats count from datamodel=Web")]
    assert summary(checks) == ("4 search(es): 3 parse, 2 plan, 1 run offline; 1 need a data model or lookup "
                               "the engine lacks, 1 use SPL it cannot plan, 1 do not parse")


# --- validate --spl --------------------------------------------------------------------


def test_validate_spl_on_the_project_pack(pack_copy, capsys):
    assert main(["validate", "--spl", "--content", str(pack_copy)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "detections/endpoint/script_execution_via_wmi.yml:21:9: Script Execution via WMI: ok"
    assert lines[-1].startswith("1 search(es): 1 parse, 1 plan, 1 run offline")


def break_search(pack, old: str, new: str) -> None:
    path = pack / "detections/endpoint/script_execution_via_wmi.yml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_validate_spl_names_the_construct_and_fails(pack_copy, capsys):
    break_search(pack_copy, "| `drop_dm_object_name(Processes)`", "| transaction dest | `drop_dm_object_name(Processes)`")
    assert main(["validate", "--spl", "--content", str(pack_copy)]) == 1
    out = capsys.readouterr().out
    assert ("detections/endpoint/script_execution_via_wmi.yml:21:9: Script Execution via WMI: "
            "parse error: unsupported command 'transaction' at position ") in out
    assert "0 run offline" in out


def test_validate_spl_json(pack_copy, capsys):
    break_search(pack_copy, "datamodel=Endpoint.Processes", "datamodel=Network_Traffic.All_Traffic")
    assert main(["validate", "--spl", "--json", "--content", str(pack_copy)]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False
    assert report["searches"][0] | {"problem": None} == {
        "name": "Script Execution via WMI", "outcome": "knowledge", "problem": None, "position": 2, "near": "",
        "missing": ["data model 'Network_Traffic.All_Traffic'"], "file": "detections/endpoint/script_execution_via_wmi.yml",
        "line": 21}


def test_validate_spl_reads_cim_macros_the_pack_does_not_define(pack_copy, capsys):
    # The CIM app defines drop_dm_object_name; a pack that expects CIM installed has no copy.
    (pack_copy / "macros/drop_dm_object_name.yml").unlink()
    assert main(["validate", "--spl", "--content", str(pack_copy)]) == 0
    assert "1 run offline" in capsys.readouterr().out


def test_validate_spl_still_reports_invalid_content_first(pack_copy, capsys):
    break_search(pack_copy, "type: TTP", "type: TTPs")
    assert main(["validate", "--spl", "--content", str(pack_copy)]) == 2
    assert "type: 'TTPs' is not allowed" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--spl"])
def test_validate_help_lists_the_spl_flag(flag, capsys):
    with pytest.raises(SystemExit):
        main(["validate", "--help"])
    assert flag in capsys.readouterr().out


def test_a_known_lookup_runs_and_every_unknown_one_is_named():
    search = "a=1 | lookup known user OUTPUT role | lookup other role OUTPUT team | lookup known team"
    assert check_search("d", search, MACROS, {DM}, lookups={"known"}).missing == ("lookup 'other'",)
    assert check_search("d", search, MACROS, {DM}, lookups={"known", "other"}).outcome == OK


def test_lookup_placement_options_are_read_and_others_refused():
    assert check("a=1 | lookup local=true update=f t user").missing == ("lookup 't'",)
    refused = check("a=1 | lookup event_time_field=x t user")
    assert (refused.outcome, refused.problem) == (PARSE, "unsupported lookup option")


def test_a_missing_lookup_names_its_position():
    result = check_search("d", "a=1 | lookup nosuch user OUTPUT role", MACROS, {DM})
    assert (result.outcome, result.position) == (KNOWLEDGE, 6)
    assert str(result) == "d: needs lookup 'nosuch' (first at position 6)"
