"""TEST DOUBLE state: what a fake splunkd remembers (apps, indexes, tokens, jobs) and the faults to inject.

Not Splunk. See ``tests/splunk_double/__init__.py``. Each rule it enforces cites its source: "fact N" is
item N of the project's splunkd notes (``../shared/docs/splunkd-behaviour.md``, each with Splunk's
docs, .spec files or contentctl as its source; listed again in ``docs/splunk-testing.md``).
"""
from __future__ import annotations

import itertools
import json
import os
import re
import stat
import secrets
import shutil
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from detpack.conf import ConfError, parse_conf


@dataclass
class Faults:
    """Each counter is used up one request (or event) at a time; delays are seconds."""

    hec_busy: int = 0            # next N HEC posts answer 503 "Server is busy"
    hec_throttled: int = 0       # next N HEC posts answer 429
    drop_before_index: int = 0   # next N HEC posts: connection closed, nothing indexed
    drop_after_index: int = 0    # next N HEC posts: indexed, then connection closed (a resend duplicates)
    lose_events: int = 0         # next N events accepted but never indexed
    duplicate_events: int = 0    # next N events indexed twice
    indexing_delay: float = 0.0  # seconds before an accepted event is counted (and acknowledged)
    search_lag: float = 0.0      # further seconds before a counted event is searchable
    drop_after_create_index: int = 0  # next N index creations: made, then connection closed
    drop_after_create_token: int = 0  # next N HEC token creations: made, then connection closed
    expire_sessions: int = 0     # next N authenticated REST calls find their session expired (401)
    search_delay: float = 0.0    # seconds a search job stays RUNNING
    running_polls_per_job: int = 0  # status requests each new job answers RUNNING to, however long they take
    restart_after_install: bool = False
    restart_lag: float = 0.0       # seconds splunkd keeps answering after a restart request
    restart_downtime: float = 0.0  # then seconds it answers nothing
    job_messages: list = field(default_factory=list)  # {type, text} messages every job reports (fact 13)
    new_index_hec_lag: float = 0.0  # seconds HEC answers "Incorrect index" for a new index (fact 11, unverified)
    clock_offset: float = 0.0    # seconds the server's clock is ahead of the client's (negative: behind)
    # seconds past a whole minute every time() search finds the server's clock at: before answering, the
    # clock jumps forward to the next such moment (it never goes back)
    clock_read_at: float | None = None


@dataclass
class StoredEvent:
    raw: str
    source: str
    sourcetype: str
    host: str
    time: float
    visible_at: float
    searchable_at: float = 0.0
    fields: dict | None = None  # an event the double writes itself (ES actions): its search-time fields
    index_time: float = 0.0


@dataclass
class App:
    name: str
    folder: Path
    saved_searches: dict[str, dict[str, str]]
    macros: dict[str, dict[str, str]]
    datamodels: set[str]


@dataclass
class Job:
    sid: str
    ready_at: float
    rows: list[dict] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    error: str = ""
    messages: list[dict] = field(default_factory=list)  # further {type, text} messages, e.g. from a peer
    running_polls_left: int = 0  # status requests still to answer RUNNING, whatever the time


# search text, {macro stanza: entries}, events -> (rows, columns); raises ValueError for a bad search
SearchEngine = Callable[[str, dict[str, dict[str, str]], list[StoredEvent]], tuple[list[dict], list[str]]]


class AppPackageError(ValueError):
    pass


def read_app_package(path: Path, into: Path) -> App:
    """Check ``path`` is a gzip tar with one app folder holding default/app.conf, unpack and read it."""
    try:
        with tarfile.open(path, "r:gz") as tar:
            members = tar.getmembers()
            tops = {m.name.split("/", 1)[0] for m in members}
            if len(tops) != 1:
                raise AppPackageError(f"{path.name}: expected one app folder at the top, found {sorted(tops)}")
            name = tops.pop()
            if f"{name}/default/app.conf" not in {m.name for m in members}:
                raise AppPackageError(f"{path.name}: {name}/default/app.conf is missing")
            tar.extractall(into, filter="data")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise AppPackageError(f"{path.name}: not a gzip tar package: {exc}") from None
    folder = into / name
    try:
        parse_conf((folder / "default/app.conf").read_text(encoding="utf-8"), "app.conf")
        saved = _conf(folder / "default/savedsearches.conf")
        macros = _conf(folder / "default/macros.conf")
    except (ConfError, UnicodeDecodeError) as exc:
        raise AppPackageError(f"{path.name}: {exc}") from None
    models = {p.stem for p in (folder / "default/data/models").glob("*.json")}
    return App(name, folder, saved, macros, models)


