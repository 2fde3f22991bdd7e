"""``| datamodel <Model> <Dataset> search`` and ``| from datamodel:<Model>.<Dataset>`` (or ``datamodel <Model>.<Dataset>``).

Both start a search with a data-model dataset's events (the caller turns events
into dataset rows, as for ``tstats``). ``datamodel`` names each dataset field
``<Dataset>.<field>`` as Splunk shows them; ``from`` keeps the dataset's own
field names (*unverified*: read from the Search Reference's examples only).
``_time``, ``host``, ``source`` and ``sourcetype`` keep their names in both.
"""
from __future__ import annotations

from collections.abc import Iterator

from ..errors import record
from .errors import SplError
from .lexer import search_tokens

TYPE_CHECKING = False  # typing.TYPE_CHECKING, as type checkers read it, without loading typing at every start
if TYPE_CHECKING:  # evaluate imports parse, which imports this module
    from .evaluate import Row, Stage

UNPREFIXED = frozenset({"_time", "host", "source", "sourcetype"})


@record
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
    """Search Reference, from: ``<dataset_type>:<dataset_name>`` or ``<dataset_type> <dataset_name>``
    ("a colon or a space between"); of the dataset types only ``datamodel`` is read here."""
    words = [t for t in search_tokens(text, offset) if t.kind != "END"]
    if len(words) == 2 and words[0].text.lower() == "datamodel":
        kind, name = words[0].text, words[1].text
    else:
        kind, _, name = "".join(t.text for t in words).partition(":")
    if kind.lower() != "datamodel" or not name.strip('"'):
        raise SplError("expected 'from datamodel:<model>.<dataset>' (or a space for the colon)", pos)
    return DatasetSearch(name.strip('"'), False, pos)


def dataset_stage(command: DatasetSearch) -> Stage:
    if not command.prefixed:
        return lambda rows: rows
    prefix = command.datamodel.rsplit(".", 1)[-1] + "."

    def run(rows: Iterator[Row]) -> Iterator[Row]:
        for row in rows:
            yield {k if k in UNPREFIXED else prefix + k: v for k, v in row.items()}

    return run
