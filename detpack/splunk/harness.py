"""``build.py splunk-test``: replay every detection test in a real Splunk and compare with the offline engine.

Flow: build the app; reach Splunk (``--splunk-url``, or ``--container`` to start
one with Docker and wait until Docker reports it healthy); install the ``.spl``
and the ``--app`` add-ons through ``apps/local`` from a staging folder splunkd
can read; restart when Splunk asks for it (and wait for the new process); wait
for the apps and the data models the searches use. The role is set up as
Splunk's own detection tester does (its imports kept, the test index allowed and
made its default); the installed correlation search is enabled, taken off the
scheduler and made to run as the dispatching user. Then per test: a
new uniquely named index; the datasets sent through HEC; a count check and a
searchability check (searches as the user see exactly the events sent); the
installed saved search dispatched over the test's time range (``--as-scheduled``:
its own window by the server's clock, the events moved into it, or consecutive
runs with ``dispatch.now`` when they span more; ``--es``: with its risk and
notable actions, whose events are then checked); the raw search text run as a job in the
app's namespace; the offline test's pass rules on both; every row difference
from the offline engine reported. The indexes, HEC tokens, the role and every
key of the saved search that was changed are restored at the end and read back,
also after errors, Ctrl-C and SIGTERM (``--keep`` keeps indexes and container).

The splunkd behaviour this relies on, with sources, is listed in
``docs/splunk-testing.md`` (facts numbered as in the project's splunkd notes).

Exit codes: 0 pass, 1 a test failed or the app could not be built (``build failed: ...``, as
every command that builds says it), 2 invalid input or usage, 3 Splunk or
Docker unreachable or misbehaving (including missing, duplicated or
unsearchable events, and a cleanup that did not hold) or an unexpected error,
130 interrupted (after cleanup).
"""
from __future__ import annotations

import getpass
import math
import os
import re
import shutil
import signal
import stat
import sys
import tarfile
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, TextIO
from urllib.parse import quote, quote_plus
from xml.etree import ElementTree as ET

from splunklib import binding

from ..build.app import build_app, report_build_failed
from ..conf import ConfError, as_dict, read_conf
from ..errors import EXIT_CHECKS_FAILED, EXIT_INVALID_INPUT, EXIT_OK, BuildFailed, InvalidInput
from ..replay.events import EventReadError, ReadStats, parse_event, read_events
from ..build.write import cannot_write, write_atomically
from ..build.render import search_stanza_name
from ..replay.judge import judge
from ..replay.run import detection_datasets, shipped_macros, shipped_search
from ..replay.search import SearchResult, run_search
from ..spl import SplError
from . import EXIT_INFRASTRUCTURE, EXIT_INTERRUPTED, InfrastructureError, Rejected
from .client import Results, SplunkClient, Target, split_url
from .compare import compare_rows
from .container import (SERVER_APP_DIR, SPLUNK_IMAGE, ContainerFailed, ContainerUnavailable, docker_client,
                        remove_container, start_splunk, wait_until_healthy)
from .es import ES_APP, EsExpectations, check_notables, check_risk_events, notable_search, risk_search
from .hec import HecClient, HecSettings, HecTarget, hec_event
from .retry import Backoff, poll
from .window import Placement, TooWide, WindowError, boundary_shifts, place_in_window, shift_raw_time

DATAMODEL = re.compile(r"\bdatamodel\s*[=:]\s*\"?([A-Za-z_][A-Za-z0-9_]*)")
ALL_TIME = ("0", "now")
EXISTING_SERVER_WAIT = 30.0  # seconds an existing --splunk-url may take to answer (a container gets --ready-timeout)
# What the harness changes on the correlation search to run it once, besides enabling it (a disabled search
# cannot run: splunkd notes, fact 1). savedsearches.conf.spec, enableSched: 0 takes the search off the
# scheduler, so it cannot also run on its own cron while enabled (the cron itself is left as it is); dispatchAs:
# user, since it defaults to owner (fact 2). Splunk Web says "Scheduled reports must Run as Owner", so the
# schedule goes first and dispatchAs second (whether REST refuses the opposite order is *unverified*).
SAVED_SEARCH_CHANGES = {"enableSched": "0", "dispatchAs": "user"}
# what REST shows for a key the stanza does not set (savedsearches.conf.spec defaults)
SAVED_SEARCH_DEFAULTS = {"enableSched": "0", "dispatchAs": "owner"}


WHOLE_WORD_BELOW = 4  # secrets shorter than this are redacted as whole words only (see Reporter.redact)


class NotAsDeclared(Exception):
    """The test ran, but its declared count cannot be judged as declared (reported as skipped, not passed)."""


class UsageError(Exception):
    """Bad arguments or environment: exit 2 with this one-line message."""


@dataclass(frozen=True)
class Options:
    content: Path
    splunk_url: str | None
    username: str
    password: str = field(repr=False)
    hec_url: str | None = None
    hec_token: str | None = field(default=None, repr=False)
    apps: tuple[Path, ...] = ()
    detections: tuple[str, ...] = ()
    container: bool = False
    image: str = SPLUNK_IMAGE
    verify: bool = True
    ca_file: str | None = None
    keep: bool = False
    junit: Path | None = None
    role: str = "admin"
    stage_dir: Path | None = None
    server_app_dir: str | None = None
    ready_timeout: float = 300.0
    index_timeout: float = 120.0
    search_timeout: float = 120.0
    batch_events: int = 500
    backoff: Backoff = Backoff()
    es: bool = False
    as_scheduled: bool = False

    @property
    def connect_timeout(self) -> float:
        """An existing server answers within seconds or not at all; a new container needs its start-up time."""
        return self.ready_timeout if self.container else min(EXISTING_SERVER_WAIT, self.ready_timeout)