def _conf(path: Path) -> dict[str, dict[str, str]]:
    if not path.exists():
        return {}
    return {s.name: s.entries for s in parse_conf(path.read_text(encoding="utf-8"), path.name)}


class SplunkState:
    """Everything the double knows; every public method takes the lock."""

    def __init__(self, username: str, password: str, engine: SearchEngine, version: str = "9.3.2"):
        self.lock = threading.RLock()
        self.username, self.password, self.version = username, password, version
        self.engine = engine
        self.faults = Faults()
        self.sessions: dict[str, str] = {}  # session key -> user
        self.issued_keys: list[str] = []      # every session key ever handed out
        self.logins = 0
        self._spared = ""
        self.apps: dict[str, App] = {}
        self.indexes: dict[str, list[StoredEvent]] = {"main": []}
        self.users: dict[str, list[str]] = {username: ["admin"]}
        self.roles: dict[str, dict[str, list[str]]] = stock_roles()
        self.index_created: dict[str, float] = {"main": 0.0}
        self.saved_local: dict[tuple[str, str], dict[str, str]] = {}  # (app, stanza) -> keys set through REST
        self.tokens: dict[str, dict] = {}  # token -> {name, index, indexes, useACK}
        self.acks: dict[str, dict[int, float]] = {}  # channel -> ackId -> indexed at
        self.jobs: dict[str, Job] = {}
        self.restart_pending = False
        self.restarts = 0
        self.startup_time = int(time.time())
        self._down: tuple[float, float] | None = None  # (from, until) of a restart in progress
        self.hec_requests = 0
        self.running_polls = 0  # job status answers that said RUNNING
        self.pending_acks = 0   # ack answers with a batch not yet indexed
        self.lagging_searches = 0  # searches that missed counted events not yet searchable
        self._ack_ids = itertools.count()
        self._sids = itertools.count(1)
        self._workdir = Path(tempfile.mkdtemp(prefix="splunk-double-"))

    def now(self) -> float:
        """The server's clock: relative time modifiers, index times and ``time()`` use it, not the client's."""
        return time.time() + self.faults.clock_offset

    def _jump_clock_to(self, past_minute: float) -> float:
        """Move the clock forward to the next moment ``past_minute`` seconds past a whole minute."""
        now = self.now()
        target = now - now % 60 + past_minute
        target += 60 if target < now else 0
        self.faults.clock_offset += target - now
        return target

    def close(self) -> None:
        """Remove the installed packages' working folder."""
        shutil.rmtree(self._workdir, ignore_errors=True)

    # -- sessions -------------------------------------------------------------

    def login(self, username: str, password: str) -> str | None:
        with self.lock:
            if (username, password) != (self.username, self.password):
                return None
            self.logins += 1
            key = secrets.token_hex(16)
            self.sessions[key] = username
            self.issued_keys.append(key)
            self._spared = key
            return key

    def session_valid(self, key: str) -> bool:
        with self.lock:
            if key == self._spared:
                self._spared = ""  # a new session gets its first call through
            elif key in self.sessions and self.faults.expire_sessions > 0:
                self.faults.expire_sessions -= 1
                self.sessions.clear()
            return key in self.sessions

    def user_of(self, key: str) -> str:
        with self.lock:
            return self.sessions.get(key, "")

    # -- apps -----------------------------------------------------------------

    def install(self, package: Path) -> App:
        """Install from a path as splunkd reads it: as its own user, another than the caller's (fact 16)."""
        with self.lock:
            if blocked := not_readable_by_others(package):
                raise AppPackageError(f"{package}: cannot read {blocked} as the splunk user: Permission denied")
            app = read_app_package(package, Path(tempfile.mkdtemp(dir=self._workdir)))
            self.apps[app.name] = app
            self.restart_pending = self.faults.restart_after_install
            return app

    def restart(self) -> None:
        """Go down after ``restart_lag`` for ``restart_downtime``; come back with a new startup time, no sessions."""
        with self.lock:
            down_from = time.monotonic() + self.faults.restart_lag
            self._down = (down_from, down_from + self.faults.restart_downtime)

    def answering(self) -> bool:
        """False while a restart has splunkd down; the restart completes on the first call after it."""
        now = time.monotonic()
        with self.lock:
            if self._down is None or now < self._down[0]:
                return True
            if now < self._down[1]:
                return False
            self._down = None
            self.restart_pending = False
            self.restarts += 1
            self.startup_time += 1
            self.sessions.clear()
            return True

    def macros(self) -> dict[str, dict[str, str]]:
        with self.lock:
            return {name: entries for app in self.apps.values() for name, entries in app.macros.items()}

    def saved_search(self, app: str, name: str) -> dict[str, str] | None:
        """The stanza as REST shows it: defaults, the app's default/, then what was set through REST (local/)."""
        with self.lock:
            for candidate in self.apps.values():
                if app in ("-", candidate.name) and name in candidate.saved_searches:
                    local = self.saved_local.get((candidate.name, name), {})
                    return {**SAVED_SEARCH_DEFAULTS, **candidate.saved_searches[name], **local}
            return None

    def update_saved_search(self, app: str, name: str, keys: dict[str, str]) -> None:
        """Keys set through REST land in the app's local/. *Unverified*: Splunk Web refuses a scheduled search
        that runs as the user ("Scheduled reports must Run as Owner."); modelled here for REST too."""
        with self.lock:
            after = {**(self.saved_search(app, name) or {}), **keys}
            if truthy(after.get("enableSched")) and after.get("dispatchAs") == "user":
                raise ScheduledAsUser(name)
            owner = next(a.name for a in self.apps.values() if app in ("-", a.name) and name in a.saved_searches)
            self.saved_local.setdefault((owner, name), {}).update(keys)

    def install_es(self) -> None:
        """Pretend Enterprise Security is installed: its app and its ``risk`` and ``notable`` indexes."""
        with self.lock:
            self.apps[ES_APP] = App(ES_APP, self._workdir, {}, {}, set())
            for index in ("risk", "notable"):
                self.indexes.setdefault(index, [])
                self.index_created.setdefault(index, 0.0)

    # -- indexes and HEC ------------------------------------------------------

    def visible(self, index: str) -> list[StoredEvent]:
        """The events ``totalEventCount`` counts."""
        now = time.monotonic()
        with self.lock:
            return [e for e in self.indexes.get(index, []) if e.visible_at <= now]

    def searchable(self, index: str) -> list[StoredEvent]:
        now = time.monotonic()
        with self.lock:
            events = [e for e in self.visible(index) if e.searchable_at <= now]
            self.lagging_searches += len(events) < len(self.visible(index))
            return events

    # -- roles ----------------------------------------------------------------

    def role_content(self, role: str) -> dict:
        """The role as ``authorization/roles`` shows it, with what it imports from other roles (fact 4)."""
        with self.lock:
            own = self.roles[role]
            imported = [self.role_content(r) for r in own.get("imported_roles", [])]
            inherited = {key: list(dict.fromkeys(i for c in imported for i in [*c[key], *c[f"imported_{key}"]]))
                         for key in ("srchIndexesDefault", "srchIndexesAllowed")}
            return {"srchIndexesDefault": [], "srchIndexesAllowed": [], **own,
                    "imported_srchIndexesDefault": inherited["srchIndexesDefault"],
                    "imported_srchIndexesAllowed": inherited["srchIndexesAllowed"]}

    def _role_lists(self, user: str, key: str) -> list[str]:
        contents = [self.role_content(r) for r in self.users.get(user, [])]
        return list(dict.fromkeys(i for c in contents for i in [*c[key], *c[f"imported_{key}"]]))

    def allowed(self, user: str, index: str) -> bool:
        """A search can read an index only where a role of the user allows it, imported roles included (fact 5)."""
        with self.lock:
            return any(fnmatch_index(pattern, index) for pattern in self._role_lists(user, "srchIndexesAllowed"))

    def default_indexes(self, user: str) -> list[str]:
        """Where a search naming no index looks: the defaults of the user's roles, imported ones included
        (fact 4), as far as the roles allow them (fact 5)."""
        with self.lock:
            return [i for i in self._role_lists(user, "srchIndexesDefault") if self.allowed(user, i)]

    def create_token(self, name: str, index: str, indexes: list[str], use_ack: bool) -> str:
        with self.lock:
            token = secrets.token_hex(16)
            self.tokens[token] = {"name": name, "index": index, "indexes": indexes, "useACK": use_ack}
            return token

    def delete_token(self, entity: str) -> bool:
        """Delete by the token's entity name, ``http://<name>``; the bare name finds nothing (fact 8)."""
        with self.lock:
            found = [t for t, v in self.tokens.items() if f"http://{v['name']}" == entity]
            for token in found:
                del self.tokens[token]
            return bool(found)

    def store(self, events: list[dict], index_default: str) -> float:
        """Index a checked batch (applying loss and duplication faults); returns when it is visible."""
        with self.lock:
            visible_at = time.monotonic() + self.faults.indexing_delay
            for event in events:
                if self.faults.lose_events > 0:
                    self.faults.lose_events -= 1
                    continue
                copies = 1
                if self.faults.duplicate_events > 0:
                    self.faults.duplicate_events -= 1
                    copies = 2
                stored = StoredEvent(
                    raw=event["event"] if isinstance(event["event"], str) else json.dumps(event["event"]),
                    source=event.get("source", "http:double"),
                    sourcetype=event.get("sourcetype", "httpevent"),
                    host=event.get("host", "double"),
                    time=float(event.get("time", self.now())),
                    visible_at=visible_at,
                    searchable_at=visible_at + self.faults.search_lag,
                )
                self.indexes[event.get("index") or index_default].extend([stored] * copies)
            return visible_at

    def new_ack(self, channel: str, visible_at: float) -> int:
        with self.lock:
            ack_id = next(self._ack_ids)
            self.acks.setdefault(channel, {})[ack_id] = visible_at
            return ack_id

    def ack_status(self, channel: str, ids: list[int]) -> dict[str, bool]:
        now = time.monotonic()
        with self.lock:
            known = self.acks.get(channel, {})
            status = {str(i): i in known and known[i] <= now for i in ids}
            self.pending_acks += not all(status.values())
            return status

    # -- searches -------------------------------------------------------------

    def start_job(self, spl: str, user: str, earliest: str = "0", latest: str = "now", at: float | None = None) -> Job:
        """Run the search now, as ``user``, over the searchable events of the time range (relative times from
        ``at`` when given, else the server's clock); hold the answer until ready."""
        with self.lock:
            sid = f"double_{next(self._sids)}"
            job = Job(sid, time.monotonic() + self.faults.search_delay, messages=list(self.faults.job_messages),
                      running_polls_left=self.faults.running_polls_per_job)
            macros = self.macros()
            spl = strip_search_command(spl)
            now = self.now() if at is None else at
            start, end = time_bound(earliest, 0.0, now), time_bound(latest, now + 1, now)
            if SERVER_TIME.match(spl):
                if at is None and self.faults.clock_read_at is not None:
                    now = self._jump_clock_to(self.faults.clock_read_at)
                job.rows, job.columns = [{"server_time": f"{now:.6f}"}], ["server_time"]
                self.jobs[sid] = job
                return job
            if probe := ES_PROBE.match(spl):
                job.rows, job.columns = self._es_events(user, probe)
                self.jobs[sid] = job
                return job
            if probe := COUNT_IN_INDEX.match(spl):
                indexes = [probe[1]] if self.allowed(user, probe[1]) else []
            else:
                indexes = self.default_indexes(user)
            events = [e for name in indexes for e in self.searchable(name) if start <= e.time < end and e.fields is None]
        if COUNT_IN_INDEX.match(spl) or COUNT_DEFAULT.match(spl):
            job.rows, job.columns = [{"count": str(len(events))}], ["count"]
        else:
            try:
                job.rows, job.columns = self.engine(spl, macros, events)
            except ValueError as exc:
                job.error = str(exc)
        with self.lock:
            self.jobs[sid] = job
        return job

    def _es_events(self, user: str, probe: re.Match) -> tuple[list[dict], list[str]]:
        """``index=risk|notable search_name="..." _index_earliest=N | table ...`` over the events the ES actions wrote."""
        index, name, since = probe["index"], probe["name"].replace('\\"', '"'), float(probe["since"])
        columns = probe["fields"].split()
        if not self.allowed(user, index):
            return [], columns
        found = [e.fields for e in self.searchable(index)
                 if e.fields and e.fields.get("search_name") == name and e.index_time >= since]
        return [{c: row[c] for c in columns if c in row} for row in found], columns

    def dispatch(self, app: str, name: str, requester: str, earliest: str | None, latest: str | None,
                 trigger_actions: bool, at: float | None = None) -> Job:
        """``saved/searches/<name>/dispatch``: refused when disabled (fact 1); runs as the owner unless
        ``dispatchAs = user`` (fact 2); with ``trigger_actions`` the ES actions run on its rows (fact 3);
        ``at`` is ``dispatch.now``, the time its relative times are computed from (REST API reference)."""
        stanza = self.saved_search(app, name)
        if truthy(stanza.get("disabled")):
            raise SavedSearchDisabled(name)
        # default/ searches of an app are owned by "nobody" (fact 2); the double gives nobody no roles, so
        # no default indexes: *unverified* what a real splunkd resolves nobody to
        user = requester if stanza.get("dispatchAs") == "user" else "nobody"
        job = self.start_job(stanza.get("search", ""), user,
                             earliest if earliest is not None else stanza.get("dispatch.earliest_time", "0"),
                             latest if latest is not None else stanza.get("dispatch.latest_time", "now"), at)
        if trigger_actions and ES_APP in self.apps and not job.error:
            self._es_actions(name, stanza, job)
        return job

    def _es_actions(self, name: str, stanza: dict[str, str], job: Job) -> None:
        """MODEL of Enterprise Security's risk and notable actions, from the documented behaviour (facts 20, 21):
        a risk event per risk object per result row in ``index=risk``, a notable per row in ``index=notable``.
        Not ES: the shapes are what the notes document, nothing more."""
        now, written = self.now(), {"risk": [], "notable": []}
        if truthy(stanza.get("action.risk")):
            message = stanza.get("action.risk.param._risk_message", "")
            for row in job.rows:
                for risk in json.loads(stanza.get("action.risk.param._risk") or "[]"):
                    value = row.get(risk["risk_object_field"])
                    for one in (value if isinstance(value, list) else [value] if value else []):
                        written["risk"].append({
                            "search_name": name, "risk_object": one, "risk_object_type": risk["risk_object_type"],
                            "risk_score": str(risk["risk_score"]),
                            "risk_message": TOKEN.sub(lambda m: str(row.get(m[1], m[0])), message)})
        if truthy(stanza.get("action.notable")):
            nes = [f.strip() for f in stanza.get("action.notable.param.nes_fields", "").split(",") if f.strip()]
            for row in job.rows:
                written["notable"].append({
                    "search_name": name, **{k: stanza.get(f"action.notable.param.{k}", "")
                                            for k in ("rule_title", "severity", "security_domain")},
                    **{f: row[f] for f in nes if f in row}})
        with self.lock:
            ready = job.ready_at + self.faults.indexing_delay
            for index, rows in written.items():
                self.indexes[index].extend(StoredEvent(json.dumps(r), "alert_actions", "stash", "double", now,
                                                       ready, ready, fields=r, index_time=now) for r in rows)

    def cancel_job(self, sid: str) -> bool:
        with self.lock:
            return self.jobs.pop(sid, None) is not None


