"""The splunkd REST calls the harness makes, through splunk-sdk's ``splunklib.client``.

Every call retries connection failures and 5xx answers with backoff; an expired
session (401) is renewed by splunk-sdk's ``autologin``. Anything that still
fails becomes an ``InfrastructureError`` whose message names the call and never
contains the password, a session key or a HEC token.
"""
from __future__ import annotations

import json
import socket
import ssl
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import quote, urlsplit

from splunklib import binding, client

from . import InfrastructureError, Refused, Rejected
from .retry import Backoff, poll

JOB_FAILED_STATES = {"FAILED"}
SERVER_TIME_SEARCH = "| makeresults | eval server_time=time() | table server_time"
ATTEMPT_TIMEOUT = 10.0  # seconds one connection or login attempt may take while waiting for a server


class Unanswered(InfrastructureError):
    """No usable answer after the retries: ``problem`` is the last cause (refused, reset, 5xx...)."""

    def __init__(self, message: str, problem: str):
        super().__init__(message)
        self.problem = problem


@dataclass(frozen=True)
class Target:
    """Where splunkd's management port is and how to trust it."""

    url: str  # https://host:8089
    username: str
    password: str = field(repr=False)
    verify: bool = True
    ca_file: str | None = None
    timeout: float = 60.0

    def ssl_context(self) -> ssl.SSLContext:
        return tls_context(self.verify, self.ca_file)


