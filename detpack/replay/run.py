"""Detection tests and replays against the built app, and the ``test`` and ``replay`` commands.

A test runs the search exactly as shipped: the stanza of the BUILT
``default/savedsearches.conf`` with the macros of the built ``default/macros.conf``.
Commands receive plain values; only ``detpack.cli`` knows argparse.
"""
from __future__ import annotations

import csv
import json
import re
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from ..build.app import build_app, report_build_failed
from ..build.render import search_stanza_name
from ..build.write import cannot_write, write_atomically
from ..conf import ConfError, read_conf
from ..errors import EXIT_CHECKS_FAILED, EXIT_INVALID_INPUT, EXIT_OK, BuildFailed, InvalidInput, record
from ..knowledge import AddonError, Knowledge
from ..spl import MacroDef, SplError, as_macro_table
from .events import EventReadError, ReadStats
from .judge import TestOutcome, judge, problem_lines
from .knowledge_choice import knowledge_for, print_knowledge_problems
from .search import DatasetFile, SearchResult, run_search

URL = re.compile(r"[a-z][a-z0-9+.-]*://", re.IGNORECASE)


# --- detection tests -------------------------------------------------------------------


def shipped_search(app_dir: Path, stanza_name: str) -> str:
    """The ``search`` of a stanza of the built savedsearches.conf."""
    for stanza in read_conf(app_dir / "default" / "savedsearches.conf"):
        if stanza.name == stanza_name:
            if "search" not in stanza.entries:
                raise SplError(f"savedsearches.conf [{stanza_name}] has no search")
            return stanza.entries["search"]
    raise SplError(f"savedsearches.conf has no stanza [{stanza_name}]")


def shipped_macros(app_dir: Path) -> Mapping[str, MacroDef]:
    path = app_dir / "default" / "macros.conf"
    return as_macro_table(read_conf(path)) if path.exists() else {}


def detection_datasets(root: Path, test) -> list[DatasetFile]:
    files = []
    for data in test.attack_data:
        if URL.match(data.data):
            raise EventReadError(f"{data.data}: remote attack data cannot be replayed offline")
        files.append(DatasetFile(root / data.data, data.source, data.sourcetype))
    return files


def run_detection_test(build, detection, test, knowledge: Knowledge | None = None) -> TestOutcome:
    """Run one test of a detection against the built app; EventReadError for missing data."""
    try:
        spl = shipped_search(build.app_dir, search_stanza_name(build.pack.app, detection))
        result = run_search(spl, shipped_macros(build.app_dir), detection_datasets(build.pack.root, test),
                            knowledge=knowledge)
    except (SplError, ConfError) as error:
        return TestOutcome(False, [str(error)])
    reasons = problem_lines(result) + judge(detection, test, result)
    return TestOutcome(not reasons, reasons, result.rows)


# --- commands ------------------------------------------------------------------------------


def build_to_temp(content: Path, folder: str):
    return build_app(content, Path(folder), sync_committed=False)


def print_invalid(error: InvalidInput) -> int:
    for finding in error.findings:
        print(finding, file=sys.stderr)
    return EXIT_INVALID_INPUT


def test_command(content: Path, junit: Path | None = None, addons: tuple = ()) -> int:
    """``test``: run every detection's tests offline; 0 all passed, 1 a test failed (or the app cannot be built), 2 bad input."""
    with tempfile.TemporaryDirectory(prefix="detpack-test-") as folder:
        try:
            build = build_to_temp(content, folder)
            knowledge = knowledge_for(addons, build.pack.app.addons, build.app_dir)
        except InvalidInput as error:
            return print_invalid(error)
        except BuildFailed as error:
            return report_build_failed(error)
        except (AddonError, ConfError) as error:
            print(f"error: {error}", file=sys.stderr)
            return EXIT_INVALID_INPUT
        outcomes, unreadable = [], False
        for detection in build.pack.detections:
            for test in detection.tests:
                try:
                    outcome = run_detection_test(build, detection, test, knowledge)
                except EventReadError as error:
                    print(f"error: {detection.name} / {test.name}: {error}", file=sys.stderr)
                    unreadable = True
                    outcome = TestOutcome(False, [str(error)])
                print_knowledge_problems(knowledge)
                outcomes.append((detection, test, outcome))
                verdict = "PASS" if outcome.passed else "FAIL"
                reasons = f": {'; '.join(outcome.reasons)}" if outcome.reasons else ""
                print(f"{verdict} {detection.name} / {test.name}{reasons}")
    if junit:
        try:
            write_junit(junit, outcomes)
        except OSError as error:  # a file in its path, no permission: the command line's problem
            print(f"error: --junit {junit}: {cannot_write(junit, error)}", file=sys.stderr)
            return EXIT_INVALID_INPUT
    if unreadable:
        return EXIT_INVALID_INPUT
    return EXIT_OK if all(o.passed for _, _, o in outcomes) else EXIT_CHECKS_FAILED


