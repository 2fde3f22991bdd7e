"""Running one search over events: the offline engine's integration point.

Raw events (from files, or RawEvent objects such as events received over HEC)
→ the reader's XML fields (``events.parse_event``) → search-time knowledge
(``knowledge``: the add-ons' props, transforms, lookups, event types, tags) →
data-model rows when the search reads a data model → the planned SPL stages. Memory does
not grow with the data: events stream through and only aggregation groups are
kept.
"""
from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import closing
from pathlib import Path

from ..errors import record
from ..knowledge import Knowledge, load_knowledge
from ..knowledge.verbatim import addon_event_codes, dataset_event_codes, traceable_fields
from ..spl import MacroDef, Plan, SplError, as_macro_table, expand, output_rows, parse
from ..spl.evaluate import fold
from ..spl.plan import RawScan, plan
from . import events
from .events import (DEFAULT_SOURCETYPE, EventReadError, RawEvent, ReadStats, index_event, parse_event, read_beside,
                     read_events)

PROGRESS_SECONDS = 1.0


@record
class DatasetFile:
    """An event file with the labels a forwarder would give it (None: derive per event)."""

    path: Path
    source: str | None = None
    sourcetype: str | None = None


@record(frozen=False)
class SearchResult:
    rows: list[dict[str, str | list[str]]]
    columns: list[str]
    events_read: int
    events_skipped: int
    problems: list[str]  # "file:line: reason" of skipped events


# --- running a search ---------------------------------------------------------------


def raw_text_is_verbatim() -> bool:
    """The one place deciding whether raw-text prefilters are sound: they assume each
    extracted value (and EventCode) is a substring of _raw, which entity decoding breaks."""
    return not events.DECODE_ENTITIES


def plan_search(spl: str, macros: Mapping[str, MacroDef] | Iterable, *, prefilter: bool = True,
                knowledge: Knowledge | None = None) -> Plan:
    """Expand macros, parse and plan ``spl`` against the knowledge's data models; the
    plan gets a raw-text prefilter only when ``prefilter`` and it is sound."""
    knowledge = knowledge or default_knowledge()
    pipeline = parse(expand(spl, as_macro_table(macros)))
    first = pipeline.commands[0]
    dataset = knowledge.datasets.get(getattr(first, "datamodel", None))
    verbatim, constants = frozenset(), frozenset()
    if dataset is not None and prefilter and raw_text_is_verbatim():
        verbatim, constants = traceable_fields(knowledge, dataset)
    return plan(pipeline, knowledge.datasets.keys(), verbatim, constants, knowledge.lookup_tables())


_DEFAULT: list[Knowledge] = []


def default_knowledge() -> Knowledge:
    """The built-in knowledge, read once per process."""
    if not _DEFAULT:
        _DEFAULT.append(load_knowledge())
    return _DEFAULT[0]


EVENT_ID_END = "</EventID>"
DATA_EVENT_CODE = "EventCode"  # the name of a data element the reader takes EventCode from


def dataset_filter(datamodel: str | None, knowledge: Knowledge | None = None,
                   sourcetype: str | None = None) -> Callable[[str], bool] | None:
    """A raw-text test every event of the data model's data set passes.

    ``parse_event`` takes EventCode verbatim from ``<EventID ...>code</EventID>``, or
    from a ``<Data Name='EventCode'>`` when the System part has none (when it does not
    decode entities), so when the data set's tags come only from event types that each
    name their EventCodes, an event whose raw text has no such element with one of
    those codes, nor the word EventCode, cannot become a row: it is dropped unparsed.
    Under an add-on's knowledge, for events of ``sourcetype``, the raw text must hold
    one of the texts ``addon_event_codes`` finds.
    """
    knowledge = knowledge or default_knowledge()
    dataset = knowledge.datasets.get(datamodel)
    if dataset is None or not raw_text_is_verbatim():
        return None
    if not knowledge.reader_fields:
        texts = addon_event_codes(knowledge, dataset, sourcetype) if sourcetype is not None else None
        return None if texts is None else raw_text_holding(texts)
    codes = dataset_event_codes(knowledge, dataset)
    if codes is None:
        return None

    def candidate(raw: str) -> bool:
        end = raw.find(EVENT_ID_END)
        while end != -1:
            if raw[raw.rfind(">", 0, end) + 1 : end] in codes:
                return True
            end = raw.find(EVENT_ID_END, end + 1)
        return DATA_EVENT_CODE in raw

    candidate.scan = event_code_scan(codes)
    return candidate


