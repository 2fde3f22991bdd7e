"""Search-time knowledge, one construct per test: add-on reading, props, transforms,
KV_MODE, aliases, calculated fields, lookups, event types, tags and data models."""
from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from detpack.knowledge import AddonError, load_knowledge

SOURCE = "XmlWinEventLog:Security"


def addon(tmp_path: Path, name: str = "TA_test", local: dict | None = None, lookups: dict | None = None,
          models: dict | None = None, **confs: str) -> Path:
    root = tmp_path / name
    (root / "default").mkdir(parents=True)
    for stem, text in confs.items():
        (root / "default" / f"{stem}.conf").write_text(text)
    for stem, text in (local or {}).items():
        (root / "local").mkdir(exist_ok=True)
        (root / "local" / f"{stem}.conf").write_text(text)
    for file, text in (lookups or {}).items():
        (root / "lookups").mkdir(exist_ok=True)
        (root / "lookups" / file).write_text(text)
    for model, document in (models or {}).items():
        (root / "default" / "data" / "models").mkdir(parents=True, exist_ok=True)
        (root / "default" / "data" / "models" / f"{model}.json").write_text(json.dumps(document))
    return root


def fields_of(knowledge, raw: str = "", source: str = SOURCE, sourcetype: str = "XmlWinEventLog",
              host: str = "h1", **given) -> dict:
    return knowledge.apply({"_raw": raw, "source": source, "sourcetype": sourcetype, "host": host, **given})


# --- reading add-ons ----------------------------------------------------------------


def test_local_overrides_default(tmp_path):
    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\nEVAL-a = \"default\"\n",
                 local={"props": "[XmlWinEventLog]\nEVAL-a = \"local\"\n"})
    assert fields_of(load_knowledge([root]))["a"] == "local"


def test_between_addons_the_first_by_name_wins_with_its_own_local_then_default(tmp_path):
    """Admin Manual, "Configuration file precedence", app/user context: other apps' directories
    "(local, followed by default)" app by app; apps in ASCII order of their folder names."""
    first = addon(tmp_path, "TA_a", props="[XmlWinEventLog]\nKV_MODE = none\nEVAL-x = \"a default\"\n")
    second = addon(tmp_path, "TA_b", props="[XmlWinEventLog]\nEVAL-y = \"b default\"\n",
                   local={"props": "[XmlWinEventLog]\nEVAL-x = \"b local\"\nEVAL-y = \"b local\"\n"})
    got = fields_of(load_knowledge([second, first]))
    assert (got["x"], got["y"]) == ("a default", "b local")


def test_a_package_reads_like_its_folder(tmp_path):
    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\nEVAL-a = \"packed\"\n")
    package = tmp_path / "ta.tgz"
    with tarfile.open(package, "w:gz") as archive:
        archive.add(root, arcname="TA_test")
    assert fields_of(load_knowledge([package]))["a"] == "packed"


def test_a_junk_line_is_named_once_and_the_rest_of_the_file_applies(tmp_path):
    """splunkd skips a line that is neither a stanza, a key = value nor a comment (ksconf's
    documentation of Splunk's reader, cmd_check.html); the add-on is not refused."""
    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\nEVAL-a = \"before\"\n"
                                 "EVAL-b-(coalesce(x,0))\nEVAL-c = \"after\"\n")
    knowledge = load_knowledge([root])
    got = fields_of(knowledge)
    assert (got["a"], got["c"]) == ("before", "after")
    assert [m for m in knowledge.problems.messages if "line 4" in m] == [
        "TA_test: default/props.conf line 4: line is neither a stanza, a key = value, nor a comment, "
        "ignored as splunkd ignores it"]


def test_an_unclosed_stanza_header_is_named_and_its_keys_stay_in_the_stanza_before(tmp_path):
    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\n[junk\nEVAL-a = \"kept\"\n")
    knowledge = load_knowledge([root])
    assert fields_of(knowledge)["a"] == "kept"
    assert "TA_test: default/props.conf line 3: stanza header not closed" in knowledge.problems.messages[0]


def test_keys_before_any_stanza_belong_to_default(tmp_path):
    root = addon(tmp_path, props="EVAL-a = \"everywhere\"\n[XmlWinEventLog]\nKV_MODE = none\n")
    assert fields_of(load_knowledge([root]))["a"] == "everywhere"


def test_transforms_global_settings_apply_to_every_stanza_its_own_winning(tmp_path):
    """transforms.conf.spec, GLOBAL SETTINGS: [default] (or keys at the top of the file) holds
    global settings; "the value in the specific stanza takes precedence"."""
    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\nREPORT-r = r\nLOOKUP-a = t k OUTPUT v\n"
                                 "LOOKUP-b = u k OUTPUT w\n",
                 transforms="case_sensitive_match = false\n[t]\nfilename = t.csv\n"
                            "[u]\nfilename = t.csv\ncase_sensitive_match = true\n[r]\nREGEX = k=(?<k>\\w+)\n",
                 lookups={"t.csv": "k,v,w\nabc,found,found\n"})
    knowledge = load_knowledge([root])
    got = fields_of(knowledge, "k=ABC")
    assert (got.get("v"), got.get("w")) == ("found", None)
    assert knowledge.problems.messages == []

def test_a_missing_addon_is_an_error_naming_it(tmp_path):
    with pytest.raises(AddonError, match="nope: no such add-on"):
        load_knowledge([tmp_path / "nope"])


def test_a_broken_package_is_an_error_naming_it(tmp_path):
    package = tmp_path / "ta.spl"
    package.write_bytes(b"not a tar")
    with pytest.raises(AddonError, match="ta.spl: not a readable package"):
        load_knowledge([package])


def package_of(tmp_path, *members: tuple[str, bytes | None, str | None]) -> Path:
    """A .tgz of (name, content, link target) members."""
    package = tmp_path / "ta.tgz"
    with tarfile.open(package, "w:gz") as archive:
        for name, content, link in members:
            info = tarfile.TarInfo(name)
            if link is not None:
                info.type, info.linkname = tarfile.SYMTYPE, link
                archive.addfile(info)
            else:
                info.size = len(content)
                archive.addfile(info, io.BytesIO(content))
    return package


PROPS = b"[XmlWinEventLog]\nKV_MODE = none\nEVAL-a = \"packed\"\n"


def test_a_link_in_a_package_is_named_and_not_read(tmp_path):
    package = package_of(tmp_path, ("TA/default/props.conf", PROPS, None), ("TA/lookups/x.csv", None, "/etc/passwd"))
    knowledge = load_knowledge([package])
    assert f"{package}: TA/lookups/x.csv is a link, skipped" in knowledge.problems.messages
    assert knowledge.addon.lookups == {} and fields_of(knowledge)["a"] == "packed"


def test_a_member_leaving_the_folder_is_named(tmp_path):
    package = package_of(tmp_path, ("../TA/default/props.conf", PROPS, None))
    with pytest.raises(AddonError, match=r"found 0 \(\.\./TA/default/props.conf leaves the add-on folder, skipped\)"):
        load_knowledge([package])