def write_junit(path: Path, outcomes: list) -> None:
    import xml.etree.ElementTree as ET  # only ``test --junit`` writes XML: replay starts without it

    suite = ET.Element("testsuite", name="detection tests", tests=str(len(outcomes)),
                       failures=str(sum(not o.passed for _, _, o in outcomes)))
    for detection, test, outcome in outcomes:
        case = ET.SubElement(suite, "testcase", classname=detection.name, name=test.name)
        if not outcome.passed:
            ET.SubElement(case, "failure", message="; ".join(outcome.reasons)).text = "\n".join(outcome.reasons)
    write_atomically(path, ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n")


@record
class ReplayOptions:
    """How ``replay`` reads the datasets and prints the results."""

    source: str | None = None
    sourcetype: str | None = None
    strict: bool = False
    as_json: bool = False
    addons: tuple = ()  # add-on paths; empty: $DETPACK_ADDONS, contentctl.yml, then the built-in set


def replay_command(datasets: list[Path], content: Path, detection: str | None = None,
                   options: ReplayOptions = ReplayOptions()) -> int:
    """``replay``: print each chosen detection's results over ``datasets``; 0 ok, 1 the app cannot be built, 2 bad input."""
    missing = [str(p) for p in datasets if not p.is_file()]
    if missing:
        for p in missing:
            print(f"{p}: no such file", file=sys.stderr)
        return EXIT_INVALID_INPUT
    with tempfile.TemporaryDirectory(prefix="detpack-replay-") as folder:
        try:
            build = build_to_temp(content, folder)
            knowledge = knowledge_for(options.addons, build.pack.app.addons, build.app_dir)
        except InvalidInput as error:
            return print_invalid(error)
        except BuildFailed as error:
            return report_build_failed(error)
        except (AddonError, ConfError) as error:
            print(f"error: {error}", file=sys.stderr)
            return EXIT_INVALID_INPUT
        detections = chosen_detections(build.pack, detection)
        if detections is None:
            print(f"no detection named or with id '{detection}'", file=sys.stderr)
            return EXIT_INVALID_INPUT
        return replay_detections(build, detections, datasets, options, knowledge)


def chosen_detections(pack, wanted: str | None):
    if wanted is None:
        return list(pack.detections)
    detection = pack.detection(wanted)
    return None if detection is None else [detection]


def replay_detections(build, detections, datasets: list[Path], options: ReplayOptions,
                      knowledge: Knowledge | None = None) -> int:
    report = progress_printer() if sys.stderr.isatty() else None
    results = []
    for detection in detections:
        try:
            spl = shipped_search(build.app_dir, search_stanza_name(build.pack.app, detection))
            result = run_search(spl, shipped_macros(build.app_dir), datasets, source=options.source,
                                sourcetype=options.sourcetype, progress=report, prefilter=not options.strict,
                                knowledge=knowledge)
        except (SplError, ConfError, EventReadError) as error:
            print(f"{detection.name}: {error}", file=sys.stderr)
            return EXIT_INVALID_INPUT
        if report:
            print(file=sys.stderr)  # end the progress line
        print_knowledge_problems(knowledge)
        print_problems(result)
        if options.strict and result.events_skipped:
            print(f"{detection.name}: {result.events_skipped} bad event(s) (--strict)", file=sys.stderr)
            return EXIT_INVALID_INPUT
        results.append((detection, result))
    for detection, result in results:
        print_result(detection, result, options.as_json)
    return EXIT_OK


def print_problems(result: SearchResult) -> None:
    for line in problem_lines(result):
        print(line, file=sys.stderr)


def progress_printer() -> Callable[[ReadStats], None]:
    """Overwrites one stderr line with the events read so far and the rate."""
    started = time.monotonic()

    def report(stats: ReadStats) -> None:
        rate = stats.events_read / max(time.monotonic() - started, 1e-9)
        print(f"\r{stats.events_read:,} events read, {rate:,.0f}/s ", end="", file=sys.stderr, flush=True)

    return report


def print_result(detection, result: SearchResult, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"detection": detection.name, "results": result.rows,
                          "events_read": result.events_read, "events_skipped": result.events_skipped}))
        return
    print(f"# {detection.name}: {len(result.rows)} result(s), "
          f"{result.events_read} event(s) read, {result.events_skipped} skipped")
    if result.rows:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(result.columns)
        for row in result.rows:
            writer.writerow([cell_text(row.get(c)) for c in result.columns])


def cell_text(value: str | list[str] | None) -> str:
    """Splunk's CSV export: multivalue joined with newlines, null empty."""
    if value is None:
        return ""
    return "\n".join(value) if isinstance(value, list) else value
