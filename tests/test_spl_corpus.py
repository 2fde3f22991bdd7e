"""The offline engine on Splunk's own security_content (ESCU 4.42): at least 95% of the
production searches parse and plan (given the data models and lookups they name), and
none of them makes the engine crash. Read from the archive in ../shared/corpora."""
from __future__ import annotations

import tarfile
from collections import Counter
from pathlib import Path

import pytest
import yaml

from detpack.knowledge import load_knowledge
from detpack.spl import MacroDef
from detpack.spl.check import KNOWLEDGE, OK, check_searches

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CORPUS = PROJECT_ROOT.parent / "shared" / "corpora" / "security_content-4.42.0.tar.gz"
Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def macro(doc: dict) -> MacroDef:
    args = tuple(doc.get("arguments") or ())
    key = f"{doc['name']}({len(args)})" if args else doc["name"]
    return MacroDef(key, args, doc["definition"])


@pytest.fixture(scope="module")
def corpus_checks():
    if not CORPUS.is_file():
        pytest.skip(f"security_content corpus not present at {CORPUS}")
    # The CIM app's macros the pack expects installed: this project's own definitions.
    macros = {m.name: m for m in (macro(yaml.load(p.read_text(), Loader)) for p in (PROJECT_ROOT / "macros").glob("*.yml"))}
    searches = []
    with tarfile.open(CORPUS) as archive:
        for member in archive:
            parts = Path(member.name).parts
            if not member.isfile() or not member.name.endswith(".yml") or len(parts) < 3:
                continue
            if parts[1] not in ("detections", "macros"):
                continue
            doc = yaml.load(archive.extractfile(member), Loader) or {}
            if parts[1] == "macros":
                macros[macro(doc).name] = macro(doc)
            elif doc.get("status") == "production" and doc.get("search"):
                searches.append((member.name, doc["search"]))
                stem = Path(member.name).stem
                macros.setdefault(f"{stem}_filter", MacroDef(f"{stem}_filter", (), "search *"))
    return check_searches(searches, macros, load_knowledge().datasets.keys())


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
