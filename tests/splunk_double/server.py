"""TEST DOUBLE HTTP front: the splunkd REST and HEC endpoints the harness calls.

Not Splunk. Answers in the shapes splunk-sdk 2.1.1 and the harness parse: XML
for ``auth/login``; JSON entry documents (``output_mode=json``) elsewhere; a
job's results as one JSON results document (messages, fields, results).
"""
from __future__ import annotations

import json
import re
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from .state import AppPackageError, SavedSearchDisabled, ScheduledAsUser, SplunkState

NAMESPACE = re.compile(r"\A/services(?:NS/(?P<owner>[^/]+)/(?P<app>[^/]+))?/(?P<rest>.*)\Z")
JOB_PATH = re.compile(r"\Asearch/(?:v2/)?jobs/(?P<sid>[^/]+)(?P<tail>/results|/control)?/?\Z")
SAVED_PATH = re.compile(r"\Asaved/searches/(?P<name>[^/]+)(?:/(?P<action>dispatch|enable|disable))?/?\Z")


class Answer(Exception):
    """Raised by a route to send ``status`` with a JSON body (or ``raw`` bytes)."""

    def __init__(self, status: int, body: dict | None = None, raw: bytes | None = None, content_type: str = "application/json"):
        self.status, self.body, self.raw, self.content_type = status, body or {}, raw, content_type


class DropConnection(Exception):
    """Close the connection without answering (a network fault)."""


# Form fields every endpoint takes besides its own (splunk-sdk sends output_mode in the body of a POST).
COMMON_ARGUMENTS = {"output_mode"}
# authorization/roles/{name} (REST API reference; the role keys of authorize.conf.spec).
ROLE_ARGUMENTS = {"capabilities", "cumulativeRTSrchJobsQuota", "cumulativeSrchJobsQuota", "defaultApp",
                  "deleteIndexesAllowed", "grantable_roles", "imported_roles", "rtSrchJobsQuota", "srchDiskQuota",
                  "srchFilter", "srchIndexesAllowed", "srchIndexesDefault", "srchIndexesDisallowed", "srchJobsQuota",
                  "srchTimeWin",
                  "srchMaxTime", "srchTimeEarliest"}
# saved/searches/{name} (REST API reference): the savedsearches.conf.spec keys; families by their prefix.
SAVED_SEARCH_ARGUMENTS = {"search", "description", "disabled", "enableSched", "cron_schedule", "schedule_window",
                          "schedule_priority", "dispatchAs", "is_visible", "realtime_schedule", "max_concurrent",
                          "run_on_startup", "run_n_times", "allow_skew", "actions", "counttype", "relation",
                          "quantity", "alert_condition", "auto_summarize", "next_scheduled_time", "qualifiedSearch",
                          "restart_on_searchpeer_add", "workload_pool", "defer_scheduled_searchable_idxc",
                          "displayview", "vsid"}
SAVED_SEARCH_FAMILIES = ("action.", "alert.", "alert_", "args.", "auto_summarize.", "dispatch.", "display.",
                         "request.", "embed.", "durable.")


def unsupported(arguments, allowed: set[str], families: tuple[str, ...] = ()) -> None:
    """splunkd refuses a form field its handler does not know, with HTTP 400 'Argument "x" is not supported
    by this handler.' (the answer quoted in splunk/terraform-provider-splunk issue #193)."""
    for name in arguments:
        if name not in allowed | COMMON_ARGUMENTS and not name.startswith(families or ("\0",)):
            raise error(400, f'Argument "{name}" is not supported by this handler.')


def error(status: int, text: str) -> Answer:
    return Answer(status, {"messages": [{"type": "ERROR", "text": text}]})


def entries(*items: tuple[str, dict]) -> dict:
    return {"entry": [{"name": name, "content": content} for name, content in items], "messages": []}


# REST API reference, "Pagination and filtering parameters": ``count`` defaults to 30 entries on a collection,
# ``offset`` to 0, and ``count=0`` means all; search/jobs/{sid}/results: ``count`` defaults to 100 results.
LIST_COUNT, RESULTS_COUNT = 30, 100


