"""Our build of Splunk's security_content 4.42 against contentctl 4.4.1's, key by key.

The comparison needs the corpus (../shared/corpora) and contentctl's output, which this suite does
not produce (contentctl is not a dependency). Build it once outside the project (README, "Parity
with contentctl") and name its app folder in CONTENTCTL_OUTPUT; without either the test is skipped
and says why.
"""
from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest

from contentctl_parity import DELIBERATE, compare
from detpack.build.app import build_app

from conftest import PROJECT_ROOT

CORPUS = PROJECT_ROOT.parent / "shared" / "corpora" / "security_content-4.42.0.tar.gz"
# Lookups contentctl generates itself rather than reads from the pack.
CONTENTCTL_OWN = {"transforms.conf": ["data_sources", "mitre_enrichment"]}


@pytest.fixture(scope="module")
def corpus_build(tmp_path_factory):
    if not CORPUS.is_file():
        pytest.skip(f"security_content corpus not present at {CORPUS}")
    work = tmp_path_factory.mktemp("corpus")
    with tarfile.open(CORPUS) as archive:
        archive.extractall(work, filter="data")
    return build_app(work / "security_content", work / "dist", sync_committed=False).app_dir


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
    assert {f: s for f, s in result.only_theirs.items() if s} == CONTENTCTL_OWN
    assert result.shared["savedsearches.conf"] >= 1711 + 56  # every detection and baseline


def conf_app(root: Path, savedsearches: str, macros: str = "") -> Path:
    (root / "default").mkdir(parents=True)
    (root / "default" / "savedsearches.conf").write_text(savedsearches)
    (root / "default" / "macros.conf").write_text(macros)
    return root


def test_the_comparison_reports_a_changed_or_missing_key(tmp_path):
    ours = conf_app(tmp_path / "ours", "[A]\nsearch = x\nannotations = {\"b\": [1], \"a\": 2}\n[B]\nsearch = y\n")
    theirs = conf_app(tmp_path / "theirs", "[A]\nsearch = y\nannotations = {\"a\": 2, \"b\": [1]}\nextra = 1\n"
                                           "[C]\nsearch = z\n")
    result = compare(ours, theirs)
    assert [(d.stanza, d.key, d.ours, d.theirs) for d in result.differences] == [
        ("A", "search", "x", "y"), ("A", "extra", None, "1")]
    assert result.only_theirs["savedsearches.conf"] == ["C"] and result.shared["savedsearches.conf"] == 1


def test_a_deliberate_difference_is_only_that_difference(tmp_path):
    reason, _ = DELIBERATE[("savedsearches.conf", "description")]
    ours = conf_app(tmp_path / "ours", "[A]\ndescription = DEPRECATED: no longer maintained. Text.\n"
                                       "[B]\ndescription = DEPRECATED: no longer maintained. Other text.\n")
    theirs = conf_app(tmp_path / "theirs", "[A]\ndescription = Their notice. Text.\n[B]\ndescription = Their notice. Text.\n")
    result = compare(ours, theirs)
    assert result.deliberate == {reason: 1}
    assert [d.stanza for d in result.differences] == ["B"]