def raw_text_holding(texts: frozenset[str]) -> Callable[[str], bool]:
    needles = sorted({fold(t) for t in texts})

    def candidate(raw: str) -> bool:
        folded = fold(raw)
        return any(n in folded for n in needles)

    if all(n.isascii() and "\n" not in n and "\r" not in n for n in needles):
        candidate.scan = RawScan.of_folded(needles)
    return candidate


def event_code_scan(codes) -> RawScan | None:
    """The bytes ``>code</EventID>`` (or ``EventCode``) that ``dataset_filter``'s test needs in
    an event that starts with ``<`` (a code holds no ``<``, so the text it compares is after a
    ``>``): the end tag is what the scan looks for (a literal is found fast), the code is checked
    behind it."""
    if not all(code.isascii() and not set(code) & set("<>\r\n") for code in codes):
        return None
    alternatives = b"|".join(re.escape(code.encode()) for code in sorted(codes))
    return RawScan(b"(?<=>(?:" + alternatives + b"))" + re.escape(EVENT_ID_END.encode()),
                   literals=(DATA_EVENT_CODE.encode(),))


def raw_event_filter(compiled: Plan, knowledge: Knowledge | None = None,
                     sourcetype: str = DEFAULT_SOURCETYPE) -> Callable[[str], bool] | None:
    """The raw-text test a search applies before parsing events of ``sourcetype``: its
    prefilter, then its data set's."""
    return compiled.keep(then=dataset_filter(compiled.datamodel, knowledge, sourcetype))


class FilterBySourcetype:
    """A raw-text filter for each sourcetype the events come with, made when first needed."""

    def __init__(self, make: Callable[[str], Callable[[str], bool] | None]):
        self.make, self.made = make, {}

    def __call__(self, sourcetype: str | None) -> Callable[[str], bool] | None:
        sourcetype = sourcetype or DEFAULT_SOURCETYPE
        if sourcetype not in self.made:
            self.made[sourcetype] = self.make(sourcetype)
        return self.made[sourcetype]


def run_search(spl: str, macros: Mapping[str, MacroDef] | Iterable,
               events_or_paths: Iterable[RawEvent | DatasetFile | str | os.PathLike], *,
               source: str | None = None, sourcetype: str | None = None,
               progress: Callable[[ReadStats], None] | None = None,
               prefilter: bool = True, knowledge: Knowledge | None = None) -> SearchResult:
    """Run ``spl`` over events: RawEvent objects and/or files (paths or DatasetFile).

    ``source``/``sourcetype`` label plain paths; DatasetFile carries its own.
    ``prefilter=False`` parses every event, so every bad event is counted (the raw-text
    prefilters drop events unparsed, bad ones included). ``knowledge``: the add-ons'
    search-time knowledge (default: the built-in set).
    Raises SplError for SPL the engine cannot run, EventReadError for an unreadable file.
    """
    knowledge = knowledge or default_knowledge()
    try:
        compiled = plan_search(spl, macros, prefilter=prefilter, knowledge=knowledge)
    except RecursionError:  # the parser bounds nesting; the last guard for a shape it does not foresee
        raise SplError("search nested too deeply for this engine") from None
    stats = ReadStats()
    if compiled.subsearches:
        events_or_paths = list(events_or_paths)  # read again by each subsearch
    keep = FilterBySourcetype(lambda kind: raw_event_filter(compiled, knowledge, kind) if prefilter else None)
    raw_events = raw_event_stream(events_or_paths, keep, stats, source, sourcetype)
    rows = search_rows(raw_events, compiled.datamodel, stats, knowledge, compiled.reads)

    def subsearch_rows(datamodel: str | None) -> Iterator[dict]:
        """A subsearch's input: the same events read again without the main search's
        prefilter (only its data set's, which every row of it passes), counted apart."""
        again = ReadStats()
        keep_again = FilterBySourcetype(lambda kind: dataset_filter(datamodel, knowledge, kind) if prefilter else None)
        return search_rows(raw_event_stream(events_or_paths, keep_again, again, source, sourcetype),
                           datamodel, again, knowledge)

    with Progress(stats, progress):
        results, columns = output_rows(compiled.execute(rows, subsearch_rows))
    return SearchResult(results, columns, stats.events_read, stats.events_skipped, list(stats.problems))