def split_url(url: str, default_port: int) -> tuple[str, str, int]:
    """``scheme, host, port`` of ``https://host:port``; ValueError when it is not such a URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http(s)://host:port URL")
    return parts.scheme, parts.hostname, parts.port or default_port


def tls_context(verify: bool, ca_file: str | None) -> ssl.SSLContext:
    """The TLS settings of both the REST and the HEC connections."""
    if not verify:
        return ssl._create_unverified_context()  # asked for with --insecure
    return ssl.create_default_context(cafile=ca_file)


def segment(name: str) -> str:
    """One URL path segment: everything but unreserved characters percent-encoded, once."""
    return quote(name, safe="")


def tls_hint(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return " (certificate not trusted: pass --ca-file FILE, or --insecure for a local self-signed container)"
    return ""


class SplunkClient:
    def __init__(self, target: Target, backoff: Backoff = Backoff()):
        self.target = target
        self.backoff = backoff
        self.last_attempts = 0  # how many tries the latest call took
        scheme, host, port = split_url(target.url, 8089)
        self.service = client.Service(
            scheme=scheme,
            host=host,
            port=port,
            username=target.username,
            password=target.password,
            autologin=True,
            handler=self._handler(target.timeout),
        )

    def _handler(self, timeout: float):
        return binding.handler(timeout=timeout, verify=self.target.verify, context=self.target.ssl_context())

    @contextmanager
    def _bounded(self, timeout: float):
        """Every request inside waits at most ``timeout`` seconds for an answer (a server that accepts the
        connection and never answers must not hold a short wait for the normal 60 s)."""
        http = self.service.http
        normal, http.handler = http.handler, self._handler(max(timeout, 0.01))
        try:
            yield
        finally:
            http.handler = normal

    # -- plumbing -----------------------------------------------------------

    def _call(self, what: str, request: Callable[[], Any], retry: bool = True) -> Any:
        """Run ``request``; retry connection errors and 5xx (unless ``retry`` is false); raise InfrastructureError."""
        waits = self.backoff.waits() if retry else iter(())
        self.last_attempts = 0
        while True:
            self.last_attempts += 1
            try:
                return request()
            except binding.AuthenticationError:
                raise Refused(
                    f"{what}: login as {self.target.username!r} refused at {self.target.url} (check the user and SPLUNK_PASSWORD)"
                ) from None
            except binding.HTTPError as exc:
                if exc.status < 500:
                    raise
                problem = f"HTTP {exc.status} {exc.reason}"
            except ssl.SSLCertVerificationError as exc:
                raise Refused(f"{what}: {self.target.url}: {exc.reason}{tls_hint(exc)}") from None
            except OSError as exc:  # refused, reset, timed out, TLS failures
                problem = f"{type(exc).__name__}: {exc}"
            wait = next(waits, None)
            if wait is None:
                raise Unanswered(f"{what}: Splunk at {self.target.url} did not answer: {problem}", problem)
            time.sleep(wait)

    def _json(self, method: str, path: str, what: str, retry: bool = True, **params) -> dict:
        """``path`` has its variable segments encoded already (``segment``): splunk-sdk must not encode it again."""
        call = getattr(self.service, method)
        encoded = binding.UrlEncoded(path, skip_encode=True)
        response = self._call(what, lambda: call(encoded, output_mode="json", **params), retry=retry)
        body = response.body.read()
        try:
            return json.loads(body) if body.strip() else {}
        except ValueError:  # a proxy's HTML page, a login portal...: say what answered, not a decoder's error
            kind = dict((k.lower(), v) for k, v in response.headers).get("content-type", "no content type")
            text = body[:200].decode("utf-8", errors="replace")
            raise InfrastructureError(f"{what}: {self.target.url}{path} answered HTTP {response.status} with "
                                      f"{kind}, not JSON: {text!r}") from None

    @staticmethod
    def _content(document: dict) -> dict:
        entries = document.get("entry") or [{}]
        return entries[0].get("content", {})

    def session_key(self) -> str | None:
        """The current session key (it changes on every login), so that reports can redact it."""
        token = self.service.token
        return token.removeprefix("Splunk ") if isinstance(token, str) else None

    # -- server ---------------------------------------------------------------

    def login(self) -> dict:
        """Log in and return ``server/info`` (version, serverName...)."""
        self._call("login", self.service.login)
        return self.server_info()

    def server_info(self, retry: bool = True) -> dict:
        return self._content(self._json("get", "/services/server/info", "server info", retry=retry))

    def wait_until_ready(self, timeout: float, progress: Callable[[str], None] = lambda line: None) -> dict:
        """Log in as soon as splunkd answers, within ``timeout`` seconds, one attempt at a time.

        Each attempt opens a TCP connection and logs in, each step waiting at most 10 s or what is left of
        ``timeout``, so a refused port or an unknown host is named at once, and neither a host that drops
        packets nor a server that accepts connections and never answers holds the wait beyond its bound;
        ``progress`` hears every failed attempt. InfrastructureError names the URL and the last cause."""
        deadline = time.monotonic() + timeout
        _, host, port = split_url(self.target.url, 8089)
        wait = self.backoff.first
        while True:
            attempt = min(deadline - time.monotonic(), ATTEMPT_TIMEOUT)
            try:
                socket.create_connection((host, port), timeout=max(attempt, 0.01)).close()
                with self._bounded(min(deadline - time.monotonic(), ATTEMPT_TIMEOUT)):
                    self._call("login", self.service.login, retry=False)
                    return self.server_info(retry=False)  # this loop retries, within the bound
            except Refused:
                raise
            except OSError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            except Unanswered as exc:
                problem = exc.problem
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise InfrastructureError(f"Splunk at {self.target.url} did not answer within {timeout:g} s: {problem}")
            progress(f"no answer yet from {self.target.url} ({problem}); trying again for {remaining:.0f} s more")
            time.sleep(min(wait, remaining))
            wait = min(wait * self.backoff.factor, 5.0)  # an answer is noticed within 5 s

    def restart_required(self) -> bool:
        try:
            self._call("restart check", lambda: self.service.get("messages/restart_required", output_mode="json"))
        except binding.HTTPError as exc:
            if exc.status == 404:
                return False
            raise InfrastructureError(f"restart check: HTTP {exc.status} {exc.reason}") from None
        return True

    def restart(self, timeout: float) -> None:
        """Restart splunkd and return once the new process answers.

        splunkd keeps answering for a moment after the request, so answering is
        not enough: the restart is done when ``server/info`` shows a new
        ``startup_time``, or (when it has none) once splunkd stopped answering
        and answers again.
        """
        before = self.server_info().get("startup_time")
        self._call("restart", lambda: self.service.post("/services/server/control/restart"))
        seen = {"down": False}

        def restarted() -> bool:
            try:
                info = self.server_info()
            except Refused:
                raise
            except InfrastructureError:
                seen["down"] = True
                return False
            started = info.get("startup_time")
            return started != before if before is not None and started is not None else seen["down"]

        if not poll(restarted, timeout, self.backoff):
            raise InfrastructureError(f"Splunk did not come back from its restart within {timeout:g} s")

    # -- apps and knowledge objects --------------------------------------------

    def install_app(self, server_path: str) -> str:
        """Install (or upgrade) the package at ``server_path`` as splunkd sees it; returns the app name."""
        try:
            doc = self._json("post", "apps/local", f"install {server_path}", name=server_path, filename=True, update=True)
        except binding.HTTPError as exc:
            raise InfrastructureError(f"install {server_path}: HTTP {exc.status}: {_detail(exc)}") from None
        entry = (doc.get("entry") or [{}])[0]
        return entry.get("name", "")

    def installed_apps(self) -> set[str]:
        doc = self._json("get", "apps/local", "list apps", count=0)
        return {e["name"] for e in doc.get("entry", [])}

    def has_datamodel(self, name: str) -> bool:
        try:
            self._json("get", f"datamodel/model/{segment(name)}", f"data model {name}")
        except binding.HTTPError as exc:
            if exc.status == 404:
                return False
            raise InfrastructureError(f"data model {name}: HTTP {exc.status}: {_detail(exc)}") from None
        return True

    def saved_search(self, app: str, name: str) -> dict | None:
        try:
            doc = self._json("get", self._saved_path(app, name), f"saved search {name!r}")
        except binding.HTTPError as exc:
            if exc.status == 404:
                return None
            raise InfrastructureError(f"saved search {name!r}: HTTP {exc.status}: {_detail(exc)}") from None
        return self._content(doc)

    @staticmethod
    def _saved_path(app: str, name: str) -> str:
        return f"/servicesNS/nobody/{segment(app)}/saved/searches/{segment(name)}"

    # -- indexes and roles ----------------------------------------------------

    def create_index(self, name: str) -> None:
        try:
            self._json("post", "data/indexes", f"create index {name}", name=name)
        except binding.HTTPError as exc:
            if exc.status == 409 and self.last_attempts > 1:
                return  # an earlier try created it before its answer was lost
            raise InfrastructureError(f"create index {name}: HTTP {exc.status}: {_detail(exc)}") from None

    def delete_index(self, name: str) -> None:
        try:
            self._json("delete", f"data/indexes/{segment(name)}", f"delete index {name}")
        except binding.HTTPError as exc:
            if exc.status != 404:
                raise InfrastructureError(f"delete index {name}: HTTP {exc.status}: {_detail(exc)}") from None

    def event_count(self, name: str) -> int:
        doc = self._json("get", f"data/indexes/{segment(name)}", f"count events in {name}")
        return int(self._content(doc).get("totalEventCount", 0))

    def role(self, role: str) -> dict:
        """The role as ``authorization/roles/<role>`` shows it (its own and its imported lists)."""
        return self._content(self._json("get", f"authorization/roles/{segment(role)}", f"role {role}"))

    def set_role_indexes(self, role: str, allowed: list[str], default: list[str]) -> None:
        """The role's own ``srchIndexesAllowed`` and ``srchIndexesDefault``; its imported roles stay as they are."""
        # An empty string clears a list; splunk-sdk sends a list as repeated keys.
        try:
            self._json("post", f"authorization/roles/{segment(role)}", f"set {role} indexes",
                       srchIndexesAllowed=allowed or "", srchIndexesDefault=default or "")
        except binding.HTTPError as exc:
            raise InfrastructureError(f"set {role} indexes: HTTP {exc.status}: {_detail(exc)}") from None

    # -- saved searches ---------------------------------------------------------

    def update_saved_search(self, app: str, name: str, **keys: str) -> None:
        """Set keys of the saved search (splunkd writes them to the app's ``local/savedsearches.conf``)."""
        try:
            self._json("post", self._saved_path(app, name), f"update saved search {name!r}", **keys)
        except binding.HTTPError as exc:
            raise Rejected(f"update saved search {name!r}: HTTP {exc.status}: {_detail(exc)}") from None

    def set_saved_search_enabled(self, app: str, name: str, enabled: bool) -> None:
        """``saved/searches/<name>/enable`` or ``/disable``, as splunk-sdk's ``SavedSearch.enable()`` posts."""
        action = "enable" if enabled else "disable"
        try:
            self._json("post", f"{self._saved_path(app, name)}/{action}", f"{action} saved search {name!r}")
        except binding.HTTPError as exc:
            raise Rejected(f"{action} saved search {name!r}: HTTP {exc.status}: {_detail(exc)}") from None

    # -- HEC tokens -----------------------------------------------------------

    def create_hec_token(self, name: str, index: str) -> str:
        path = "/servicesNS/nobody/splunk_httpinput/data/inputs/http"
        try:
            self._json("post", f"{path}/http/enable", "enable HEC")
        except binding.HTTPError:
            pass  # already enabled, or a version without this endpoint: the token call tells
        try:
            doc = self._json("post", path, "create HEC token", name=name, index=index, indexes=index, useACK=1)
        except binding.HTTPError as exc:
            if exc.status == 409 and self.last_attempts > 1:  # an earlier try made it before its answer was lost
                doc = self._json("get", f"{path}/{segment(hec_token_entity(name))}", "read HEC token")
            else:
                raise InfrastructureError(f"create HEC token: HTTP {exc.status}: {_detail(exc)}") from None
        return self._content(doc)["token"]

    def delete_hec_token(self, name: str) -> None:
        """Delete the token entity ``http://<name>``; a 404 means it was not deleted here, so it is reported."""
        path = f"/servicesNS/nobody/splunk_httpinput/data/inputs/http/{segment(hec_token_entity(name))}"
        try:
            self._json("delete", path, "delete HEC token")
        except binding.HTTPError as exc:
            raise InfrastructureError(f"delete HEC token {hec_token_entity(name)}: HTTP {exc.status}: "
                                      f"{_detail(exc)} (the token may be left on the server)") from None

    # -- searches -------------------------------------------------------------

    def dispatch_saved_search(self, app: str, name: str, time_range: tuple[str, str] | None,
                              trigger_actions: bool = False, now: float | None = None) -> str:
        """Dispatch the saved search over ``time_range`` (None: its own ``dispatch.*_time``); returns the sid.
        ``trigger_actions`` runs its alert actions (risk, notable) on the results; ``now`` (epoch seconds) is
        the time its relative times are computed from, as for a scheduled run at that time (``dispatch.now``,
        REST API reference, saved/searches/{name}/dispatch; *unverified* against a real splunkd)."""
        times = {"dispatch.earliest_time": time_range[0], "dispatch.latest_time": time_range[1]} if time_range else {}
        if now is not None:
            times["dispatch.now"] = f"{now:.0f}"
        try:
            doc = self._json("post", self._saved_path(app, name) + "/dispatch", f"dispatch {name!r}",
                             **times, trigger_actions=int(trigger_actions))
        except binding.HTTPError as exc:
            raise InfrastructureError(f"dispatch {name!r}: HTTP {exc.status}: {_detail(exc)}") from None
        return doc["sid"]

    def start_search(self, app: str, spl: str, earliest: str, latest: str) -> str:
        """Start a normal search job in ``app``'s namespace (so its macros apply); returns the sid."""
        query = spl if spl.lstrip().startswith("|") else f"search {spl}"
        try:
            doc = self._json("post", f"/servicesNS/nobody/{segment(app)}/search/jobs", "start search",
                             search=query, earliest_time=earliest, latest_time=latest)
        except binding.HTTPError as exc:
            raise InfrastructureError(f"search rejected: HTTP {exc.status}: {_detail(exc)}") from None
        return doc["sid"]

    def wait_for_job(self, sid: str, timeout: float) -> None:
        """Poll the job with backoff until it is done; fail when it failed (``isFailed``, FAILED, a FATAL
        message) or took too long. ERROR messages alone do not fail it: a job can finish with results and
        an ERROR beside them (fact 13 of the splunkd notes); its results carry them. The job is cancelled
        when it fails or times out."""

        def done() -> bool:
            content = self._content(self._json("get", f"search/jobs/{segment(sid)}", f"job {sid}"))
            fatal, errors = messages_of(content.get("messages"), "FATAL"), messages_of(content.get("messages"), "ERROR")
            if content.get("isFailed") in (True, "1", 1) or content.get("dispatchState") in JOB_FAILED_STATES or fatal:
                raise InfrastructureError(f"search job {sid} failed: {'; '.join(fatal + errors) or 'no message'}")
            return content.get("isDone") in (True, "1", 1)

        try:
            finished = poll(done, timeout, self.backoff)
        except InfrastructureError:
            self.cancel_job(sid)
            raise
        if not finished:
            self.cancel_job(sid)
            raise InfrastructureError(f"search job {sid} not done after {timeout:g} s")

    def job_results(self, sid: str) -> Results:
        """Every result row, the field list and the ERROR messages of a finished job; FATAL is an error."""
        document = self._json("get", f"search/jobs/{segment(sid)}/results", f"results of {sid}", count=0)
        return read_results(document, sid)

    def cancel_job(self, sid: str) -> None:
        """Best effort: a job left behind only costs disk space until it expires."""
        try:
            self._json("post", f"search/jobs/{segment(sid)}/control", f"cancel {sid}", action="cancel")
        except (binding.HTTPError, InfrastructureError):
            pass

    def finished_job(self, sid: str, timeout: float) -> Results:
        """Wait for the job, read its results, cancel it."""
        self.wait_for_job(sid, timeout)
        try:
            return self.job_results(sid)
        finally:
            self.cancel_job(sid)

    def server_time(self, app: str, timeout: float) -> float:
        """Epoch seconds by the server's own clock, which computes relative times (``-10m@m``) and index times.
        ``time()`` is the eval function for the wall-clock time, with microseconds (Splunk's search
        reference, date and time functions); ``now()`` would be the search's start, in whole seconds."""
        results = self.finished_job(self.start_search(app, SERVER_TIME_SEARCH, "0", "now"), timeout)
        try:
            return float(results.rows[0]["server_time"])
        except (IndexError, KeyError, TypeError, ValueError):
            raise InfrastructureError(f"search {SERVER_TIME_SEARCH!r} returned no time: {results.rows[:1]}") from None

    def count_search(self, app: str, spl: str, earliest: str, latest: str, timeout: float) -> int:
        """The ``count`` a ``... | stats count``-like search returns."""
        results = self.finished_job(self.start_search(app, spl, earliest, latest), timeout)
        try:
            return int(results.rows[0]["count"])
        except (IndexError, KeyError, TypeError, ValueError):
            raise InfrastructureError(f"search {spl!r} returned no count: {results.rows[:1]}") from None