def test_a_package_with_too_many_members_is_refused(tmp_path, monkeypatch):
    from detpack.knowledge import addons

    monkeypatch.setattr(addons, "MAX_MEMBERS", 3)
    package = package_of(tmp_path, *((f"TA/bin/f{i}", b"", None) for i in range(4)))
    with pytest.raises(AddonError, match="more than 3 members, not read"):
        load_knowledge([package])


def test_a_deep_folder_is_not_walked(tmp_path):
    root = addon(tmp_path, props=PROPS.decode())
    levels = [root / "bin"]
    for _ in range(1200):  # deeper than Python's recursion limit
        levels.append(levels[-1] / "d")
    for level in levels:
        level.mkdir()
    try:
        assert fields_of(load_knowledge([root]))["a"] == "packed"
    finally:
        for level in reversed(levels):
            level.rmdir()


def test_an_addon_without_knowledge_is_named(tmp_path):
    (tmp_path / "TA_empty" / "bin").mkdir(parents=True)
    messages = load_knowledge([tmp_path / "TA_empty"]).problems.messages
    assert len(messages) == 1 and messages[0].endswith("TA_empty: no search-time knowledge found "
                                                       "(default/ or local/ *.conf, default/data/models/*.json, lookups/*.csv)")


def test_a_repeated_key_takes_the_last_value_as_splunkd_reads_it(tmp_path):
    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\nEVAL-a = \"1\"\nEVAL-a = \"2\"\n")
    assert fields_of(load_knowledge([root]))["a"] == "2"


# --- stanzas --------------------------------------------------------------------------


def test_source_stanza_beats_sourcetype_stanza(tmp_path):
    root = addon(tmp_path, props=f"[XmlWinEventLog]\nKV_MODE = none\nEVAL-a = \"st\"\n[source::{SOURCE}]\nEVAL-a = \"src\"\n")
    assert fields_of(load_knowledge([root]))["a"] == "src"


def test_host_stanza_beats_sourcetype_stanza(tmp_path):
    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\nEVAL-a = \"st\"\n[host::h*]\nEVAL-a = \"host\"\n")
    assert fields_of(load_knowledge([root]))["a"] == "host"


def test_source_wildcards_dots_and_star(tmp_path):
    root = addon(tmp_path, props="[source::...Sec*]\nKV_MODE = none\nEVAL-a = \"x\"\n")
    knowledge = load_knowledge([root])
    assert fields_of(knowledge)["a"] == "x"
    assert "a" not in fields_of(knowledge, source="XmlWinEventLog:System")


def test_host_stanzas_match_without_case_unless_told(tmp_path):
    """props.conf.spec: [host::<host>] stanzas match case-insensitively; "(?-i)" makes them case-sensitive."""
    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\n[host::webserver01]\nEVAL-a = \"lit\"\n"
                                 "[host::web*]\nEVAL-b = \"pat\"\n[host::(?-i)web*]\nEVAL-c = \"strict\"\n")
    got = fields_of(load_knowledge([root]), host="WebServer01")
    assert (got.get("a"), got.get("b"), got.get("c")) == ("lit", "pat", None)


def test_a_literal_stanza_beats_a_pattern_unless_the_patterns_priority_is_higher(tmp_path):
    """props.conf.spec: priority defaults to 100 for literal stanzas and 0 for patterns; a dot is literal."""
    root = addon(tmp_path, props="[st]\nKV_MODE = none\n[source::/var/log/*]\nEVAL-p = \"pattern\"\n"
                                 "[source::/var/log/app.log]\nEVAL-p = \"literal\"\nEVAL-q = \"literal\"\n"
                                 "[source::...log]\nEVAL-q = \"pattern\"\npriority = 101\n")
    got = fields_of(load_knowledge([root]), source="/var/log/app.log", sourcetype="st")
    assert (got["p"], got["q"]) == ("literal", "pattern")


def test_priority_overrides_the_ascii_order_of_patterns(tmp_path):
    """props.conf.spec's own example: [source::...z...] with priority 10 beats [source::...a...]."""
    root = addon(tmp_path, props="[st]\nKV_MODE = none\n[source::...a...]\nEVAL-x = \"a\"\n"
                                 "[source::...z...]\nEVAL-x = \"z\"\npriority = 10\n")
    assert fields_of(load_knowledge([root]), source="az", sourcetype="st")["x"] == "z"


def test_the_default_stanza_applies_below_every_other(tmp_path):
    root = addon(tmp_path, props="[default]\nEVAL-d = \"d\"\nEVAL-e = \"d\"\n[XmlWinEventLog]\nKV_MODE = none\nEVAL-e = \"st\"\n")
    got = fields_of(load_knowledge([root]))
    assert (got["d"], got["e"]) == ("d", "st")


def test_sourcetype_patterns_holding_only_index_time_keys_are_quiet(tmp_path):
    root = addon(tmp_path, props="[(?::){0}XmlWinEventLog:*]\nTRANSFORMS-1 = t\n[(?::){0}Wmi:*]\nEVAL-a = \"x\"\n")
    assert load_knowledge([root]).problems.messages == [
        "TA_test: default/props.conf [(?::){0}Wmi:*] EVAL-a: sourcetype patterns are not supported, ignored"]


def test_an_empty_class_value_turns_the_class_off(tmp_path):
    root = addon(tmp_path, props=f"[XmlWinEventLog]\nKV_MODE = none\nEVAL-a = \"on\"\n[source::{SOURCE}]\nEVAL-a =\n")
    assert "a" not in fields_of(load_knowledge([root]))


def test_an_unsupported_setting_is_named_once(tmp_path):
    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\nFOO = 1\n")
    assert load_knowledge([root]).problems.messages == ["TA_test: default/props.conf [XmlWinEventLog] FOO: unsupported setting, ignored"]


# --- EXTRACT / REPORT ---------------------------------------------------------------------


def test_extract_named_groups_from_raw(tmp_path):
    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\nEXTRACT-a = id=(?<ident>\\d+)\n")
    assert fields_of(load_knowledge([root]), "x id=42")["ident"] == "42"


def test_extract_in_another_field(tmp_path):
    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\nEXTRACT-a = ^(?<first>\\w+) in msg\n")
    assert fields_of(load_knowledge([root]), msg="hello world")["first"] == "hello"


def test_extract_in_needs_a_plain_field_name_after_it(tmp_path):
    """props.conf.spec: "<src_field> can only contain alphanumeric characters and underscore"."""
    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\nEXTRACT-a = logged in (?<where>\\S+)\n")
    assert fields_of(load_knowledge([root]), "alice logged in ws1")["where"] == "ws1"


def test_report_format_with_group_numbers(tmp_path):
    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\nREPORT-a = t\n",
                 transforms="[t]\nREGEX = (\\w+)@(\\w+)\nFORMAT = user::$1 domain::$2\n")
    assert {k: v for k, v in fields_of(load_knowledge([root]), "bob@corp").items() if k in ("user", "domain")} == \
        {"user": "bob", "domain": "corp"}


