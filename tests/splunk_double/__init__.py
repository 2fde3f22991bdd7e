"""TEST DOUBLE for a real Splunk, which this machine cannot run (no Docker engine, no Splunk binary).

A loopback HTTP(S) server (stdlib ``http.server`` in threads, bound to 127.0.0.1
on free ports) that speaks the subset of the splunkd REST API and of the HTTP
Event Collector that ``detpack.splunk`` uses, in the formats splunk-sdk 2.1.1
parses. It answers searches with the project's offline engine
(``detpack.replay.search.run_search``) over the events it received through HEC, using
the macros of the packages installed into it, as the session's user over the
default indexes of its roles. It enforces the rules of a stock splunkd the harness
must follow (stock roles, disabled saved searches, ``dispatchAs``, HEC token
entities, packages read as another user; see README.md), models ES's risk and
notable actions from their documented behaviour, and ``state.Faults`` injects HEC
503 and 429 bursts, dropped connections, indexing delay, events counted before
they are searchable, lost and duplicated events, a new index HEC does not know
yet, job messages, session expiry, slow searches and a slow restart.
``python -m tests.splunk_double --port N`` runs it on its own.

It proves the harness's protocol handling and recovery; it proves nothing about
Splunk's own search semantics. That needs a real Splunk (docs/splunk-testing.md).
"""
from __future__ import annotations

from .server import SplunkDouble
from .state import Faults, SplunkState, StoredEvent

__all__ = ["SplunkDouble", "SplunkState", "Faults", "StoredEvent", "offline_engine"]


def offline_engine(spl: str, macros: dict[str, dict[str, str]], events: list[StoredEvent]):
    """Search with ``detpack.replay.search.run_search`` as if the received events had been read from files."""
    from detpack.conf import Stanza
    from detpack.replay.events import RawEvent
    from detpack.replay.search import run_search
    from detpack.spl import SplError

    raw = [RawEvent(e.raw, e.source, e.sourcetype, f"hec:{n}") for n, e in enumerate(events, 1)]
    try:
        result = run_search(spl, [Stanza(name, entries) for name, entries in macros.items()], raw)
    except SplError as exc:
        raise ValueError(str(exc)) from None
    return result.rows, list(result.columns)
