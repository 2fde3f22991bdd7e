"""The built app's own lookups in ``test`` and ``replay``: its transforms.conf stanzas and
lookups/*.csv, as the package ships them, ahead of the add-ons' (knowledge.lookups.app_first)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from detpack.cli import main
from detpack.knowledge import load_knowledge
from detpack.knowledge.lookups import app_lookups
from detpack.replay.knowledge_choice import knowledge_for
from detpack.replay.search import run_search
from detpack.spl import SplError

SYSMON = "attack_data/script_execution_via_wmi/positive_sysmon.xml.log"
WATCHED = "Script Execution via WMI on Watched Hosts"
OWNERS = "Watched Hosts of Operations"
TABLE = "detpack_watched_hosts"
# Shipped with case_sensitive_match = false and match_type = WILDCARD(dest): the lower-case row
# matches WS-FIN-01, the SRV-* row SRV-APP-03; WS-HR-02 (the third result of the shipped
# detection on these events) has no row.
HOSTS = "dest,owner\nws-fin-01.example.local,finance\nSRV-*,operations\nWS-OPS-09.example.local,operations\n"
LOOKUP_YAML = f"""name: {TABLE}
description: Hosts whose WMI script runs are reviewed, and who owns them.
filename: {TABLE}.csv
case_sensitive_match: false
match_type: WILDCARD(dest)
"""
SYSMON_TEST = f"""tests:
- name: True Positive Test - Sysmon EventID 1
  expected_count: 2
  attack_data:
  - data: {SYSMON}
    source: XmlWinEventLog:Microsoft-Windows-Sysmon/Operational
    sourcetype: XmlWinEventLog
"""
INPUTLOOKUP_DETECTION = """name: Watched Hosts of Operations
id: 0b7d1e5c-3f6a-4c1b-8f7e-6a2d9c4e8b12
version: 1
date: '2026-03-10'
author: DetPack maintainers
status: production
type: Hunting
description: Lists the watched hosts that operations owns, from the pack's own lookup.
data_source:
- Sysmon EventID 1
search: '| inputlookup {source} | where owner="operations" | table dest owner | `watched_hosts_of_operations_filter`'
how_to_implement: Ships with the pack.
known_false_positives: None.
references: []
rba:
  message: Watched host $dest$ of $owner$
  risk_objects:
  - field: dest
    type: system
    score: 10
  threat_objects: []
tags:
  analytic_story:
  - Suspicious WMI Use
  asset_type: Endpoint
  confidence: 50
  impact: 50
  mitre_attack_id:
  - T1047
  product:
  - Splunk Enterprise
  security_domain: endpoint