@dataclass(frozen=True)
class Results:
    rows: list[dict]
    fields: list[str]  # every result column, also those null in every row (rows omit null fields)
    errors: tuple[str, ...] = ()  # ERROR messages of a job that still finished: reported, not failed


def read_results(document: dict, sid: str) -> Results:
    """The JSON results document of a job: all of its messages are checked, not only the last."""
    fatal = messages_of(document.get("messages"), "FATAL")
    if fatal:
        raise InfrastructureError(f"search job {sid}: Splunk search error: {'; '.join(fatal)}")
    fields = [f["name"] if isinstance(f, dict) else str(f) for f in document.get("fields", [])]
    rows = [row for row in document.get("results", []) if isinstance(row, dict)]
    return Results(rows, fields, tuple(messages_of(document.get("messages"), "ERROR")))


def messages_of(messages, kind: str) -> list[str]:
    """Texts of the messages of type ``kind``, from a list of {type, text} or a {type: [text]} mapping."""
    if isinstance(messages, dict):
        messages = [{"type": key, "text": text} for key, texts in messages.items()
                    for text in (texts if isinstance(texts, list) else [texts])]
    return [str(m.get("text", "")) for m in messages or []
            if isinstance(m, dict) and str(m.get("type", "")).upper() == kind]


def hec_token_entity(name: str) -> str:
    """A HEC token's entity name: ``http://<name>`` (splunkd notes, fact 8)."""
    return f"http://{name}"


def _detail(exc: binding.HTTPError) -> str:
    """Splunk's own message from a JSON error body, else the reason phrase (the caller names the status)."""
    try:
        messages = json.loads(exc.body).get("messages", [])
        return "; ".join(m.get("text", "") for m in messages) or exc.reason
    except (ValueError, AttributeError):
        # not JSON: str(exc) is "HTTP <status> <reason>[ -- <XML message>]"; keep what follows the status
        return str(exc).removeprefix(f"HTTP {exc.status} ") or str(exc.reason)
