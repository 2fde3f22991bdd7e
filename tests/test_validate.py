"""One test per validation rule: a broken input and the exact finding it gives."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from detpack.content.validate import check_pack, load_valid_pack
from detpack.errors import InvalidInput

DETECTION = "detections/endpoint/script_execution_via_wmi.yml"
KNOWN_FALSE_POSITIVES = ("known_false_positives: >-\n  Although unlikely, administrators may use wmi to launch scripts for legitimate purposes. Filter\n  as needed.")


def findings(root: Path) -> list[str]:
    """Errors and warnings alike: ``strict`` turns warnings into errors."""
    with pytest.raises(InvalidInput) as error:
        load_valid_pack(root, strict=True)
    return [str(f) for f in error.value.findings]


def warnings(root: Path) -> list[str]:
    return [str(f) for f in check_pack(root).warnings]


def edit(root: Path, old: str, new: str, path: str = DETECTION) -> int:
    """Replace ``old`` with ``new`` in a pack file; returns the 1-based line of the change."""
    file = root / path
    text = file.read_text()
    assert old in text, old
    file.write_text(text.replace(old, new, 1))
    return text[: text.index(old)].count("\n") + 1


def test_the_project_pack_is_valid(pack_copy):
    pack = load_valid_pack(pack_copy)
    assert [d.name for d in pack.detections] == ["Script Execution via WMI"]


@pytest.mark.parametrize("old, new, column, expected", [
    ("version: 4", "version: four", 10, "version: is text (expected a whole number >= 1)"),
    ("version: 4", "version: .inf", 10, "version: is a number (expected a whole number >= 1)"),
    ("version: 4", "version: -.INF", 10, "version: is a number (expected a whole number >= 1)"),
    ("    score: 36\n  - field: user", "    score: .NaN\n  - field: user", 12,
     "rba.risk_objects[0].score: is a number (expected a whole number from 0 to 100)"),
    ("id: aa73f80d-d728-4077-b226-81ea0c8be589", "id: not-a-uuid", 5,
     "id: 'not-a-uuid' is not valid (expected a UUID like 01234567-89ab-cdef-0123-456789abcdef)"),
    ("  - T1047", "  - T47", 5, "tags.mitre_attack_id[0]: 'T47' is not valid (expected an ATT&CK id like T1234 or T1234.001)"),
    ("    score: 36\n  - field: user", "    score: 136\n  - field: user", 12,
     "rba.risk_objects[0].score: 136 is out of range (expected a whole number from 0 to 100)"),
    ("    type: system", "    type: host", 11,
     "rba.risk_objects[0].type: 'host' is not allowed (expected one of system, user, other)"),
    ("date: '2020-03-16'", "date: '2020-13-16'", 7, "date: '2020-13-16' is not a date (expected a date YYYY-MM-DD)"),
    ("date: '2020-03-16'", "date: 2020-03-16 10:00:00", 7, "date: is a date and time (expected a date YYYY-MM-DD)"),
    ("type: TTP", "type: TTPs", 7, "type: 'TTPs' is not allowed (expected one of TTP, Anomaly, Hunting, Correlation)"),
    ("type: TTP", "type: 2024-01-31", 7, "type: is a date (expected one of TTP, Anomaly, Hunting, Correlation)"),
    ("status: production", "status: production\nserach: typo", 1,
     None),
])
def test_schema_rules(pack_copy, old, new, column, expected):
    line = edit(pack_copy, old, new)
    if expected is None:  # unknown key: the finding is on the added line
        line, column = line + 1, 1
        expected = "serach: unknown key (expected one of "
    found = findings(pack_copy)
    assert any(f.startswith(f"{DETECTION}:{line}:{column}: {expected}") for f in found), found


def test_missing_required_key(pack_copy):
    edit(pack_copy, "how_to_implement: >-", "how_to_implementation: >-")
    found = findings(pack_copy)
    assert f"{DETECTION}:1:1: (document): missing required key 'how_to_implement' (expected non-empty text)" in found


def test_duplicate_key_and_yaml_syntax(pack_copy):
    line = edit(pack_copy, "version: 4", "version: 4\nversion: 5")
    assert findings(pack_copy) == [f"{DETECTION}:{line + 1}:1: version: duplicate key (expected each key once)"]
    edit(pack_copy, "version: 4\nversion: 5", "version: [4")
    assert findings(pack_copy)[0].startswith(f"{DETECTION}:{line + 1}:")
    assert "(yaml): not valid YAML" in findings(pack_copy)[0]


def test_control_characters_are_a_validation_error(pack_copy):
    line = edit(pack_copy, KNOWN_FALSE_POSITIVES, 'known_false_positives: "bell \\a"')
    found = findings(pack_copy)
    assert f"{DETECTION}:{line}:24: known_false_positives: contains control characters U+0007 (expected printable text)" in found


def test_trailing_backslash_is_a_validation_error(pack_copy):
    line = edit(pack_copy, "  as needed.", "  as needed \\") - 2
    found = findings(pack_copy)
    assert any(f.startswith(f"{DETECTION}:{line}:24: known_false_positives: value ends with a backslash") for f in found), found


def test_story_must_exist(pack_copy):
    line = edit(pack_copy, "  - Suspicious WMI Use", "  - Unknown Story")
    assert findings(pack_copy) == [f"{DETECTION}:{line}:5: tags.analytic_story[0]: story 'Unknown Story' does not exist "
                                   "(expected the name of a story in stories/)"]


def test_macros_must_exist(pack_copy):
    line = edit(pack_copy, "`security_content_ctime(firstTime)`", "`security_content_time(firstTime)`")
    assert findings(pack_copy) == [f"{DETECTION}:{line}:9: search: macro `security_content_time(firstTime)` is not defined "
                                   "(expected a macro in macros/, a detection filter macro or a CIM macro)"]


def test_macro_argument_count_matters(pack_copy):
    edit(pack_copy, "`security_content_ctime(firstTime)`", "`security_content_ctime(firstTime, x)`")
    assert any("macro `security_content_ctime(firstTime, x)` is not defined" in f for f in findings(pack_copy))


def test_search_must_end_with_own_filter(pack_copy):
    line = edit(pack_copy, "| `script_execution_via_wmi_filter`'", "'")
    assert warnings(pack_copy) == findings(pack_copy) == [f"{DETECTION}:{line}:9: search: ends with '`security_content_ctime(lastTime)`' "
                                   "(expected the last command to be `script_execution_via_wmi_filter`)"]


def test_risk_message_tokens_must_be_result_fields(pack_copy):
    line = edit(pack_copy, "host $dest$", "host $dest_host$")
    found = findings(pack_copy)
    assert len(found) == 1 and found[0].startswith(
        f"{DETECTION}:{line}:12: rba.message: token $dest_host$ is not a field the search returns (expected one of count, dest,")


def test_drilldown_tokens_must_be_result_fields(pack_copy):
    line = edit(pack_copy, 'user = "$user$"', 'user = "$username$"')
    found = findings(pack_copy)
    assert len(found) == 1 and found[0].startswith(
        f"{DETECTION}:{line}:11: drilldown_searches[0].search: token $username$ is not a field the search returns")


def test_risk_object_fields_must_be_result_fields(pack_copy):
    line = edit(pack_copy, "  - field: user", "  - field: src_user")
    found = findings(pack_copy)
    assert len(found) == 1 and found[0].startswith(
        f"{DETECTION}:{line}:5: rba.risk_objects[1].field: 'src_user' is not a field the search returns")


def test_name_length_limit(pack_copy):
    line = edit(pack_copy, "name: Script Execution via WMI", "name: " + "W" * 68)
    assert f"{DETECTION}:{line}:7: name: is 68 characters long (expected at most 67, the Enterprise Security label limit)" in findings(pack_copy)


def test_risk_score_must_follow_impact_and_confidence(pack_copy):
    edit(pack_copy, "  impact: 60", "  impact: 70")
    assert findings(pack_copy) == [
        f"{DETECTION}:{line}:12: rba.risk_objects[{i}].score: 36 disagrees with impact x confidence / 100 (expected 42)"
        for i, line in enumerate((50, 53))]


def test_a_risk_score_off_impact_and_confidence_is_only_a_warning(pack_copy):
    from detpack.content.validate import check_pack

    edit(pack_copy, "  impact: 60", "  impact: 70")
    assert [w.problem for w in check_pack(pack_copy).warnings] == [
        "36 disagrees with impact x confidence / 100"] * 2


def test_ids_and_names_unique_across_the_pack(pack_copy):
    copy = pack_copy / "detections/endpoint/script_execution_via_wmi_copy.yml"
    shutil.copy(pack_copy / DETECTION, copy)
    edit(pack_copy, "| `script_execution_via_wmi_filter`", "| `script_execution_via_wmi_copy_filter`",
         path="detections/endpoint/script_execution_via_wmi_copy.yml")
    found = findings(pack_copy)
    assert any(f.startswith("detections/endpoint/script_execution_via_wmi_copy.yml:2:5: id: 'aa73f80d") and
               f"also used at {pack_copy}/{DETECTION}:2:5" in f for f in found) or any(
        "id: 'aa73f80d-d728-4077-b226-81ea0c8be589' is also used at" in f for f in found), found
    assert any("name: 'script execution via wmi' is also used at" in f for f in found), found


def test_attack_data_files_must_exist(pack_copy):
    line = edit(pack_copy, "positive_sysmon.xml.log", "missing.xml.log")
    assert findings(pack_copy) == [f"{DETECTION}:{line}:5: tests[0].attack_data[0].data: file "
                                   "'attack_data/script_execution_via_wmi/missing.xml.log' does not exist or is not a regular file "
                                   "(expected a path relative to the content directory, or a URL)"]


def test_schemas_cannot_be_mixed(pack_copy):
    line = edit(pack_copy, "  asset_type: Endpoint", "  asset_type: Endpoint\n  message: old style")
    assert findings(pack_copy) == [f"{DETECTION}:{line + 1}:12: tags.message: older risk key beside 'rba' "
                                   "(expected risk settings only under 'rba')"]


def test_all_problems_are_reported_at_once_sorted(pack_copy):
    edit(pack_copy, "version: 4", "version: 0")
    edit(pack_copy, "definition: 'null'", "definition:", path="macros/fillnull_config.yml")
    found = findings(pack_copy)
    assert len(found) >= 2
    assert found == sorted(found)


def test_validate_command_exit_code_and_json(pack_copy, capsys):
    from detpack.cli import main

    edit(pack_copy, "version: 4", "version: -1")
    assert main(["validate", "--content", str(pack_copy), "--json"]) == 2
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False
    assert report["findings"][0]["field"] == "version"
    assert report["findings"][0]["line"] == 3
    assert main(["validate", "--content", str(pack_copy)]) == 2
    err = capsys.readouterr().err
    assert f"{DETECTION}:3:10: version: -1 is out of range (expected a whole number >= 1)" in err


def test_older_schema_is_normalised(tmp_path):
    root = tmp_path / "legacy"
    shutil.copytree(Path(__file__).parent / "fixtures" / "legacy_pack", root)
    pack = load_valid_pack(root)
    (detection,) = pack.detections
    assert [(r.field, r.type, r.score) for r in detection.risk_objects] == [("dest", "system", 36), ("user", "user", 36)]
    assert [(t.field, t.type) for t in detection.threat_objects] == [("process_name", "process")]  # as contentctl 4.4.1
    assert detection.risk_message.startswith("A wmic.exe process $process_name$")
    assert detection.annotations.kill_chain_phases == ("Installation",)


def test_data_sources_must_be_described_when_the_pack_has_them(pack_copy):
    (pack_copy / "data_sources").mkdir()
    (pack_copy / "data_sources" / "sysmon_eventid_1.yml").write_text("name: Sysmon EventID 1\n")
    line = edit(pack_copy, "- Windows Event Log Security 4688", "- Windows Event Log Security 4689")
    assert findings(pack_copy) == [f"{DETECTION}:{line}:3: data_source[1]: 'Windows Event Log Security 4689' "
                                   "is not in data_sources/ (expected the name of a data source file)"]


def test_data_source_without_name(pack_copy):
    (pack_copy / "data_sources").mkdir()
    (pack_copy / "data_sources" / "broken.yml").write_text("title: no name\n")
    assert "data_sources/broken.yml:1:1: name: is missing (expected the data source's name)" in findings(pack_copy)


def test_macros_used_by_drilldowns_must_exist(pack_copy):
    edit(pack_copy, "| `security_content_ctime(firstTime)` | `security_content_ctime(lastTime)`'\n  earliest",
         "| `security_content_ctim(firstTime)` | `security_content_ctime(lastTime)`'\n  earliest")
    lines = (pack_copy / DETECTION).read_text().splitlines()
    line = next(i for i, text in enumerate(lines, 1) if text.startswith("  search: '| from datamodel Risk"))
    assert findings(pack_copy) == [
        f"{DETECTION}:{line}:11: drilldown_searches[1].search: macro `security_content_ctim(firstTime)` is not defined "
        "(expected a macro in macros/, a detection filter macro or a CIM macro)"]


def test_macros_used_inside_macros_must_exist(pack_copy):
    edit(pack_copy, "`fillnull_config`", "`fillnul_config`", path="macros/security_content_summariesonly.yml")
    assert findings(pack_copy) == [
        "macros/security_content_summariesonly.yml:2:13: definition: macro `fillnul_config` is not defined "
        "(expected a macro in macros/ or a CIM macro)"]


def test_blank_text_is_reported_as_empty(pack_copy):
    line = edit(pack_copy, KNOWN_FALSE_POSITIVES, "known_false_positives: '   '")
    assert findings(pack_copy) == [f"{DETECTION}:{line}:24: known_false_positives: is empty (expected non-empty text)"]


def test_older_schema_field_warnings_name_the_observable(tmp_path, monkeypatch):
    root = tmp_path / "legacy"
    shutil.copytree(Path(__file__).parent / "fixtures" / "legacy_pack", root)
    monkeypatch.chdir(root)
    legacy = "detections/endpoint/wmi_script_host.yml"
    line = edit(root, "  - name: user\n", "  - name: account\n", legacy)
    (warning,) = warnings(root)
    assert warning.startswith(f"{legacy}:{line}:5: tags.observable[1].name: 'account' is not a field the search returns")
    with pytest.raises(InvalidInput):
        load_valid_pack(root, strict=True)


def test_hunting_and_correlation_detections_need_no_risk(pack_copy):
    edit(pack_copy, "type: TTP", "type: Hunting")
    edit(pack_copy, "  - DE.CM\n", "  - DE.AE\n")  # what contentctl computes for a Hunting detection
    pack = load_valid_pack(pack_copy, strict=True)
    assert pack.deployments["Hunting"].rba is False and pack.deployments["Hunting"].notable is None
    assert pack.deployments["Correlation"].rba is False and pack.deployments["Correlation"].notable


def test_data_sources_joined_with_and_are_checked_one_by_one(pack_copy):
    (pack_copy / "data_sources").mkdir()
    for name in ("Sysmon EventID 1", "Windows Event Log Security 4688", "Sysmon EventID 3"):
        (pack_copy / "data_sources" / f"{name.replace(' ', '_')}.yml").write_text(f"name: {name}\n")
    line = edit(pack_copy, "- Sysmon EventID 1\n", "- Sysmon EventID 1 AND Sysmon EventID 3\n")
    assert warnings(pack_copy) == []
    edit(pack_copy, "AND Sysmon EventID 3", "AND Sysmon EventID 30")
    assert warnings(pack_copy) == [f"{DETECTION}:{line}:3: data_source[0]: 'Sysmon EventID 30' is not in data_sources/ "
                                   "(expected the name of a data source file)"]


def test_warnings_keep_exit_code_0_and_strict_makes_them_errors(pack_copy, capsys):
    from detpack.cli import main

    edit(pack_copy, "| `script_execution_via_wmi_filter`'", "'")
    assert main(["validate", "--content", str(pack_copy)]) == 0
    err = capsys.readouterr().err
    assert f"warning: {DETECTION}:" in err and "--strict makes them errors" in err
    assert main(["validate", "--content", str(pack_copy), "--strict"]) == 2
    assert main(["build", "--content", str(pack_copy), "--output", str(pack_copy / "out"), "--strict"]) == 2
    assert not (pack_copy / "out").exists()
    assert main(["validate", "--content", str(pack_copy), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["warnings"][0]["field"] == "search"


def test_attack_data_may_link_to_a_dataset_but_not_to_a_device(pack_copy, tmp_path):
    from detpack.content.validate import check_pack

    data = pack_copy / "attack_data/script_execution_via_wmi/positive_sysmon.xml.log"
    (tmp_path / "dataset.log").write_bytes(data.read_bytes())
    data.unlink()
    data.symlink_to(tmp_path / "dataset.log")
    assert check_pack(pack_copy).pack is not None
    data.unlink()
    data.symlink_to("/dev/zero")
    assert [f.split(": ", 2)[2] for f in findings(pack_copy)] == [
        "file 'attack_data/script_execution_via_wmi/positive_sysmon.xml.log' does not exist or is not a regular "
        "file (expected a path relative to the content directory, or a URL)"]


def test_a_detection_names_at_least_one_product_as_contentctl_requires(pack_copy):
    line = edit(pack_copy, "  product:\n", "  product: []\n  old_product:\n")
    assert f"{DETECTION}:{line}:12: tags.product: has 0 items (expected at least 1)" in findings(pack_copy)


def test_cis20_and_nist_are_computed_as_contentctl_does_and_a_different_yaml_value_is_a_warning(pack_copy):
    from detpack.content.validate import check_pack

    line = edit(pack_copy, "  - DE.CM\n", "  - PR.AC\n")
    checked = check_pack(pack_copy)
    assert checked.pack.detections[0].annotations.nist == ("DE.CM",)
    assert [str(w) for w in checked.warnings] == [
        f"{DETECTION}:{line}:3: tags.nist: ['PR.AC'] is ignored: the build computes ['DE.CM'], as contentctl does "
        "(expected no value, or the computed one)"]