def test_report_dynamic_names(tmp_path):
    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\nREPORT-a = t\n",
                 transforms="[t]\nREGEX = <Data Name='([^']*)'>([^<]*)</Data>\nFORMAT = $1::$2\n")
    got = fields_of(load_knowledge([root]), "<Data Name='Image'>a.exe</Data><Data Name='Pid'>4</Data>")
    assert (got["Image"], got["Pid"]) == ("a.exe", "4")


def test_report_clean_keys(tmp_path):
    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\nREPORT-a = t\n",
                 transforms="[t]\nREGEX = (\\S+)=(\\S+)\nFORMAT = $1::$2\n")
    assert fields_of(load_knowledge([root]), "2nd-key=v")["nd_key"] == "v"


def test_report_source_key(tmp_path):
    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\nREPORT-a = t\n",
                 transforms="[t]\nSOURCE_KEY = msg\nREGEX = (?<word>\\w+)\n")
    assert fields_of(load_knowledge([root]), "raw", msg="inner")["word"] == "inner"


def test_report_keeps_the_first_value_without_mv_add(tmp_path):
    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\nREPORT-a = t\n",
                 transforms="[t]\nREGEX = v=(?<v>\\d)\n")
    assert fields_of(load_knowledge([root]), "v=1 v=2")["v"] == "1"


def test_report_mv_add_collects_every_value(tmp_path):
    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\nREPORT-a = t\n",
                 transforms="[t]\nREGEX = v=(?<v>\\d)\nMV_ADD = true\n")
    assert fields_of(load_knowledge([root]), "v=1 v=2")["v"] == ["1", "2"]


def test_report_delims_and_fields(tmp_path):
    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\nREPORT-a = t\n",
                 transforms='[t]\nDELIMS = "|"\nFIELDS = a, b\n')
    got = fields_of(load_knowledge([root]), "x|y")
    assert (got["a"], got["b"]) == ("x", "y")


def delims_fields(tmp_path, transform: str, raw: str) -> dict:
    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\nREPORT-a = t\n", transforms=f"[t]\n{transform}")
    return fields_of(load_knowledge([root]), raw)


def test_delims_with_fields_keeps_empty_values_in_place(tmp_path):
    """transforms.conf.spec: consecutive delimiters are consumed "unless you specify a list of field names"."""
    got = delims_fields(tmp_path, 'DELIMS = ","\nFIELDS = id, date, time\n', "10,,12:00")
    assert (got["id"], got.get("date"), got["time"]) == ("10", None, "12:00")


def test_delims_without_fields_consumes_consecutive_delimiters(tmp_path):
    got = delims_fields(tmp_path, 'DELIMS = "|", "="\n', "a=1||b=2")
    assert (got["a"], got["b"]) == ("1", "2")


def test_delims_do_not_split_inside_double_quotes(tmp_path):
    got = delims_fields(tmp_path, 'DELIMS = ",", "="\n', 'a="x,y",b=2')
    assert (got["a"], got["b"]) == ("x,y", "2")


def test_one_delimiter_set_without_fields_reads_names_and_values_in_turn(tmp_path):
    """transforms.conf.spec: "Splunk software reads even tokens as field names and odd tokens as field values"."""
    got = delims_fields(tmp_path, 'DELIMS = " "\n', "user alice  dest ws1")
    assert (got["user"], got["dest"]) == ("alice", "ws1")


def test_report_of_a_missing_transform_is_named(tmp_path):
    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\nREPORT-a = gone\n")
    knowledge = load_knowledge([root])
    assert knowledge.problems.messages == [
        "TA_test: default/props.conf [XmlWinEventLog] REPORT-a: no transform [gone] in transforms.conf, ignored"]


def test_a_report_pattern_gets_the_pcre_translation_of_spl(tmp_path):
    """A POSIX class is what PCRE means by it (Python alone reads [[:digit:] as a set of characters)."""
    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\nREPORT-a = t\nEXTRACT-b = (?<letter>\\x{41})\n",
                 transforms="[t]\nREGEX = code=(?<code>[[:digit:]]+)\n")
    got = fields_of(load_knowledge([root]), "code=4688 A")
    assert (got["code"], got["letter"]) == ("4688", "A")


def test_a_pattern_whose_pcre_meaning_cannot_be_kept_is_named(tmp_path):
    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\nREPORT-a = t\n",
                 transforms="[t]\nREGEX = (?<other>[[:^alpha:]]+)\n")
    knowledge = load_knowledge([root])
    assert "other" not in fields_of(knowledge, "12")
    assert knowledge.problems.messages == ["TA_test: default/transforms.conf [t] REGEX: pattern Python cannot "
                                           "compile (unsupported POSIX class '[:^alpha:]' at position 10), ignored"]


def test_pattern_classes_are_ascii_as_in_pcre_unless_ucp(tmp_path):
    """pcre2pattern, "Generic character types": \\d is ASCII unless the pattern starts with (*UCP)."""
    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\nEXTRACT-a = n=(?<ascii>\\d+)\n"
                                 "EXTRACT-b = (*UCP)n=(?<any>\\d+)\n")
    got = fields_of(load_knowledge([root]), "n=\u0661\u0662")
    assert ("ascii" not in got, got["any"]) == (True, "\u0661\u0662")



def test_a_posix_class_under_ucp_is_named_not_read_as_ascii(tmp_path):
    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\nEXTRACT-a = (*UCP)n=(?<word>[[:alpha:]]+)\n")
    knowledge = load_knowledge([root])
    assert "word" not in fields_of(knowledge, "n=\u00e9t\u00e9")
    assert "under (*UCP)" in knowledge.problems.messages[0]

def test_pcre_limits_are_named_as_not_applied(tmp_path):
    """transforms.conf.spec/props.conf.spec: MATCH_LIMIT and DEPTH_LIMIT bound PCRE's work; Python's re has none."""
    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\nREPORT-a = t\nMATCH_LIMIT = 10\n",
                 transforms="[t]\nREGEX = (?<a>x)\nDEPTH_LIMIT = 5\n")
    knowledge = load_knowledge([root])
    assert fields_of(knowledge, "x")["a"] == "x"
    assert sorted(knowledge.problems.messages) == [
        "TA_test: default/props.conf [XmlWinEventLog] MATCH_LIMIT: PCRE's resource limit is not applied "
        "(Python's re has none): a pattern splunkd gives up on may still match here",
        "TA_test: default/transforms.conf [t] DEPTH_LIMIT: PCRE's resource limit is not applied "
        "(Python's re has none): a pattern splunkd gives up on may still match here"]


# --- KV_MODE -------------------------------------------------------------------------------


def test_kv_mode_auto_is_the_default(tmp_path):
    root = addon(tmp_path, props="[XmlWinEventLog]\nEVAL-z = \"1\"\n")
    assert fields_of(load_knowledge([root]), "a=1 b='two words'")["b"] == "two words"


