"""Golden tests of the rendered app, and the render-time safety checks."""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detpack.conf import as_dict, parse_conf
from detpack.build.render import RenderError, render_app, xml_text
from detpack.content.validate import load_valid_pack
from detpack.errors import InvalidInput, replace

FIXTURES = Path(__file__).parent / "fixtures"
GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize("pack_name", ["legacy_pack"])
def test_rendered_files_match_golden(pack_name):
    files = {p: data.decode() for p, data in render_app(load_valid_pack(FIXTURES / pack_name)).files.items()}
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
    files = {p: data.decode() for p, data in render_app(pack).files.items()}
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


@pytest.mark.parametrize("text, escaped", [
    ("a & b", "a &amp; b"), ("x<y>z", "x&lt;y&gt;z"), ("&lt;", "&amp;lt;"), ('"q" \'s\'', '"q" \'s\''), ("é", "é"),
])
def test_xml_text_escapes_what_character_data_needs(text, escaped):
    assert xml_text(text) == escaped


def test_a_value_that_cannot_be_written_stops_the_render():
    pack = load_valid_pack(FIXTURES / "legacy_pack")
    broken = replace(pack.detections[0], description="ends in \\")
    with pytest.raises(Exception, match="ends with a backslash"):
        render_app(replace(pack, detections=(broken,)))


def test_read_back_mismatch_fails_the_render(monkeypatch):
    """A template that writes something other than the model says fails the build."""
    import detpack.build.render as render

    real = render._environment

    def tampered():
        env = real()
        env.globals["risk"] = lambda d: []
        return env

    monkeypatch.setattr(render, "_environment", tampered)
    with pytest.raises(RenderError, match=r"\[LEGACY - WMI Script Host Started - Rule\] action.risk.param._risk does not match"):
        render_app(load_valid_pack(FIXTURES / "legacy_pack"))


@pytest.mark.parametrize("written, wrong, key", [
    ("description(d) | text", "d.name", "description"),
    ("d.search | text", "d.description | text", "search"),
    ("annotations(d) | json", "mappings(d) | json", "action.correlationsearch.annotations"),
    ("metadata(d) | json", "{} | json", "action.correlationsearch.metadata"),
    ("risk(d) | json", "[] | json", "action.risk.param._risk"),
    ('("action.risk.param._risk_message", d.risk_message)', '("action.risk.param._risk_message", d.name)',
     "action.risk.param._risk_message"),
    ("drilldowns(d) | json", '[{"name": d.name}] | json', "action.notable.param.drilldown_searches"),
])
def test_a_wrong_value_under_a_key_that_carries_the_model_fails_the_render(monkeypatch, written, wrong, key):
    import jinja2

    import detpack.build.render as render

    real = render._environment
    source = (render.TEMPLATES / "savedsearches.conf.j2").read_text()
    assert source.count(written) == 1

    def changed():
        env = real()
        env.loader = jinja2.ChoiceLoader([jinja2.DictLoader({"savedsearches.conf.j2": source.replace(written, wrong)}),
                                          env.loader])
        return env

    monkeypatch.setattr(render, "_environment", changed)
    with pytest.raises(RenderError, match=rf"\[LEGACY - WMI Script Host Started - Rule\] {re.escape(key)} does not match"):
        render_app(load_valid_pack(FIXTURES / "legacy_pack"))


@pytest.mark.parametrize("kind, risk, notable, title", [
    ("TTP", True, True, "WMI Script Host Started"),
    ("Anomaly", True, False, None),
    ("Hunting", False, False, None),
    ("Correlation", False, True, "RBA: WMI Script Host Started"),
])
def test_each_detection_type_gets_its_alert_actions(tmp_path, kind, risk, notable, title):
    root = tmp_path / "pack"
    shutil.copytree(FIXTURES / "legacy_pack", root)
    detection = root / "detections" / "endpoint" / "wmi_script_host.yml"
    detection.write_text(detection.read_text().replace("type: TTP", f"type: {kind}"))
    conf = as_dict(parse_conf(render_app(load_valid_pack(root)).files["default/savedsearches.conf"].decode(), "s"))
    stanza = conf["LEGACY - WMI Script Host Started - Rule"]
    assert ("action.risk" in stanza, "action.notable" in stanza) == (risk, notable)
    assert stanza.get("action.notable.param.rule_title") == title
    assert json.loads(stanza["action.correlationsearch.annotations"])["type_list"] == [kind]
    assert json.loads(stanza["action.escu.mappings"])["nist"] == ["DE.CM" if kind == "TTP" else "DE.AE"]