class ScheduledAsUser(Exception):
    """"Scheduled reports must Run as Owner." (Splunk Web; for REST *unverified*)"""


class SavedSearchDisabled(Exception):
    """"You cannot run a disabled search." (savedsearches.conf.spec, ``disabled``; fact 1)"""


ES_APP = "SplunkEnterpriseSecuritySuite"
TOKEN = re.compile(r"\$([A-Za-z_][A-Za-z0-9_.]*)\$")
# keys REST shows for every saved search (savedsearches.conf.spec defaults)
SAVED_SEARCH_DEFAULTS = {"disabled": "0", "dispatchAs": "owner", "cron_schedule": "", "enableSched": "0"}


def stock_roles() -> dict[str, dict[str, list[str]]]:
    """Roles as a fresh install has them: ``admin`` imports ``power`` and ``user``, ``user``'s default search
    index is ``main`` (fact 4; authorize.conf in etc/system/default). *Unverified*: the stock allowed lists
    (``*`` for user, ``*`` and ``_*`` for admin) are not in the notes; they only need to cover new indexes."""
    return {
        "user": {"srchIndexesDefault": ["main"], "srchIndexesAllowed": ["*"], "imported_roles": []},
        "power": {"srchIndexesDefault": [], "srchIndexesAllowed": [], "imported_roles": ["user"]},
        "admin": {"srchIndexesDefault": [], "srchIndexesAllowed": ["*", "_*"], "imported_roles": ["power", "user"]},
        "can_delete": {"srchIndexesDefault": [], "srchIndexesAllowed": [], "imported_roles": []},
    }