@pytest.mark.parametrize("mode", ["auto_escaped", "multi"])
def test_kv_modes_run_as_auto_are_named(tmp_path, mode):
    root = addon(tmp_path, props=f"[XmlWinEventLog]\nKV_MODE = {mode}\n")
    assert load_knowledge([root]).problems.messages == [
        f"TA_test: default/props.conf [XmlWinEventLog] KV_MODE: '{mode}' is run as 'auto' (its own rules are not implemented)"]


def test_kv_mode_none_extracts_nothing(tmp_path):
    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\n")
    assert "a" not in fields_of(load_knowledge([root]), "a=1")


def test_kv_mode_xml_names_fields_by_path(tmp_path):
    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = xml\n")
    got = fields_of(load_knowledge([root]), "<E><S a='1'>t</S></E>")
    assert (got["E.S"], got["E.S{@a}"]) == ("t", "1")


# --- FIELDALIAS / EVAL -----------------------------------------------------------------------


def test_alias_as_overwrites(tmp_path):
    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\nFIELDALIAS-a = src AS dst\n")
    assert fields_of(load_knowledge([root]), src="new", dst="old")["dst"] == "new"


def test_alias_as_removes_the_alias_when_the_source_is_missing(tmp_path):
    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\nFIELDALIAS-a = src AS dst\n")
    assert "dst" not in fields_of(load_knowledge([root]), dst="old")


def test_alias_asnew_keeps_an_existing_field(tmp_path):
    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\nFIELDALIAS-a = src ASNEW dst\n")
    assert fields_of(load_knowledge([root]), src="new", dst="old")["dst"] == "old"


def test_evals_see_the_same_input(tmp_path):
    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\nEVAL-a = \"A\"\nEVAL-b = a\n")
    got = fields_of(load_knowledge([root]), a="before")
    assert (got["a"], got["b"]) == ("A", "before")


def test_eval_runs_after_aliases(tmp_path):
    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\nFIELDALIAS-a = x AS y\nEVAL-z = upper(y)\n")
    assert fields_of(load_knowledge([root]), x="v")["z"] == "V"


def test_eval_the_engine_cannot_run_is_named(tmp_path):
    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\nEVAL-a = nosuch(x)\n")
    knowledge = load_knowledge([root])
    fields_of(knowledge)
    assert "EVAL-a: expression the engine cannot run (unsupported eval function 'nosuch')" in knowledge.problems.messages[0]


def test_eval_with_a_quoted_pattern_the_engine_cannot_compile_is_named_and_ignored(tmp_path):
    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\nEVAL-a = if(x==\"1\", \"one\", replace(x, \"(\", \"\"))\n")
    knowledge = load_knowledge([root])
    assert "a" not in fields_of(knowledge, x="1")
    assert "EVAL-a: expression the engine cannot run (invalid regular expression '('" in knowledge.problems.messages[0]


# --- LOOKUP ------------------------------------------------------------------------------------


LOOKUP_TRANSFORMS = "[codes]\nfilename = codes.csv\n"
CODES = "code,meaning,kind\n4688,created,process\nA*,wild,other\n"


def test_lookup_output(tmp_path):
    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\nLOOKUP-a = codes code AS EventCode OUTPUT meaning\n",
                 transforms=LOOKUP_TRANSFORMS, lookups={"codes.csv": CODES})
    got = fields_of(load_knowledge([root]), EventCode="4688")
    assert got["meaning"] == "created" and "kind" not in got


def lookup_fields(tmp_path, call: str, transforms: str, csv: str, **given) -> dict:
    root = addon(tmp_path, props=f"[XmlWinEventLog]\nKV_MODE = none\nLOOKUP-a = {call}\n", transforms=transforms,
                 lookups={"t.csv": csv})
    return fields_of(load_knowledge([root]), **given)


def test_lookup_max_matches_defaults_to_100_rows_for_a_file_lookup(tmp_path):
    """transforms.conf.spec: "Default: 100 matches if the time_field setting is not specified"."""
    rows = "".join(f"admins,u{i:03}\n" for i in range(150))
    got = lookup_fields(tmp_path, "t grp OUTPUT member", "[t]\nfilename = t.csv\n", "grp,member\n" + rows, grp="admins")
    assert len(got["member"]) == 100 and got["member"][:2] == ["u000", "u001"]


def test_lookup_output_without_a_matching_row_clears_the_output_fields(tmp_path):
    """props.conf.spec, LOOKUP-: an event with every match field but no matching entry
    "clears all of the output fields" (OUTPUT)."""
    got = lookup_fields(tmp_path, "t code OUTPUT action", "[t]\nfilename = t.csv\n", "code,action\n1,blocked\n",
                        code="9", action="mine")
    assert "action" not in got


def test_lookup_default_match_fills_up_to_min_matches(tmp_path):
    """transforms.conf.spec: below min_matches, default_match is given until min_matches is reached."""
    got = lookup_fields(tmp_path, "t code OUTPUT label", "[t]\nfilename = t.csv\nmin_matches = 2\ndefault_match = none\n",
                        "code,label\n1,one\n", code="1")
    assert got["label"] == ["one", "none"]


def test_a_lookup_filename_with_a_path_is_reduced_to_the_file_name(tmp_path):
    """transforms.conf.spec: "Only file names are supported ... strips the path"."""
    got = lookup_fields(tmp_path, "t code OUTPUT label", "[t]\nfilename = ../etc/t.csv\n", "code,label\n1,one\n", code="1")
    assert got["label"] == "one"


@pytest.mark.parametrize("key", ["LOOKUP_a", "LOOKUPa", "lookup_a", "lookupa", "Lookup-a"])
def test_lookup_key_variants_are_lookups(tmp_path, key):
    """props.conf.spec: "The LOOKUP- prefix is actually case-insensitive. Acceptable variants include ..."."""
    root = addon(tmp_path, props=f"[XmlWinEventLog]\nKV_MODE = none\n{key} = codes code AS EventCode OUTPUT meaning\n",
                 transforms=LOOKUP_TRANSFORMS, lookups={"codes.csv": CODES})
    knowledge = load_knowledge([root])
    assert knowledge.problems.messages == [] and fields_of(knowledge, EventCode="4688")["meaning"] == "created"


def test_lookup_outputnew_keeps_existing(tmp_path):
    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\nLOOKUP-a = codes code AS EventCode OUTPUTNEW meaning\n",
                 transforms=LOOKUP_TRANSFORMS, lookups={"codes.csv": CODES})
    assert fields_of(load_knowledge([root]), EventCode="4688", meaning="mine")["meaning"] == "mine"


def test_lookup_without_output_list_outputs_every_other_column(tmp_path):
    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\nLOOKUP-a = codes code AS EventCode\n",
                 transforms=LOOKUP_TRANSFORMS, lookups={"codes.csv": CODES})
    got = fields_of(load_knowledge([root]), EventCode="4688")
    assert (got["meaning"], got["kind"]) == ("created", "process")