@dataclass
class CaseReport:
    detection: str
    test: str
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)
    error: str = ""
    skipped: str = ""  # why the test could not be judged as declared (never a plain pass)


class Reporter:
    """Progress on stderr and the JUnit file; every text passes through ``redact``."""

    def __init__(self, stream: TextIO):
        self.stream = stream
        self.secrets: list[str] = []
        self.live_secrets: list[Callable[[], str | None]] = []  # e.g. the current session key

    def keep_secret(self, value: str | None) -> None:
        """Redact ``value`` from now on, also as it looks inside a URL or a form body."""
        for form in (value, quote(value or "", safe=""), quote_plus(value or "")):
            if form and form not in self.secrets:
                self.secrets.append(form)

    def redact(self, text: str) -> str:
        """Every secret replaced by ``***``: anywhere in the text when it has ``WHOLE_WORD_BELOW`` characters or
        more; a shorter one (a test password such as ``x``) only where it stands as a word of its own, as
        replacing it inside other words would garble every line while hiding nothing of it."""
        for secret in [*self.secrets, *(source() for source in self.live_secrets)]:
            if secret and len(secret) >= WHOLE_WORD_BELOW:
                text = text.replace(secret, "***")
            elif secret:
                text = re.sub(rf"(?<![A-Za-z0-9]){re.escape(secret)}(?![A-Za-z0-9])", "***", text)
        return text

    def say(self, phase: str, message: str) -> None:
        self.line(f"splunk-test: {phase}: {message}")

    def line(self, text: str) -> None:
        """``text`` as it is, secrets hidden: a line every command prints alike (``build failed: ...``)."""
        print(self.redact(text), file=self.stream, flush=True)

    def write_junit(self, path: Path, cases: list[CaseReport]) -> None:
        """JUnit XML built from redacted text (escaping happens after redaction, so it cannot hide a secret)."""
        r = self.redact
        suite = ET.Element("testsuite", name="splunk-test", tests=str(len(cases)),
                           skipped=str(sum(1 for c in cases if c.skipped and not c.error and not c.failures)),
                           failures=str(sum(1 for c in cases if c.failures and not c.error)),
                           errors=str(sum(1 for c in cases if c.error)))
        for case in cases:
            element = ET.SubElement(suite, "testcase", classname=r(case.detection), name=r(case.test),
                                    time=f"{case.seconds:.3f}")
            if case.error:
                ET.SubElement(element, "error", message=r(case.error.splitlines()[0])).text = r(case.error)
            elif case.failures:
                ET.SubElement(element, "failure", message=r(case.failures[0])).text = r("\n".join(case.failures))
            elif case.skipped:
                ET.SubElement(element, "skipped", message=r(case.skipped))
        write_atomically(path, ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n")


# --------------------------------------------------------------- the command

@dataclass(frozen=True)
class Arguments:
    """``splunk-test`` as given on the command line (every value, defaults included), before it is checked."""

    content: Path
    splunk_url: str | None
    container: bool
    image: str
    username: str
    hec_url: str | None
    app: tuple[Path, ...]
    detection: tuple[str, ...]
    insecure: bool
    ca_file: str | None
    keep: bool
    junit: Path | None
    role: str
    stage_dir: Path | None
    server_app_dir: str | None
    ready_timeout: float
    index_timeout: float
    search_timeout: float
    batch_events: int
    poll_interval: float
    es: bool
    as_scheduled: bool


def options_from_args(args: Arguments, environ=os.environ, stdin: TextIO | None = None) -> Options:
    if args.insecure and args.ca_file:
        raise UsageError("--insecure and --ca-file contradict each other")
    if args.ca_file and not Path(args.ca_file).is_file():
        raise UsageError(f"--ca-file {args.ca_file}: no such file")
    for app in args.app:
        if not app.is_file():
            raise UsageError(f"--app {app}: no such file")
        if not is_gzip_tar(app):
            raise UsageError(f"--app {app}: not an add-on package (a gzip tar such as .tgz or .spl)")
    if args.server_app_dir and not args.stage_dir:
        raise UsageError("--server-app-dir needs --stage-dir (the folder it names)")
    if args.batch_events < 1 or args.poll_interval <= 0:
        raise UsageError("--batch-events and --poll-interval must be positive")
    for url in filter(None, (args.splunk_url, args.hec_url)):
        try:
            split_url(url, 0)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        if "@" in url.split("//", 1)[-1].split("/", 1)[0]:
            raise UsageError("credentials do not belong in a URL: use --username and SPLUNK_PASSWORD")
    # --container: the admin password of the new Splunk is SPLUNK_PASSWORD when set (to log in after --keep)
    password = environ.get("SPLUNK_PASSWORD", "") if args.container else read_password(environ, stdin or sys.stdin)
    return Options(
        content=args.content, splunk_url=args.splunk_url, username=args.username, password=password,
        hec_url=args.hec_url, hec_token=environ.get("SPLUNK_HEC_TOKEN") or None, apps=tuple(args.app),
        detections=tuple(args.detection), container=args.container, image=args.image,
        verify=not args.insecure, ca_file=args.ca_file, keep=args.keep, junit=args.junit, role=args.role,
        stage_dir=args.stage_dir, server_app_dir=args.server_app_dir, ready_timeout=args.ready_timeout,
        index_timeout=args.index_timeout, search_timeout=args.search_timeout, batch_events=args.batch_events,
        backoff=Backoff(first=args.poll_interval, ceiling=max(args.poll_interval, 15.0)),
        es=args.es, as_scheduled=args.as_scheduled,
    )


def is_gzip_tar(path: Path) -> bool:
    try:
        with tarfile.open(path, "r:gz") as tar:
            return tar.next() is not None
    except (tarfile.TarError, OSError, EOFError):
        return False


def read_password(environ, stdin: TextIO) -> str:
    if environ.get("SPLUNK_PASSWORD"):
        return environ["SPLUNK_PASSWORD"]
    if not stdin.isatty():
        raise UsageError("no Splunk password: set SPLUNK_PASSWORD (no terminal to ask on)")
    return getpass.getpass("Splunk password: ")


def run_command(args: Arguments) -> int:
    """``splunk-test``: the exit code of the whole run (see the module's docstring)."""
    reporter = Reporter(sys.stderr)
    with sigterm_as_interrupt():
        try:
            options = options_from_args(args)
        except UsageError as exc:
            print(f"splunk-test: {exc}", file=sys.stderr)
            return EXIT_INVALID_INPUT
        except KeyboardInterrupt:
            return EXIT_INTERRUPTED
        return run_splunk_test(options, reporter)


@contextmanager
def sigterm_as_interrupt():
    """SIGTERM (CI cancelling the job, ``docker stop``) stops the run like Ctrl-C, so that cleanup runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_splunk_test(options: Options, reporter: Reporter) -> int:
    """The whole run; returns the exit code. Cleanup happens before this returns, whatever happened."""
    reporter.keep_secret(options.password)
    reporter.keep_secret(options.hec_token)
    run = Run(options, reporter)
    try:
        code = run.execute()
    except BuildFailed as exc:  # before Splunk is reached: reported as every command that builds reports it
        code = report_build_failed(exc, reporter.line)
        run.cases.append(CaseReport("splunk-test", "run", error=f"build failed: {exc}"))
    except (KeyboardInterrupt, UsageError, ContainerUnavailable, InvalidInput, InfrastructureError, ContainerFailed,
            binding.HTTPError) as exc:
        code, phase, message = why_stopped(exc)
        for line in message.splitlines():
            reporter.say(phase, line)
        run.cases.append(CaseReport("splunk-test", "run", error=message))
    except Exception as exc:  # noqa: BLE001 - a bug or an unforeseen answer: still one line, exit 3, a report
        code, message = EXIT_INFRASTRUCTURE, f"unexpected {type(exc).__name__}: {first_line(exc)}"
        reporter.say("error", message)
        run.cases.append(CaseReport("splunk-test", "run", error=message))
    if run.cleanup_failures and not any(case.test == "cleanup" for case in run.cases):
        run.cases.append(CaseReport("splunk-test", "cleanup", error="\n".join(run.cleanup_failures)))
    if options.junit and run.cases:
        try:
            reporter.write_junit(options.junit, run.cases)
        except OSError as error:  # a file in its path, no permission: the command line's problem, after cleanup
            reporter.say("error", f"--junit {options.junit}: {cannot_write(options.junit, error)}")
            code = max(code, EXIT_INVALID_INPUT)  # an infrastructure failure (3) or an interruption (130) still says so
    return code


def why_stopped(exc: BaseException) -> tuple[int, str, str]:
    """Exit code, phase and message for what ended the run early."""
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED, "interrupted", "stopped by Ctrl-C or SIGTERM; cleaned up"
    if isinstance(exc, InvalidInput):
        return EXIT_INVALID_INPUT, "invalid input", "\n".join(str(f) for f in exc.findings)
    if isinstance(exc, (UsageError, ContainerUnavailable)):
        return EXIT_INVALID_INPUT, "error", str(exc)
    if isinstance(exc, binding.HTTPError):
        return EXIT_INFRASTRUCTURE, "infrastructure failure", f"unexpected answer from Splunk: {exc}"
    return EXIT_INFRASTRUCTURE, "infrastructure failure", str(exc)


# ------------------------------------------------------------------- the run

class Run:
    def __init__(self, options: Options, reporter: Reporter):
        self.options = options
        self.reporter = reporter
        self.run_id = uuid.uuid4().hex[:10]
        self.client: SplunkClient | None = None
        self.container = None
        self.cleanups: list[tuple[str, Callable[[], None]]] = []
        self.cases: list[CaseReport] = []
        self.allowed: list[str] = []           # the role's own srchIndexesAllowed, test indexes added
        self.imported_allowed: list[str] = []  # what it imports
        self.cleanup_failures: list[str] = []

    def say(self, phase: str, message: str) -> None:
        self.reporter.say(phase, message)

    def execute(self) -> int:
        workdir = Path(tempfile.mkdtemp(prefix="detpack-splunk-test-"))
        engine = None
        try:
            engine = self._docker_engine()  # fails at once without Docker, before any work
            build = self._build(workdir / "build")
            selected = self._select(build.pack)
            self._connect(engine)
            self._check_es()
            self._install(build)
            self._prepare_role()
            prepared: set[str] = set()
            for detection, test in selected:
                if detection.name not in prepared:
                    self._prepare_saved_search(build, detection)
                    prepared.add(detection.name)
                self.cases.append(self._run_case(build, detection, test))
        finally:
            self._cleanup()
            if engine is not None:
                engine.close()
            shutil.rmtree(workdir, ignore_errors=True)
        return self._exit_code()

    def _exit_code(self) -> int:
        errors = sum(1 for c in self.cases if c.error)
        failed = sum(1 for c in self.cases if c.failures and not c.error)
        skipped = sum(1 for c in self.cases if c.skipped and not c.failures and not c.error)
        passed = len(self.cases) - errors - failed - skipped
        self.say("summary", f"{passed} of {len(self.cases)} test(s) passed in Splunk, {failed} failed, "
                            f"{errors} could not be run" + (f", {skipped} skipped" if skipped else ""))
        if self.cleanup_failures:
            self.cases.append(CaseReport("splunk-test", "cleanup", error="\n".join(self.cleanup_failures)))
            return EXIT_INFRASTRUCTURE
        if errors:
            return EXIT_INFRASTRUCTURE
        return EXIT_CHECKS_FAILED if failed else EXIT_OK

    # -- setup ------------------------------------------------------------------

    def _docker_engine(self):
        return docker_client() if self.options.container else None

    def _build(self, output: Path):
        self.say("build", f"building {self.options.content}")
        return build_app(self.options.content, output, sync_committed=False)

    def _select(self, pack) -> list:
        wanted = self.options.detections
        detections = list(pack.detections)
        if wanted:
            missing = [w for w in wanted if pack.detection(w) is None]
            if missing:
                raise UsageError(f"--detection {missing[0]}: no such detection in {self.options.content}")
            detections = [pack.detection(w) for w in wanted]
        selected = [(d, t) for d in detections for t in d.tests]
        if not selected:
            raise UsageError("no detection tests to run")
        return selected

    def _connect(self, engine) -> None:
        options = self.options
        self.stage = self._stage_dir()
        if engine is not None:
            self.say("container", f"starting {options.image}")
            self.container = start_splunk(engine, self.stage, options.image, options.password or None,
                                          on_started=self._remove_at_the_end, hec_token=options.hec_token)
            self.reporter.keep_secret(self.container.password)
            rest_url, password, self.server_dir = self.container.rest_url, self.container.password, SERVER_APP_DIR
            self.hec_url = options.hec_url or self.container.hec_url
            # REST answers while the image's provisioning still runs: healthy is the ready signal (fact 18)
            wait_until_healthy(self.container.container, options.ready_timeout, options.backoff.first,
                               lambda line: self.say("container", line))
        else:
            rest_url, password = options.splunk_url, options.password
            self.server_dir = options.server_app_dir or str(self.stage.resolve())
            scheme, host, _ = split_url(rest_url, 8089)
            self.hec_url = options.hec_url or f"{scheme}://{host}:8088"
        self.client = SplunkClient(Target(rest_url, options.username, password, options.verify, options.ca_file),
                                   options.backoff)
        self.say("connect", f"waiting for Splunk at {rest_url} (at most {options.connect_timeout:g} s)")
        self.reporter.live_secrets.append(self.client.session_key)
        info = self.client.wait_until_ready(options.connect_timeout, lambda line: self.say("connect", line))
        self.say("connect", f"Splunk {info.get('version', '?')} answers")

    def _stage_dir(self) -> Path:
        """The folder the packages are copied to. splunkd reads them as its own user (fact 16): a folder of
        our own is made readable by all; a given one must already be, unless splunkd sees it elsewhere."""
        options = self.options
        if options.stage_dir is None:
            stage = Path(tempfile.mkdtemp(prefix="detpack-stage-"))
            stage.chmod(0o755)
            self.cleanups.append(("remove the staging folder", lambda: shutil.rmtree(stage, ignore_errors=True)))
            problem = unreadable_by_others(stage)
        else:
            stage = options.stage_dir
            stage.mkdir(parents=True, exist_ok=True)
            problem = None if options.server_app_dir else unreadable_by_others(stage)
        if problem:
            where = f"--stage-dir {stage}" if options.stage_dir else f"the staging folder {stage} (no --stage-dir given)"
            remedy = "chmod o+rx it, or pick another folder" if options.stage_dir else \
                "pass --stage-dir with a folder other users can enter"
            raise UsageError(f"{where}: splunkd reads the packages as its own user, but other users cannot enter "
                             f"or read {problem} ({remedy})")
        return stage

    def _remove_at_the_end(self, container) -> None:
        if not self.options.keep:
            self.cleanups.append(("remove container", lambda: remove_container(container)))

    def _check_es(self) -> None:
        if self.options.es and ES_APP not in self.client.installed_apps():
            raise UsageError(f"--es: Enterprise Security is not installed on {self.client.target.url} "
                             f"(no app {ES_APP})")

    def _install(self, build) -> None:
        client = self.client
        packages = [build.package, *self.options.apps]
        names = []
        for package in packages:
            staged = self.stage / package.name
            shutil.copy(package, staged)
            staged.chmod(0o644)  # splunkd reads it as another user (fact 16)
            self.say("install", f"installing {package.name}")
            names.append(client.install_app(f"{self.server_dir.rstrip('/')}/{package.name}"))
        if client.restart_required():
            self.say("install", "restarting Splunk as it asks")
            client.restart(self.options.ready_timeout)
        self._wait_for("apps", lambda: set(filter(None, names)) <= client.installed_apps(),
                       f"apps {', '.join(filter(None, names))} not all listed after install")
        models = sorted({m for d in build.pack.detections for m in DATAMODEL.findall(d.search)})
        for model in models:
            self._wait_for("data models", lambda: client.has_datamodel(model),
                           f"data model {model} not available: install the CIM add-on with --app")

    def _prepare_role(self) -> None:
        """Remember the role's own index lists and restore them at the end (read back to check). Its imported
        roles stay: a stock ``admin`` imports ``user``, whose default index is ``main`` (fact 4); the
        searchability probes catch any data those imported defaults add."""
        role, client = self.options.role, self.client
        content = client.role(role)
        before = {key: as_list(content.get(key)) for key in ("srchIndexesAllowed", "srchIndexesDefault")}
        self.allowed = list(before["srchIndexesAllowed"])
        self.imported_allowed = as_list(content.get("imported_srchIndexesAllowed"))
        self.cleanups.append((f"restore role {role}", lambda: self._restore_role(before)))

    def _restore_role(self, before: dict[str, list[str]]) -> None:
        role = self.options.role
        self.client.set_role_indexes(role, before["srchIndexesAllowed"], before["srchIndexesDefault"])
        now = self.client.role(role)
        differing = [key for key, value in before.items() if sorted(as_list(now.get(key))) != sorted(value)]
        if differing:
            raise InfrastructureError(f"role {role}: {', '.join(differing)} not restored (now "
                                      f"{', '.join(f'{k}={as_list(now.get(k))}' for k in differing)})")

    def _point_role_at(self, index: str) -> None:
        """Make ``index`` the role's own default search index, and allowed to it when no pattern it has or
        imports covers it already (fact 5), as contentctl's ``configure_imported_roles`` does."""
        if not any(index_matches(pattern, index) for pattern in [*self.allowed, *self.imported_allowed]):
            self.allowed.append(index)
        self.client.set_role_indexes(self.options.role, self.allowed, [index])

    def _prepare_saved_search(self, build, detection) -> None:
        """Enable the installed correlation search (a disabled one cannot run: fact 1), take it off the scheduler
        and make it run as the dispatching user (``dispatchAs`` defaults to owner: fact 2). Only keys that
        differ are changed, one call each, and only those are restored at the end (and read back): a change
        Splunk refused is not restored, so that nothing lands in ``local/`` for it."""
        app, client = build.pack.app.app_id, self.client
        name = search_stanza_name(build.pack.app, detection)
        current = client.saved_search(app, name)
        if current is None:
            raise InfrastructureError(f"saved search {name!r} not found in app {app} after install")
        before = saved_search_state(current)
        changed: dict[str, str] = {}  # key -> its value before, in the order changed
        self.cleanups.append((f"restore saved search {name!r}", lambda: self._restore_saved_search(app, name, changed)))
        self.say("saved search", f"enabling {name!r} for the test (off the scheduler, run as the user)")
        for key, value in SAVED_SEARCH_CHANGES.items():
            if before[key] != value:
                self._change(changed, key, before[key], lambda: client.update_saved_search(app, name, **{key: value}))
        if is_true(before["disabled"]):
            self._change(changed, "disabled", before["disabled"], lambda: client.set_saved_search_enabled(app, name, True))

    @staticmethod
    def _change(changed: dict[str, str], key: str, previous: str, call: Callable[[], None]) -> None:
        """Record ``key`` as changed before ``call`` (its answer may be lost after the change was made), unless
        Splunk refused it."""
        changed[key] = previous
        try:
            call()
        except Rejected:
            del changed[key]
            raise

    def _restore_saved_search(self, app: str, name: str, changed: dict[str, str]) -> None:
        """Put back, in reverse order, the keys the run changed; read them back."""
        client = self.client
        for key, previous in reversed(changed.items()):
            if key == "disabled":
                client.set_saved_search_enabled(app, name, not is_true(previous))
            else:
                client.update_saved_search(app, name, **{key: previous})
        after = saved_search_state(client.saved_search(app, name) or {})
        differing = [f"{key}={after[key]!r} (was {previous!r})" for key, previous in changed.items()
                     if (is_true(after[key]) != is_true(previous) if key == "disabled" else after[key] != previous)]
        if differing:
            raise InfrastructureError(f"saved search {name!r} not restored: {', '.join(differing)}")

    def _wait_for(self, phase: str, check: Callable[[], bool], failure: str) -> None:
        self.say(phase, "waiting")
        if not poll(check, self.options.ready_timeout, self.options.backoff):
            raise InfrastructureError(failure)

    # -- one test ---------------------------------------------------------------

    def _run_case(self, build, detection, test) -> CaseReport:
        case = CaseReport(detection.name, test.name)
        started = time.monotonic()
        self.say("test", f"{detection.name} / {test.name}")
        try:
            events = load_events(build.pack.root, test)
            placement, placed_at = None, time.time()
            if self.options.as_scheduled:
                events, placement = self._into_window(build, detection, test, events)
            index = self._fresh_index(len(self.cases) + 1)
            self._send(index, events)
            self._check_parity(index, len(events))
            self._check_searchable(build.pack.app.app_id, index, len(events))
            case.failures = self._searches(build, detection, test, events, placement, placed_at)
        except (TooWide, NotAsDeclared) as exc:
            unchecked = "; its risk events and notables were not checked either" if self.options.es else ""
            case.skipped = f"--as-scheduled: {exc}: not judged as declared{unchecked}"
            self.say("skipped", f"{detection.name} / {test.name}: {case.skipped}")
        except (InfrastructureError, binding.HTTPError) as exc:
            case.error = str(exc)
            self.say("error", f"{detection.name} / {test.name}: {exc}")
        case.seconds = time.monotonic() - started
        for line in case.failures:
            self.say("fail", line)
        if not case.failures and not case.error and not case.skipped:
            self.say("pass", f"{detection.name} / {test.name}")
        return case

    def _into_window(self, build, detection, test, events: list) -> tuple[list, Placement]:
        """The events moved, spacing kept, into the search's own window as the server computes it now, so that
        every event the offline engine finds for the test lies inside one run (TooWide when they cannot)."""
        earliest, latest = own_window(shipped_stanza(build, detection))
        needed = matching_times(build, detection, events) if test.positive else []
        now = self._server_now(build.pack.app.app_id)
        times = [fields["_time"] for _, fields in events]
        try:
            placement = place_in_window(times, earliest, latest, now, needed)
            if placement.runs:  # where the runs' boundaries fall decides whether a group is split in two
                whole = len(offline_result(build, detection, events)[1])
                for shift in boundary_shifts(needed, placement):
                    candidate = place_in_window(times, earliest, latest, now, needed, shift)
                    rows = offline_runs(build, detection, test, moved_by(events, candidate.offset), candidate.windows())[1]
                    if len(rows) == whole:
                        placement = candidate
                        break
                else:
                    placement = replace(placement, split=True)
        except TooWide:
            raise
        except WindowError as exc:
            raise UsageError(f"--as-scheduled: {detection.name}: {exc}") from None
        moved = moved_by(events, placement.offset)
        inside = sum(1 for _, fields in moved if placement.inside(fields["_time"]))
        runs = f"{len(placement.runs)} consecutive runs" if placement.runs else "one run"
        self.say("schedule", f"events moved by {placement.offset} s, spacing kept: {inside} of {len(moved)} inside "
                             f"the window {earliest} to {latest} of {runs} (all {len(needed)} the detection "
                             f"should find)" + (f", for {placement.tolerance:.0f} s" if not placement.runs else ""))
        return moved, placement

    def _server_now(self, app: str) -> float:
        """The server's clock now: relative times and index times are the server's, not this machine's."""
        before = time.time()
        server = self.client.server_time(app, self.options.search_timeout)
        return server + (time.time() - before) / 2  # read about half a round trip ago

    def _next_server_second(self, app: str) -> float:
        """Wait until a new whole second has begun on the server's clock and return it: everything indexed
        from now on has an index time (whole seconds) at or after it, everything before has an earlier one."""
        server = self.client.server_time(app, self.options.search_timeout)
        since = math.floor(server) + 1
        time.sleep(since - server)
        return float(since)

    def _fresh_index(self, number: int) -> str:
        client = self.client
        index = f"detpack_{self.run_id}_{number}"
        self.say("index", f"creating {index}")
        if not self.options.keep:  # before the call: its answer may be lost after the index was made
            self.cleanups.append((f"delete index {index}", lambda: client.delete_index(index)))
        client.create_index(index)
        self._point_role_at(index)
        return index

    def _send(self, index: str, events: list) -> None:
        token = self.options.hec_token
        if not token:
            name = f"detpack_{self.run_id}_{index.rsplit('_', 1)[1]}"
            token = self.client.create_hec_token(name, index)
            self.reporter.keep_secret(token)
            self.cleanups.append((f"delete HEC token {name}", lambda: self.client.delete_hec_token(name)))
        hec = HecClient(HecTarget(self.hec_url, token, self.options.verify, self.options.ca_file),
                        HecSettings(batch_events=self.options.batch_events, backoff=self.options.backoff,
                                    ack_timeout=self.options.index_timeout,
                                    new_index_grace=self.options.index_timeout))
        self.say("send", f"{len(events)} event(s) to {index} through HEC")
        hec.send(hec_event(raw.raw, time_=fields["_time"], host=str(fields.get("Computer", "")),
                           source=raw.source, sourcetype=raw.sourcetype, index=index) for raw, fields in events)

    def _check_parity(self, index: str, sent: int) -> None:
        seen = {"count": -1}

        def complete() -> bool:
            seen["count"] = self.client.event_count(index)
            if seen["count"] > sent:
                raise InfrastructureError(f"index {index} holds {seen['count']} events but {sent} were sent: "
                                          f"{seen['count'] - sent} duplicated")
            return seen["count"] == sent

        self.say("count", f"waiting until {index} holds {sent} event(s)")
        if not poll(complete, self.options.index_timeout, self.options.backoff):
            raise InfrastructureError(f"index {index} holds {seen['count']} of {sent} events sent after "
                                      f"{self.options.index_timeout:g} s: {sent - seen['count']} missing")

    def _check_searchable(self, app: str, index: str, sent: int) -> None:
        """Counted is not yet searchable: wait until searches as the test user see exactly the events sent,
        in the test index and through the role's default indexes (what the detections rely on), before any
        test is judged. Otherwise a test expecting no results could pass on data Splunk has not seen."""
        probes = {f'| tstats count where index="{index}"': f"a search of index {index}",
                  "* | stats count": f"a search as {self.options.username!r} naming no index"}
        seen: dict[str, int] = {}

        def all_searchable() -> bool:
            for spl, what in probes.items():
                seen[what] = self.client.count_search(app, spl, *ALL_TIME, self.options.search_timeout)
                if seen[what] > sent:
                    raise InfrastructureError(f"{what} finds {seen[what]} events but {sent} were sent: "
                                              f"the default search indexes of the user read other data")
            return all(count == sent for count in seen.values())

        self.say("searchable", f"waiting until searches see the {sent} event(s)")
        if not poll(all_searchable, self.options.index_timeout, self.options.backoff):
            what, count = min(seen.items(), key=lambda item: item[1])
            raise InfrastructureError(f"{what} finds {count} of the {sent} events sent after "
                                      f"{self.options.index_timeout:g} s (is --role {self.options.role} "
                                      f"a role of {self.options.username!r}?)")

    def _searches(self, build, detection, test, events: list, placement: Placement | None,
                  placed_at: float) -> list[str]:
        app = build.pack.app.app_id
        name = search_stanza_name(build.pack.app, detection)
        stanza = shipped_stanza(build, detection)
        window = own_window(stanza)
        if placement is not None and time.time() - placed_at > placement.tolerance:
            raise InfrastructureError(f"the events left the search's window before it ran: sending and indexing "
                                      f"took {time.time() - placed_at:.0f} s, more than the "
                                      f"{placement.tolerance:.0f} s --as-scheduled tolerates for this test")
        dispatched_at = self._next_server_second(app) if self.options.es else 0.0
        if placement is None:
            installed = self._search_results(test, lambda: self._dispatch(app, name, ALL_TIME))
            raw = self._search_results(test, lambda: self._job(app, detection.search, ALL_TIME))
            offline_reasons, offline_rows = offline_outcome(build, detection, test, events)
        else:  # each run reads only the events inside its window; the runs' rows together are judged
            windows = placement.windows()
            installed = self._search_results(test, lambda: union(
                self._dispatch(app, name, None, at) for at, _, _ in windows))
            raw = self._search_results(test, lambda: union(
                self._job(app, detection.search, (f"{start:.0f}", f"{end:.0f}") if at is not None else window)
                for at, start, end in windows))
            offline_reasons, offline_rows = offline_runs(build, detection, test, events, windows)
        if placement is not None and placement.split and test.expected_count is not None:
            self._judge_split_runs(test, installed, raw, offline_rows)
        failures = [f"installed search: {r}" for r in judge_results(detection, test, installed)]
        failures += [f"raw search: {r}" for r in judge_results(detection, test, raw)]
        failures += [f"offline engine: {r}" for r in offline_reasons]
        failures += compare_rows(offline_rows, installed.rows, "installed search vs offline")
        failures += compare_rows(offline_rows, raw.rows, "raw search vs offline")
        self.say("search", f"rows: installed {len(installed.rows)}, raw {len(raw.rows)}, offline {len(offline_rows)}")
        if self.options.es:
            failures += self._es_events(app, name, stanza, installed, dispatched_at)
        return failures

    def _judge_split_runs(self, test, installed: Results, raw: Results, offline_rows: list[dict]) -> None:
        """Events of one group farther apart than a window give one row per run, where the declared count is
        for one search over all of them. When Splunk's rows equal the offline engine's for the same runs, the
        detection found every event: the test is reported skipped with the reason, not passed or failed."""
        if len(offline_rows) != test.expected_count and not compare_rows(offline_rows, installed.rows, "") \
                and not compare_rows(offline_rows, raw.rows, ""):
            raise NotAsDeclared(f"{test.expected_count} result(s) declared over all events; events of one group lie "
                                f"farther apart than one window, so the scheduled runs give {len(offline_rows)}, "
                                "in Splunk as offline")

    def _es_events(self, app: str, name: str, stanza: dict[str, str], installed: Results, since: float) -> list[str]:
        """The risk and notable events the dispatch's actions wrote (facts 20-22), as the package declares them."""
        try:
            expected = EsExpectations.from_stanza(stanza, installed.rows)
        except ValueError as exc:
            return [f"ES: {exc}"]
        found = {}
        for kind, spl, count in (("risk", risk_search(name, since), len(expected.risk_events)),
                                 ("notable", notable_search(name, since, expected.nes_fields), len(expected.notables))):
            latest = [Results([], [])]

            def arrived() -> bool:
                latest[0] = self._job(app, spl, ALL_TIME)
                return len(latest[0].rows) >= count

            poll(arrived, self.options.search_timeout, self.options.backoff)
            found[kind] = latest[0].rows
        self.say("es", f"risk events {len(found['risk'])}, notables {len(found['notable'])}")
        risk = check_risk_events(expected, found["risk"], stanza.get("action.risk.param._risk_message", ""))
        notable = check_notables(expected, found["notable"], installed.fields)
        for warning in risk.warnings + notable.warnings:
            self.say("warning", warning)
        return risk.failures + notable.failures

    def _search_results(self, test, search: Callable[[], Results]) -> Results:
        """Run ``search``; for a test expecting results, run it again with backoff while it finds none."""
        latest = [Results([], [])]

        def found() -> bool:
            latest[0] = search()
            return bool(latest[0].rows) or not test.positive

        poll(found, self.options.search_timeout, self.options.backoff)
        return latest[0]

    def _dispatch(self, app: str, name: str, time_range: tuple[str, str] | None, now: float | None = None) -> Results:
        sid = self.client.dispatch_saved_search(app, name, time_range, trigger_actions=self.options.es, now=now)
        return self._reported(self.client.finished_job(sid, self.options.search_timeout), f"saved search {name!r}")

    def _job(self, app: str, spl: str, time_range: tuple[str, str]) -> Results:
        sid = self.client.start_search(app, spl, *time_range)
        return self._reported(self.client.finished_job(sid, self.options.search_timeout), "search")

    def _reported(self, results: Results, what: str) -> Results:
        """ERROR messages of a job that still finished are shown, not failed on (fact 13)."""
        for text in results.errors:
            self.say("search", f"{what}: Splunk reported ERROR: {text}")
        return results

    # -- cleanup ----------------------------------------------------------------

    def _cleanup(self) -> None:
        """Undo in reverse order; a failing step is reported (and fails the run) and the others still run."""
        for name, undo in reversed(self.cleanups):
            try:
                undo()
                self.say("cleanup", name)
            except Exception as exc:  # noqa: BLE001 - report it and go on with the other steps
                self.cleanup_failures.append(f"{name} failed: {first_line(exc)}")
                self.say("cleanup", f"{name} failed: {type(exc).__name__}: {first_line(exc)}")
            except KeyboardInterrupt:
                self.cleanup_failures.append(f"{name} interrupted")
                self.say("cleanup", f"{name} interrupted")
        self.cleanups.clear()
        if self.options.keep and self.cases:
            self.say("cleanup", "kept the test data (--keep)")


def saved_search_state(stanza: dict) -> dict[str, str]:
    """The keys the harness may change, as text, with splunkd's defaults for those the stanza does not show."""
    state = {key: str(stanza.get(key) or SAVED_SEARCH_DEFAULTS[key]) for key in SAVED_SEARCH_CHANGES}
    return {**state, "disabled": str(stanza.get("disabled", "0"))}


def first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0]


