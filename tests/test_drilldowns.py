"""Drilldowns ship with the detection's search in place of the placeholder, as SPL our parser reads."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from detpack import spl
from detpack.build.app import build_app, checked_render
from detpack.build.drilldowns import DrilldownProblem, spl_problem
from detpack.conf import as_dict, parse_conf
from detpack.errors import InvalidInput

from conftest import PROJECT_ROOT

DETECTION = "detections/endpoint/script_execution_via_wmi.yml"
STANZA = "DetPack - Script Execution via WMI - Rule"


@pytest.fixture(scope="module")
def shipped():
    checked = checked_render(PROJECT_ROOT)
    files = checked.rendered.files
    searches = as_dict(parse_conf(files["default/savedsearches.conf"].decode(), "savedsearches.conf"))
    macros = spl.macros_from_stanzas(parse_conf(files["default/macros.conf"].decode(), "macros.conf"))
    return searches[STANZA], macros, checked.warnings, checked.notes


def test_the_placeholder_becomes_the_detection_search(shipped):
    stanza, _, _, _ = shipped
    first = json.loads(stanza["action.notable.param.drilldown_searches"])[0]
    assert first["search"] == stanza["search"] + ' | search dest = "$dest$" user = "$user$"'
    assert "%original_detection_search%" not in stanza["action.notable.param.drilldown_searches"]


def test_the_committed_app_has_no_placeholder():
    assert "%original_detection_search%" not in (PROJECT_ROOT / "default" / "savedsearches.conf").read_text()


def test_the_detection_results_drilldown_parses(shipped):
    stanza, macros, _, _ = shipped
    first = json.loads(stanza["action.notable.param.drilldown_searches"])[0]
    assert spl_problem(first["search"], macros) is None


def test_the_risk_events_drilldown_parses(shipped):
    stanza, macros, warnings, notes = shipped
    second = json.loads(stanza["action.notable.param.drilldown_searches"])[1]
    assert spl_problem(second["search"], macros) is None
    assert warnings == notes == []


def test_tokens_and_macros_are_handled_before_parsing(shipped):
    _, macros, _, _ = shipped
    assert spl_problem('| tstats count from datamodel=Endpoint.Processes by Processes.dest '
                       '| `drop_dm_object_name(Processes)` | search dest=$dest$ user="$user$"', macros) is None
    assert spl_problem("| tstats count | `no_such_macro`", macros) == DrilldownProblem(
        "undefined macro 'no_such_macro' at position 17", unsupported=False)


def edit(root: Path, old: str, new: str) -> int:
    file = root / DETECTION
    text = file.read_text()
    assert old in text
    file.write_text(text.replace(old, new, 1))
    return text[: text.index(old)].count("\n") + 1


def test_a_drilldown_that_does_not_parse_is_a_warning_and_an_error_when_strict(pack_copy, tmp_path):
    line = edit(pack_copy, "search: '%original_detection_search% | search", "search: '%original_detection_search% | search (")
    result = build_app(pack_copy, tmp_path / "out", sync_committed=False)
    expected = (f"{DETECTION}:{line}:11: drilldown_searches[0].search: after substitution, not SPL the parser reads: "
                "expected ')' to close '(', found end of command")
    assert any(str(w).startswith(expected) for w in result.warnings), result.warnings
    with pytest.raises(InvalidInput) as error:
        build_app(pack_copy, tmp_path / "strict", sync_committed=False, strict=True)
    assert any(str(f).startswith(expected) for f in error.value.findings)
    assert not (tmp_path / "strict").exists()


def test_a_construct_the_parser_does_not_read_is_a_note_that_never_fails_the_build(pack_copy, tmp_path):
    line = edit(pack_copy, "search: '%original_detection_search% | search", "search: '%original_detection_search% | nosuch")
    result = build_app(pack_copy, tmp_path / "out", sync_committed=True, strict=True)
    assert not any("drilldown" in str(w) for w in result.warnings)
    assert any(str(n).startswith(f"{DETECTION}:{line}:11: drilldown_searches[0].search: not checked: the offline "
                                 "parser does not read it yet: unsupported command 'nosuch'") for n in result.notes)


@pytest.mark.parametrize("strict", [False, True])
def test_validate_and_build_report_drilldowns_alike(pack_copy, tmp_path, capsys, strict):
    from detpack.cli import main

    edit(pack_copy, "search: '%original_detection_search% | search", "search: '%original_detection_search% | search (")
    flags = ["--strict"] if strict else []
    validate = main(["validate", "--content", str(pack_copy), *flags])
    validated = capsys.readouterr().err
    build = main(["build", "--content", str(pack_copy), "--output", str(tmp_path / "out"), *flags])
    built = capsys.readouterr().err
    assert validate == build == (2 if strict else 0)
    said = [line for line in validated.splitlines() if "drilldown_searches" in line]
    assert said and said == [line for line in built.splitlines() if "drilldown_searches" in line]


LEGACY = Path(__file__).parent / "fixtures" / "legacy_pack"
LEGACY_DETECTION = "detections/endpoint/wmi_script_host.yml"


def legacy_with_drilldowns(tmp_path: Path, drilldowns: str, search: str | None = None) -> Path:
    import shutil

    root = tmp_path / "legacy"
    shutil.copytree(LEGACY, root)
    file = root / LEGACY_DETECTION
    text = file.read_text().replace("tags:\n", f"drilldown_searches:\n{drilldowns}tags:\n", 1)
    if search:
        text = text.replace("| `drop_dm_object_name(Processes)`", search, 1)
    file.write_text(text)
    return root


def test_cim_macros_a_pack_does_not_define_are_read_with_cims_definition(tmp_path):
    root = legacy_with_drilldowns(tmp_path, "- name: Results\n  search: '%original_detection_search% | search dest=$dest$'\n"
                                            "  earliest_offset: $info_min_time$\n  latest_offset: $info_max_time$\n")
    assert build_app(root, tmp_path / "out", sync_committed=False).warnings == []


def test_a_detection_search_the_parser_cannot_read_is_not_blamed_on_its_drilldown(tmp_path):
    drilldown = ("- name: Results\n  search: '%original_detection_search% | search dest=$dest$'\n"
                 "  earliest_offset: $info_min_time$\n  latest_offset: $info_max_time$\n")
    root = legacy_with_drilldowns(tmp_path, drilldown, "| `drop_dm_object_name(Processes)` | nosuch x")
    warnings = [str(w) for w in build_app(root, tmp_path / "out", sync_committed=False).warnings]
    assert not any("drilldown_searches" in w for w in warnings), warnings
