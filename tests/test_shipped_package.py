"""The package this project ships passes AppInspect on both tag sets (a real AppInspect run)."""
from __future__ import annotations

import tarfile

import pytest

from detpack.build.app import build_app
from conftest import PROJECT_ROOT
from detpack.build.inspect import TAG_SETS, run_appinspect


@pytest.fixture(scope="module")
def shipped_package(tmp_path_factory):
    return build_app(PROJECT_ROOT, tmp_path_factory.mktemp("dist"), sync_committed=False).package


def test_shipped_package_passes_appinspect(shipped_package):
    result = run_appinspect(shipped_package)
    assert [t.tag_set for t in result.tag_sets] == list(TAG_SETS)
    for tag_set in result.tag_sets:
        assert (tag_set.failures, tag_set.errors, tag_set.warnings, tag_set.future_failures) == (0, 0, 0, 0), \
            [str(m) for m in tag_set.messages]
        assert tag_set.json_report.is_file() and tag_set.junit_report.is_file()
    assert result.passed


def test_shipped_package_layout(shipped_package):
    with tarfile.open(shipped_package) as tar:
        members = tar.getmembers()
    assert all(m.name.split("/")[0] == "DA-ESS-DetPack" for m in members)
    assert [m.name for m in members] == sorted(m.name for m in members)
    assert not any("/local" in m.name for m in members)
    assert {(m.uid, m.gid) for m in members} == {(0, 0)}
    assert {m.mode for m in members if m.isfile()} == {0o644}