def as_list(value) -> list[str]:
    """A role list as splunkd shows it: a JSON list, one string, or nothing."""
    if not value:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def is_true(value) -> bool:
    """A conf boolean as REST shows it (``1``, ``true``, ``True``...)."""
    return str(value).strip().lower() in ("1", "true", "t", "yes", "y", "on")


def index_matches(pattern: str, index: str) -> bool:
    """Whether a ``srchIndexesAllowed`` entry (``*`` wildcards) covers ``index``."""
    return re.fullmatch(".*".join(map(re.escape, pattern.split("*"))), index) is not None


def unreadable_by_others(folder: Path) -> Path | None:
    """The first folder on the way to ``folder`` (itself included) another user cannot list or enter."""
    path = folder.resolve()
    for part in [*reversed(path.parents), path]:
        mode = part.stat().st_mode
        if not mode & stat.S_IXOTH or (part == path and not mode & stat.S_IROTH):
            return part
    return None


def shipped_stanza(build, detection) -> dict[str, str]:
    """The detection's stanza in the package's ``default/savedsearches.conf``, as the package declares it."""
    path = build.app_dir / "default" / "savedsearches.conf"
    try:
        return as_dict(read_conf(path))[search_stanza_name(build.pack.app, detection)]
    except (ConfError, KeyError) as exc:
        raise InfrastructureError(f"{path}: {exc}") from None