def test_lookup_is_case_sensitive_unless_configured(tmp_path):
    props = "[XmlWinEventLog]\nKV_MODE = none\nLOOKUP-a = codes code AS c OUTPUT meaning\n"
    sensitive = addon(tmp_path, "s", props=props, transforms=LOOKUP_TRANSFORMS,
                      lookups={"codes.csv": "code,meaning\nabc,hit\n"})
    insensitive = addon(tmp_path, "i", props=props, transforms=LOOKUP_TRANSFORMS + "case_sensitive_match = false\n",
                        lookups={"codes.csv": "code,meaning\nabc,hit\n"})
    assert "meaning" not in fields_of(load_knowledge([sensitive]), c="ABC")
    assert fields_of(load_knowledge([insensitive]), c="ABC")["meaning"] == "hit"


def test_lookup_wildcard_match_where_configured(tmp_path):
    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\nLOOKUP-a = codes code AS c OUTPUT meaning\n",
                 transforms=LOOKUP_TRANSFORMS + "match_type = WILDCARD(code)\n", lookups={"codes.csv": CODES})
    assert fields_of(load_knowledge([root]), c="Abc")["meaning"] == "wild"


def test_a_missing_lookup_file_is_named_once_and_not_fatal(tmp_path):
    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\nLOOKUP-a = codes code AS c OUTPUT meaning\n",
                 transforms=LOOKUP_TRANSFORMS)
    knowledge = load_knowledge([root])
    fields_of(knowledge, c="1")
    fields_of(knowledge, c="2", host="other")
    assert knowledge.problems.messages == [
        "TA_test: default/transforms.conf [codes] filename: lookup file lookups/codes.csv is missing"]


def test_every_props_problem_is_known_when_the_knowledge_is_loaded(tmp_path):
    """Problems of event kinds no search has planned yet are named at load (none of
    these stanzas matches the events a search would read)."""
    root = addon(tmp_path, props="[source::nowhere]\nKV_MODE = none\nREPORT-a = gone\nEXTRACT-b = no groups\n"
                 "FIELDALIAS-c = x TO y\nEVAL-d = nosuch(x)\nLOOKUP-e = codes code\n[other]\nKV_MODE = weird\n",
                 transforms=LOOKUP_TRANSFORMS)
    reasons = [m.split(": ", 2)[2] for m in load_knowledge([root]).problems.messages]
    assert len(reasons) == 6 and any("lookups/codes.csv is missing" in r for r in reasons)
    assert any(r.startswith("unknown mode 'weird'") for r in reasons)
    assert any(r.startswith("no transform [gone]") for r in reasons)
    assert any(r.startswith("no named group") for r in reasons)
    assert any(r.startswith("expected '<field> AS|ASNEW <alias>'") for r in reasons)
    assert any("unsupported eval function 'nosuch'" in r for r in reasons)


def test_a_problem_found_during_a_run_is_printed_after_it_once(tmp_path, capsys):
    from detpack.replay.knowledge_choice import print_knowledge_problems

    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\n", transforms="[ext]\nexternal_cmd = x.py k\n")
    knowledge = load_knowledge([root])
    print_knowledge_problems(knowledge)
    assert capsys.readouterr().err == ""
    knowledge.lookup_tables()  # the lookup command's view of the tables
    knowledge.command_table("ext")
    print_knowledge_problems(knowledge)
    print_knowledge_problems(knowledge)
    assert capsys.readouterr().err == ("warning: TA_test: default/transforms.conf [ext] external_cmd: an external "
                                       "lookup: only CSV file lookups are supported, table not used\n")


# --- event types and tags -------------------------------------------------------------------


def test_eventtype_and_its_tags(tmp_path):
    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\n",
                 eventtypes="[proc]\nsearch = EventCode IN (4688, 4689)\n",
                 tags="[eventtype=proc]\nprocess = enabled\nreport = enabled\nold = disabled\n")
    got = fields_of(load_knowledge([root]), EventCode="4689")
    assert (got["eventtype"], got["tag"]) == ("proc", ["process", "report"])


def test_a_tags_stanza_value_is_url_decoded(tmp_path):
    """tags.conf.spec recommends URL-encoding the value; the Windows add-on has [app=win%3Alocal]."""
    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\n", tags="[app=win%3Alocal]\nlocal = enabled\n")
    assert fields_of(load_knowledge([root]), app="win:local")["tag"] == "local"


def test_eventtype_not_matching_gives_no_tags(tmp_path):
    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\n",
                 eventtypes="[proc]\nsearch = EventCode=4688\n", tags="[eventtype=proc]\nprocess = enabled\n")
    assert "tag" not in fields_of(load_knowledge([root]), EventCode="1")


def test_eventtype_search_sees_calculated_fields(tmp_path):
    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\nEVAL-kind = \"p\"\n",
                 eventtypes="[proc]\nsearch = kind=p\n")
    assert fields_of(load_knowledge([root]))["eventtype"] == "proc"


def test_eventtypes_decided_by_source_answer_eventtype_terms(tmp_path):
    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\n",
                 eventtypes="[sec]\nsearch = source=XmlWinEventLog:Security OR source=WinEventLog:Security\n"
                            "[sys]\nsearch = source=XmlWinEventLog:System\n"
                            "[proc]\nsearch = eventtype=sec (EventCode=4688 OR EventCode=592)\n"
                            "[other]\nsearch = eventtype=sys EventCode=4688\n"
                            "[not_sys]\nsearch = NOT eventtype=sys\n")
    knowledge = load_knowledge([root])
    assert fields_of(knowledge, EventCode="4688")["eventtype"] == ["not_sys", "proc", "sec"]
    assert fields_of(knowledge, EventCode="1")["eventtype"] == ["not_sys", "sec"]
    assert fields_of(knowledge, source="XmlWinEventLog:System", EventCode="4688")["eventtype"] == ["other", "sys"]


def test_eventtype_references_match_names_in_any_case(tmp_path):
    """``eventtype=SEC`` is a search term, so case-insensitive: it reads the event type [sec],
    which is then tested before it; a dataset gate sees the same event types."""
    from detpack.knowledge.eventtypes import matching_eventtypes

    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\n",
                 eventtypes="[sec]\nsearch = source=XmlWinEventLog:Security\n"
                            "[proc]\nsearch = eventtype=SEC EventCode=4688\n"
                            "[Win_A]\nsearch = EventCode=4688\n[any]\nsearch = eventtype=win_* EventCode=4688\n",
                 tags="[eventtype=proc]\nt = enabled\n", models={"M": MODEL})
    knowledge = load_knowledge([root])
    event = {"source": SOURCE, "sourcetype": "XmlWinEventLog", "host": "h", "_raw": "", "EventCode": "4688"}
    assert sorted(matching_eventtypes(dict(event), knowledge.eventtypes)) == ["Win_A", "any", "proc", "sec"]
    assert fields_of(knowledge, EventCode="4688")["eventtype"] == ["Win_A", "any", "proc", "sec"]
    dataset = knowledge.datasets["M.Root"]
    assert knowledge.row(dataset, dict(event), dataset.reads) is not None