""" + SYSMON_TEST


def lookup_pack(root: Path, hosts: str = HOSTS, inputlookup: str = f"{TABLE}.csv") -> Path:
    """The project's pack plus a lookup, a detection that ``| lookup``s it and one that starts
    with ``| inputlookup``."""
    (root / "lookups").mkdir(exist_ok=True)
    (root / "lookups" / f"{TABLE}.yml").write_text(LOOKUP_YAML)
    (root / "lookups" / f"{TABLE}.csv").write_text(hosts)
    shipped = (root / "detections" / "endpoint" / "script_execution_via_wmi.yml").read_text()
    watched = (shipped.replace("name: Script Execution via WMI", f"name: {WATCHED}")
               .replace("aa73f80d-d728-4077-b226-81ea0c8be589", "5f0c3a52-7a51-4a8e-9e43-2d0f5d0a1c01")
               .replace("| `script_execution_via_wmi_filter`",
                        f"| lookup {TABLE} dest OUTPUT owner | where isnotnull(owner) "
                        "| `script_execution_via_wmi_on_watched_hosts_filter`"))
    watched = watched[:watched.index("tests:")] + SYSMON_TEST
    (root / "detections" / "endpoint" / "script_execution_via_wmi_on_watched_hosts.yml").write_text(watched)
    (root / "detections" / "endpoint" / "watched_hosts_of_operations.yml").write_text(
        INPUTLOOKUP_DETECTION.format(source=inputlookup))
    return root


def replay_rows(capsys, root: Path, detection: str, *extra: str) -> list[dict]:
    code = main(["replay", "--content", str(root), "--detection", detection, "--json", *extra, str(root / SYSMON)])
    out = capsys.readouterr().out
    assert code == 0, out
    return json.loads(out)["results"]


# --- a pack's searches read the lookups its package ships ------------------------------------


def test_detections_using_the_packs_lookup_and_inputlookup_pass_their_tests(pack_copy, capsys):
    lookup_pack(pack_copy)
    assert main(["test", "--content", str(pack_copy)]) == 0
    captured = capsys.readouterr()
    assert f"PASS {WATCHED} / True Positive Test - Sysmon EventID 1" in captured.out.splitlines()
    assert f"PASS {OWNERS} / True Positive Test - Sysmon EventID 1" in captured.out.splitlines()
    assert "warning" not in captured.err


def test_replay_applies_the_shipped_match_settings(pack_copy, capsys):
    """case_sensitive_match = false and WILDCARD(dest) come from the shipped transforms.conf."""
    rows = replay_rows(capsys, lookup_pack(pack_copy), WATCHED)
    assert [(r["dest"], r["owner"]) for r in rows] == [("SRV-APP-03.example.local", "operations"),
                                                      ("WS-FIN-01.example.local", "finance")]


def test_inputlookup_reads_the_shipped_file_and_the_stanza(pack_copy, capsys):
    expected = [{"dest": "SRV-*", "owner": "operations"}, {"dest": "WS-OPS-09.example.local", "owner": "operations"}]
    assert replay_rows(capsys, lookup_pack(pack_copy), OWNERS) == expected
    assert replay_rows(capsys, lookup_pack(pack_copy, inputlookup=TABLE), OWNERS) == expected


# --- broken inputs ---------------------------------------------------------------------------


def test_a_header_naming_a_column_twice_is_named_once_and_the_search_says_so(pack_copy, capsys):
    lookup_pack(pack_copy, hosts="dest,owner,dest\nSRV-*,operations,x\n")  # the build checks only column counts
    assert main(["test", "--content", str(pack_copy)]) == 1
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        f"warning: lookups/{TABLE}.csv:1: column 'dest' appears twice in the header; no lookup reads it"]
    failed = [line for line in captured.out.splitlines() if line.startswith("FAIL")]
    assert len(failed) == 2
    assert f"FAIL {WATCHED} / True Positive Test - Sysmon EventID 1: lookup '{TABLE}' cannot be read " \
           "(its warning says why) at position" in failed[0]
    assert failed[1] == (f"FAIL {OWNERS} / True Positive Test - Sysmon EventID 1: lookup '{TABLE}.csv' "
                         "cannot be read (its warning says why) at position 2")


def test_an_undefined_lookup_name_fails_its_detection_in_one_line(pack_copy, capsys):
    lookup_pack(pack_copy, inputlookup="nosuch.csv")  # contentctl's lookup check reads `lookup`, not `inputlookup`
    assert main(["test", "--content", str(pack_copy)]) == 1
    assert (f"FAIL {OWNERS} / True Positive Test - Sysmon EventID 1: unknown lookup 'nosuch.csv' at position 2"
            in capsys.readouterr().out.splitlines())
    code = main(["replay", "--content", str(pack_copy), "--detection", OWNERS, str(pack_copy / SYSMON)])
    assert code == 2
    assert capsys.readouterr().err == f"{OWNERS}: unknown lookup 'nosuch.csv' at position 2\n"


def app(tmp_path: Path, transforms: str, lookups: dict[str, str] | None = None, name: str = "DA-ESS-Test") -> Path:
    """A built app's folder: default/transforms.conf and lookups/."""
    root = tmp_path / name
    (root / "default").mkdir(parents=True)
    (root / "default" / "transforms.conf").write_text(transforms)
    (root / "lookups").mkdir()
    for file, text in (lookups or {}).items():
        (root / "lookups" / file).write_text(text)
    return root


def problems_at_start(app_dir: Path, capsys) -> list[str]:
    knowledge = knowledge_for((), (), app_dir)
    lines = capsys.readouterr().err.splitlines()
    assert knowledge.problems.unshown() == []  # each was printed, once
    return lines