def own_window(stanza: dict[str, str]) -> tuple[str, str]:
    """The search's own ``dispatch.earliest_time``/``latest_time``; unset, they mean all time up to now
    (savedsearches.conf.spec: empty earliest is all time; latest defaults to now)."""
    return stanza.get("dispatch.earliest_time") or "0", stanza.get("dispatch.latest_time") or "now"


def matching_times(build, detection, events: list) -> list[float]:
    """The times of the events the offline engine finds on their own: those a run must see to find them all."""
    try:
        spl = shipped_search(build.app_dir, search_stanza_name(build.pack.app, detection))
        macros = shipped_macros(build.app_dir)
        return [fields["_time"] for raw, fields in events if run_search(spl, macros, [raw]).rows]
    except (SplError, ConfError):
        return []


def moved_by(events: list, offset: int) -> list:
    """The events ``offset`` seconds later: HEC time and the text's own time alike."""
    return [(replace(raw, raw=shift_raw_time(raw.raw, offset)), {**fields, "_time": fields["_time"] + offset})
            for raw, fields in events]


def offline_result(build, detection, events: list) -> tuple[list[str], list[dict]]:
    """The offline engine's rows over ``events`` (or why it could not run)."""
    try:
        spl = shipped_search(build.app_dir, search_stanza_name(build.pack.app, detection))
        return [], run_search(spl, shipped_macros(build.app_dir), [raw for raw, _ in events]).rows
    except (SplError, ConfError) as error:
        return [str(error)], []