def test_eventtype_value_alternatives_match_any_value_of_a_multivalue_field(tmp_path):
    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\n",
                 eventtypes="[a]\nsearch = code=X OR code=y\n[b]\nsearch = code IN (y, z)\n")
    knowledge = load_knowledge([root])
    assert fields_of(knowledge, code=["x", "Y"])["eventtype"] == ["a", "b"]
    assert fields_of(knowledge, code="Z")["eventtype"] == "b"
    assert "eventtype" not in fields_of(knowledge, code="w")


def test_an_extraction_changing_the_source_is_seen_by_the_eventtypes(tmp_path):
    """The plan made for an event's source is not used once its extractions changed it."""
    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\nREPORT-a = t\n",
                 transforms="[t]\nREGEX = (\\w+)=(\\S+)\nFORMAT = $1::$2\nMV_ADD = true\n",
                 eventtypes="[sys]\nsearch = source=elsewhere\n")
    knowledge = load_knowledge([root])
    assert "eventtype" not in fields_of(knowledge, "x=1")
    assert fields_of(knowledge, "source=elsewhere")["eventtype"] == "sys"


def test_a_field_value_tag_can_give_a_datasets_tag(tmp_path):
    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\nREPORT-a = t\n",
                 transforms="[t]\nREGEX = kind=(?<kind>\\w+)\n",
                 tags="[kind=proc]\nt = enabled\n[kind=other]\nu = enabled\n", models={"M": MODEL})
    knowledge = load_knowledge([root])
    dataset = knowledge.datasets["M.Root"]
    event = {"source": SOURCE, "sourcetype": "XmlWinEventLog", "host": "h"}
    assert knowledge.row(dataset, dict(event, _raw="kind=proc"), dataset.reads) is not None
    assert knowledge.row(dataset, dict(event, _raw="kind=other"), dataset.reads) is None


# --- data models ---------------------------------------------------------------------------------


MODEL = {"modelName": "M", "objects": [
    {"objectName": "Root", "parentName": "BaseEvent", "constraints": [{"search": "tag=t"}],
     "fields": [{"fieldName": "a"}],
     "calculations": [{"calculationType": "Eval", "expression": 'if(isnull(a) OR a="","unknown",a)',
                       "outputFields": [{"fieldName": "a"}]}]},
    {"objectName": "Child", "parentName": "Root", "constraints": [{"search": "kind=c"}],
     "fields": [{"fieldName": "b"}], "calculations": []},
]}


def model_knowledge(tmp_path):
    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\n", eventtypes="[e]\nsearch = EventCode=1\n",
                 tags="[eventtype=e]\nt = enabled\n", models={"M": MODEL})
    return load_knowledge([root])


def test_datamodel_constraint_and_calculation(tmp_path):
    knowledge = model_knowledge(tmp_path)
    dataset = knowledge.datasets["M.Root"]
    row = dataset.row(fields_of(knowledge, EventCode="1", other="x"))
    assert row["a"] == "unknown" and "other" not in row and row["source"] == SOURCE
    assert dataset.row(fields_of(knowledge, EventCode="2")) is None


def test_datamodel_child_inherits_constraints_fields_and_calculations(tmp_path):
    knowledge = model_knowledge(tmp_path)
    child = knowledge.datasets["M.Child"]
    row = child.row(fields_of(knowledge, EventCode="1", kind="c", b="B"))
    assert (row["a"], row["b"]) == ("unknown", "B")
    assert child.row(fields_of(knowledge, EventCode="2", kind="c")) is None
    assert child.row(fields_of(knowledge, EventCode="1", kind="d")) is None


def test_datamodel_lookup_calculation_is_named(tmp_path):
    model = {"modelName": "N", "objects": [{"objectName": "O", "parentName": "BaseEvent", "constraints": [],
             "fields": [], "calculations": [{"calculationType": "Lookup", "outputFields": [{"fieldName": "z"}]}]}]}
    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\n", models={"N": model})
    assert "Lookup calculations are not supported (z stay null)" in load_knowledge([root]).problems.messages[0]


# --- laziness --------------------------------------------------------------------------------------


def test_only_knowledge_that_can_make_a_needed_field_runs(tmp_path):
    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\nEVAL-a = \"A\"\nEVAL-b = \"B\"\n")
    got = load_knowledge([root]).apply({"_raw": "", "source": SOURCE, "sourcetype": "XmlWinEventLog", "host": "h"},
                                       frozenset({"a"}))
    assert got.get("a") == "A" and "b" not in got


def test_names_taken_from_the_text_are_found_when_only_some_are_needed(tmp_path):
    """A $1::$2 extraction is skipped on a text that cannot hold a needed name; a cleaned
    name (Event-Code → Event_Code) is found from its letter and digit runs."""
    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\nREPORT-a = t\nEVAL-c = b\n",
                 transforms="[t]\nREGEX = ([\\w-]+)=(\\S+)\nFORMAT = $1::$2\n")
    knowledge = load_knowledge([root])
    event = {"source": SOURCE, "sourcetype": "XmlWinEventLog", "host": "h"}
    assert knowledge.apply(dict(event, _raw="a=1 b=2"), frozenset({"c"}))["c"] == "2"
    assert "c" not in knowledge.apply(dict(event, _raw="a=1 x=2"), frozenset({"c"}))
    assert knowledge.apply(dict(event, _raw="Event-Code=5"), frozenset({"Event_Code"}))["Event_Code"] == "5"


# --- the real add-ons, when present ------------------------------------------------------------------


ADDONS = os.environ.get("DETPACK_TEST_ADDONS")
EVENT_4688 = ("<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><EventID>4688</EventID>"
              "<Keywords>0x8020000000000000</Keywords><TimeCreated SystemTime='2026-03-11T08:15:00Z'/>"
              "<Channel>Security</Channel><Computer>ws1.example.local</Computer></System><EventData>"
              "<Data Name='SubjectUserName'>WS1$</Data><Data Name='TargetUserName'>alice</Data>"
              "<Data Name='NewProcessId'>0x3cc</Data><Data Name='NewProcessName'>C:\\w\\a b\\x.exe</Data>"
              "<Data Name='CommandLine'> x.exe /q</Data><Data Name='ProcessId'>0x10</Data>"
              "<Data Name='ParentProcessName'>C:\\w\\p.exe</Data></EventData></Event>")


@pytest.mark.skipif(not ADDONS, reason="DETPACK_TEST_ADDONS (a folder holding real add-ons, e.g. "
                                       "Splunk_TA_windows and Splunk_SA_CIM) is not set")
def test_real_addons_agree_with_the_builtin_set_on_4688():
    from detpack.replay.events import RawEvent, index_event, parse_event

    folders = sorted(p for p in Path(ADDONS).iterdir() if p.is_dir() or p.name.endswith((".tgz", ".spl")))
    real, builtin = load_knowledge(folders), load_knowledge()
    event = RawEvent(EVENT_4688, SOURCE, "XmlWinEventLog", "t:1")
    got = real.row(real.datasets["Endpoint.Processes"], index_event(event), None)
    want = builtin.row(builtin.datasets["Endpoint.Processes"], parse_event(event), None)
    fields = ("process", "process_name", "process_path", "process_id", "parent_process", "parent_process_id",
              "parent_process_name", "user", "dest", "action")
    assert {f: got.get(f) for f in fields} == {f: want.get(f) for f in fields}
    assert (got["process"], got["process_id"], got["user"]) == ('"C:\\w\\a b\\x.exe" /q', "0x3cc", "alice")


