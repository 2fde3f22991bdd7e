"""The pieces of the Splunk replay: row comparison, HEC batching and errors, the REST client's search calls
(splunk-sdk over real HTTP to the Splunk TEST DOUBLE), package checks, redaction and the container setup."""
from __future__ import annotations

import io
import json
import re
import tarfile
from pathlib import Path

import pytest
from splunk_double.pack import PASSWORD, SCRCONS, app_package, sysmon
from splunk_double.state import AppPackageError, read_app_package

from detpack.splunk import InfrastructureError, container
from detpack.splunk.client import SplunkClient, Target
from detpack.splunk.compare import compare_rows
from detpack.splunk.harness import CaseReport, Reporter
from detpack.splunk.hec import HecClient, HecSettings, HecTarget, batches, hec_event
from detpack.splunk.retry import Backoff

FAST = Backoff(attempts=3, first=0.001)


# -- comparing rows ---------------------------------------------------------------

def test_equal_rows_in_any_order_have_no_differences():
    rows = [{"dest": "a", "count": "1"}, {"dest": "b", "count": "2", "_time": "1"}]
    assert compare_rows(rows, [{"dest": "b", "count": "2"}, {"dest": "a", "count": ["1"]}], "x") == []


def test_every_kind_of_difference_is_reported():
    offline = [{"dest": "a", "user": "u", "count": "1"}, {"dest": "gone", "user": "v", "count": "9"}]
    splunk = [{"dest": "a", "user": "u", "count": "2"}, {"dest": "new", "user": "w", "count": "5"}]
    assert compare_rows(offline, splunk, "raw") == [
        "raw: row {count='1', dest='a', user='u'}: field count: offline '1', Splunk '2'",
        "raw: missing row {count='9', dest='gone', user='v'}",
        "raw: extra row {count='5', dest='new', user='w'}",
    ]


def test_a_field_only_one_side_has_is_named():
    differences = compare_rows([{"dest": "a", "user": "u"}], [{"dest": "a", "user": "u", "extra": ["x", "y"]}], "i")
    assert differences == ["i: row {dest='a', user='u'}: field extra: offline (absent), Splunk ['x', 'y']"]


def test_duplicate_rows_count():
    assert compare_rows([{"a": "1"}], [{"a": "1"}, {"a": "1"}], "i") == ["i: extra row {a='1'}"]


# -- HEC ----------------------------------------------------------------------------

def test_batches_respect_event_and_byte_limits():
    events = [{"event": "x" * 100, "n": n} for n in range(7)]
    by_count = list(batches(events, HecSettings(batch_events=3)))
    assert [count for _, count in by_count] == [3, 3, 1]
    decoded = [json.loads(part) for body, _ in by_count for part in body.replace(b"}{", b"}\n{").splitlines()]
    assert [e["n"] for e in decoded] == list(range(7))
    by_bytes = list(batches(events, HecSettings(batch_events=100, batch_bytes=250)))
    assert [count for _, count in by_bytes] == [2, 2, 2, 1]


def test_hec_event_uses_the_computer_as_host_and_keeps_the_raw_text():
    event = hec_event("<Event/>", time_=1.5, host="ws01", source="s", sourcetype="XmlWinEventLog", index="i")
    assert event == {"time": 1.5, "event": "<Event/>", "source": "s", "sourcetype": "XmlWinEventLog",
                     "index": "i", "host": "ws01"}


def test_hec_with_acknowledgement_returns_once_indexed(splunk, state):
    state.indexes["t"] = []
    token = state.create_token("t", "t", ["t"], True)
    state.faults.indexing_delay = 0.05
    sender = HecClient(HecTarget(splunk.hec_url, token), HecSettings(batch_events=2, backoff=FAST, ack_timeout=2))
    sent = sender.send(hec_event(f"e{n}", time_=n, host="h", source="s", sourcetype="st", index="t") for n in range(5))
    assert sent == 5 and len(state.visible("t")) == 5


