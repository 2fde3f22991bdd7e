"""Baselines, deployments, lookups and stories: broken input is one clear line each, never a traceback."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from detpack.build.render import render_app
from detpack.conf import as_dict, parse_conf
from detpack.content.validate import load_valid_pack
from detpack.errors import InvalidInput

FIXTURES = Path(__file__).parent / "fixtures"
BASELINE = """name: Previously Seen Hosts
id: 22222222-2222-4333-8444-555555555555
version: 1
date: '2024-01-01'
author: Test Author
type: Baseline
description: Hosts seen before.
search: '| tstats count from datamodel=Endpoint.Processes by Processes.dest'
tags:
  analytic_story:
  - WMI Abuse
"""


@pytest.fixture
def pack(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "pack"
    shutil.copytree(FIXTURES / "legacy_pack", root)
    monkeypatch.chdir(root)
    return root


def write(root: Path, relative: str, text: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def findings(root: Path) -> list[str]:
    with pytest.raises(InvalidInput) as error:
        load_valid_pack(root)
    return [str(f) for f in error.value.findings]


def test_a_baseline_schedule_without_schedule_window_is_a_schema_error(pack):
    write(pack, "baselines/seen.yml", BASELINE + "deployment:\n  scheduling:\n    cron_schedule: 0 * * * *\n"
          "    earliest_time: -1d\n    latest_time: now\n")
    assert findings(pack) == ["baselines/seen.yml:14:5: deployment.scheduling: missing required key "
                              "'schedule_window' (expected text on one line)"]


def test_a_story_author_starting_with_a_comma_is_named_as_contentctl_names_it(pack):
    story = pack / "stories" / "wmi_abuse.yml"
    story.write_text(story.read_text().replace("author: Test Author", "author: ', Splunk'"))
    conf = as_dict(parse_conf(render_app(load_valid_pack(pack)).files["default/analyticstories.conf"].decode(), "a"))
    assert json.loads(conf["analytic_story://WMI Abuse"]["maintainers"]) == [
        {"company": "Splunk", "email": "-", "name": "no"}]


LOOKUP = "name: evil\ndescription: Hosts.\nfilename: evil.csv\n"


def test_a_lookup_file_that_is_a_link_is_refused_at_its_filename(pack, tmp_path):
    write(pack, "lookups/evil.yml", LOOKUP)
    (pack / "lookups" / "evil.csv").symlink_to("/etc/passwd")
    assert findings(pack) == ["lookups/evil.yml:3:11: filename: file 'evil.csv' is a symbolic link "
                              "(expected a regular file beside the lookup's YAML)"]


def test_a_lookup_in_a_linked_folder_is_refused(pack, tmp_path):
    outside = tmp_path / "outside"
    write(outside, "evil.csv", "host\nx\n")
    write(outside, "evil.yml", LOOKUP)
    (pack / "lookups").symlink_to(outside)
    assert findings(pack) == ["lookups/evil.yml: (file): lies outside the content directory (through a symbolic "
                              "link) (expected a YAML file in the content directory)"]


@pytest.mark.parametrize("target, problem", [("/dev/zero", "is a symbolic link"), (None, "is not a regular file")])
def test_a_detection_that_is_a_link_or_a_device_is_refused_not_read(pack, target, problem):
    path = pack / "detections" / "endpoint" / "zero.yml"
    if target:
        path.symlink_to(target)
    else:
        import os
        os.mkfifo(path)
    assert findings(pack) == [f"detections/endpoint/zero.yml: (file): {problem} (expected a YAML file in the "
                              "content directory)"]


@pytest.mark.parametrize("text, problem", [
    ("host,reason\nevil\n", "lookups/evil.csv:2:1: (csv): row has 1 columns (expected 2, as the header has)"),
    ("host,reason\n\nevil,1,2\n", "lookups/evil.csv:3:1: (csv): row has 3 columns (expected 2, as the header has)"),
    ("", "lookups/evil.csv: (csv): is empty (expected a header line naming the lookup's fields)"),
    ("\n\n", "lookups/evil.csv: (csv): is empty (expected a header line naming the lookup's fields)"),
    ("host,reason\n\na,1\n" + "b" * 131_073 + ",2\n", "lookups/evil.csv:4:1: (csv): not readable as CSV: "
     "field larger than field limit (131072) (expected CSV text)"),
    ("host\nev\0il\n", "lookups/evil.csv:2:1: (csv): contains a NUL byte (expected CSV text)"),
    ("host\n\xff\n", "lookups/evil.csv: (csv): not UTF-8 text: invalid start byte (expected UTF-8 CSV text)"),
])
def test_a_lookup_csv_contentctl_would_refuse_is_refused_at_its_row(pack, text, problem):
    write(pack, "lookups/evil.yml", LOOKUP)
    (pack / "lookups" / "evil.csv").write_bytes(text.encode("latin-1"))
    assert findings(pack) == [problem]


def test_a_lookup_csv_with_blank_lines_and_rows_as_wide_as_its_header_is_accepted(pack):
    write(pack, "lookups/evil.yml", LOOKUP)
    (pack / "lookups" / "evil.csv").write_text('host,reason\n\na,"1,2"\n\r\nb,"multi\nline"\n')
    assert [lookup.filename for lookup in load_valid_pack(pack).lookups] == ["evil.csv"]


def test_a_lookup_file_beyond_the_size_bound_is_refused_unread(pack, monkeypatch):
    from detpack.content import load
    write(pack, "lookups/evil.yml", LOOKUP)
    with (pack / "lookups" / "evil.csv").open("wb") as handle:
        handle.truncate(load.MAX_LOOKUP_BYTES + 1)  # sparse: no disk used
    assert findings(pack) == [f"lookups/evil.csv: (file): is {load.MAX_LOOKUP_BYTES + 1} bytes (expected a lookup "
                              f"file of at most {load.MAX_LOOKUP_BYTES} bytes)"]


def test_a_lookup_with_a_filename_and_a_collection_is_refused(pack):
    write(pack, "lookups/evil.yml", LOOKUP + "collection: evil\n")
    write(pack, "lookups/evil.csv", "host\nx\n")
    assert findings(pack) == ["lookups/evil.yml:4:13: collection: a lookup with a filename cannot name a "
                              "collection too (expected a filename or a collection)"]


@pytest.mark.parametrize("filename", ["t.txt", "m.mlmodel", ".hidden.csv"])
def test_a_lookup_file_the_package_cannot_ship_is_refused_at_load(pack, filename):
    write(pack, "lookups/evil.yml", LOOKUP.replace("evil.csv", f"'{filename}'"))
    write(pack, f"lookups/{filename}", "host\nx\n")
    assert findings(pack) == [f"lookups/evil.yml:3:11: filename: {filename!r} is not valid (expected a .csv file "
                              "name, or __mlspl_<name>.mlmodel, of at most 100 characters, beside the YAML)"]


def test_a_lookup_file_name_over_the_100_bytes_a_package_holds_is_refused_at_load(pack, tmp_path, capsys):
    """The package is a USTAR tar, whose headers hold a file name of at most 100 bytes."""
    from detpack.cli import main

    filename = "h" * 97 + ".csv"
    write(pack, "lookups/evil.yml", LOOKUP.replace("evil.csv", filename))
    write(pack, f"lookups/{filename}", "host\nx\n")
    out = tmp_path / "out"
    assert main(["build", "--content", ".", "--output", str(out)]) == 2
    assert capsys.readouterr().err.splitlines()[-2:] == [
        "lookups/evil.yml:3:11: filename: is 101 characters long (expected a .csv file name, or "
        "__mlspl_<name>.mlmodel, of at most 100 characters, beside the YAML)", "1 problem(s) found; nothing was written"]
    assert not out.exists() and not (pack / "default").exists()


def test_a_lookup_file_name_of_100_bytes_builds(pack, tmp_path):
    from detpack.cli import main

    filename = "h" * 96 + ".csv"
    write(pack, "lookups/evil.yml", LOOKUP.replace("evil.csv", filename))
    write(pack, f"lookups/{filename}", "host\nx\n")
    assert main(["build", "--content", ".", "--output", str(tmp_path / "out")]) == 0


DETECTION = "detections/endpoint/wmi_script_host.yml"


def add_to_search(root: Path, text: str) -> int:
    path = root / DETECTION
    old = path.read_text()
    path.write_text(old.replace("| `wmi_script_host_filter`", f"{text} | `wmi_script_host_filter`", 1))
    assert path.read_text() != old
    return old[:old.index("search: ")].count("\n") + 1


def test_a_search_naming_a_lookup_the_pack_lacks_is_an_error(pack):
    line = add_to_search(pack, "| lookup no_such_lookup host OUTPUT reason")
    assert findings(pack) == [f"{DETECTION}:{line}:9: search: lookup 'no_such_lookup' is not in the pack "
                              "(expected a lookup in lookups/)"]


def test_a_lookup_in_the_pack_or_provided_elsewhere_is_fine(pack):
    write(pack, "lookups/evil.yml", LOOKUP)
    write(pack, "lookups/evil.csv", "host\nx\n")
    add_to_search(pack, "| lookup evil host OUTPUT host as seen | lookup ut_shannon_lookup word as host")
    assert load_valid_pack(pack).lookups[0].name == "evil"


DEPLOYMENT = """name: TTP deployment
id: 33333333-2222-4333-8444-555555555555
date: '2024-01-01'
author: Test Author
description: How TTP detections run.
type: TTP
scheduling:
  cron_schedule: 0 * * * *
  earliest_time: -70m@m
  latest_time: -10m@m
  schedule_window: auto
