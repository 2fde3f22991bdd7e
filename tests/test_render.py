"""Golden tests of the rendered app, and the render-time safety checks."""
from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

from detpack.conf import as_dict, parse_conf
from detpack.build.render import RenderError, render_app
from detpack.content.validate import load_valid_pack

FIXTURES = Path(__file__).parent / "fixtures"
GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize("pack_name", ["legacy_pack"])
def test_rendered_files_match_golden(pack_name):
    files = render_app(load_valid_pack(FIXTURES / pack_name)).files
    golden = GOLDEN / pack_name
    if os.environ.get("UPDATE_GOLDEN"):
        for path, text in files.items():
            (golden / path).parent.mkdir(parents=True, exist_ok=True)
            (golden / path).write_text(text)
    expected = {p.relative_to(golden).as_posix(): p.read_text() for p in golden.rglob("*") if p.is_file()}
    assert files == expected


@pytest.fixture(scope="module")
def shipped():
    pack = load_valid_pack(Path(__file__).parent.parent)
    files = render_app(pack).files
    return pack, files, {p: as_dict(parse_conf(t, p)) for p, t in files.items() if p.endswith((".conf", ".meta"))}


def test_correlation_search_stanza(shipped):
    _, _, conf = shipped
    stanza = conf["default/savedsearches.conf"]["DetPack - Script Execution via WMI - Rule"]
    assert stanza["cron_schedule"] == "0 * * * *"
    assert (stanza["dispatch.earliest_time"], stanza["dispatch.latest_time"]) == ("-70m@m", "-10m@m")
    assert stanza["disabled"] == "true" and stanza["enableSched"] == "1"
    assert stanza["action.correlationsearch.enabled"] == "1"
    assert stanza["action.correlationsearch.detection_type"] == "ebd"
    assert json.loads(stanza["action.correlationsearch.metadata"]) == {
        "detection_id": "aa73f80d-d728-4077-b226-81ea0c8be589", "detection_version": "4",
        "publish_time": 1584316800, "deprecated": "0"}
    annotations = json.loads(stanza["action.correlationsearch.annotations"])
    assert annotations["mitre_attack"] == ["T1047"] and annotations["kill_chain_phases"] == ["Installation"]
    assert (annotations["nist"], annotations["cis20"]) == (["DE.CM"], ["CIS 10"])
    assert stanza["action.notable.param.severity"] == "low"
    assert json.loads(stanza["action.risk.param._risk"]) == [
        {"risk_object_field": "dest", "risk_object_type": "system", "risk_score": 36},
        {"risk_object_field": "user", "risk_object_type": "user", "risk_score": 36}]
    assert stanza["action.risk.param._risk_message"] == "A wmic.exe process $process_name$ that execute script in host $dest$"
    assert len(json.loads(stanza["action.notable.param.drilldown_searches"])) == 2
    assert stanza["search"].endswith("| `script_execution_via_wmi_filter`")


def test_macros(shipped):
    _, _, conf = shipped
    macros = conf["default/macros.conf"]
    assert macros["drop_dm_object_name(1)"] == {
        "definition": 'rename "$object$.*" as *', "args": "object",
        "description": macros["drop_dm_object_name(1)"]["description"]}
    assert macros["security_content_ctime(1)"]["definition"] == 'convert timeformat="%Y-%m-%dT%H:%M:%S" ctime($field$)'
    assert macros["script_execution_via_wmi_filter"]["definition"] == "search *"
    assert {"summariesonly_config", "oldsummaries_config", "fillnull_config"} <= macros.keys()


def test_exports_keep_cim_macro_private(shipped):
    _, _, conf = shipped
    meta = conf["metadata/default.meta"]
    assert meta[""]["access"] == "read : [ * ], write : [ admin, sc_admin ]"
    assert meta["macros"]["export"] == "system"
    assert meta["macros/drop_dm_object_name%281%29"]["export"] == "none"


def test_custom_conf_is_registered(shipped):
    _, _, conf = shipped
    assert conf["default/app.conf"]["triggers"]["reload.analyticstories"] == "simple"
    assert conf["default/server.conf"]["shclustering"]["conf_replication_include.analyticstories"] == "true"
    assert conf["default/app.conf"]["package"]["check_for_updates"] == "false"


def test_manifest_is_json_with_app_identity(shipped):
    pack, files, _ = shipped
    manifest = json.loads(files["app.manifest"])
    assert manifest["info"]["id"] == {"group": None, "name": "DA-ESS-DetPack", "version": "1.0.0"}


def test_a_value_that_cannot_be_written_stops_the_render():
    pack = load_valid_pack(FIXTURES / "legacy_pack")
    broken = dataclasses.replace(pack.detections[0], description="ends in \\")
    with pytest.raises(Exception, match="ends with a backslash"):
        render_app(dataclasses.replace(pack, detections=(broken,)))


def test_read_back_mismatch_fails_the_render(monkeypatch):
    """A template that writes something other than the model says fails the build."""
    import detpack.build.render as render

    real = render._environment

    def tampered(template_cache):
        env = real(template_cache)
        env.globals["risk"] = lambda d: []
        return env

    monkeypatch.setattr(render, "_environment", tampered)
    with pytest.raises(RenderError, match=r"\[LEGACY - WMI Script Host Started - Rule\] action.risk.param._risk does not match"):
        render_app(load_valid_pack(FIXTURES / "legacy_pack"))