def test_hec_ack_that_never_comes_is_an_error(splunk, state):
    state.indexes["t"] = []
    token = state.create_token("t", "t", ["t"], True)
    state.faults.indexing_delay = 60
    sender = HecClient(HecTarget(splunk.hec_url, token), HecSettings(backoff=FAST, ack_timeout=0.05))
    with pytest.raises(InfrastructureError, match=r"1 batch\(es\) not acknowledged as indexed after 0.05 s"):
        sender.send([hec_event("e", time_=1, host="h", source="s", sourcetype="st", index="t")])


def test_hec_refusals_are_not_retried(splunk, state):
    state.indexes["t"] = []
    state.create_token("t", "t", ["t"], False)
    sender = HecClient(HecTarget(splunk.hec_url, "wrong"), HecSettings(backoff=FAST))
    with pytest.raises(InfrastructureError, match=re.escape("HTTP 403: Invalid token (code 4)")):
        sender.send([hec_event("e", time_=1, host="h", source="s", sourcetype="st", index="t")])
    assert state.hec_requests == 0


def test_hec_incorrect_index_is_retried_for_a_bounded_time(splunk, state):
    """Fact 11 (unverified): HEC may refuse an index created moments ago; retried until new_index_grace ends."""
    state.indexes["t"] = []
    good = state.create_token("t", "t", [], False)
    sender = HecClient(HecTarget(splunk.hec_url, good), HecSettings(backoff=FAST, new_index_grace=0.1))
    with pytest.raises(InfrastructureError, match=re.escape("HTTP 400: Incorrect index (code 7), still after 0.1 s")):
        sender.send([hec_event("e", time_=1, host="h", source="s", sourcetype="st", index="other")])
    assert state.hec_requests > 3, "retried while the grace lasted"


def test_hec_accepts_a_new_index_once_it_knows_it(splunk, state):
    import time
    state.indexes["t"] = []
    state.index_created["t"] = time.monotonic()
    state.faults.new_index_hec_lag = 0.2
    good = state.create_token("t", "t", [], False)
    sender = HecClient(HecTarget(splunk.hec_url, good), HecSettings(backoff=FAST, new_index_grace=5))
    assert sender.send([hec_event("e", time_=1, host="h", source="s", sourcetype="st", index="t")]) == 1
    assert state.hec_requests > 1 and len(state.visible("t")) == 1


# -- REST client over splunk-sdk ----------------------------------------------------

