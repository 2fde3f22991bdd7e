"""Send events through the HTTP Event Collector (HEC), in batches, with indexer acknowledgement.

HEC is not part of splunk-sdk; this is a small stdlib client. One request carries
a batch: JSON event objects concatenated. 503 (server busy), 429 (too many
requests) and dropped connections are retried with backoff; other errors stop at
once with HEC's own message, except 400 "Incorrect index" (code 7), which HEC may
answer for an index created moments ago until it has reloaded its index list
(splunkd notes, fact 11, *unverified*): that is retried for ``new_index_grace``
seconds. A resent batch may be indexed twice when the first
copy arrived before the connection dropped: the harness's count check after
sending catches that, as it catches lost events.

With indexer acknowledgement enabled on the token, each accepted batch returns
an ``ackId`` for the request channel; ``send`` then polls ``/services/collector/ack``
until every batch is acknowledged as indexed.
"""
from __future__ import annotations

import http.client
import json
import ssl
import time
import uuid
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from . import InfrastructureError
from .client import split_url, tls_context, tls_hint
from .retry import Backoff, poll

RETRY_STATUSES = {429, 503}
INCORRECT_INDEX = 7  # HEC's answer code for an index it does not know (yet)


@dataclass(frozen=True)
class HecTarget:
    url: str  # https://host:8088
    token: str = field(repr=False)
    verify: bool = True
    ca_file: str | None = None
    timeout: float = 60.0


@dataclass(frozen=True)
class HecSettings:
    batch_events: int = 500
    batch_bytes: int = 1_000_000
    backoff: Backoff = Backoff()
    ack_timeout: float = 120.0
    new_index_grace: float = 30.0  # how long "Incorrect index" is retried


def hec_event(raw: str, *, time_: float, host: str, source: str, sourcetype: str, index: str) -> dict:
    """One HEC event object: the raw text is the event, metadata beside it."""
    event = {"time": time_, "event": raw, "source": source, "sourcetype": sourcetype, "index": index}
    if host:
        event["host"] = host
    return event


def batches(events: Iterable[dict], settings: HecSettings) -> Iterator[tuple[bytes, int]]:
    """Request bodies of at most ``batch_events`` events and about ``batch_bytes`` bytes."""
    parts: list[bytes] = []
    size = 0
    for event in events:
        part = json.dumps(event, separators=(",", ":")).encode()
        if parts and (len(parts) >= settings.batch_events or size + len(part) > settings.batch_bytes):
            yield b"".join(parts), len(parts)
            parts, size = [], 0
        parts.append(part)
        size += len(part)
    if parts:
        yield b"".join(parts), len(parts)


class HecClient:
    def __init__(self, target: HecTarget, settings: HecSettings = HecSettings()):
        self.target = target
        self.settings = settings
        self.scheme, self.host, self.port = split_url(target.url, 8088)
        self.channel = str(uuid.uuid4())
        self._context = tls_context(target.verify, target.ca_file) if self.scheme == "https" else None

    def send(self, events: Iterable[dict]) -> int:
        """Send every event in batches; returns how many were sent.

        Returning means HEC accepted every batch (and, with indexer acknowledgement on the token,
        acknowledged it as indexed); otherwise InfrastructureError. A resent batch may have been
        indexed twice: only counting the index tells exactly what arrived."""
        sent = 0
        ack_ids: set[int] = set()
        for body, count in batches(events, self.settings):
            answer = self._post_with_retry("/services/collector/event", body, f"HEC batch of {count} events")
            if "ackId" in answer:
                ack_ids.add(int(answer["ackId"]))
            sent += count
        if ack_ids:
            self._wait_for_acks(ack_ids)
        return sent

    def _wait_for_acks(self, pending: set[int]) -> None:
        def all_indexed() -> bool:
            body = json.dumps({"acks": sorted(pending)}).encode()
            answer = self._post_with_retry(f"/services/collector/ack?channel={self.channel}", body, "HEC ack poll")
            pending.difference_update(int(k) for k, done in answer.get("acks", {}).items() if done)
            return not pending

        if not poll(all_indexed, self.settings.ack_timeout, self.settings.backoff):
            raise InfrastructureError(
                f"HEC: {len(pending)} batch(es) not acknowledged as indexed after {self.settings.ack_timeout:g} s"
            )

    def _post_with_retry(self, path: str, body: bytes, what: str) -> dict:
        waits = self.settings.backoff.waits()
        index_deadline = time.monotonic() + self.settings.new_index_grace
        index_wait = self.settings.backoff.first
        while True:
            try:
                status, answer = self._post(path, body)
            except ssl.SSLCertVerificationError as exc:
                raise InfrastructureError(f"{what}: {self.target.url}: {exc.reason}{tls_hint(exc)}") from None
            except (OSError, http.client.HTTPException) as exc:  # reset, refused, dropped mid-answer
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if status == 200:
                    return answer
                problem = f"HTTP {status}: {answer.get('text', '')} (code {answer.get('code', '?')})"
                if status == 400 and answer.get("code") == INCORRECT_INDEX and time.monotonic() < index_deadline:
                    time.sleep(min(index_wait, max(index_deadline - time.monotonic(), 0)))
                    index_wait = min(index_wait * self.settings.backoff.factor, self.settings.backoff.ceiling)
                    continue
                if status == 400 and answer.get("code") == INCORRECT_INDEX:
                    problem += f", still after {self.settings.new_index_grace:g} s"
                if status not in RETRY_STATUSES:
                    raise InfrastructureError(f"{what} refused by {self.target.url}: {problem}")
            wait = next(waits, None)
            if wait is None:
                raise InfrastructureError(f"{what}: gave up after {self.settings.backoff.attempts} attempts: {problem}")
            time.sleep(wait)

    def _post(self, path: str, body: bytes) -> tuple[int, dict]:
        if self.scheme == "https":
            conn = http.client.HTTPSConnection(self.host, self.port, timeout=self.target.timeout, context=self._context)
        else:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=self.target.timeout)
        headers = {
            "Authorization": f"Splunk {self.target.token}",
            "X-Splunk-Request-Channel": self.channel,
            "Content-Type": "application/json",
        }
        try:
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            text = response.read()
        finally:
            conn.close()
        try:
            answer = json.loads(text) if text.strip() else {}
        except ValueError:
            answer = {"text": text[:200].decode(errors="replace")}
        return response.status, answer if isinstance(answer, dict) else {}