def test_report_drops_empty_values_unless_keep_empty_vals(tmp_path):
    transforms = "[t]\nREGEX = a=(?<a>\\w*)\n"
    dropped = addon(tmp_path, "d", props="[XmlWinEventLog]\nKV_MODE = none\nREPORT-a = t\n", transforms=transforms)
    kept = addon(tmp_path, "k", props="[XmlWinEventLog]\nKV_MODE = none\nREPORT-a = t\n",
                 transforms=transforms + "KEEP_EMPTY_VALS = true\n")
    assert "a" not in fields_of(load_knowledge([dropped]), "a= x")
    assert fields_of(load_knowledge([kept]), "a= x")["a"] == ""


# --- the lookup and inputlookup commands ------------------------------------------------------


def lookup_search(tmp_path, spl: str):
    from detpack.replay.search import run_search

    root = tmp_path / "TA_test"
    if not root.exists():
        addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\n", transforms=LOOKUP_TRANSFORMS,
              lookups={"codes.csv": CODES, "extra.csv": "k,v\n4688,one\n2,two\n"})
    return run_search(spl, {}, [], knowledge=load_knowledge([root])).rows


def test_inputlookup_reads_a_transforms_table(tmp_path):
    assert lookup_search(tmp_path, "| inputlookup codes") == [
        {"code": "4688", "meaning": "created", "kind": "process"}, {"code": "A*", "meaning": "wild", "kind": "other"}]


def test_inputlookup_reads_a_lookup_file_by_name_with_max(tmp_path):
    assert lookup_search(tmp_path, "| inputlookup extra.csv max=1") == [{"k": "4688", "v": "one"}]


def test_lookup_command_outputs_like_an_automatic_lookup(tmp_path):
    rows = lookup_search(tmp_path, "| inputlookup extra.csv | lookup codes code AS k OUTPUT meaning AS m")
    assert rows == [{"k": "4688", "v": "one", "m": "created"}, {"k": "2", "v": "two"}]
    rows = lookup_search(tmp_path, "| inputlookup codes | lookup extra.csv k AS code OUTPUTNEW v")
    assert [r.get("v") for r in rows] == ["one", None]


def test_lookup_command_outputnew_and_output(tmp_path):
    spl = "| inputlookup extra.csv | eval code=\"4688\", meaning=\"mine\" | lookup codes code OUTPUTNEW meaning, kind"
    assert [(r["meaning"], r["kind"]) for r in lookup_search(tmp_path, spl)] == [("mine", "process")] * 2
    spl = spl.replace("OUTPUTNEW", "OUTPUT")
    assert [r["meaning"] for r in lookup_search(tmp_path, spl)] == ["created"] * 2


def test_an_unknown_lookup_table_is_an_error_at_its_position(tmp_path):
    from detpack.spl import SplError

    with pytest.raises(SplError, match="unknown lookup 'nope'") as error:
        lookup_search(tmp_path, "| inputlookup extra.csv | lookup nope k")
    assert error.value.position == 26


def test_inputlookup_must_be_the_first_command(tmp_path):
    from detpack.spl import SplError

    with pytest.raises(SplError, match="inputlookup must be the first command"):
        lookup_search(tmp_path, "| inputlookup extra.csv | inputlookup codes")


def test_events_without_the_datasets_tags_skip_the_late_knowledge(tmp_path):
    model_knowledge(tmp_path)
    root = tmp_path / "TA_test"
    (root / "local").mkdir()
    (root / "local" / "props.conf").write_text("[XmlWinEventLog]\nEVAL-late = \"x\"\n")
    knowledge = load_knowledge([root])
    dataset = knowledge.datasets["M.Root"]
    other = {"_raw": "", "source": SOURCE, "sourcetype": "XmlWinEventLog", "host": "h", "EventCode": "2"}
    assert knowledge.row(dataset, other, dataset.reads | {"late"}) is None and "late" not in other
    tagged = dict(other, EventCode="1")
    assert knowledge.row(dataset, tagged, dataset.reads | {"late"}) is not None and tagged["late"] == "x"


def test_no_early_tag_test_when_an_event_type_reads_a_calculated_field(tmp_path):
    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\nEVAL-kind = \"p\"\nEVAL-late = \"x\"\n",
                 eventtypes="[e]\nsearch = kind=q\n", tags="[eventtype=e]\nt = enabled\n", models={"M": MODEL})
    knowledge = load_knowledge([root])
    dataset = knowledge.datasets["M.Root"]
    fields = {"_raw": "", "source": SOURCE, "sourcetype": "XmlWinEventLog", "host": "h"}
    assert knowledge.row(dataset, fields, dataset.reads | {"late"}) is None
    assert fields["late"] == "x"  # the event types had to see the calculated fields first


def test_the_early_tag_test_compares_tags_without_case_as_the_constraint_does(tmp_path):
    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\n", eventtypes="[e]\nsearch = EventCode=1\n",
                 tags="[eventtype=e]\nT = enabled\n", models={"M": MODEL})
    knowledge = load_knowledge([root])
    dataset = knowledge.datasets["M.Root"]
    event = {"_raw": "", "source": SOURCE, "sourcetype": "XmlWinEventLog", "host": "h", "EventCode": "1"}
    assert dataset.row(knowledge.apply(dict(event))) is not None  # the constraint tag=t itself
    assert knowledge.row(dataset, dict(event), dataset.reads) is not None


def base_search_model(base_search: str) -> dict:
    """The CIM app's form: a root under BaseSearch holding its search in ``baseSearch``."""
    return {"modelName": "E", "objects": [
        {"objectName": "P", "parentName": "BaseSearch", "baseSearch": base_search, "constraints": [],
         "fields": [{"fieldName": "level"}, {"fieldName": "name"}],
         "calculations": [{"calculationType": "Eval", "expression": 'if(isnull(name) OR name="","unknown",name)',
                           "outputFields": [{"fieldName": "name"}]}]},
        {"objectName": "Q", "parentName": "P", "constraints": [{"search": "kind=q"}], "fields": [], "calculations": []}]}


def test_a_base_search_root_gives_its_constraint_and_eval_calculations(tmp_path):
    model = base_search_model("(`m_indexes`) tag=t | eval level=lower(level), name=level . \"!\"")
    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\n", eventtypes="[e]\nsearch = EventCode=1\n",
                 tags="[eventtype=e]\nt = enabled\n", macros="[m_indexes]\ndefinition = ()\n", models={"E": model})
    knowledge = load_knowledge([root])
    assert knowledge.problems.messages == [] and sorted(knowledge.datasets) == ["E.P", "E.Q"]
    row = knowledge.datasets["E.P"].row(fields_of(knowledge, EventCode="1", level="HIGH"))
    assert (row["level"], row["name"]) == ("high", "high!")
    assert knowledge.datasets["E.P"].row(fields_of(knowledge, EventCode="2", level="HIGH")) is None
    assert knowledge.datasets["E.Q"].row(fields_of(knowledge, EventCode="1", kind="q")) is not None