@pytest.fixture
def readable_dir():
    """A folder other users can read (splunkd reads packages as its own user: fact 16); pytest's are 0700."""
    import shutil
    import tempfile
    folder = Path(tempfile.mkdtemp(prefix="detpack-parts-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def client(splunk) -> SplunkClient:
    return SplunkClient(Target(splunk.rest_url, "admin", PASSWORD), FAST)


def test_options_repr_hides_the_password_and_token():
    from detpack.splunk.harness import Options
    options = Options(Path("."), "https://h:8089", "admin", PASSWORD, hec_token="tok-secret-1")
    assert PASSWORD not in repr(options) and "tok-secret-1" not in repr(options)


def test_target_repr_hides_the_password():
    assert PASSWORD not in repr(Target("https://h:8089", "admin", PASSWORD))
    assert "secret-token" not in repr(HecTarget("https://h:8088", "secret-token"))


def test_session_keys_are_known_for_redaction(client, state):
    client.login()
    assert client.session_key() in state.sessions


def test_server_info_and_a_search_job_through_splunk_sdk(client, state):
    assert client.login()["version"] == "9.3.2"
    state.indexes["main"].append(_stored(sysmon(1, SCRCONS)))
    state.faults.running_polls_per_job = 2  # by count, not time: a loaded machine polls late
    sid = client.start_search("search", "sourcetype=XmlWinEventLog | stats count by Computer", "0", "now")
    results = client.finished_job(sid, 5)
    assert results.rows == [{"Computer": "ws01.example.test", "count": "1"}]
    assert results.fields == ["Computer", "count"]
    assert state.running_polls > 0, "the job was seen RUNNING before it was done"
    assert state.jobs == {}, "the job is cancelled once its results are read"


def test_searches_honour_the_jobs_time_range_on_the_hec_time(client, state):
    from dataclasses import replace

    client.login()
    event = _stored(sysmon(1, SCRCONS))
    state.indexes["main"] += [replace(event, time=100.0), replace(event, time=200.0)]
    assert client.count_search("search", "* | stats count", "0", "now", 5) == 2
    assert client.count_search("search", "* | stats count", "150", "now", 5) == 1
    assert client.count_search("search", "* | stats count", "0", "150", 5) == 1
    assert client.count_search("search", "* | stats count", "-1h", "now", 5) == 0


def test_a_failing_search_job_reports_splunks_message(client):
    client.login()
    sid = client.start_search("search", "| nosuchcommand", "0", "now")
    with pytest.raises(InfrastructureError, match=f"search job {sid} failed: "):
        client.wait_for_job(sid, 1)


def test_an_error_message_on_a_finished_job_is_reported_not_failed(client, state):
    """Fact 13: a job can finish with results and an ERROR beside them; only isFailed or FATAL fail it."""
    client.login()
    state.indexes["main"].append(_stored(sysmon(1, SCRCONS)))
    sid = client.start_search("search", "sourcetype=XmlWinEventLog | stats count", "0", "now")
    state.jobs[sid].messages = [{"type": "ERROR", "text": "peer idx2 unreachable"}, {"type": "INFO", "text": "ok"}]
    results = client.finished_job(sid, 5)
    assert results.rows == [{"count": "1"}] and results.errors == ("peer idx2 unreachable",)
    assert state.jobs == {}, "the job is cancelled once read"


def test_a_fatal_message_on_a_job_is_an_infrastructure_error(client, state):
    client.login()
    sid = client.start_search("search", "sourcetype=XmlWinEventLog | stats count", "0", "now")
    state.jobs[sid].messages = [{"type": "FATAL", "text": "peer idx2 unreachable"}, {"type": "INFO", "text": "ok"}]
    with pytest.raises(InfrastructureError, match=f"search job {sid} failed: peer idx2 unreachable"):
        client.finished_job(sid, 5)
    assert state.jobs == {}, "the failed job is cancelled"


def test_results_documents_are_read_whole():
    from detpack.splunk.client import read_results

    document = {"messages": [{"type": "FATAL", "text": "first"}, {"type": "INFO", "text": "last"}],
                "fields": [{"name": "dest"}, {"name": "user"}], "results": [{"dest": "a"}]}
    with pytest.raises(InfrastructureError, match="Splunk search error: first"):
        read_results(document, "sid1")
    document["messages"] = [{"type": "WARN", "text": "slow"}]
    results = read_results(document, "sid1")
    assert results.rows == [{"dest": "a"}] and results.fields == ["dest", "user"]


def test_judging_takes_the_columns_from_the_field_list_not_the_rows():
    from types import SimpleNamespace

    from detpack.splunk.client import Results
    from detpack.splunk.harness import judge_results

    detection = SimpleNamespace(risk_objects=[], risk_message="$dest$ ran $user$", drilldowns=[])
    test = SimpleNamespace(expected_count=None, positive=True)
    rows = [{"dest": "a"}]  # user is null in every row, so Splunk leaves it out of the rows
    assert judge_results(detection, test, Results(rows, ["dest", "user"])) == []
    assert judge_results(detection, test, Results(rows, ["dest"])) == [
        "risk message: token(s) $user$ are not result fields"]


def test_a_broken_package_is_refused_with_splunks_message(client, readable_dir):
    client.login()
    broken = readable_dir / "broken.tgz"
    broken.write_bytes(b"not gzip")
    with pytest.raises(InfrastructureError, match="not a gzip tar package"):
        client.install_app(str(broken))


def test_roles_index_lists_round_trip_and_imports_show(client, state):
    state.indexes.update(a1=[], b=[])
    client.login()
    client.set_role_indexes("admin", ["a*", "b"], ["a1", "b"])
    role = client.role("admin")
    assert (role["srchIndexesAllowed"], role["srchIndexesDefault"]) == (["a*", "b"], ["a1", "b"])
    assert role["imported_srchIndexesDefault"] == ["main"], "stock admin imports user's main (fact 4)"
    client.set_role_indexes("admin", [], [])
    assert client.role("admin")["srchIndexesDefault"] == []


@pytest.mark.parametrize("name", ["ESCU - Script Execution via WMI - Rule", "a/b & c 100% + d?"])
def test_a_saved_search_name_reaches_splunkd_encoded_once(client, state, readable_dir, name):
    package = app_package(readable_dir, "TA-names", {"default/savedsearches.conf": f"[{name}]\nsearch = | tstats count\n"})
    state.install(package)
    client.login()
    assert client.saved_search("TA-names", name)["search"] == "| tstats count"
    assert client.saved_search("TA-names", name + " (other)") is None


def _stored(raw: str):
    from splunk_double import StoredEvent
    return StoredEvent(raw, "XmlWinEventLog:Microsoft-Windows-Sysmon/Operational", "XmlWinEventLog", "h", 0.0, 0.0)


# -- packages as the double checks them ------------------------------------------

def test_a_package_without_app_conf_is_refused(tmp_path):
    package = tmp_path / "x.tgz"
    with tarfile.open(package, "w:gz") as tar:
        info = tarfile.TarInfo("x/default/macros.conf")
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(AppPackageError, match="x/default/app.conf is missing"):
        read_app_package(package, tmp_path / "out")


def test_a_package_with_two_top_folders_is_refused(tmp_path):
    package = tmp_path / "two.tgz"
    with tarfile.open(package, "w:gz") as tar:
        for name in ("a/default/app.conf", "b/default/app.conf"):
            tar.addfile(tarfile.TarInfo(name), io.BytesIO(b""))
    with pytest.raises(AppPackageError, match="expected one app folder"):
        read_app_package(package, tmp_path / "out")


def test_an_addon_package_is_read(tmp_path):
    package = app_package(tmp_path, "TA-x", {"default/macros.conf": "[m]\ndefinition = search *\n"})
    app = read_app_package(package, tmp_path / "out")
    assert app.name == "TA-x" and app.macros == {"m": {"definition": "search *"}}


# -- reports ---------------------------------------------------------------------------

def test_reporter_redacts_every_secret_from_progress_and_junit(tmp_path):
    from xml.etree import ElementTree

    hostile = 'Pa&ss<w0rd"'
    stream = io.StringIO()
    reporter = Reporter(stream)
    for secret in ("s3cret", "tok-123", hostile):
        reporter.keep_secret(secret)
    reporter.say("x", f"login with s3cret and tok-123 and {hostile}")
    reporter.write_junit(tmp_path / "j.xml", [
        CaseReport("d", "t", failures=["token tok-123 refused"]),
        CaseReport("d <&>", f"u {hostile}", error=f"login {hostile} failed\nbody password=Pa%26ss%3Cw0rd%22"),
    ])
    assert "s3cret" not in stream.getvalue() and "tok-123" not in stream.getvalue()
    report = (tmp_path / "j.xml").read_text()
    for form in ("tok-123", hostile, "Pa&amp;ss&lt;w0rd", "Pa%26ss"):
        assert form not in report
    suite = ElementTree.fromstring(report)
    assert suite.attrib == {"name": "splunk-test", "tests": "2", "skipped": "0", "failures": "1", "errors": "1"}
    failure, error = suite.find("testcase/failure"), suite.find("testcase/error")
    assert failure.text == "token *** refused"
    assert error.get("message") == "login *** failed" and error.text.endswith("password=***")
    assert suite.findall("testcase")[1].get("classname") == "d <&>"


# -- the container, set up against a stand-in for the Docker SDK ------------------------

class FakeContainer:
    attrs = {"NetworkSettings": {"Ports": {"8089/tcp": [{"HostPort": "32001"}], "8088/tcp": [{"HostPort": "32002"}]}}}

    def reload(self):
        pass


class FakeEngine:
    def __init__(self):
        self.calls = []
        self.containers = self

    def run(self, image, **kwargs):
        self.calls.append((image, kwargs))
        return FakeContainer()


def test_container_binds_loopback_mounts_the_packages_and_generates_a_password(tmp_path):
    engine = FakeEngine()
    started = container.start_splunk(engine, tmp_path)
    image, kwargs = engine.calls[0]
    assert image == container.SPLUNK_IMAGE and ":" in image and not image.endswith(":latest")
    assert kwargs["ports"] == {"8089/tcp": ("127.0.0.1", None), "8088/tcp": ("127.0.0.1", None)}
    assert kwargs["volumes"] == {str(tmp_path.resolve()): {"bind": container.SERVER_APP_DIR, "mode": "ro"}}
    assert kwargs["environment"]["SPLUNK_START_ARGS"] == "--accept-license"
    assert kwargs["environment"]["SPLUNK_PASSWORD"] == started.password
    assert (started.rest_url, started.hec_url) == ("https://127.0.0.1:32001", "https://127.0.0.1:32002")
    assert started.password not in repr(started)
    assert container.generate_password() != container.generate_password()
    assert container.start_splunk(engine, tmp_path, password="Given-pw-1").password == "Given-pw-1"
    assert engine.calls[1][1]["environment"]["SPLUNK_PASSWORD"] == "Given-pw-1"


def test_a_container_whose_ports_are_unknown_is_removed_after_being_announced(tmp_path):
    events = []

    class NoPorts(FakeContainer):
        attrs = {"NetworkSettings": {"Ports": {}}}

        def reload(self):
            events.append("reload")

        def remove(self, force, v):
            events.append(("remove", force, v))

    engine = FakeEngine()
    engine.run = lambda image, **kwargs: NoPorts()
    with pytest.raises(container.ContainerFailed, match="started but its ports are unknown"):
        container.start_splunk(engine, tmp_path, on_started=lambda c: events.append("started"))
    assert events == ["started", "reload", ("remove", True, True)]


# -- the search's own window (--as-scheduled) -------------------------------------------------------------

def test_relative_times_snap_and_offset():
    from detpack.splunk.window import relative_time
    now = 1_700_000_000 + 59.5  # 22:14:59.5 UTC... whatever the minute, snapping drops the seconds
    assert relative_time("-70m@m", now) == (now - 4200) - (now - 4200) % 60
    assert relative_time("now", now) == now and relative_time("-1h", now) == now - 3600
    assert relative_time("@d", now) == now - now % 86400 and relative_time("1700000000", now) == 1_700_000_000


@pytest.mark.parametrize("spec", ["-70x", "@w0", "yesterday", "-1d@d+3h", ""])
def test_unknown_time_modifiers_are_refused_not_guessed(spec):
    from detpack.splunk.window import WindowError, relative_time
    with pytest.raises(WindowError, match="is not -N"):
        relative_time(spec, 0.0)


def test_events_are_placed_inside_the_end_of_the_window_keeping_their_spacing():
    """The newest event one snap unit plus a margin before the window's end (a server clock a little off still
    has it inside); the events stay inside until the window's start, moving on, reaches the oldest."""
    from detpack.splunk.window import MARGIN, place_in_window
    now = 1_700_000_030.0
    placement = place_in_window([100.0, 160.0, 400.0], "-70m@m", "-10m@m", now)
    end = (now - 600) - (now - 600) % 60
    assert 400 + placement.offset == int(end - 60 - MARGIN)
    assert placement.tolerance == (100 + placement.offset) - placement.earliest - 60
    assert 2900 < placement.tolerance < 3600 and placement.runs == ()


def test_no_event_is_placed_in_the_future():
    from detpack.splunk.window import MARGIN, place_in_window
    now = 1_700_000_030.0
    placement = place_in_window([100.0, 3500.0], "-70m@m", "-10m@m", now, needed=[100.0])
    assert 3500 + placement.offset <= now - MARGIN and placement.inside(100 + placement.offset)


def test_events_wider_than_the_window_get_consecutive_runs_covering_them():
    from detpack.splunk.window import place_in_window
    now = 1_700_000_000.0
    placement = place_in_window([0.0, 1000.0, 7200.0], "-70m@m", "-10m@m", now)
    assert all(placement.inside(t + placement.offset) for t in (0.0, 1000.0, 7200.0))
    runs = placement.runs
    assert len(runs) == 3 and runs[-1][0] == now and [b[0] - a[0] for a, b in zip(runs, runs[1:])] == [3600.0] * 2
    assert all(a[2] == b[1] for a, b in zip(runs, runs[1:])), "the windows follow each other without a gap"


def test_each_run_is_at_a_whole_second_so_splunk_snaps_its_window_as_computed_here():
    """``dispatch.now`` reaches Splunk in whole seconds (``SplunkClient``); a run 59.6 s past a minute
    sent as the next minute would have its ``@m`` window start a minute later in Splunk than offline,
    and an event placed just inside that start would be found offline only."""
    from detpack.splunk.window import place_in_window, relative_time
    now = 1_700_000_039.6  # 1_700_000_040 is a whole minute
    placement = place_in_window([0.0, 1000.0, 7200.0], "-70m@m", "-10m@m", now)
    assert placement.runs
    for at, start, end in placement.runs:
        sent = float(f"{at:.0f}")  # as the client sends it
        assert (relative_time("-70m@m", sent), relative_time("-10m@m", sent)) == (start, end)


def test_runs_of_a_window_snapped_at_one_end_only_are_at_whole_seconds_too():
    """``-65m@m`` to ``-5m`` at 39.6 s past a minute is 3639.6 s long: runs stepped back by that length fall
    between whole seconds again, and ``dispatch.now``, sent rounded, would move their windows in Splunk."""
    from detpack.splunk.window import place_in_window, relative_time
    now = 1_700_000_039.6
    placement = place_in_window([0.0, 1000.0, 7200.0, 9000.0], "-65m@m", "-5m", now)
    assert len(placement.runs) > 1
    for at, start, end in placement.runs:
        assert at == int(at), at
        sent = float(f"{at:.0f}")  # as the client sends it
        assert (relative_time("-65m@m", sent), relative_time("-5m", sent)) == (start, end)


def test_a_window_too_short_for_its_margins_is_too_wide_not_a_crash():
    from detpack.splunk.window import TooWide, place_in_window
    with pytest.raises(TooWide, match="more than 48 runs"):
        place_in_window([0.0, 100.0], "-1s", "now", 1_700_000_000.0)


def test_an_empty_window_is_refused():
    from detpack.splunk.window import WindowError, place_in_window
    with pytest.raises(WindowError, match="window -10m to -70m is empty"):
        place_in_window([0.0], "-10m", "-70m", 1_700_000_000.0)


def test_the_event_text_moves_with_its_hec_time():
    from detpack.splunk.window import shift_raw_time
    raw = sysmon(1, SCRCONS)
    moved = shift_raw_time(raw, 86400 + 61)
    assert "SystemTime='2024-05-02T10:02:01.250000000Z'" in moved
    assert moved.replace("2024-05-02T10:02:01", "2024-05-01T10:01:00") == raw


def test_a_short_secret_is_redacted_as_a_word_and_never_garbles_other_words():
    from detpack.splunk.harness import Reporter
    reporter = Reporter(io.StringIO())
    for secret in ("x", "abcd"):
        reporter.keep_secret(secret)
    assert reporter.redact("unexpected answer; password x, x=1") == "unexpected answer; password ***, ***=1"
    assert reporter.redact("key zabcdz") == "key z***z", "four characters and more: wherever they are"


def test_an_unset_window_is_all_time_up_to_now_wherever_it_is_read():
    from detpack.splunk.harness import own_window
    assert own_window({}) == ("0", "now") == own_window({"dispatch.earliest_time": "", "dispatch.latest_time": ""})
    assert own_window({"dispatch.earliest_time": "-70m@m", "dispatch.latest_time": "-10m@m"}) == ("-70m@m", "-10m@m")