def test_a_missing_lookup_file_is_named_when_the_run_starts(tmp_path, capsys):
    root = app(tmp_path, "[t]\nfilename = gone.csv\n")
    assert problems_at_start(root, capsys) == [
        "warning: DA-ESS-Test: default/transforms.conf [t] filename: lookup file lookups/gone.csv is missing"]


@pytest.mark.parametrize("csv_text, reason", [
    ("", "lookups/t.csv:1: no header line"),
    ("\n\n", "lookups/t.csv:1: no header line"),
    ("a,,b\n1,2,3\n", "lookups/t.csv:1: column 2 of the header has no name"),
    ("\na,b,a\n1,2,3\n", "lookups/t.csv:2: column 'a' appears twice in the header"),
])
def test_a_bad_header_is_named_with_its_line(tmp_path, capsys, csv_text, reason):
    root = app(tmp_path, "[t]\nfilename = t.csv\n", {"t.csv": csv_text})
    assert problems_at_start(root, capsys) == [f"warning: {reason}; no lookup reads it"]


@pytest.mark.parametrize("setting, reason, used", [
    ("filter = owner=x", "a filter on the table's rows: only CSV file lookups are supported, table not used", False),
    ("collection = c", "a KV store lookup: only CSV file lookups are supported, table not used", False),
    ("time_field = t", "a temporal lookup: only CSV file lookups are supported, table not used", False),
    ("case_sensitive_matches = false", "not a lookup setting of transforms.conf.spec, ignored", True),
    ("index_fields_list = a", "every column is matched, ignored", True),
    ("match_type = CIDR(a)", "CIDR matching is not supported, matched exactly", True),
    ("match_type = FUZZY(a)", "unknown match type FUZZY, matched exactly", True),
    ("match_type = WILDCARD a", "cannot read 'WILDCARD a', matched exactly", True),
    ("max_matches = 0", "outside 1-1000, 1 used", True),
])
def test_an_unsupported_setting_is_named_once_with_its_stanza(tmp_path, capsys, setting, reason, used):
    root = app(tmp_path, f"[t]\nfilename = t.csv\n{setting}\n", {"t.csv": "a,b\n1,one\n"})
    key = setting.split(" =")[0]
    assert problems_at_start(root, capsys) == [f"warning: DA-ESS-Test: default/transforms.conf [t] {key}: {reason}"]
    knowledge = load_knowledge(app=app_lookups(root))
    for _ in range(2):
        if used:
            assert run_search("| inputlookup t", {}, [], knowledge=knowledge).rows == [{"a": "1", "b": "one"}]
        else:
            with pytest.raises(SplError, match="lookup 't' cannot be read"):
                run_search("| inputlookup t", {}, [], knowledge=knowledge)
    assert len(knowledge.problems.messages) == 1


def test_settings_without_offline_effect_are_accepted_quietly(tmp_path, capsys):
    root = app(tmp_path, "[t]\nfilename = t.csv\nbatch_index_query = true\nallow_caching = true\nreplicate = false\n"
                         "check_permission = true\nreverse_lookup_honor_case_sensitive_match = false\n",
               {"t.csv": "a\n1\n"})
    assert problems_at_start(root, capsys) == []


# --- precedence against the add-ons ----------------------------------------------------------


def addon(tmp_path: Path, props: str = "", transforms: str = "", lookups: dict[str, str] | None = None) -> Path:
    root = tmp_path / "TA_hosts"
    (root / "default").mkdir(parents=True)
    (root / "default" / "props.conf").write_text(props)
    (root / "default" / "transforms.conf").write_text(transforms)
    (root / "lookups").mkdir()
    for file, text in (lookups or {}).items():
        (root / "lookups" / file).write_text(text)
    return root


def rows(spl: str, addon_dir: Path, app_dir: Path | None) -> list[dict]:
    knowledge = load_knowledge([addon_dir], app_lookups(app_dir) if app_dir else None)
    return run_search(spl, {}, [], knowledge=knowledge).rows