def page(items: list, one: dict, default_count: int) -> list:
    """The part of ``items`` a GET with ``count`` and ``offset`` returns, as splunkd pages them."""
    try:
        count, offset = int(one.get("count", default_count)), int(one.get("offset", 0))
    except ValueError:
        raise error(400, "count and offset must be integers") from None
    # count=0 means every entry (REST API reference, pagination); splunk-sdk lists collections with
    # count=-1 (splunklib client.py, null_count), which splunkd also answers in full (*unverified*).
    return items[offset:] if count <= 0 else items[offset:offset + count]


def listing(items: list[tuple[str, dict]], one: dict) -> dict:
    return entries(*page(items, one, LIST_COUNT))


def results_document(rows: list[dict], columns: list[str], messages: list[dict], one: dict | None = None) -> bytes:
    names = columns or sorted({k for row in rows for k in row})
    shown = page(rows, one or {}, RESULTS_COUNT)
    return json.dumps({"preview": False, "init_offset": int((one or {}).get("offset", 0)), "messages": messages,
                       "fields": [{"name": n} for n in names], "results": shown}).encode() + b"\n"


class Handler(BaseHTTPRequestHandler):
    server: "DoubleHTTPServer"
    protocol_version = "HTTP/1.1"
    wbufsize = -1  # headers and body leave in one write (flushed after each request)
    disable_nagle_algorithm = True

    def log_message(self, format, *args):  # keep test output quiet
        pass

    def do_GET(self):
        self._serve("GET")

    def do_POST(self):
        self._serve("POST")

    def do_DELETE(self):
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        params = {k: v for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        if method == "POST" and not self.server.is_hec:  # splunk-sdk sends form bodies without a Content-Type
            for key, values in parse_qs(body.decode(), keep_blank_values=True).items():
                params.setdefault(key, []).extend(values)
        try:
            if not self.server.state.answering():
                raise DropConnection()
            routes = self.server.hec_routes if self.server.is_hec else self.server.rest_routes
            # names inside the path are decoded once, segment by segment, as splunkd does
            routes(self, method, url.path, params, body)
        except DropConnection:
            self.close_connection = True
            return
        except Answer as answer:
            payload = answer.raw if answer.raw is not None else json.dumps(answer.body).encode()
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(payload)))
            # splunk-sdk closes the connection before reading the body unless told keep-alive (as splunkd says)
            self.send_header("Connection", "Keep-Alive")
            self.end_headers()
            self.wfile.write(payload)


class DoubleHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: SplunkState, is_hec: bool, context: ssl.SSLContext | None, port: int = 0):
        super().__init__(("127.0.0.1", port), Handler)
        self.state, self.is_hec = state, is_hec
        if context:
            self.socket = context.wrap_socket(self.socket, server_side=True)

    # -- REST -----------------------------------------------------------------

    def rest_routes(self, handler: Handler, method: str, path: str, params: dict, body: bytes) -> None:
        match = NAMESPACE.match(path)
        if not match:
            raise error(404, f"no endpoint {path}")
        rest, app = match["rest"].rstrip("/"), unquote(match["app"] or "-")
        one = {k: v[-1] for k, v in params.items()}
        if rest == "auth/login" and method == "POST":
            self.login(one)
        user = self.authenticate(handler)
        if rest == "server/info":
            raise Answer(200, entries(("server-info", {"version": self.state.version, "serverName": "splunk-double",
                                                       "startup_time": self.state.startup_time})))
        if rest == "messages/restart_required":
            if self.state.restart_pending:
                raise Answer(200, entries(("restart_required", {"message": "restart required"})))
            raise error(404, "no restart required")
        if rest == "server/control/restart" and method == "POST":
            self.state.restart()
            raise Answer(200, entries())
        if rest == "apps/local":
            self.apps(method, one)
        if rest.startswith("datamodel/model/"):
            name = unquote(rest.rsplit("/", 1)[1])
            if any(name in a.datamodels for a in self.state.apps.values()):
                raise Answer(200, entries((name, {"acceleration": "{}"})))
            raise error(404, f"data model {name} not found")
        if rest.startswith("data/indexes"):
            self.indexes(method, rest, one)
        if rest.startswith("authorization/roles/"):
            self.roles(method, unquote(rest.rsplit("/", 1)[1]), params)
        if rest.startswith("data/inputs/http"):
            self.tokens(method, rest, one)
        if rest in ("search/jobs", "search/v2/jobs") and method == "POST":
            job = self.state.start_job(one.get("search", ""), user, one.get("earliest_time", "0"),
                                       one.get("latest_time", "now"))
            raise Answer(201, {"sid": job.sid})
        if m := JOB_PATH.match(rest):
            self.job(unquote(m["sid"]), m["tail"], one)
        if m := SAVED_PATH.match(rest):
            self.saved(app, unquote(m["name"]), m["action"], method, user, one)
        raise error(404, f"no endpoint {path}")

    def login(self, one: dict) -> None:
        key = self.state.login(one.get("username", ""), one.get("password", ""))
        if key is None:
            raise Answer(401, raw=b'<response><messages><msg type="WARN">Login failed</msg></messages></response>',
                         content_type="text/xml")
        raise Answer(200, raw=f"<response>\n<sessionKey>{key}</sessionKey>\n</response>".encode(), content_type="text/xml")

    def authenticate(self, handler: Handler) -> str:
        """The user of the request's session."""
        scheme, _, key = (handler.headers.get("Authorization") or "").partition(" ")
        if scheme != "Splunk" or not self.state.session_valid(key):
            raise Answer(401, raw=b'<response><messages><msg type="WARN">call not properly authenticated</msg></messages></response>',
                         content_type="text/xml")
        return self.state.user_of(key)

    def apps(self, method: str, one: dict) -> None:
        if method == "GET":
            raise Answer(200, listing([(name, {"disabled": False}) for name in self.state.apps], one))
        if one.get("filename", "").lower() not in ("true", "1"):
            raise error(400, "only installing from a package file (filename=true) is supported")
        try:
            app = self.state.install(Path(one.get("name", "")))
        except AppPackageError as exc:
            raise error(400, str(exc)) from None
        raise Answer(201, entries((app.name, {"disabled": False})))

    def indexes(self, method: str, rest: str, one: dict) -> None:
        state = self.state
        name = unquote(rest[len("data/indexes/"):]) if rest.startswith("data/indexes/") else ""
        with state.lock:
            if method == "POST" and not name:
                new = one.get("name", "")
                if not re.fullmatch(r"[a-z0-9][a-z0-9_\-]*", new):
                    raise error(400, f"invalid index name {new!r}")
                if new in state.indexes:
                    raise error(409, f"index {new} already exists")
                state.indexes[new] = []
                state.index_created[new] = time.monotonic()
                if state.faults.drop_after_create_index > 0:
                    state.faults.drop_after_create_index -= 1
                    raise DropConnection()
                raise Answer(201, entries((new, {"totalEventCount": 0})))
            if not name:
                raise Answer(200, listing([(n, {"totalEventCount": len(state.visible(n))}) for n in state.indexes], one))
            if name not in state.indexes:
                raise error(404, f"index {name} does not exist")
            if method == "DELETE":
                del state.indexes[name]
                raise Answer(200, entries())
            raise Answer(200, entries((name, {"totalEventCount": len(state.visible(name))})))

    def roles(self, method: str, role: str, params: dict) -> None:
        """A list is sent as repeated keys; an empty value clears it."""
        with self.state.lock:
            if role not in self.state.roles:
                raise error(404, f"role {role} does not exist")
            if method == "POST":
                unsupported(params, ROLE_ARGUMENTS)
                lists = {key: [v for value in params[key] for v in value.split(";") if v]
                         for key in ("srchIndexesDefault", "srchIndexesAllowed", "imported_roles") if key in params}
                # *unverified*: splunkd refusing a default search index that does not exist (the audit of the
                # harness names it; no sourced fact states it); modelled so that a harness must not rely on it
                missing = [i for i in lists.get("srchIndexesDefault", []) if i not in self.state.indexes]
                if missing:
                    raise error(400, f"In handler 'roles': index {missing[0]!r} does not exist")
                for key, value in lists.items():
                    self.state.roles[role][key] = value
            raise Answer(200, entries((role, self.state.role_content(role))))

    def tokens(self, method: str, rest: str, one: dict) -> None:
        if rest == "data/inputs/http/http/enable":
            raise Answer(200, entries())
        if rest == "data/inputs/http" and method == "POST":
            with self.state.lock:
                if any(v["name"] == one["name"] for v in self.state.tokens.values()):
                    raise error(409, f"An object with name=http://{one['name']} already exists")
                token = self.state.create_token(one["name"], one.get("index", "main"),
                                                [i for i in one.get("indexes", "").split(",") if i],
                                                one.get("useACK") in ("1", "true"))
                if self.state.faults.drop_after_create_token > 0:
                    self.state.faults.drop_after_create_token -= 1
                    raise DropConnection()
            raise Answer(201, entries((f"http://{one['name']}", {"token": token})))
        if method == "GET" and rest.startswith("data/inputs/http/"):
            entity = unquote(rest[len("data/inputs/http/"):])
            found = [(t, v) for t, v in self.state.tokens.items() if f"http://{v['name']}" == entity]
            if not found:
                raise error(404, f"Could not find object id={entity}")
            raise Answer(200, entries((entity, {"token": found[0][0], "index": found[0][1]["index"]})))
        if method == "DELETE":
            entity = unquote(rest[len("data/inputs/http/"):])
            if self.state.delete_token(entity):  # only as http://<name> (fact 8)
                raise Answer(200, entries())
            raise error(404, f"Could not find object id={entity}")
        raise error(404, rest)

    def job(self, sid: str, tail: str | None, one: dict) -> None:
        job = self.state.jobs.get(sid)
        if job is None:
            raise error(404, f"unknown sid {sid}")
        if tail == "/control":
            if one.get("action") != "cancel":
                raise error(400, "only action=cancel is supported")
            self.state.cancel_job(sid)
            raise Answer(200, {"messages": [{"type": "INFO", "text": "Search job cancelled."}]})
        done = time.monotonic() >= job.ready_at and not job.running_polls_left
        if tail:
            raise Answer(200, raw=results_document(job.rows if done else [], job.columns, job.messages, one))
        if not done:
            with self.state.lock:
                self.state.running_polls += 1
                job.running_polls_left = max(0, job.running_polls_left - 1)
        state = "RUNNING" if not done else ("FAILED" if job.error else "DONE")
        messages = ([{"type": "FATAL", "text": job.error}] if job.error and done else []) + job.messages
        raise Answer(200, entries((sid, {"sid": sid, "dispatchState": state, "isDone": done,
                                         "isFailed": bool(job.error) and done, "resultCount": len(job.rows),
                                         "messages": messages})))

    def saved(self, app: str, name: str, action: str | None, method: str, user: str, one: dict) -> None:
        stanza = self.state.saved_search(app, name)
        if stanza is None:
            raise error(404, f"saved search {name!r} not found in app {app}")
        if method != "POST":
            raise Answer(200, entries((name, stanza)))
        if action in ("enable", "disable"):
            self.state.update_saved_search(app, name, {"disabled": "0" if action == "enable" else "1"})
            raise Answer(200, entries((name, self.state.saved_search(app, name))))
        if action is None:  # keys set through REST land in the app's local/ (writable keys only)
            unsupported(one, SAVED_SEARCH_ARGUMENTS, SAVED_SEARCH_FAMILIES)
            keys = {k: v for k, v in one.items() if k not in COMMON_ARGUMENTS}
            if "search" in keys and keys["search"] != stanza.get("search"):
                # splunk-sdk's SavedSearch.update() always sends the unchanged search (splunklib client.py
                # says splunkd requires it on an update, *unverified*); the harness never changes it.
                raise error(400, "the harness never changes a search's text; the double does not take a new one")
            if "disabled" in keys and keys["disabled"] not in ("0", "1"):
                raise error(400, "disabled must be 0 or 1")
            try:
                self.state.update_saved_search(app, name, keys)
            except ScheduledAsUser:
                raise error(400, "Scheduled reports must Run as Owner.") from None
            raise Answer(200, entries((name, self.state.saved_search(app, name))))
        try:
            at = float(one["dispatch.now"]) if "dispatch.now" in one else None
            job = self.state.dispatch(app, name, user, one.get("dispatch.earliest_time"), one.get("dispatch.latest_time"),
                                      one.get("trigger_actions") in ("1", "true"), at)
        except SavedSearchDisabled:
            # savedsearches.conf.spec: "You cannot run a disabled search." (fact 1; the status code is unverified)
            raise error(400, f"Cannot dispatch the disabled saved search {name!r}") from None
        raise Answer(201, {"sid": job.sid})

    # -- HEC ------------------------------------------------------------------

    def hec_routes(self, handler: Handler, method: str, path: str, params: dict, body: bytes) -> None:
        scheme, _, token = (handler.headers.get("Authorization") or "").partition(" ")
        if scheme != "Splunk" or not token:
            raise Answer(401, {"text": "Token is required", "code": 2})
        info = self.state.tokens.get(token)
        if info is None:
            raise Answer(403, {"text": "Invalid token", "code": 4})
        channel = handler.headers.get("X-Splunk-Request-Channel") or (params.get("channel") or [""])[0]
        if info["useACK"] and not channel:
            raise Answer(400, {"text": "Data channel is missing", "code": 10})
        if path == "/services/collector/ack" and method == "POST":
            ids = json.loads(body or b"{}").get("acks", [])
            raise Answer(200, {"acks": self.state.ack_status(channel, ids)})
        if path not in ("/services/collector/event", "/services/collector") or method != "POST":
            raise Answer(404, {"text": "The requested URL was not found on this server.", "code": 404})
        self.hec_event(info, channel, body)

    def hec_event(self, info: dict, channel: str, body: bytes) -> None:
        state = self.state
        with state.lock:
            state.hec_requests += 1
            faults = state.faults
            if faults.hec_busy > 0:
                faults.hec_busy -= 1
                raise Answer(503, {"text": "Server is busy", "code": 9})
            if faults.hec_throttled > 0:
                faults.hec_throttled -= 1
                raise Answer(429, {"text": "Too many requests", "code": 9})
            if faults.drop_before_index > 0:
                faults.drop_before_index -= 1
                raise DropConnection()
            known = {i for i in state.indexes
                     if time.monotonic() - state.index_created.get(i, 0.0) >= faults.new_index_hec_lag}
            events = parse_batch(body, info, known)
            visible_at = state.store(events, info["index"])
            if faults.drop_after_index > 0:
                faults.drop_after_index -= 1
                raise DropConnection()
        answer = {"text": "Success", "code": 0}
        if info["useACK"]:
            answer["ackId"] = state.new_ack(channel, visible_at)
        raise Answer(200, answer)