def fnmatch_index(pattern: str, index: str) -> bool:
    return re.fullmatch(".*".join(map(re.escape, pattern.split("*"))), index) is not None


def truthy(value) -> bool:
    return str(value).strip().lower() in ("1", "true", "t", "yes", "y", "on")


def not_readable_by_others(path: Path) -> Path | None:
    """What stops another user (splunkd's own, fact 16) from reading ``path``: a folder on the way it may not
    enter, or the file it may not read. Missing files are left to the package reader."""
    try:
        path = path.resolve()
        for folder in reversed(path.parents):
            if not os.stat(folder).st_mode & stat.S_IXOTH:
                return folder
        if path.exists() and not os.stat(path).st_mode & stat.S_IROTH:
            return path
    except OSError:
        return None
    return None


# the harness's searchability probes, which the offline engine does not run
ES_PROBE = re.compile(r'\Aindex=(?P<index>risk|notable)\s+search_name="(?P<name>(?:[^"\\]|\\.)*)"\s+'
                      r"_index_earliest=(?P<since>\d+)\s*\|\s*table\s+(?P<fields>[\w. ]+)\Z")
SERVER_TIME = re.compile(r"\A\|\s*makeresults\s*\|\s*eval\s+server_time=time\(\)\s*\|\s*table\s+server_time\s*\Z")
COUNT_IN_INDEX = re.compile(r'\A\|\s*tstats\s+count\s+where\s+index="?([^"\s]+)"?\s*\Z')
COUNT_DEFAULT = re.compile(r"\A\*\s*\|\s*stats\s+count\s*\Z")
RELATIVE = re.compile(r"\A-(\d+)([smhd])(?:@([smhd]))?\Z")
SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def time_bound(value: str, default: float, now: float) -> float:
    """Epoch seconds of ``earliest_time``/``latest_time`` at the server's ``now``: epoch numbers, ``now`` and
    ``-N[smhd][@[smhd]]``."""
    value = (value or "").strip()
    if value == "now":
        return now
    if relative := RELATIVE.match(value):
        moment = now - int(relative[1]) * SECONDS[relative[2]]
        return moment - moment % SECONDS[relative[3]] if relative[3] else moment
    try:
        return float(value)
    except ValueError:
        return default


def strip_search_command(spl: str) -> str:
    """``search X`` as splunkd receives it is the same as ``X`` for the offline engine."""
    return re.sub(r"\A\s*search\s+", "", spl)
