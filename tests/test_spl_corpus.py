"""The offline engine on Splunk's own security_content (ESCU 4.42), checked as
``validate --spl`` checks it (the pack loaded, the CIM app's macros where it has none):
at least 95% of the production searches parse and plan (given the data models and
lookups they name), and none of them makes the engine crash. Read from the archive in
../shared/corpora."""
from __future__ import annotations

import contextlib
import io
from collections import Counter

import pytest

from detpack.cli import spl_checks
from detpack.content.validate import check_pack
from detpack.spl.check import KNOWLEDGE, OK


@pytest.fixture(scope="module")
def corpus_checks(security_content):
    pack = check_pack(security_content).pack
    with contextlib.redirect_stderr(io.StringIO()):
        checks = spl_checks(pack)
    return [c for c, d in zip(checks, pack.detections) if d.status == "production"]


def test_the_corpus_has_its_production_searches(corpus_checks):
    assert len(corpus_checks) == 1472


def test_at_least_95_percent_parse_and_plan(corpus_checks):
    planned = sum(c.outcome in (OK, KNOWLEDGE) for c in corpus_checks)
    blockers = Counter(c.problem for c in corpus_checks if c.outcome not in (OK, KNOWLEDGE)).most_common(5)
    assert planned / len(corpus_checks) >= 0.95, blockers


def test_every_problem_names_a_position_or_a_missing_object(corpus_checks):
    for check in corpus_checks:
        if check.outcome != OK:
            assert check.position is not None or check.missing, check