def test_lookups_ship_with_a_transforms_stanza(tmp_path):
    root = tmp_path / "pack"
    shutil.copytree(FIXTURES / "legacy_pack", root)
    (root / "lookups").mkdir()
    (root / "lookups" / "bad_hosts.csv").write_text("host,reason\nevil,test\n")
    (root / "lookups" / "bad_hosts.yml").write_text(
        "name: bad_hosts\ndescription: Hosts to watch.\nfilename: bad_hosts.csv\ncase_sensitive_match: 'false'\n"
        "match_type: WILDCARD(host)\nmin_matches: 1\n")
    (root / "lookups" / "seen.yml").write_text(
        "name: seen\ndescription: A KV store.\ncollection: seen\nfields_list: _key, host\n")
    rendered = render_app(load_valid_pack(root))
    conf = as_dict(parse_conf(rendered.files["default/transforms.conf"].decode(), "transforms.conf"))
    assert conf == {"bad_hosts": {"filename": "bad_hosts.csv", "case_sensitive_match": "false",
                                  "match_type": "WILDCARD(host)", "min_matches": "1"},
                    "seen": {"collection": "seen", "external_type": "kvstore", "fields_list": "_key, host"}}
    assert rendered.copies == {"lookups/bad_hosts.csv": root / "lookups" / "bad_hosts.csv"}


def test_a_lookup_whose_file_is_missing_is_an_error(tmp_path):
    root = tmp_path / "pack"
    shutil.copytree(FIXTURES / "legacy_pack", root)
    (root / "lookups").mkdir()
    (root / "lookups" / "gone.yml").write_text("name: gone\ndescription: Missing file.\nfilename: gone.csv\n")
    with pytest.raises(InvalidInput) as error:
        load_valid_pack(root)
    assert [str(f).split(": ", 1)[1] for f in error.value.findings] == [
        "filename: file 'gone.csv' is missing (expected a regular file beside the lookup's YAML)"]


def test_the_package_carries_the_lookup_files(tmp_path):
    import tarfile

    from detpack.build.app import build_app

    root = tmp_path / "pack"
    shutil.copytree(FIXTURES / "legacy_pack", root)
    (root / "lookups").mkdir()
    (root / "lookups" / "bad_hosts.csv").write_text("host\nevil\n")
    (root / "lookups" / "bad_hosts.yml").write_text("name: bad_hosts\ndescription: Hosts.\nfilename: bad_hosts.csv\n")
    result = build_app(root, tmp_path / "out", sync_committed=False)
    with tarfile.open(result.package) as archive:
        member = archive.extractfile(f"{result.pack.app.app_id}/lookups/bad_hosts.csv")
        assert member.read() == b"host\nevil\n"


def test_compiled_templates_are_kept_in_jinjas_own_safe_folder_and_render_the_same(monkeypatch, tmp_path):
    import sys

    import detpack.build.render as render

    pack = load_valid_pack(FIXTURES / "legacy_pack")
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    first = render_app(pack).files
    [folder] = tmp_path.iterdir()
    assert folder.name.startswith("_jinja2-cache-") and (folder.stat().st_mode & 0o777) == 0o700
    assert any(folder.iterdir())
    assert render_app(pack).files == first  # from the compiled templates
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    assert render.template_cache() is None


def test_an_unsafe_template_cache_folder_is_not_used(monkeypatch, tmp_path):
    import os
    import sys

    import detpack.build.render as render

    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    planted = tmp_path / f"_jinja2-cache-{os.getuid()}"
    planted.symlink_to(tmp_path / "elsewhere")  # not a folder the user made 0700
    (tmp_path / "elsewhere").mkdir()
    assert render.template_cache() is None
    assert render_app(load_valid_pack(FIXTURES / "legacy_pack")).files  # renders all the same


def _with_macros_template(monkeypatch, change):
    """render_app with macros.conf.j2 changed by ``change`` (source text -> source text)."""
    import jinja2

    import detpack.build.render as render

    real = render._environment
    source = (render.TEMPLATES / "macros.conf.j2").read_text()

    def changed():
        env = real()
        env.loader = jinja2.ChoiceLoader([jinja2.DictLoader({"macros.conf.j2": change(source)}), env.loader])
        return env

    monkeypatch.setattr(render, "_environment", changed)
    return load_valid_pack(FIXTURES / "legacy_pack")


STANZA_LINE = "{{ conf.stanza(m.stanza) }}\n"


def test_a_line_written_around_the_writer_fails_the_render(monkeypatch):
    pack = _with_macros_template(monkeypatch, lambda s: s.replace(STANZA_LINE, STANZA_LINE + "iseval = 1\n"))
    with pytest.raises(RenderError, match=r"default/macros.conf: \[.*\] iseval: read back differently"):
        render_app(pack)


def test_a_writer_line_changed_in_the_template_fails_the_render_even_when_it_reads_back_alike(monkeypatch):
    """An indented entry reads back as the same key and value, but it is not the line the writer wrote."""
    pack = _with_macros_template(monkeypatch, lambda s: s.replace('{{ conf.entry("definition"', '  {{ conf.entry("definition"'))
    with pytest.raises(RenderError, match="default/macros.conf: holds lines the conf writer did not write"):
        render_app(pack)


def test_a_key_written_twice_in_one_run_fails_the_render(monkeypatch):
    pack = _with_macros_template(monkeypatch, lambda s: s.replace('("definition", "search *"),', '("definition", "search *"),\n    ("definition", "search *"),'))
    with pytest.raises(RenderError, match=r"^default/macros.conf: duplicate key 'definition' in \[.*\]"):
        render_app(pack)


