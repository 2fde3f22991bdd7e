"""Search-time knowledge applied to events: props, transforms, lookups, event types, tags, data models.

``Knowledge`` is built once from add-ons (or the built-in set) and then turns an
event's indexed fields into search-time fields, in Splunk's order (props.py),
running only what can produce the fields a search reads (``needed``).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path

from ..spl import SplError, macros_from_stanzas
from ..spl.expressions import compile_eval_text, remembered
from ..conf import Stanza
from .addons import Addon, Setting, load_addon, merge
from .datamodels import Dataset, load_datamodel
from .eventtypes import (FIXED_FIELDS, EventTypeMatcher, add_eventtypes_and_tags, compile_eventtypes, compile_tags,
                         eventtype_closure)
from .lookups import (LookupSyntaxError, LookupTables, LookupTable, app_first, apply_lookup, call_outputs,
                      parse_lookup_call, table_from_stanza)
from .problems import Problems
from .props import KV_MODES, PropsEntry, PropsIndex, Selected, normalized
from .kvmode import kv_extractor
from .regex import compile_pcre
from .transforms import Extraction, add_value, compile_extraction, with_global_settings

BUILTIN = Path(__file__).parent / "builtin"
Fields = dict
Step = Callable[[Fields], None]
DEFAULT_KV_MODE = "auto"  # system/default/props.conf [default]
APPROXIMATE_KV_MODES = frozenset({"auto_escaped", "multi"})


class Knowledge:
    """``reader_fields``: the knowledge builds on the reader's own XmlWinEventLog fields
    (``replay.events.parse_event``), as the built-in set does; an add-on's knowledge
    starts from the indexed fields alone and extracts everything itself."""

    def __init__(self, addon: Addon, reader_fields: bool = False):
        self.addon = addon
        self.reader_fields = reader_fields
        self.problems = Problems()
        for message in addon.skipped:
            self.problems.note(message)
        confs = addon.confs
        self.transforms = with_global_settings(confs.get("transforms", {}))
        self.props_stanzas = normalized(confs.get("props", {}))
        self.props = PropsIndex(self.props_stanzas, self.problems)
        self.host_stanzas = any(pattern.kind == "host" for pattern, _ in self.props.patterns)
        macros = macro_table(confs.get("macros", {}), self.problems)
        self.eventtypes = compile_eventtypes(confs.get("eventtypes", {}), macros, self.problems)
        self.tags = compile_tags(confs.get("tags", {}), self.problems)
        self.datasets: dict[str, Dataset] = {}
        for stem in sorted(addon.datamodels):
            origin, text = addon.datamodels[stem]
            for dataset in load_datamodel(origin, text, macros, self.problems):
                self.datasets[dataset.name] = dataset
        self._extractions: dict[str, Extraction | None] = {}
        self._tables: dict[str, LookupTable | None] = {}
        self._steps: dict[tuple, list[Step]] = {}
        self._rows: dict[tuple, tuple] = {}
        self._narrowed: dict[tuple, Dataset] = {}
        self._reader_reads: dict[tuple, frozenset[str]] = {}
        self.check_props()

    def check_props(self) -> None:
        """Compile every search-time key of every props stanza once, so that each
        problem (a missing transform or lookup file, an expression or pattern the
        engine cannot run) is known when the knowledge is loaded, not only when a
        search first plans the event kind that uses it."""
        for pattern, settings in self.props.patterns:
            for key, setting in settings.items():
                entry = PropsEntry(key, setting, pattern.name)
                kind = key.split("-", 1)[0] if "-" in key else key
                if key == "KV_MODE":
                    self.kv_step(entry)
                elif not setting.value.strip():
                    continue
                elif kind == "EXTRACT":
                    self.extract_steps(entry, None)
                elif kind == "REPORT":
                    self.report_steps(entry, None)
                elif kind == "FIELDALIAS":
                    self.alias_steps(entry, None)
                elif kind == "EVAL":
                    self.eval_step([entry], None)
                elif kind == "LOOKUP":
                    self.lookup_steps(entry, None)

    # --- per event -----------------------------------------------------------------

    def apply(self, fields: Fields, needed: frozenset[str] | None = None) -> Fields:
        """Add search-time fields to ``fields`` (indexed fields of one event), in place."""
        key = (fields.get("sourcetype"), fields.get("source"), self.props.matching("host", fields.get("host", "")), needed)
        steps = self._steps.get(key)
        if steps is None:
            early, late, _ = self.steps(self.selected(fields), needed, self.matcher(fields, self.eventtypes))
            steps = self._steps[key] = early + late
        for step in steps:
            step(fields)
        return fields

    def row(self, dataset: Dataset, fields: Fields, needed: frozenset[str] | None) -> dict | None:
        """The dataset's row of one event, or None. When the dataset's tags can be known
        from a few extractions (gate), only those run first: an event without the tags
        stops there, one with them starts again from its indexed fields with all the steps.
        Plans are made once per sourcetype, source and set of host stanzas."""
        key = (fields.get("sourcetype"), fields.get("source"), self.props.matching("host", fields.get("host", "")),
               needed, dataset.name)
        plan = self._rows.get(key)
        if plan is None:
            plan = self._rows[key] = self.row_plan(dataset, fields, needed)
        gate_steps, gate, steps = plan
        if gate is not None and not gate_steps and "eventtype" not in fields:
            if not gate(fields):  # which leaves such fields as they were
                return None
        elif gate is not None:
            indexed = dict(fields)
            for step in gate_steps:
                step(fields)
            if not gate(fields):
                return None
            fields.clear()
            fields.update(indexed)
        for step in steps:
            step(fields)
        return dataset.row(fields)

    def narrowed(self, dataset: Dataset, wanted: frozenset[str] | None) -> Dataset:
        """``dataset`` with only the fields ``wanted`` (a search's reads; None: all) and the
        calculations that can make them, walked back from the last: a calculation left out
        sets only fields nothing after it reads, so the wanted values are the same."""
        if wanted is None:
            return dataset
        key = (dataset.name, wanted)
        if key not in self._narrowed:
            need, kept = set(wanted), []
            for calculation in reversed(dataset.calculations):
                if need & set(calculation.outputs):
                    kept.append(calculation)
                    need |= calculation.expression.fields
            self._narrowed[key] = Dataset(dataset.name, dataset.constraints,
                                          tuple(f for f in dataset.fields if f in wanted), tuple(reversed(kept)))
        return self._narrowed[key]

    def selected(self, fields: Fields) -> Selected:
        return self.props.select_signature(
            self.props.signature(fields.get("sourcetype", ""), fields.get("source", ""), fields.get("host", "")))

    def matcher(self, fields: Fields, eventtypes: list) -> EventTypeMatcher:
        return EventTypeMatcher(eventtypes, {f: fields.get(f) for f in FIXED_FIELDS})

    def row_plan(self, dataset: Dataset, fields: Fields, needed: frozenset[str] | None) -> tuple:
        selected = self.selected(fields)
        early, late, _ = self.steps(selected, needed, self.matcher(fields, self.eventtypes))
        gate = self.gate(dataset, selected, fields)
        if gate is None:
            return [], None, early + late
        gate_early, gate_late, _ = self.steps(selected, gate.reads, None)
        return gate_early + gate_late, gate, early + late

    def reader_reads(self, dataset: Dataset, sourcetype: str | None, source: str | None,
                     needed: frozenset[str] | None) -> frozenset[str] | None:
        """The reader's fields (``reader_fields``) the rows of ``dataset`` can depend on for
        events of this sourcetype and source: what ``needed`` names and what the steps and
        gate that ``row`` plans for them read. None (all) when nothing narrows them, or when
        host stanzas could plan differently for each event's host."""
        if needed is None or self.host_stanzas:
            return None
        key = (sourcetype, source, needed, dataset.name)
        reads = self._reader_reads.get(key)
        if reads is None:
            fixed = {"sourcetype": sourcetype, "source": source}
            selected = self.selected(fixed)
            *_, reads = self.steps(selected, needed, self.matcher(fixed, self.eventtypes))
            gate = self.gate(dataset, selected, fixed)
            if gate is not None:
                reads = reads | gate.reads | self.steps(selected, gate.reads, None)[2]
            reads = self._reader_reads[key] = reads | frozenset(FIXED_FIELDS) | {"host"}
        return reads

    def gate(self, dataset: Dataset, selected: Selected, fields: Fields) -> "Gate | None":
        """A test of the dataset's required tags on what the extractions made; None unless
        those tags come only from event types and field values that no alias,
        calculated field or lookup of this event kind can change."""
        required = dataset.required_tags()
        if not required:
            return None
        tagged = self.tags.get("eventtype", {})
        names = {e.name for e in self.eventtypes if lowered(tagged.get(e.name, ())) & required}
        relevant = [e for e in self.eventtypes if e.name in eventtype_closure(names, self.eventtypes)]
        by_field = {field: by_value for field, by_value in self.tags.items() if field != "eventtype"
                    and any(lowered(tags) & required for tags in by_value.values())}
        matcher = self.matcher(fields, relevant)
        late = self.late_outputs(selected)
        if late is None or (set(by_field) | matcher.fields | {"eventtype"}) & late:
            return None
        return Gate(required, matcher, tagged, by_field)

    def late_outputs(self, selected: Selected) -> set[str] | None:
        """Fields aliases, calculated fields and lookups of one event kind can set (None: unknown)."""
        outputs: set[str] = set()
        for entry in selected.by_kind.get("FIELDALIAS", []):
            outputs |= {alias for _, alias, _ in parse_aliases(entry.setting.value) or ()}
        outputs |= {entry.key.split("-", 1)[1] for entry in selected.by_kind.get("EVAL", [])}
        for entry in selected.by_kind.get("LOOKUP", []):
            try:
                call = parse_lookup_call(entry.setting.value)
            except LookupSyntaxError:
                continue
            made = call_outputs(call, self.table(call.table, entry))
            if made is None and self.table(call.table, entry) is not None:
                return None
            outputs |= made or set()
        return outputs

    # --- planning -------------------------------------------------------------------

    def steps(self, selected: Selected, needed: frozenset[str] | None,
              matcher: EventTypeMatcher | None) -> tuple[list[Step], list[Step], frozenset[str] | None]:
        """The steps for one event kind, keeping only those that can make a needed field:
        (extractions and KV_MODE, then aliases, calculated fields, lookups, event types),
        and the fields they and ``needed`` read (None: any).
        Planned backwards: a kept step's inputs become needed by the steps before it."""
        want = None if needed is None else set(needed)
        planned: list[Step] = []
        if want is None or want & {"eventtype", "tag"} or any(f.startswith("tag::") for f in want):
            planned.append(self.eventtype_step(matcher))
            if want is not None:
                for eventtype in self.eventtypes:
                    want |= eventtype.search.fields
                want |= set(self.tags)
        for entry in reversed(selected.by_kind.get("LOOKUP", [])):
            planned.extend(self.lookup_steps(entry, want))
        evals = self.eval_step(selected.by_kind.get("EVAL", []), want)
        if evals:
            planned.append(evals)
        for entry in reversed(selected.by_kind.get("FIELDALIAS", [])):
            planned.extend(self.alias_steps(entry, want))
        late = len(planned)
        kv = self.kv_step(selected.kv_mode)
        if kv:
            planned.append(kv)
        for entry in reversed(selected.by_kind.get("REPORT", [])):
            planned.extend(self.report_steps(entry, want))
        for entry in reversed(selected.by_kind.get("EXTRACT", [])):
            planned.extend(self.extract_steps(entry, want))
        planned.reverse()
        return planned[:len(planned) - late], planned[len(planned) - late:], None if want is None else frozenset(want)

    def eventtype_step(self, matcher: EventTypeMatcher | None) -> Step:
        eventtypes, tags = self.eventtypes, self.tags
        return lambda fields: add_eventtypes_and_tags(fields, eventtypes, tags, matcher)

    def lookup_steps(self, entry: PropsEntry, want: set | None) -> list[Step]:
        try:
            call = parse_lookup_call(entry.setting.value)
        except LookupSyntaxError as error:
            self.problems.add(entry.setting, entry.stanza, entry.key, f"cannot read the lookup ({error}), ignored")
            return []
        table = self.table(call.table, entry)
        if table is None:
            return []
        outputs = call_outputs(call, table)
        if want is not None and outputs is not None and not outputs & want:
            return []
        if want is not None:
            want |= {f for _, f in call.inputs}
        return [lambda fields: apply_lookup(call, table, fields)]

    def lookup_tables(self) -> LookupTables:
        """The tables the ``lookup``/``inputlookup`` commands read: a transforms.conf table
        or a CSV file under an add-on's ``lookups/`` by its file name."""
        return LookupTables(self.command_table, lambda name: name in self.transforms or name in self.addon.lookups)

    def command_table(self, name: str) -> LookupTable | None:
        if name in self.transforms or name in self._tables:
            return self.table(name, None)
        if name in self.addon.lookups:
            self._tables[name] = table_from_stanza(
                name, {"filename": Setting(name, self.addon.name, "default", "transforms.conf")},
                self.addon.lookups, self.problems)
            return self._tables[name]
        return None

    def table(self, name: str, entry: PropsEntry | None) -> LookupTable | None:
        if name not in self._tables:
            settings = self.transforms.get(name)
            if not settings:
                setting = entry.setting if entry else None
                self.problems.add(setting, entry.stanza if entry else name, entry.key if entry else "lookup",
                                  f"no CSV lookup table [{name}] in transforms.conf, ignored")
                self._tables[name] = None
            else:
                self._tables[name] = table_from_stanza(name, settings, self.addon.lookups, self.problems)
        return self._tables[name]

    def eval_step(self, entries: list[PropsEntry], want: set | None) -> Step | None:
        """All EVAL- keys of an event see the same input and are assigned together."""
        compiled = []
        for entry in entries:
            field = entry.key.split("-", 1)[1]
            if want is not None and field not in want:
                continue
            try:
                expression = compile_eval_text(entry.setting.value)
            except SplError as error:
                self.problems.add(entry.setting, entry.stanza, entry.key,
                                  f"expression the engine cannot run ({error.message}), ignored")
                continue
            compiled.append((field, remembered(expression)))
            if want is not None:
                want |= expression.fields
        if not compiled:
            return None

        def run(fields: Fields) -> None:
            results = [(field, evaluate(fields)) for field, evaluate in compiled]
            for field, value in results:
                if value is None or isinstance(value, bool):
                    fields.pop(field, None)
                else:
                    fields[field] = value

        return run

    def alias_steps(self, entry: PropsEntry, want: set | None) -> list[Step]:
        aliases = parse_aliases(entry.setting.value)
        if aliases is None:
            self.problems.add(entry.setting, entry.stanza, entry.key, "expected '<field> AS|ASNEW <alias>', ignored")
            return []
        if want is not None:
            aliases = [a for a in aliases if a[1] in want]
            want |= {source for source, _, _ in aliases}
        if not aliases:
            return []

        def run(fields: Fields) -> None:
            # Splunk 7.2.4+ ("Field alias behavior change"): AS sets the alias from the
            # source and removes it when the source is missing; ASNEW never overwrites.
            for source, alias, overwrite in aliases:
                value = fields.get(source)
                if overwrite:
                    if value is None:
                        fields.pop(alias, None)
                    else:
                        fields[alias] = value
                elif value is not None and fields.get(alias) is None:
                    fields[alias] = value

        return [run]

    def kv_step(self, entry: PropsEntry | None) -> Step | None:
        mode = entry.setting.value.strip().lower() if entry else DEFAULT_KV_MODE
        if mode not in KV_MODES:
            self.problems.add(entry.setting, entry.stanza, "KV_MODE", f"unknown mode '{mode}', treated as none")
            return None
        if mode in APPROXIMATE_KV_MODES:
            self.problems.add(entry.setting, entry.stanza, "KV_MODE",
                              f"'{mode}' is run as 'auto' (its own rules are not implemented)")
        return kv_extractor(mode)

    def report_steps(self, entry: PropsEntry, want: set | None) -> list[Step]:
        steps = []
        for name in reversed([n.strip() for n in entry.setting.value.split(",") if n.strip()]):
            extraction = self.extraction(name, entry)
            if extraction is None:
                continue
            if want is not None and extraction.outputs is not None and not extraction.outputs & want:
                continue
            if want is not None:
                extraction = extraction.restricted(frozenset(want))
                want.add(extraction.source_key)
            steps.append(extraction_step(extraction))
        return steps

    def extraction(self, name: str, entry: PropsEntry) -> Extraction | None:
        if name not in self._extractions:
            settings = self.transforms.get(name)
            if settings is None:
                self.problems.add(entry.setting, entry.stanza, entry.key, f"no transform [{name}] in transforms.conf, ignored")
                self._extractions[name] = None
            else:
                self._extractions[name] = compile_extraction(name, settings, self.problems)
        return self._extractions[name]

    def extract_steps(self, entry: PropsEntry, want: set | None) -> list[Step]:
        text, source_key = split_in_field(entry.setting.value)
        try:
            pattern = compile_pcre(text)
        except Exception as error:  # re.error, or a pattern Python rejects otherwise
            self.problems.add(entry.setting, entry.stanza, entry.key, f"pattern Python cannot compile ({error}), ignored")
            return []
        names = list(pattern.groupindex)
        if not names:
            self.problems.add(entry.setting, entry.stanza, entry.key, "no named group, nothing to extract, ignored")
            return []
        if want is not None and not set(names) & want:
            return []
        if want is not None:
            want.add(source_key)

        def run(fields: Fields) -> None:
            for value in values(fields.get(source_key)):
                match = pattern.search(value)
                if match:
                    for name in names:
                        if match.group(name) is not None:
                            add_value(fields, name, match.group(name), False)

        return [run]


def lowered(tags) -> set[str]:
    return {tag.lower() for tag in tags}


class Gate:
    """Whether an event has every required tag (lower-cased, as the constraint compares
    them), from the event types and field-value tags that can give one. It reads only
    what the event types still test once its sourcetype and source are known; an event
    whose extractions changed those passes (all its knowledge then runs)."""

    def __init__(self, required: frozenset[str], matcher: EventTypeMatcher, tagged: dict[str, list[str]],
                 by_field: dict[str, dict[str, list[str]]]):
        self.required, self.matcher, self.tagged, self.by_field = required, matcher, tagged, list(by_field.items())
        self.reads = frozenset(by_field) | (matcher.fields - {"eventtype"})

    def __call__(self, fields: Fields) -> bool:
        if not self.matcher.applies(fields):
            return True
        matched = self.matcher.matching(fields)
        fields.pop("eventtype", None)
        found = {tag.lower() for name in matched for tag in self.tagged.get(name, ())}
        for field, by_value in self.by_field:
            for value in values(fields.get(field)):
                found.update(tag.lower() for tag in by_value.get(value, ()))
        return self.required <= found


def extraction_step(extraction: Extraction) -> Step:
    key, run = extraction.source_key, extraction.run

    def step(fields: Fields) -> None:
        value = fields.get(key)
        if value.__class__ is str:
            run(value, fields)
        else:
            for v in values(value):
                run(v, fields)

    return step


def values(value) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


SOURCE_FIELD = re.compile(r"[A-Za-z0-9_]+")


def split_in_field(text: str) -> tuple[str, str]:
    """``<regex> in <src_field>`` (props.conf.spec, EXTRACT-: "<src_field> can only contain
    alphanumeric characters and underscore") → (regex, field); otherwise all of it is
    the regex, read from _raw."""
    head, sep, field = text.rpartition(" in ")
    if sep and SOURCE_FIELD.fullmatch(field.strip()):
        return head.rstrip(), field.strip()
    return text, "_raw"


def parse_aliases(text: str) -> list[tuple[str, str, bool]] | None:
    words = text.replace(",", " ").split()
    if not words or len(words) % 3:
        return None
    aliases = []
    for i in range(0, len(words), 3):
        source, word, alias = words[i:i + 3]
        if word.upper() not in ("AS", "ASNEW"):
            return None
        aliases.append((source.strip('"'), alias.strip('"'), word.upper() == "AS"))
    return aliases


def macro_table(stanzas: dict[str, dict[str, Setting]], problems: Problems) -> dict:
    table = {}
    for name, settings in stanzas.items():
        try:
            table.update(macros_from_stanzas([Stanza(name, {k: s.value for k, s in settings.items()})]))
        except SplError as error:
            problems.add(next(iter(settings.values()), None), name, "definition", f"{error.message}, ignored")
    return table


def load_knowledge(addon_paths: Iterable[str | Path] = (), app: Addon | None = None) -> Knowledge:
    """The add-ons' knowledge, or the built-in set when none is given (they replace it);
    ``app``: the lookups of the app the searches run in, ahead of the add-ons' (``app_first``)."""
    paths = list(addon_paths)
    base = merge([load_addon(p) for p in paths]) if paths else load_addon(BUILTIN)
    return Knowledge(app_first(app, base) if app else base, reader_fields=not paths)