def test_a_base_search_command_other_than_eval_is_named(tmp_path):
    root = addon(tmp_path, models={"E": base_search_model("tag=t | eval x=1 | head 5")})
    assert load_knowledge([root]).problems.messages == [
        "TA_test: default/data/models/E.json [P] baseSearch: command 'head' is not applied to the dataset's events"]


def test_events_matching_the_same_stanzas_share_one_plan(tmp_path):
    """Plans are kept per set of matching stanzas, not per host: many hosts cost one plan."""
    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\nEVAL-a = \"st\"\n[host::web*]\nEVAL-a = \"web\"\n")
    knowledge = load_knowledge([root])
    got = [fields_of(knowledge, host=f"h{i}").get("a") for i in range(500)]
    got += [fields_of(knowledge, host=f"web{i}").get("a") for i in range(500)]
    assert got == ["st"] * 500 + ["web"] * 500 and len(knowledge._steps) == 2


@pytest.mark.parametrize("pattern", [r"(?ms).*A computer account was (.*?)[:\.]", r"(?s).*?(x+)", r"(?s).*(?<=a)(b)",
                                     r"(?ms).*^(\w+)$"])
@pytest.mark.parametrize("text", ["", "A computer account was created: x", "ab\nxx ab\nA computer account was made.",
                                  "no\nmatch here", "xxaxb\nab"])
def test_a_leading_dotall_star_is_run_anchored_with_the_same_matches(pattern, text):
    """A pattern starting with a DOTALL .* matches only where the search starts (PCRE anchors it
    itself); run anchored it finds what re finds, without retrying every later start."""
    import re

    from detpack.knowledge.regex import AnchoredPattern, compile_pcre

    anchored, plain = compile_pcre(pattern), re.compile(pattern)
    assert isinstance(anchored, AnchoredPattern)
    assert [m.span() for m in anchored.finditer(text)] == [m.span() for m in plain.finditer(text)]
    assert anchored.findall(text) == plain.findall(text)
    found, expected = anchored.search(text), plain.search(text)
    assert (found and found.span()) == (expected and expected.span())


def test_a_leading_dotall_star_in_one_branch_is_not_anchored():
    from detpack.knowledge.regex import AnchoredPattern, compile_pcre

    assert not isinstance(compile_pcre(r"(?s).*a|b"), AnchoredPattern)
    assert not isinstance(compile_pcre(r"(?s).*[\][]|b"), AnchoredPattern)  # a class of ']' and '[', then a branch
    assert not isinstance(compile_pcre(r".*a"), AnchoredPattern)  # without s, "." stops at a line break


def test_a_lookup_file_that_is_not_utf8_is_named_with_its_line(tmp_path):
    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\nLOOKUP-a = t k OUTPUT v\n",
                 transforms="[t]\nfilename = t.csv\n", lookups={"t.csv": ""})
    (root / "lookups" / "t.csv").write_bytes("k,v\nabc,found\ncaf\u00e9,latin\n".encode("latin-1"))
    knowledge = load_knowledge([root])
    assert fields_of(knowledge, k="abc")["v"] == "found"
    assert knowledge.problems.messages == [
        "lookups/t.csv:3: not UTF-8 (byte 0xe9), read with U+FFFD in place of each byte that is not"]

def test_a_lookup_table_that_cannot_be_read_is_named_and_not_called_unknown(tmp_path):
    from detpack.replay.search import run_search
    from detpack.spl import SplError

    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\n",
                 transforms="[t]\nfilename = t.csv\nfilters = x\n", lookups={"t.csv": "a,a\n1,2\n"})
    knowledge = load_knowledge([root])
    for spl in ("| inputlookup t", "| inputlookup t.csv"):
        with pytest.raises(SplError, match=f"lookup '{spl.split()[-1]}' cannot be read"):
            run_search(spl, {}, [], knowledge=knowledge)
    assert knowledge.problems.messages == [
        "TA_test: default/transforms.conf [t] filters: not a lookup setting of transforms.conf.spec, ignored",
        "lookups/t.csv:1: column 'a' appears twice in the header; no lookup reads it"]


def test_a_dataset_narrowed_to_what_a_search_reads_keeps_the_calculations_it_needs():
    knowledge = load_knowledge()
    processes = knowledge.datasets["Endpoint.Processes"]
    narrowed = knowledge.narrowed(processes, frozenset({"process_name", "_time"}))
    assert narrowed.fields == ("process_name",) and narrowed.constraints == processes.constraints
    # the CIM's process_name falls back on process, whose own calculation runs first
    assert [c.outputs for c in narrowed.calculations] == [("process",), ("process_name",)]
    assert knowledge.narrowed(processes, None) is processes


def test_the_addons_come_from_the_option_then_the_environment_then_contentctl_yml(monkeypatch):
    from detpack.replay.knowledge_choice import ADDONS_VARIABLE, chosen_addons

    monkeypatch.delenv(ADDONS_VARIABLE, raising=False)
    assert chosen_addons((), ()) == []  # none chosen: the built-in knowledge
    assert chosen_addons((), ("from_yml",)) == ["from_yml"]
    monkeypatch.setenv(ADDONS_VARIABLE, os.pathsep.join(("", "env_a", "", "env_b")))
    assert chosen_addons((), ("from_yml",)) == ["env_a", "env_b"]
    assert chosen_addons(("given",), ("from_yml",)) == ["given"]
    monkeypatch.setenv(ADDONS_VARIABLE, os.pathsep)  # only separators: as if unset
    assert chosen_addons((), ("from_yml",)) == ["from_yml"]


def test_a_dataset_gate_leaves_an_events_own_eventtype_to_its_calculated_fields(tmp_path):
    """The gate matches event types on the event itself and removes what it set; an
    eventtype field the event came with is kept for what reads it before the event types."""
    root = addon(tmp_path, props="[XmlWinEventLog]\nKV_MODE = none\nEVAL-a = eventtype\n",
                 eventtypes="[e]\nsearch = EventCode=1\n", tags="[eventtype=e]\nt = enabled\n", models={"M": MODEL})
    knowledge = load_knowledge([root])
    dataset = knowledge.datasets["M.Root"]
    event = {"source": SOURCE, "sourcetype": "XmlWinEventLog", "host": "h", "_raw": "", "EventCode": "1"}
    assert knowledge.row(dataset, dict(event, eventtype="given"), dataset.reads)["a"] == "given"
    assert knowledge.row(dataset, dict(event), dataset.reads)["a"] == "unknown"  # event types come after EVAL-
    assert knowledge.row(dataset, dict(event, EventCode="2"), dataset.reads) is None