def union(results) -> Results:
    """The rows of several runs together, as the runs of a schedule produce them."""
    results = list(results)
    fields = list(dict.fromkeys(f for r in results for f in r.fields))
    return Results([row for r in results for row in r.rows], fields, tuple(e for r in results for e in r.errors))


def offline_runs(build, detection, test, events: list, windows) -> tuple[list[str], list[dict]]:
    """The offline engine run once per window over the events inside it; the rows together are judged."""
    rows, columns = [], []
    for _, start, end in windows:
        inside = [(raw, fields) for raw, fields in events if start <= fields["_time"] < end]
        try:
            spl = shipped_search(build.app_dir, search_stanza_name(build.pack.app, detection))
            result = run_search(spl, shipped_macros(build.app_dir), [raw for raw, _ in inside])
        except (SplError, ConfError) as error:
            return [str(error)], []
        rows += result.rows
        columns = list(dict.fromkeys([*columns, *result.columns]))
    return judge(detection, test, SearchResult(rows, columns, 0, 0, [])), rows


def offline_outcome(build, detection, test, events: list) -> tuple[list[str], list[dict]]:
    """The offline engine over exactly the events the searches in Splunk read (with --as-scheduled: those
    moved inside the search's window): pass-rule failures and rows."""
    try:
        spl = shipped_search(build.app_dir, search_stanza_name(build.pack.app, detection))
        result = run_search(spl, shipped_macros(build.app_dir), [raw for raw, _ in events])
    except (SplError, ConfError) as error:
        return [str(error)], []
    return judge(detection, test, result), result.rows


def judge_results(detection, test, results: Results) -> list[str]:
    """The offline test's pass rules (``replay.judge``) applied to Splunk's results. The columns are the
    document's field list: Splunk leaves a field out of every row where it is null. How many events the
    search read is unknown here (0)."""
    return judge(detection, test, SearchResult(results.rows, results.fields, 0, 0, []))


def load_events(root: Path, test) -> list:
    """(RawEvent, fields) of every well-formed event of the test's datasets, in file order."""
    events = []
    try:
        for data in detection_datasets(root, test):  # the offline replay's reading of attack_data
            stats = ReadStats()
            for raw in read_events(data.path, source=data.source, sourcetype=data.sourcetype, stats=stats):
                fields = parse_event(raw, stats=stats)
                if fields is not None:
                    events.append((raw, fields))
    except EventReadError as exc:
        raise UsageError(f"{test.location}: test {test.name!r}: {exc}") from None
    if not events:
        raise UsageError(f"{test.location}: test {test.name!r} has no events to send")
    return events