def raw_event_stream(items: Iterable, keep: FilterBySourcetype, stats: ReadStats,
                     source: str | None, sourcetype: str | None) -> Iterator[RawEvent]:
    """The events of ``items`` (RawEvent objects and files), in order. While one file's events
    are worked on, the next file is already open, and read by its own process when it is read
    beside this one: on two cores, reading a file with few matching events then overlaps the
    work on a file with many. What a file adds to ``stats`` is added as its events are taken.
    Only a sequence is looked ahead in (a lazy input is asked for an item when its turn comes),
    and only a file read beside this process is opened early (opening a named pipe waits for
    its writer; a small file gains nothing)."""
    sequence = items if isinstance(items, Sequence) else ()
    ahead = None  # the reader of the next item, opened early
    try:
        for index, item in enumerate(items):
            if isinstance(item, RawEvent):
                stats.events_read += 1
                test = keep(item.sourcetype)
                if test is None or test(item.raw):
                    yield item
                continue
            reader, ahead = ahead or _opened(_dataset(item, source, sourcetype), keep, stats), None
            with closing(reader):
                following = sequence[index + 1] if index + 1 < len(sequence) else None
                if isinstance(following, (str, os.PathLike, DatasetFile)):
                    following = _dataset(following, source, sourcetype)
                    if read_beside(following.path):
                        ahead = _opened(following, keep, stats)
                yield from reader
    finally:
        if ahead is not None:
            ahead.close()


def _dataset(item, source: str | None, sourcetype: str | None) -> DatasetFile:
    return item if isinstance(item, DatasetFile) else DatasetFile(Path(item), source, sourcetype)


def _opened(dataset: DatasetFile, keep: FilterBySourcetype, stats: ReadStats) -> Iterator[RawEvent]:
    """The reader of a file; one that cannot be opened raises its error when its events are asked for."""
    try:
        return read_events(dataset.path, source=dataset.source, sourcetype=dataset.sourcetype,
                           stats=stats, keep=keep(dataset.sourcetype))
    except EventReadError as error:
        return _raising(error)


def _raising(error: EventReadError) -> Iterator[RawEvent]:
    """A reader that raises ``error`` when its first event is asked for."""
    yield from ()
    raise error


def search_rows(events: Iterable[RawEvent], datamodel: str | None, stats: ReadStats,
                knowledge: Knowledge | None = None, reads: frozenset[str] | None = None) -> Iterator[dict]:
    """Search-time fields of each event, or its data-model row when the search reads one.
    With a data model, the rows hold the fields the search ``reads`` (None: all of the
    dataset's), and only the knowledge that can make them runs."""
    knowledge = knowledge or default_knowledge()
    dataset = knowledge.narrowed(knowledge.datasets[datamodel], reads) if datamodel else None
    needed = dataset.reads if dataset else None
    if not knowledge.reader_fields:
        read = index_event
    elif dataset is None:
        read = parse_event
    else:
        read = reading_only(knowledge, dataset, needed)
    for event in events:
        fields = read(event, stats=stats)
        if fields is None:
            continue
        if dataset is None:
            yield knowledge.apply(fields)
        elif (row := knowledge.row(dataset, fields, needed)) is not None:
            yield row


def reading_only(knowledge: Knowledge, dataset, needed: frozenset[str]) -> Callable[..., dict | None]:
    """``parse_event`` reading only the fields the dataset's rows of each kind of event can depend on."""
    def read(event: RawEvent, stats: ReadStats) -> dict | None:
        only = knowledge.reader_reads(dataset, event.sourcetype, event.source, needed)
        return parse_event(event, stats=stats, only=only)

    return read


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