alert_action:
  rba:
    enabled: true
  notable:
    rule_title: '%name% on $dest$'
    rule_description: '%description%'
"""


@pytest.mark.parametrize("placeholder", ["path", "locations", ""])
def test_a_notable_placeholder_outside_the_documented_ones_is_refused(pack, placeholder):
    write(pack, "deployments/ttp.yml", DEPLOYMENT.replace("'%description%'", f"'See %{placeholder}%'"))
    assert [f.split(" (expected")[0] for f in findings(pack)] == [
        f"deployments/ttp.yml:17:23: alert_action.notable.rule_description: unknown placeholder %{placeholder}%"]


def test_the_documented_placeholders_are_filled(pack):
    write(pack, "deployments/ttp.yml", DEPLOYMENT.replace("'%description%'", "'%description% (v%version%)'"))
    conf = as_dict(parse_conf(render_app(load_valid_pack(pack)).files["default/savedsearches.conf"].decode(), "s"))
    stanza = conf["LEGACY - WMI Script Host Started - Rule"]
    assert stanza["action.notable.param.rule_title"] == "WMI Script Host Started on $dest$"
    assert stanza["action.notable.param.rule_description"] == "Finds the WMI script host starting. (v2)"


def test_two_deployments_for_one_type_is_an_error(pack):
    write(pack, "deployments/a.yml", DEPLOYMENT)
    write(pack, "deployments/b.yml", DEPLOYMENT.replace("33333333", "44444444"))
    assert findings(pack) == ["deployments/b.yml:6:7: type: 'TTP' is also deployed by deployments/a.yml "
                              "(expected one deployment per detection type)"]


def test_an_unknown_key_under_story_tags_is_an_error_as_in_contentctl(pack):
    story = pack / "stories" / "wmi_abuse.yml"
    story.write_text(story.read_text() + "  colour: blue\n")
    assert "stories/wmi_abuse.yml:12:3: tags.colour: unknown key" in [f.split(" (expected")[0] for f in findings(pack)]


def test_a_kv_store_lookup_gets_its_collection_and_file_lookups_none(pack):
    write(pack, "lookups/seen.yml", "name: seen_hosts\ndescription: A KV store.\ncollection: seen\nfields_list: _key, host\n")
    files = {p: data.decode() for p, data in render_app(load_valid_pack(pack)).files.items()}
    assert as_dict(parse_conf(files["default/collections.conf"], "c")) == {
        "seen_hosts": {"enforceTypes": "false", "replicate": "false"}}
    (pack / "lookups" / "seen.yml").unlink()
    write(pack, "lookups/evil.yml", LOOKUP)
    write(pack, "lookups/evil.csv", "host\nx\n")
    assert "default/collections.conf" not in render_app(load_valid_pack(pack)).files


def test_lookups_are_exported_for_drilldowns_run_in_incident_review(pack):
    meta = as_dict(parse_conf(render_app(load_valid_pack(pack)).files["metadata/default.meta"].decode(), "m"))
    assert meta["lookups"] == meta["transforms"] == {"export": "system"}


def test_the_launcher_names_the_company_as_contentctl_does(pack):
    settings = pack / "contentctl.yml"
    settings.write_text(settings.read_text() + "  author_company: Example Corp\n")
    conf = as_dict(parse_conf(render_app(load_valid_pack(pack)).files["default/app.conf"].decode(), "a"))
    assert conf["launcher"]["author"] == "Example Corp"


@pytest.mark.parametrize("relative, text, problem", [
    ("baselines/seen.yml", BASELINE.replace("name: Previously Seen Hosts", "name: Seen [Hosts]"),
     "baselines/seen.yml:1:7: name: stanza name contains '[' or ']'"),
    ("baselines/seen.yml", BASELINE.replace("description: Hosts seen before.", "description: 'Hosts seen \\'"),
     "baselines/seen.yml:7:14: description: value ends with a backslash, which would join the next line"),
    ("lookups/evil.yml", LOOKUP + "case_sensitive_match: 'no\\'\n",
     "lookups/evil.yml:4:23: case_sensitive_match: value ends with a backslash, which would join the next line"),
    ("deployments/ttp.yml", DEPLOYMENT.replace("'%name% on $dest$'", "'%name% \\'"),
     "deployments/ttp.yml:16:17: alert_action.notable.rule_title: value ends with a backslash, which would join "
     "the next line"),
    # analyticstories.conf's category is the story's first one; nes_fields are written joined by commas
    ("stories/wmi_abuse.yml", (FIXTURES / "legacy_pack/stories/wmi_abuse.yml").read_text().replace(
        "  - Adversary Tactics", "  - 'Adversary Tactics\\'"),
     "stories/wmi_abuse.yml:10:5: tags.category[0]: value ends with a backslash, which would join the next line"),
    ("deployments/ttp.yml", DEPLOYMENT + "    nes_fields:\n    - dest\n    - 'user\\'\n",
     "deployments/ttp.yml:19:5: alert_action.notable.nes_fields: value ends with a backslash, which would join "
     "the next line"),
    ("macros/security_content_ctime.yml", (FIXTURES / "legacy_pack/macros/security_content_ctime.yml").read_text()
     .replace("- field", "- 'field\\'"),  # macros.conf's args, the arguments joined
     "macros/security_content_ctime.yml:5:1: arguments: value ends with a backslash, which would join the next line"),
])
def test_values_that_cannot_be_written_are_refused_at_their_position(pack, relative, text, problem):
    write(pack, relative, text)
    write(pack, "lookups/evil.csv", "host\nx\n")
    assert findings(pack) == [problem + " (expected a value Splunk can read back)"]


def test_a_story_name_with_a_bracket_is_refused(pack):
    story = pack / "stories" / "wmi_abuse.yml"
    story.write_text(story.read_text().replace("name: WMI Abuse", "name: WMI [Abuse]"))
    assert "stories/wmi_abuse.yml:1:7: name: stanza name contains '[' or ']' (expected a value Splunk can read back)" \
        in findings(pack)


def test_two_baselines_or_lookups_of_one_name_and_a_baseline_named_like_a_detection(pack):
    write(pack, "baselines/a.yml", BASELINE)
    write(pack, "baselines/b.yml", BASELINE.replace("22222222", "33333333"))
    write(pack, "baselines/c.yml", BASELINE.replace("22222222", "44444444").replace(
        "name: Previously Seen Hosts", "name: WMI Script Host Started - Rule"))
    write(pack, "lookups/a.yml", LOOKUP)
    write(pack, "lookups/b.yml", LOOKUP)
    write(pack, "lookups/evil.csv", "host\nx\n")
    assert [f.split(" (expected")[0] for f in findings(pack)] == [
        "baselines/b.yml:1:7: name: 'LEGACY - Previously Seen Hosts' is also used at baselines/a.yml:1:7",
        "baselines/c.yml:1:7: name: writes the stanza [LEGACY - WMI Script Host Started - Rule], which a detection "
        "writes too",
        "lookups/b.yml:1:7: name: 'evil' is also used at lookups/a.yml:1:7"]


def test_a_baseline_naming_an_unknown_story_and_a_name_too_long_are_refused(pack):
    write(pack, "baselines/seen.yml", BASELINE.replace("- WMI Abuse", "- No Such Story").replace(
        "name: Previously Seen Hosts", "name: " + "N" * 100))
    assert [f.split(" (expected")[0] for f in findings(pack)] == [
        "baselines/seen.yml:1:7: name: is 100 characters long"]
    write(pack, "baselines/seen.yml", BASELINE.replace("- WMI Abuse", "- No Such Story"))
    assert findings(pack) == ["baselines/seen.yml:11:5: tags.analytic_story[0]: story 'No Such Story' does not exist "
                              "(expected the name of a story in stories/)"]


def test_a_story_by_the_packs_own_author_names_the_company_and_email_of_the_settings(pack):
    settings = pack / "contentctl.yml"
    settings.write_text(settings.read_text() + "  author_company: Example Corp\n  author_email: a@example.com\n")
    conf = as_dict(parse_conf(render_app(load_valid_pack(pack)).files["default/analyticstories.conf"].decode(), "a"))
    assert json.loads(conf["analytic_story://WMI Abuse"]["maintainers"]) == [
        {"company": "Example Corp", "email": "a@example.com", "name": "Test Author"}]
    story = pack / "stories" / "wmi_abuse.yml"
    story.write_text(story.read_text().replace("author: Test Author", "author: Someone Else"))
    conf = as_dict(parse_conf(render_app(load_valid_pack(pack)).files["default/analyticstories.conf"].decode(), "a"))
    assert json.loads(conf["analytic_story://WMI Abuse"]["maintainers"]) == [
        {"company": "no", "email": "-", "name": "Someone Else"}]


def test_rba_enabled_must_be_true_or_false(pack):
    write(pack, "deployments/ttp.yml", DEPLOYMENT.replace("enabled: true", "enabled: 'yes'"))
    assert findings(pack) == ["deployments/ttp.yml:14:14: alert_action.rba.enabled: is text (expected true or false)"]


def test_a_notable_field_the_search_does_not_return_is_a_warning(pack):
    from detpack.content.validate import check_pack

    write(pack, "deployments/ttp.yml", DEPLOYMENT + "    nes_fields:\n    - user\n    - src_ip\n")
    assert [w.problem for w in check_pack(pack).warnings] == [
        "notable field 'src_ip' (nes_fields of the TTP deployment) is not a field the search returns"]


INVESTIGATION = """name: Get Process History for Host
id: 55555555-2222-4333-8444-555555555555
version: 1
date: '2024-01-01'
author: Test Author
type: Investigation
description: Processes a host ran.
search: '| tstats count from datamodel=Endpoint.Processes where Processes.dest=$dest$ by Processes.process_name'
tags:
  analytic_story:
  - WMI Abuse