def test_the_apps_own_stanza_comes_before_an_add_ons_of_the_same_name(tmp_path):
    ta = addon(tmp_path, transforms="[hosts]\nfilename = ta_hosts.csv\n", lookups={"ta_hosts.csv": "host\nfrom-ta\n"})
    own = app(tmp_path, "[hosts]\nfilename = app_hosts.csv\n", {"app_hosts.csv": "host\nfrom-app\n"})
    assert rows("| inputlookup hosts", ta, None) == [{"host": "from-ta"}]
    assert rows("| inputlookup hosts", ta, own) == [{"host": "from-app"}]


def test_a_setting_the_app_leaves_unset_comes_from_the_add_ons_stanza(tmp_path):
    """Copies of a stanza merge setting by setting (Admin Manual, "Configuration file precedence")."""
    ta = addon(tmp_path, transforms="[hosts]\nfilename = ta_hosts.csv\ncase_sensitive_match = false\n",
               lookups={"ta_hosts.csv": "host,n\nx,0\n"})
    own = app(tmp_path, "[hosts]\nfilename = app_hosts.csv\n", {"app_hosts.csv": "host,n\nABC,1\n"})
    assert rows('| inputlookup hosts | eval host="abc" | lookup hosts host OUTPUT n', ta, own)[0]["n"] == "1"


def test_the_apps_lookup_file_comes_before_an_add_ons_file_of_the_same_name(tmp_path):
    """The file is found by name in the search's app context (transforms.conf.spec, filename)."""
    ta = addon(tmp_path, transforms="[ta_table]\nfilename = hosts.csv\n", lookups={"hosts.csv": "host\nfrom-ta\n"})
    own = app(tmp_path, "", {"hosts.csv": "host\nfrom-app\n"})
    assert rows("| inputlookup ta_table", ta, own) == [{"host": "from-app"}]
    assert rows("| inputlookup hosts.csv", ta, own) == [{"host": "from-app"}]
    assert rows("| inputlookup hosts.csv", ta, None) == [{"host": "from-ta"}]


def test_an_add_ons_automatic_lookup_reads_the_apps_table_of_its_name(tmp_path):
    ta = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\nLOOKUP-owner = hosts host OUTPUT owner\n",
               transforms="[hosts]\nfilename = hosts.csv\n", lookups={"hosts.csv": "host,owner\nh1,ta\n"})
    own = app(tmp_path, "[hosts]\nfilename = own_hosts.csv\n", {"own_hosts.csv": "host,owner\nh1,app\n"})
    event = {"_raw": "", "source": "XmlWinEventLog:Security", "sourcetype": "XmlWinEventLog", "host": "h1"}
    assert load_knowledge([ta]).apply(dict(event))["owner"] == "ta"
    assert load_knowledge([ta], app_lookups(own)).apply(dict(event))["owner"] == "app"


def test_replay_with_an_add_on_defining_the_same_lookup_reads_the_apps(pack_copy, tmp_path, capsys):
    ta = addon(tmp_path, transforms=f"[{TABLE}]\nfilename = {TABLE}.csv\n",
               lookups={f"{TABLE}.csv": "dest,owner\nTA-HOST,operations\n"})
    lookup_pack(pack_copy, inputlookup=TABLE)
    got = replay_rows(capsys, pack_copy, OWNERS, "--addon", str(ta))
    assert [r["dest"] for r in got] == ["SRV-*", "WS-OPS-09.example.local"]


def test_a_stanza_naming_a_model_file_is_not_called_missing(tmp_path, capsys):
    """Machine Learning Toolkit models ship in lookups/ beside their stanza; `apply` reads them, not `lookup`."""
    root = app(tmp_path, "[__mlspl_m]\nfilename = __mlspl_m.mlmodel\n", {"__mlspl_m.mlmodel": "model"})
    assert problems_at_start(root, capsys) == [
        "warning: DA-ESS-Test: default/transforms.conf [__mlspl_m] filename: lookups/__mlspl_m.mlmodel is not a CSV "
        "file, table not used"]


def test_a_lookup_tables_repr_does_not_show_its_index_cache():
    from detpack.knowledge.lookups import LookupTable

    table = LookupTable("t", ["a", "b"], [{"a": "1", "b": "x"}])
    before = repr(table)
    assert table.matches({"a": "1"}) == [{"a": "1", "b": "x"}]
    assert repr(table) == before and "indexes" not in before
