"""Our build of Splunk's security_content 4.42 against contentctl 4.4.1's, key by key.

The comparison needs the corpus (../shared/corpora) and contentctl's output, which this suite does
not produce (contentctl is not a dependency). Build it once outside the project (README, "Parity
with contentctl") and name its app folder in CONTENTCTL_OUTPUT; without either the test is skipped
and says why.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from contentctl_parity import DELIBERATE, compare
from detpack.build.app import build_app


@pytest.fixture(scope="module")
def corpus_build(security_content, tmp_path_factory):
    return build_app(security_content, tmp_path_factory.mktemp("corpus-build"), sync_committed=False).app_dir


@pytest.fixture(scope="module")
def contentctl_output():
    folder = os.environ.get("CONTENTCTL_OUTPUT")
    if not folder or not (Path(folder) / "default" / "savedsearches.conf").is_file():
        pytest.skip("CONTENTCTL_OUTPUT does not name contentctl 4.4.1's DA-ESS-ContentUpdate folder "
                    "(see README, Parity with contentctl)")
    return Path(folder)


def test_every_key_contentctl_writes_has_its_value(contentctl_output, corpus_build):
    result = compare(corpus_build, contentctl_output)
    listing = "\n".join(str(d) for d in result.differences)
    by_key = ", ".join(f"{file} {key}: {count}" for (file, key), count in result.by_key().most_common())
    assert not result.differences, f"{len(result.differences)} difference(s) ({by_key}):\n{listing}"
    assert result.shared["default/savedsearches.conf"] >= 1711 + 56  # every detection and baseline
    assert result.shared["default/collections.conf"] == 24


def conf_app(root: Path, savedsearches: str, macros: str = "", **files: str) -> Path:
    (root / "default").mkdir(parents=True)
    (root / "default" / "savedsearches.conf").write_text(savedsearches)
    (root / "default" / "macros.conf").write_text(macros)
    for name, text in files.items():
        path = root / name.replace("__", "/").replace("_conf", ".conf").replace("_meta", ".meta")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def found(result) -> list[tuple]:
    return [(d.file, d.stanza, d.key, d.ours, d.theirs) for d in result.differences]


def test_the_comparison_reports_a_changed_missing_or_extra_key(tmp_path):
    ours = conf_app(tmp_path / "ours", "[A]\nsearch = x\nannotations = {\"b\": [1], \"a\": 2}\naction.email.to = a@b\n"
                                       "[B]\nsearch = y\n")
    theirs = conf_app(tmp_path / "theirs", "[A]\nsearch = y\nannotations = {\"a\": 2, \"b\": [1]}\nextra = 1\n"
                                           "[C]\nsearch = z\n")
    assert found(compare(ours, theirs)) == [
        ("default/savedsearches.conf", "B", None, "(stanza)", None),
        ("default/savedsearches.conf", "C", None, None, "(stanza)"),
        ("default/savedsearches.conf", "A", "action.email.to", "a@b", None),
        ("default/savedsearches.conf", "A", "extra", None, "1"),
        ("default/savedsearches.conf", "A", "search", "x", "y")]


def test_every_conf_file_and_the_metadata_are_compared(tmp_path):
    ours = conf_app(tmp_path / "ours", "", default__alert_actions_conf="[w]\nlabel = x\n",
                    metadata__default_meta="[]\nexport = none\n")
    theirs = conf_app(tmp_path / "theirs", "", metadata__default_meta="[]\nexport = everything\n")
    assert found(compare(ours, theirs)) == [
        ("default/alert_actions.conf", None, None, "(file)", None),
        ("metadata/default.meta", "", "export", "none", "everything")]


def test_a_deliberate_difference_is_only_that_difference(tmp_path):
    reason, _ = DELIBERATE[("default/savedsearches.conf", "*", "description")]
    ours = conf_app(tmp_path / "ours", "[A]\ndescription = DEPRECATED: no longer maintained. Text.\n"
                                       "[B]\ndescription = DEPRECATED: no longer maintained. Other text.\n")
    theirs = conf_app(tmp_path / "theirs", "[A]\ndescription = Their notice. Text.\n[B]\ndescription = Their notice. Text.\n")
    result = compare(ours, theirs)
    assert result.deliberate == {reason: 1}
    assert [d.stanza for d in result.differences] == ["B"]


def test_a_cut_description_is_not_a_status_notice(tmp_path):
    ours = conf_app(tmp_path / "ours", "[A]\ndescription = DEPRECATED: no longer maintained. Whole text.\n"
                                       "[B]\ndescription = DEPRECATED: no longer maintained. text.\n"
                                       "[C]\ndescription = DEPRECATED: no longer maintained. xt.\n")
    theirs = conf_app(tmp_path / "theirs", "[A]\ndescription = Notice. Whole text.\n[B]\ndescription = Notice. Other text.\n"
                                           "[C]\ndescription = Notice. Other text.\n")
    # B: the words before its end are not the notice every other stanza has; C: not even whole words
    assert [(d.stanza, d.key) for d in compare(ours, theirs).differences] == [("C", "description"), ("*", "description")]


def test_only_a_filter_macro_of_one_of_our_detections_may_have_our_description(tmp_path):
    searches = "[P - Found Things - Rule]\nsearch = x\n"
    ours = conf_app(tmp_path / "ours", searches, "[found_things_filter]\ndescription = Update this macro in "
                    "local/macros.conf to filter out false positives of Found Things.\n[other]\ndescription = "
                    "Update this macro in local/macros.conf to filter out false positives of Nothing.\n")
    theirs = conf_app(tmp_path / "theirs", searches, "[found_things_filter]\ndescription = Theirs.\n"
                      "[other]\ndescription = A real macro.\n")
    assert [d.stanza for d in compare(ours, theirs).differences] == ["other"]