"""


def test_a_response_task_with_inputs_becomes_a_workbench_panel_with_a_field_menu_link(pack):
    write(pack, "investigations/history.yml", INVESTIGATION)
    write(pack, "investigations/users.yml", INVESTIGATION.replace("55555555", "66666666").replace(
        "Get Process History for Host", "Get Logons/Processes").replace("$dest$", "$dest$ AND Processes.user=$user$"))
    files = {p: data.decode() for p, data in render_app(load_valid_pack(pack)).files.items()}
    panels = as_dict(parse_conf(files["default/es_investigations.conf"], "e"))
    history = panels["panel://workbench_panel_get_process_history_for_host___response_task"]
    assert history["label"] == "Get Process History for Host" and history["disabled"] == "0"
    assert json.loads(history["tokens"]) == {"dest": {
        "valuePrefix": '"', "valueSuffix": '"', "delimiter": " OR dest=", "valueType": "primitive", "value": "asset",
        "default": "null"}}
    tokens = json.loads(panels["panel://workbench_panel_get_logons_processes___response_task"]["tokens"])
    assert [(k, v["value"]) for k, v in tokens.items()] == [("dest", "asset"), ("user", "identity")]
    actions = as_dict(parse_conf(files["default/workflow_actions.conf"], "w"))
    assert list(actions) == ["workbench_panel_get_process_history_for_host___response_task"]  # one input only
    assert actions["workbench_panel_get_process_history_for_host___response_task"]["link.uri"] == (
        "/app/$@namespace$/ess_workbench_panel?type_asset=$@field_value$&panel=workbench_panel_get_process_history_"
        "for_host___response_task&drilldown_field=$@field_name$&use_drilldown_time=true")
    from xml.etree import ElementTree
    panel = ElementTree.fromstring(files["default/data/ui/panels/workbench_panel_get_process_history_for_host___response_task.xml"])
    assert panel.find("table/search/query").text == INVESTIGATION.split("search: '")[1].split("'\n")[0]


@pytest.mark.parametrize("other", ["Get Process History for-Host", "get process history FOR HOST",
                                   "Get.Process/History for Host"])
def test_two_response_tasks_whose_workbench_panels_would_share_a_name_are_refused_at_the_later_name(pack, other):
    write(pack, "investigations/history.yml", INVESTIGATION)
    write(pack, "investigations/users.yml", INVESTIGATION.replace("55555555", "66666666").replace(
        "Get Process History for Host", other))
    assert findings(pack) == ["investigations/users.yml:1:7: name: 'workbench_panel_get_process_history_for_host___"
                              "response_task' is also used at investigations/history.yml:1:7 (expected unique across the pack)"]


def test_response_tasks_without_inputs_make_no_panel_and_so_no_panel_name_clash(pack):
    write(pack, "investigations/history.yml", INVESTIGATION)
    write(pack, "investigations/users.yml", INVESTIGATION.replace("55555555", "66666666").replace(
        "Get Process History for Host", "Get Process History for-Host").replace("$dest$", "x"))
    assert [i.name for i in load_valid_pack(pack).investigations] == ["Get Process History for Host",
                                                                       "Get Process History for-Host"]


# 64 bytes: with "workbench_panel_", "___response_task" and ".xml" the panel file's name is 100 bytes.
LONGEST_PANEL_TASK = "Get Process History for Host and Its Parent Processes Over a Day"


@pytest.mark.parametrize("name", [LONGEST_PANEL_TASK + "s", "\u8abf" * 22])  # 65 bytes; 22 characters of 3 bytes
def test_a_response_task_whose_panel_file_name_no_package_can_hold_is_refused_at_its_name(pack, tmp_path, capsys, name):
    """The package is a USTAR tar, whose headers hold a file name of at most 100 bytes."""
    from detpack.cli import main

    write(pack, "investigations/history.yml", INVESTIGATION.replace("Get Process History for Host", name))
    panel = f"workbench_panel_{name.lower()}___response_task.xml".replace(" ", "_")
    finding = (f"investigations/history.yml:1:7: name: makes the Workbench panel file {panel!r} of {len(panel.encode())}"
               " bytes (expected a shorter name: a package holds file names of at most 100 bytes)")
    assert main(["validate", "--content", "."]) == 2
    assert finding in capsys.readouterr().err.splitlines()
    out = tmp_path / "out"
    assert main(["build", "--content", ".", "--output", str(out)]) == 2
    assert capsys.readouterr().err.splitlines()[-2:] == [finding, "1 problem(s) found; nothing was written"]
    assert not out.exists() and not (pack / "default").exists()


def test_a_response_task_with_the_longest_name_a_panel_file_allows_builds(pack, tmp_path):
    from detpack.cli import main

    write(pack, "investigations/history.yml", INVESTIGATION.replace("Get Process History for Host", LONGEST_PANEL_TASK))
    assert main(["build", "--content", str(pack), "--output", str(tmp_path / "out")]) == 0


def test_no_workbench_files_without_response_tasks_that_take_inputs(pack):
    write(pack, "investigations/history.yml", INVESTIGATION.replace("$dest$", "x"))
    files = {p: data.decode() for p, data in render_app(load_valid_pack(pack)).files.items()}
    assert not [p for p in files if "es_investigations" in p or "workflow_actions" in p or "panels" in p]


def test_an_app_title_that_cannot_be_written_is_refused_at_validation(pack):
    settings = pack / "contentctl.yml"
    settings.write_text(settings.read_text().replace("title: Legacy schema pack", "title: 'Legacy schema pack \\'"))
    assert findings(pack) == ["contentctl.yml:3:10: app.title: value ends with a backslash, which would join the next "
                              "line (expected a value Splunk can read back)"]


@pytest.mark.parametrize("old, new, problem", [
    ("name: WMI Script Host Started", "name: WMI [Script] Host Started",
     "detections/endpoint/wmi_script_host.yml:1:7: name: stanza name contains '[' or ']'"),
    ("script in host $dest$", "script in host $dest$ \\",
     "detections/endpoint/wmi_script_host.yml:21:12: tags.message: value ends with a backslash, which would join "
     "the next line"),
    ("  asset_type: Endpoint", "  asset_type: 'Endpoint\\'",  # analyticstories.conf's asset_type
     "detections/endpoint/wmi_script_host.yml:17:15: tags.asset_type: value ends with a backslash, which would join "
     "the next line"),
])
def test_a_detection_name_or_risk_message_that_cannot_be_written_is_refused(pack, old, new, problem):
    path = pack / DETECTION
    path.write_text(path.read_text().replace(old, new))
    assert problem + " (expected a value Splunk can read back)" in findings(pack)


def test_an_author_a_notable_names_that_cannot_be_written_is_refused_at_the_detection(pack):
    """``%author%`` puts the detection's author into its notable's title, where a final backslash would join the
    next line of savedsearches.conf: refused at the author, as the detection's other conf values are."""
    write(pack, "deployments/ttp.yml", DEPLOYMENT.replace("'%name% on $dest$'", "'Seen by %author%'"))
    path = pack / DETECTION
    path.write_text(path.read_text().replace("author: Test Author", "author: 'Test Author\\'"))
    assert findings(pack) == ["detections/endpoint/wmi_script_host.yml:5:9: author: value ends with a backslash, which "
                              "would join the next line (expected a value Splunk can read back)"]


def test_an_author_no_conf_file_carries_is_left_as_it_is(pack):
    path = pack / DETECTION
    path.write_text(path.read_text().replace("author: Test Author", "author: 'Test Author\\'"))
    assert load_valid_pack(pack).detections[0].author == "Test Author\\"
