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
    conf = as_dict(parse_conf(render_app(load_valid_pack(pack)).files["default/analyticstories.conf"], "a"))
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
