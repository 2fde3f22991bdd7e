"""``| datamodel <Model> <Dataset> search`` and ``| from datamodel:<Model>.<Dataset>``.

Both start a search with a data-model dataset's events (the caller turns events
into dataset rows, as for ``tstats``). ``datamodel`` names each dataset field
``<Dataset>.<field>`` as Splunk shows them; ``from`` keeps the dataset's own
field names (*unverified*: read from the Search Reference's examples only).
``_time``, ``host``, ``source`` and ``sourcetype`` keep their names in both.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from .errors import SplError
from .evaluate import Row, Stage
from .lexer import search_tokens

UNPREFIXED = frozenset({"_time", "host", "source", "sourcetype"})


@dataclass(frozen=True)
class DatasetSearch:
    datamodel: str  # "Endpoint.Processes"
    prefixed: bool
    pos: int


def parse_datamodel(text: str, offset: int, pos: int) -> DatasetSearch:
    words = [t for t in search_tokens(text, offset) if t.kind != "END"]
    if len(words) != 3 or words[2].text.lower() != "search" or any(t.kind not in ("WORD", "STRING") for t in words):
        raise SplError("expected 'datamodel <model> <dataset> search'", pos)
    return DatasetSearch(f"{words[0].text}.{words[1].text}", True, pos)


def parse_from(text: str, offset: int, pos: int) -> DatasetSearch:
    words = [t for t in search_tokens(text, offset) if t.kind != "END"]
    name = "".join(t.text for t in words)
    if not name.lower().startswith("datamodel:") or len(name) == len("datamodel:"):
        raise SplError("expected 'from datamodel:<model>.<dataset>'", pos)
    return DatasetSearch(name[len("datamodel:"):].strip('"'), False, pos)


def dataset_stage(command: DatasetSearch) -> Stage:
    if not command.prefixed:
        return lambda rows: rows
    prefix = command.datamodel.rsplit(".", 1)[-1] + "."

    def run(rows: Iterator[Row]) -> Iterator[Row]:
        for row in rows:
            yield {k if k in UNPREFIXED else prefix + k: v for k, v in row.items()}

    return run
