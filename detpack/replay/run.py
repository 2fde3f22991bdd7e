"""Offline replay: run a detection's SPL over event files with Splunk semantics.

``run_search`` is the engine's integration point: raw events (from files, or
RawEvent objects such as events received over HEC) → search-time fields
(``events.parse_event``) → data-model rows when the search reads a data model
(``cim.DATAMODELS``) → the planned SPL stages. Memory does not grow with the
data: events stream through and only aggregation groups are kept.

``run_detection_test`` runs the search exactly as shipped: the stanza of the
BUILT ``default/savedsearches.conf`` with the macros of the built
``default/macros.conf``. The ``test`` and ``replay`` commands live here too.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from . import cim, events
from .conf import ConfError, read_conf
from .errors import EXIT_CHECKS_FAILED, EXIT_INVALID_INPUT, EXIT_OK, InvalidInput
from .events import EventReadError, RawEvent, ReadStats, parse_event, read_events
from .files import write_atomically
from .model import result_tokens
from .spl import MacroDef, Plan, SplError, as_macro_table, expand, output_rows, parse, plan

URL = re.compile(r"[a-z][a-z0-9+.-]*://", re.IGNORECASE)
PROGRESS_SECONDS = 1.0


@dataclass(frozen=True)
class DatasetFile:
    """An event file with the labels a forwarder would give it (None: derive per event)."""

    path: Path
    source: str | None = None
    sourcetype: str | None = None


@dataclass
class SearchResult:
    rows: list[dict[str, str | list[str]]]
    columns: list[str]
    events_read: int
    events_skipped: int
    problems: list[str]  # "file:line: reason" of skipped events


@dataclass
class TestOutcome:
    passed: bool
    reasons: list[str]
    rows: list[dict[str, str | list[str]]] = field(default_factory=list)


# --- running a search ---------------------------------------------------------------


def raw_text_is_verbatim() -> bool:
    """The one place deciding whether raw-text prefilters are sound: they assume each
    extracted value (and EventCode) is a substring of _raw, which entity decoding breaks."""
    return not events.DECODE_ENTITIES


def plan_search(spl: str, macros: Mapping[str, MacroDef] | Iterable, *, prefilter: bool = True) -> Plan:
    """Expand macros, parse and plan ``spl`` against the project's data models; the
    plan gets a raw-text prefilter only when ``prefilter`` and it is sound."""
    expanded = expand(spl, as_macro_table(macros))
    verbatim = cim.VERBATIM_FIELDS if prefilter and raw_text_is_verbatim() else frozenset()
    return plan(parse(expanded), cim.DATAMODELS.keys(), verbatim, cim.CONSTANT_VALUES)


EVENT_ID_END = "</EventID>"


def dataset_filter(datamodel: str | None) -> Callable[[str], bool] | None:
    """A raw-text test every event of the data model's data set passes.

    ``parse_event`` takes EventCode verbatim from ``<EventID ...>code</EventID>``
    (when it does not decode entities), so an event whose raw text has no such
    element with a tagged code cannot become a row: it is dropped unparsed.
    """
    codes = cim.TAGGED_EVENT_CODES.get(datamodel)
    if codes is None or not raw_text_is_verbatim():
        return None

    def candidate(raw: str) -> bool:
        end = raw.find(EVENT_ID_END)
        while end != -1:
            if raw[raw.rfind(">", 0, end) + 1 : end] in codes:
                return True
            end = raw.find(EVENT_ID_END, end + 1)
        return False

    return candidate


def raw_event_filter(compiled: Plan) -> Callable[[str], bool] | None:
    """The raw-text test a search applies before parsing: its prefilter, then its data set's."""
    return compiled.keep(then=dataset_filter(compiled.datamodel))


def run_search(spl: str, macros: Mapping[str, MacroDef] | Iterable,
               events_or_paths: Iterable[RawEvent | DatasetFile | str | os.PathLike], *,
               source: str | None = None, sourcetype: str | None = None,
               progress: Callable[[ReadStats], None] | None = None,
               prefilter: bool = True) -> SearchResult:
    """Run ``spl`` over events: RawEvent objects and/or files (paths or DatasetFile).

    ``source``/``sourcetype`` label plain paths; DatasetFile carries its own.
    ``prefilter=False`` parses every event, so every bad event is counted (the raw-text
    prefilters drop events unparsed, bad ones included).
    Raises SplError for SPL the engine cannot run, EventReadError for an unreadable file.
    """
    compiled = plan_search(spl, macros, prefilter=prefilter)
    stats = ReadStats()
    keep = raw_event_filter(compiled) if prefilter else None
    raw_events = raw_event_stream(events_or_paths, keep, stats, source, sourcetype)
    rows = search_rows(raw_events, compiled.datamodel, stats)
    with Progress(stats, progress):
        results, columns = output_rows(compiled.execute(rows))
    return SearchResult(results, columns, stats.events_read, stats.events_skipped, list(stats.problems))