@pytest.mark.parametrize("value, problem", [("bell \x07", r"control characters U\+0007"), (" padded", "white space")])
def test_a_value_written_in_a_run_that_cannot_be_written_fails_the_render(monkeypatch, value, problem):
    pack = _with_macros_template(monkeypatch, lambda s: s.replace('("definition", "search *"),', f'("definition", {value!r}),'))
    with pytest.raises(RenderError, match=rf"^default/macros.conf: \[.*\] definition: .*{problem}"):
        render_app(pack)


def test_comment_lines_between_written_lines_are_allowed(monkeypatch):
    pack = _with_macros_template(monkeypatch, lambda s: s.replace(STANZA_LINE, STANZA_LINE + "# a note\n\n"))
    text = render_app(pack).files["default/macros.conf"].decode()
    assert "]\n# a note\n\ndefinition = " in text


@pytest.mark.parametrize("text, kept", [
    ("# header\n\n[a]\nk = v\n\n# note\n  \n\t# indented note\n[b]\n", "[a]\nk = v\n[b]\n"),
    ("[a]\nk = one\\\n# continued, not a comment\nz = 1\n", "[a]\nk = one\\\n# continued, not a comment\nz = 1\n"),
    ("[a]\nk = v\\\n\n", "[a]\nk = v\\\n\n"),  # a blank line that continues a value is kept
    ("x\\\n#y\n#z\n", "x\\\n#y\n"),
    ("\n\n# only comments\n", ""),
])
def test_the_lines_the_strict_reader_skips_are_told_apart_from_continued_values(text, kept):
    from detpack.build.render import _only_skipped_lines_besides

    assert _only_skipped_lines_besides(text, kept)
    assert not _only_skipped_lines_besides(text, kept + "x\n")
    assert not kept or not _only_skipped_lines_besides(text, kept[:-1])


def _taken_out(text: str) -> str:
    """The lines the strict reader skips taken out of ``text``, by the plain substitution the
    stretch-by-stretch comparison stands for."""
    from detpack.build.render import SKIPPED_LINE

    return SKIPPED_LINE.sub("", "\n" + text)[1:]


@settings(max_examples=400, deadline=None)
@given(text=st.text(alphabet="\n\\# \ta[]=", max_size=40).map(lambda t: t + "\n"), change=st.integers(0, 40))
def test_comparing_stretch_by_stretch_says_what_the_substitution_says(text, change):
    from detpack.build.render import _only_skipped_lines_besides

    kept = _taken_out(text)
    assert _only_skipped_lines_besides(text, kept)
    other = kept[:change] + "x" + kept[change + 1:]
    assert _only_skipped_lines_besides(text, other) == (other == kept)
    assert _only_skipped_lines_besides(text, kept + "\n") is False


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet="\na#", max_size=30))
def test_a_rendered_text_is_tidied_to_one_blank_line_between_stanzas_and_one_line_break_at_the_end(text):
    from detpack.build.render import _tidy

    reference = text
    while "\n\n\n" in reference:
        reference = reference.replace("\n\n\n", "\n\n")
    assert _tidy(text) == reference.strip("\n") + "\n"


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12)


@settings(max_examples=400, deadline=None)
@given(JSON_VALUES)
def test_the_json_filter_writes_what_json_dumps_writes(value):
    from detpack.build.render import _json

    assert _json(value) == json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    assert _json(value, indent=2) == json.dumps(value, ensure_ascii=False, indent=2)


def test_the_json_filter_refuses_what_json_dumps_refuses():
    from detpack.build.render import _json

    with pytest.raises(TypeError, match="Object of type set is not JSON serializable"):
        _json({"k": {1}})
    with pytest.raises(TypeError, match="Object of type object is not JSON serializable"):
        _json([object()])


def test_templates_call_plain_functions_and_context_functions_alike():
    """Plain functions are called straight away; one that asks for the context still gets it, with a
    loop's variables in it, and a keyword argument reaches either."""
    import jinja2

    from detpack.build.render import _environment

    env = _environment()
    env.globals["plain"] = lambda x, sep="-": f"{x}{sep}"
    env.globals["seen"] = jinja2.pass_context(lambda context, name, sep="-": f"{context.get(name)}{sep}")
    template = env.from_string('{% for i in [1, 2] %}{% set j = i * 10 %}{{ plain(i) }}{{ plain(i, sep="+") }}'
                               '{{ seen("j") }}{{ seen("j", sep="+") }}{% endfor %}{{ range(2) | list }}')
    assert template.render() == "1-1+10-10+2-2+20-20+[0, 1]"


def test_the_json_filter_falls_back_to_the_encoder_json_dumps_uses(monkeypatch):
    """Without Python's C encoder (it is optional), the filter still writes what json.dumps writes."""
    from detpack.build.render import _one_line_json

    value = {"é": [1, 2.5, None, True, "x\ny"]}
    expected = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    monkeypatch.setattr(json.encoder, "c_make_encoder", None)
    assert _one_line_json()(value) == expected