def parse_batch(body: bytes, token: dict, existing: set[str]) -> list[dict]:
    """Concatenated JSON event objects; the whole batch is refused when one is bad (as HEC does). ``existing``:
    the indexes HEC knows; one created moments ago may be missing from it (fact 11, unverified)."""
    decoder, text, events, at = json.JSONDecoder(), body.decode("utf-8"), [], 0
    while at < len(text):
        while at < len(text) and text[at].isspace():
            at += 1
        if at == len(text):
            break
        try:
            event, at = decoder.raw_decode(text, at)
        except ValueError:
            raise Answer(400, {"text": "Invalid data format", "code": 6, "invalid-event-number": len(events)}) from None
        if not isinstance(event, dict) or "event" not in event or event["event"] in ("", None):
            raise Answer(400, {"text": "Event field is required", "code": 12, "invalid-event-number": len(events)})
        index = event.get("index") or token["index"]
        if index not in existing or (token["indexes"] and index not in token["indexes"]):
            raise Answer(400, {"text": "Incorrect index", "code": 7, "invalid-event-number": len(events)})
        events.append(event)
    if not events:
        raise Answer(400, {"text": "No data", "code": 5})
    return events


class SplunkDouble:
    """Start with ``with SplunkDouble(...) as splunk:``; ``rest_url`` and ``hec_url`` point at it."""

    def __init__(self, state: SplunkState, context: ssl.SSLContext | None = None, rest_port: int = 0, hec_port: int = 0):
        self.state = state
        self.rest = DoubleHTTPServer(state, is_hec=False, context=context, port=rest_port)
        self.hec = DoubleHTTPServer(state, is_hec=True, context=context, port=hec_port)
        scheme = "https" if context else "http"
        self.rest_url = f"{scheme}://127.0.0.1:{self.rest.server_address[1]}"
        self.hec_url = f"{scheme}://127.0.0.1:{self.hec.server_address[1]}"
        self._threads = [threading.Thread(target=s.serve_forever, args=(0.02,), daemon=True)
                         for s in (self.rest, self.hec)]

    def __enter__(self) -> "SplunkDouble":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        for server in (self.rest, self.hec):
            server.shutdown()
            server.server_close()
        self.state.close()