def raw_event_stream(items: Iterable, keep: Callable[[str], bool] | None, stats: ReadStats,
                     source: str | None, sourcetype: str | None) -> Iterator[RawEvent]:
    for item in items:
        if isinstance(item, RawEvent):
            stats.events_read += 1
            if keep is None or keep(item.raw):
                yield item
            continue
        dataset = item if isinstance(item, DatasetFile) else DatasetFile(Path(item), source, sourcetype)
        yield from read_events(dataset.path, source=dataset.source, sourcetype=dataset.sourcetype,
                               stats=stats, keep=keep)


def search_rows(events: Iterable[RawEvent], datamodel: str | None, stats: ReadStats) -> Iterator[dict]:
    """Search-time fields of each event, or its data-model row when the search reads one."""
    to_row = cim.DATAMODELS[datamodel] if datamodel else None
    for event in events:
        fields = parse_event(event, stats=stats)
        if fields is None:
            continue
        if to_row is None:
            yield fields
        elif (row := to_row(fields)) is not None:
            yield row


class Progress:
    """Calls ``report(stats)`` every second from a side thread while a search runs."""

    def __init__(self, stats: ReadStats, report: Callable[[ReadStats], None] | None):
        self.stats, self.report = stats, report
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True) if report else None

    def run(self) -> None:
        while not self.done.wait(PROGRESS_SECONDS):
            self.report(self.stats)

    def __enter__(self) -> "Progress":
        if self.thread:
            self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.done.set()
        if self.thread:
            self.thread.join()
            self.report(self.stats)  # the final figures


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


def run_detection_test(build, detection, test) -> TestOutcome:
    """Run one test of a detection against the built app; EventReadError for missing data."""
    from .render import search_stanza_name

    try:
        spl = shipped_search(build.app_dir, search_stanza_name(build.pack.app, detection))
        result = run_search(spl, shipped_macros(build.app_dir), detection_datasets(build.pack.root, test))
    except (SplError, ConfError) as error:
        return TestOutcome(False, [str(error)])
    reasons = problem_lines(result) + judge(detection, test, result)
    return TestOutcome(not reasons, reasons, result.rows)


def problem_lines(result: SearchResult) -> list[str]:
    """The stored problems, then how many more bad events were only counted."""
    unstored = result.events_skipped - len(result.problems)
    return list(result.problems) + ([f"... and {unstored} more bad event(s)"] if unstored > 0 else [])


def judge(detection, test, result: SearchResult) -> list[str]:
    """Why the results fail the test (empty when they pass)."""
    rows, reasons = result.rows, []
    if test.expected_count is not None and len(rows) != test.expected_count:
        reasons.append(f"expected {test.expected_count} result(s), got {len(rows)}")
    if not test.positive:
        return reasons
    if not rows:
        return reasons + ["no results"]
    for risk in detection.risk_objects:
        bad = [str(i) for i, row in enumerate(rows, 1) if row.get(risk.field) in (None, "null")]
        if bad:
            reasons.append(f"risk object field '{risk.field}' is missing or null in result(s) {', '.join(bad)}")
    texts = [("risk message", detection.risk_message)]
    texts += [(f"drilldown '{d.name}'", f"{d.name} {d.search}") for d in detection.drilldowns]
    for label, text in texts:
        missing = sorted({t for t in result_tokens(text) if t not in result.columns})
        if missing:
            reasons.append(f"{label}: token(s) {', '.join('$' + t + '$' for t in missing)} are not result fields")
    return reasons


# --- commands ------------------------------------------------------------------------------


