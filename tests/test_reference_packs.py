"""Packs written in the public security_content layout build unchanged, in both detection schemas.

Reads the public format examples in ../shared/reference (third-party files, read only, never copied
into the project); skipped with a reason when they are absent.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from detpack.build.app import build_app
from detpack.conf import as_dict, read_conf

PROJECT_ROOT = Path(__file__).resolve().parent.parent
REFERENCE = PROJECT_ROOT.parent / "shared" / "reference"


def reference_pack(tmp_path: Path, detection_file: str) -> Path:
    if not REFERENCE.is_dir():
        pytest.skip(f"public format examples not present at {REFERENCE}")
    root = tmp_path / "pack"
    (root / "detections" / "endpoint").mkdir(parents=True)
    (root / "stories").mkdir()
    shutil.copy(REFERENCE / "contentctl.yml", root / "contentctl.yml")
    shutil.copy(REFERENCE / detection_file, root / "detections" / "endpoint" / "script_execution_via_wmi.yml")
    shutil.copy(REFERENCE / "suspicious_wmi_use.yml", root / "stories" / "suspicious_wmi_use.yml")
    shutil.copytree(REFERENCE / "data_sources", root / "data_sources")
    shutil.copytree(PROJECT_ROOT / "macros", root / "macros")  # the examples ship no macros
    return root


@pytest.mark.parametrize("detection_file, version", [
    ("script_execution_via_wmi.v7.yml", "7"),  # current schema: rba, drilldown_searches, tests
    ("script_execution_via_wmi.yml", "6"),     # older schema: tags.observable, tags.message, tags.risk_score
])
def test_reference_pack_builds(tmp_path, detection_file, version):
    result = build_app(reference_pack(tmp_path, detection_file), tmp_path / "dist")
    assert result.package.name == "DA-ESS-ContentUpdate-0.0.1.spl"
    searches = as_dict(read_conf(result.app_dir / "default" / "savedsearches.conf"))
    stanza = searches["ESCU - Script Execution via WMI - Rule"]
    assert json.loads(stanza["action.correlationsearch.metadata"])["detection_version"] == version
    assert json.loads(stanza["action.risk.param._risk"]) == [
        {"risk_object_field": "dest", "risk_object_type": "system", "risk_score": 36},
        {"risk_object_field": "user", "risk_object_type": "user", "risk_score": 36}]
    assert stanza["action.notable.param.severity"] == "low"