def add_commands(subparsers) -> None:
    from .cli import add_content_argument

    test = subparsers.add_parser("test", help="replay every detection's test data offline and check the results")
    add_content_argument(test)
    test.add_argument("--junit", type=Path, help="also write a JUnit XML report here")
    test.set_defaults(handler=cmd_test)
    replay = subparsers.add_parser("replay", help="run detections over event files and print their results")
    replay.add_argument("datasets", nargs="+", type=Path, metavar="DATASET", help="event file (XML, one event per line; .gz ok)")
    add_content_argument(replay)
    replay.add_argument("--detection", help="name, id or file stem of one detection (default: all)")
    replay.add_argument("--source", help="source of every event (default: from each event's <Channel>)")
    replay.add_argument("--sourcetype", help="sourcetype of every event (default: XmlWinEventLog)")
    replay.add_argument("--strict", action="store_true",
                        help="parse every event (no raw-text prefilters, so slower) and exit 2, "
                             "printing no results, when any event is bad")
    replay.add_argument("--json", action="store_true", help="one JSON object per detection")
    replay.set_defaults(handler=cmd_replay)


def build_to_temp(content: Path, folder: str):
    from .build import build_app

    return build_app(content, Path(folder), sync_committed=False)


def print_invalid(error: InvalidInput) -> int:
    for finding in error.findings:
        print(finding, file=sys.stderr)
    return EXIT_INVALID_INPUT


def cmd_test(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="detpack-test-") as folder:
        try:
            build = build_to_temp(args.content, folder)
        except InvalidInput as error:
            return print_invalid(error)
        outcomes, unreadable = [], False
        for detection in build.pack.detections:
            for test in detection.tests:
                try:
                    outcome = run_detection_test(build, detection, test)
                except EventReadError as error:
                    print(f"error: {detection.name} / {test.name}: {error}", file=sys.stderr)
                    unreadable = True
                    outcome = TestOutcome(False, [str(error)])
                outcomes.append((detection, test, outcome))
                verdict = "PASS" if outcome.passed else "FAIL"
                reasons = f": {'; '.join(outcome.reasons)}" if outcome.reasons else ""
                print(f"{verdict} {detection.name} / {test.name}{reasons}")
    if args.junit:
        write_junit(args.junit, outcomes)
    if unreadable:
        return EXIT_INVALID_INPUT
    return EXIT_OK if all(o.passed for _, _, o in outcomes) else EXIT_CHECKS_FAILED


def write_junit(path: Path, outcomes: list) -> None:
    suite = ET.Element("testsuite", name="detection tests", tests=str(len(outcomes)),
                       failures=str(sum(not o.passed for _, _, o in outcomes)))
    for detection, test, outcome in outcomes:
        case = ET.SubElement(suite, "testcase", classname=detection.name, name=test.name)
        if not outcome.passed:
            ET.SubElement(case, "failure", message="; ".join(outcome.reasons)).text = "\n".join(outcome.reasons)
    write_atomically(path, ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n")


def cmd_replay(args: argparse.Namespace) -> int:
    missing = [str(p) for p in args.datasets if not p.is_file()]
    if missing:
        for p in missing:
            print(f"{p}: no such file", file=sys.stderr)
        return EXIT_INVALID_INPUT
    with tempfile.TemporaryDirectory(prefix="detpack-replay-") as folder:
        try:
            build = build_to_temp(args.content, folder)
        except InvalidInput as error:
            return print_invalid(error)
        detections = chosen_detections(build.pack, args.detection)
        if detections is None:
            print(f"no detection named or with id '{args.detection}'", file=sys.stderr)
            return EXIT_INVALID_INPUT
        return replay_detections(build, detections, args)


def chosen_detections(pack, wanted: str | None):
    if wanted is None:
        return list(pack.detections)
    detection = pack.detection(wanted)
    return None if detection is None else [detection]


def replay_detections(build, detections, args: argparse.Namespace) -> int:
    from .render import search_stanza_name

    report = progress_printer() if sys.stderr.isatty() else None
    results = []
    for detection in detections:
        try:
            spl = shipped_search(build.app_dir, search_stanza_name(build.pack.app, detection))
            result = run_search(spl, shipped_macros(build.app_dir), args.datasets, source=args.source,
                                sourcetype=args.sourcetype, progress=report, prefilter=not args.strict)
        except (SplError, ConfError, EventReadError) as error:
            print(f"{detection.name}: {error}", file=sys.stderr)
            return EXIT_INVALID_INPUT
        if report:
            print(file=sys.stderr)  # end the progress line
        print_problems(result)
        if args.strict and result.events_skipped:
            print(f"{detection.name}: {result.events_skipped} bad event(s) (--strict)", file=sys.stderr)
            return EXIT_INVALID_INPUT
        results.append((detection, result))
    for detection, result in results:
        print_result(detection, result, args.json)
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
