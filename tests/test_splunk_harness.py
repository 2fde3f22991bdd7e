"""``build.py splunk-test`` end to end, through splunk-sdk and HEC over real HTTP, against the Splunk TEST DOUBLE
(tests/splunk_double: this machine cannot run Splunk). Each fault is injected on its own."""
from __future__ import annotations

import io
import shutil
import socket
import sys
from pathlib import Path

import pytest
from splunk_double import SplunkDouble, SplunkState, offline_engine
from splunk_double.state import stock_roles, truthy
from splunk_double.pack import PASSWORD, PROJECT_ROOT, TEST_DIR, cim_addon, run_cli, write_pack

from detpack.splunk import hec
from test_cli import BUILD_FAILURES, said_as

# short polls, but limits far above what a loaded machine needs; tests about a limit pass a small one
FAST = ["--poll-interval", "0.005", "--index-timeout", "20", "--search-timeout", "20", "--ready-timeout", "20"]


@pytest.fixture(scope="module")
def pack(tmp_path_factory) -> Path:
    return write_pack(tmp_path_factory.mktemp("content"))


@pytest.fixture(scope="module")
def cim(tmp_path_factory) -> Path:
    return cim_addon(tmp_path_factory.mktemp("addons"))


@pytest.fixture
def harness(splunk, pack, cim, monkeypatch, capsys, tmp_path):
    """Run splunk-test against the double with the test pack; extra arguments are appended."""
    def run(*extra: str, env: dict | None = None, content: Path | None = None):
        argv = ["--content", str(content or pack), "--splunk-url", splunk.rest_url, "--hec-url", splunk.hec_url,
                "--app", str(cim), "--junit", str(tmp_path / "junit.xml"), *FAST, *extra]
        return run_cli(argv, monkeypatch, capsys, {"SPLUNK_PASSWORD": PASSWORD, **(env or {})})
    return run


STANZA = "DetPack - Script Execution via WMI - Rule"
AS_SHIPPED = {"disabled": True, "cron_schedule": "0 * * * *", "enableSched": "1", "dispatchAs": "owner"}


def saved_search_keys(state: SplunkState) -> dict:
    stanza = state.saved_search("DA-ESS-DetPack", STANZA)
    return {"disabled": truthy(stanza["disabled"]), "cron_schedule": stanza["cron_schedule"],
            "enableSched": stanza["enableSched"], "dispatchAs": stanza["dispatchAs"]}


def only_main_left(state: SplunkState) -> None:
    """Everything the run changed is back: indexes, HEC tokens, the stock roles, the saved search's keys."""
    assert set(state.indexes) - {"risk", "notable"} == {"main"}
    assert state.tokens == {}
    assert state.roles == stock_roles()
    if "DA-ESS-DetPack" in state.apps:
        assert saved_search_keys(state) == AS_SHIPPED


def test_all_tests_pass_and_everything_is_cleaned_up(harness, state, tmp_path):
    outcome = harness()
    assert outcome.code == 0, outcome.stderr
    assert "3 of 3 test(s) passed in Splunk" in outcome.stderr
    assert "rows: installed 1, raw 1, offline 1" in outcome.stderr
    assert "rows: installed 0, raw 0, offline 0" in outcome.stderr
    for phase in ("build", "connect", "install", "index", "send", "count", "search", "cleanup"):
        assert f"splunk-test: {phase}:" in outcome.stderr
    junit = (tmp_path / "junit.xml").read_text()
    assert 'tests="3" skipped="0" failures="0" errors="0"' in junit
    assert set(state.apps) == {"DA-ESS-DetPack", "Splunk_SA_CIM"}
    only_main_left(state)


def test_keep_leaves_the_test_indexes(harness, state):
    outcome = harness("--keep")
    assert outcome.code == 0, outcome.stderr
    kept = [name for name in state.indexes if name.startswith("detpack_")]
    assert len(kept) == 3 and all(state.visible(name) for name in kept)
    first = state.indexes[sorted(kept)[0]][0]  # HEC time and host are the event's own, as Splunk indexes them
    assert (first.time, first.host) == (1714557660.25, "ws01.example.test")
    assert state.tokens == {} and state.roles == stock_roles()


def test_only_the_named_detection_runs_and_unknown_names_are_usage_errors(harness):
    assert harness("--detection", "script_execution_via_wmi").code == 0
    outcome = harness("--detection", "no such thing")
    assert outcome.code == 2
    assert "--detection no such thing: no such detection" in outcome.stderr


@pytest.mark.parametrize("fault", [
    {"hec_busy": 3}, {"hec_throttled": 2}, {"drop_before_index": 2}, {"indexing_delay": 0.05},
    {"expire_sessions": 3}, {"search_delay": 0.02}, {"search_lag": 0.1}, {"drop_after_create_index": 1},
    {"drop_after_create_token": 1},
    {"restart_after_install": True, "restart_lag": 0.05, "restart_downtime": 0.5},
], ids=lambda f: next(iter(f)))
def test_recoverable_faults_are_recovered(harness, state, fault):
    for name, value in fault.items():
        setattr(state.faults, name, value)
    outcome = harness()
    assert outcome.code == 0, outcome.stderr
    only_main_left(state)
    # the fault was hit: every counter used up, and its trace in the double
    assert all(getattr(state.faults, name) == 0 for name, value in fault.items() if type(value) is int)
    proof = {"hec_busy": lambda: state.hec_requests > 3, "hec_throttled": lambda: state.hec_requests > 3,
             "drop_before_index": lambda: state.hec_requests > 3, "expire_sessions": lambda: state.logins > 3,
             "indexing_delay": lambda: state.pending_acks > 0, "search_delay": lambda: state.running_polls > 0,
             "search_lag": lambda: state.lagging_searches > 0, "drop_after_create_index": lambda: True,
             "drop_after_create_token": lambda: True,  # its token is deleted: only_main_left checked that
             "restart_after_install": lambda: state.restarts == 1 and "restarting Splunk" in outcome.stderr}
    assert proof[next(iter(fault))]()


@pytest.mark.parametrize("fault, message", [
    ({"lose_events": 1}, "holds 3 of 4 events sent after 0.5 s: 1 missing"),
    ({"duplicate_events": 2}, "holds 6 events but 4 were sent: 2 duplicated"),
    ({"drop_after_index": 1}, "holds 8 events but 4 were sent: 4 duplicated"),
], ids=["lost", "duplicated", "resent-after-drop"])
def test_missing_or_duplicated_events_never_pass(harness, state, tmp_path, fault, message):
    for name, value in fault.items():
        setattr(state.faults, name, value)
    outcome = harness("--detection", "script_execution_via_wmi", "--index-timeout", "0.5")
    assert outcome.code == 3, outcome.stderr
    assert message in outcome.stderr
    assert "errors=\"1\"" in (tmp_path / "junit.xml").read_text()
    assert all(getattr(state.faults, name) == 0 for name in fault), "the fault was hit"
    only_main_left(state)


def test_no_test_is_judged_before_splunk_can_search_its_events(harness, state, tmp_path):
    state.faults.search_lag = 60  # counted at once, never searchable within the run
    outcome = harness("--index-timeout", "0.2")
    assert outcome.code == 3, outcome.stderr
    assert "0 of 3 test(s) passed in Splunk, 0 failed, 3 could not be run" in outcome.stderr
    assert "finds 0 of the 4 events sent after 0.2 s" in outcome.stderr
    assert "rows:" not in outcome.stderr, "no search of a detection ran"
    assert 'tests="3" skipped="0" failures="0" errors="3"' in (tmp_path / "junit.xml").read_text()
    only_main_left(state)


def test_a_role_the_user_does_not_have_is_caught_before_judging(harness, state):
    state.roles["analyst"] = {"srchIndexesDefault": [], "srchIndexesAllowed": ["*"], "imported_roles": []}
    outcome = harness("--role", "analyst", "--detection", "script_execution_via_wmi", "--index-timeout", "0.2")
    assert outcome.code == 3, outcome.stderr
    assert "a search as 'admin' naming no index finds 0 of the 4 events sent" in outcome.stderr
    assert "is --role analyst a role of 'admin'?" in outcome.stderr
    assert state.roles["analyst"]["srchIndexesDefault"] == []


def test_data_in_the_default_index_imported_from_user_is_caught(harness, state):
    """Stock admin imports user's default index main (fact 4): isolation rests on the searchability probes."""
    state.indexes["main"].append(_stored("<Event>someone else's data</Event>"))
    outcome = harness()
    assert outcome.code == 3, outcome.stderr
    assert "a search as 'admin' naming no index finds 5 events but 4 were sent" in outcome.stderr
    del state.indexes["main"][0]
    only_main_left(state)


def test_the_stock_admin_role_keeps_its_imports_and_is_restored(harness, state, monkeypatch):
    """Fact 4: the stock admin imports power and user (default index main); the run keeps the imports."""
    seen = []
    original = state.role_content
    monkeypatch.setattr(state, "role_content", lambda role: seen.append(original(role)) or seen[-1])
    outcome = harness("--detection", "script_execution_via_wmi")
    assert outcome.code == 0, outcome.stderr
    during = [c for c in seen if c["srchIndexesDefault"] and c["srchIndexesDefault"][0].startswith("detpack_")]
    assert during and all(c["imported_srchIndexesDefault"] == ["main"] for c in during)
    assert state.roles["admin"]["imported_roles"] == ["power", "user"]
    only_main_left(state)


def test_a_role_whose_allowed_indexes_name_indexes_is_allowed_the_test_index(harness, state):
    """Fact 5: a role allowed only named indexes cannot search a new one until it is added."""
    state.roles["tester"] = {"srchIndexesDefault": ["main"], "srchIndexesAllowed": ["main"], "imported_roles": []}
    state.users["admin"] = ["tester"]
    outcome = harness("--role", "tester")
    assert outcome.code == 0, outcome.stderr
    assert state.roles["tester"] == {"srchIndexesDefault": ["main"], "srchIndexesAllowed": ["main"], "imported_roles": []}


def _stored(raw: str):
    from splunk_double import StoredEvent
    return StoredEvent(raw, "XmlWinEventLog:Security", "XmlWinEventLog", "h", 0.0, 0.0)


def test_hec_busy_for_good_gives_up_with_a_clear_message(harness, state):
    state.faults.hec_busy = 1000
    outcome = harness()
    assert outcome.code == 3
    assert "gave up after 6 attempts: HTTP 503: Server is busy" in outcome.stderr
    only_main_left(state)


def test_a_search_slower_than_the_limit_fails_as_infrastructure(harness, state):
    state.faults.search_delay = 5
    outcome = harness("--search-timeout", "0.05")
    assert outcome.code == 3
    assert "not done after 0.05 s" in outcome.stderr
    assert state.running_polls > 0 and state.jobs == {}, "the job was polled while RUNNING, then cancelled"
    only_main_left(state)


def test_rows_that_differ_from_the_offline_engine_are_each_reported(splunk, state, harness, tmp_path):
    def renamed_host(spl, macros, events):
        rows, columns = offline_engine(spl, macros, events)
        return [{**row, "dest": "elsewhere"} for row in rows], columns

    state.engine = renamed_host
    outcome = harness()
    assert outcome.code == 1
    for label in ("installed search vs offline", "raw search vs offline"):
        assert f"{label}: row {{" in outcome.stderr
        assert "field dest: offline 'ws01.example.test', Splunk 'elsewhere'" in outcome.stderr
    assert "failures=\"2\"" in (tmp_path / "junit.xml").read_text()


def test_no_results_in_splunk_fails_the_positive_tests(state, harness):
    state.engine = lambda spl, macros, events: ([], [])
    outcome = harness("--search-timeout", "0.1")
    assert outcome.code == 1
    assert "installed search: no results" in outcome.stderr
    assert "installed search vs offline: missing row {" in outcome.stderr
    assert "1 of 3 test(s) passed" in outcome.stderr


def test_without_the_data_model_the_run_stops_before_sending(splunk, pack, state, monkeypatch, capsys):
    outcome = run_cli(["--content", str(pack), "--splunk-url", splunk.rest_url, *FAST, "--ready-timeout", "0.1"],
                      monkeypatch, capsys, {"SPLUNK_PASSWORD": PASSWORD})
    assert outcome.code == 3
    assert "data model Endpoint not available: install the CIM add-on with --app" in outcome.stderr
    assert state.hec_requests == 0
    only_main_left(state)


def test_ctrl_c_cleans_up_and_exits_130(harness, state, monkeypatch, tmp_path):
    def interrupted(self, events):
        raise KeyboardInterrupt

    monkeypatch.setattr(hec.HecClient, "send", interrupted)
    outcome = harness()
    assert outcome.code == 130
    assert "interrupted" in outcome.stderr
    assert "stopped by Ctrl-C" in (tmp_path / "junit.xml").read_text()
    only_main_left(state)


HOSTILE_PASSWORD = 'Pa&ss<w0rd"'


def test_sigterm_stops_the_run_like_ctrl_c_and_cleans_up(harness, state, monkeypatch, tmp_path):
    import os
    import signal
    import time

    def terminated(self, events):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler interrupts this
        raise AssertionError("SIGTERM did not stop the run")

    before = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(hec.HecClient, "send", terminated)
    outcome = harness()
    assert outcome.code == 130, outcome.stderr
    assert "stopped by Ctrl-C or SIGTERM; cleaned up" in outcome.stderr
    assert signal.getsignal(signal.SIGTERM) == before
    only_main_left(state)


def test_an_unexpected_error_is_one_redacted_line_exit_3_and_a_report(harness, state, monkeypatch, tmp_path):
    def broken(self, events):
        raise RuntimeError(f"boom with {PASSWORD}\nsecond line")

    monkeypatch.setattr(hec.HecClient, "send", broken)
    outcome = harness()
    assert outcome.code == 3, outcome.stderr
    assert "splunk-test: error: unexpected RuntimeError: boom with ***" in outcome.stderr
    assert "Traceback" not in outcome.stderr and "second line" not in outcome.stderr
    report = (tmp_path / "junit.xml").read_text()
    assert 'name="run"' in report and "unexpected RuntimeError: boom with ***" in report
    only_main_left(state)


def test_secrets_appear_in_no_output_or_report(harness, state, tmp_path, monkeypatch):
    from xml.etree import ElementTree

    state.password = HOSTILE_PASSWORD  # XML-special characters: escaping must not hide it from redaction
    given = state.create_token("given", "main", [], True)
    created: list[str] = []
    original = state.create_token
    monkeypatch.setattr(state, "create_token", lambda *a: created.append(original(*a)) or created[-1])
    for env in ({"SPLUNK_HEC_TOKEN": given}, {}):
        state.faults.lose_events = 1  # a failing run writes the most text
        outcome = harness("--index-timeout", "0.3", env={"SPLUNK_PASSWORD": HOSTILE_PASSWORD, **env})
        assert outcome.code == 3 and "1 missing" in outcome.stderr
        report = (tmp_path / "junit.xml").read_text()
        ElementTree.fromstring(report)  # well-formed
        for secret in (HOSTILE_PASSWORD, "Pa&amp;ss&lt;w0rd", given, *created, *state.issued_keys):
            assert secret not in outcome.stderr and secret not in report
    assert created, "the second run creates its own HEC tokens"
    assert len(state.issued_keys) >= 2, "each run logged in"


def test_wrong_password_is_refused_at_once(harness):
    outcome = harness(env={"SPLUNK_PASSWORD": "not-the-password"})
    assert outcome.code == 3
    assert "login as 'admin' refused" in outcome.stderr
    assert "not-the-password" not in outcome.stderr


def test_unreachable_splunk_exits_3(pack, monkeypatch, capsys):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    outcome = run_cli(["--content", str(pack), "--splunk-url", f"http://127.0.0.1:{port}", *FAST, "--ready-timeout", "0.05"],
                      monkeypatch, capsys, {"SPLUNK_PASSWORD": PASSWORD})
    assert outcome.code == 3
    assert f"Splunk at http://127.0.0.1:{port} did not answer" in outcome.stderr


def test_container_without_docker_is_a_clear_usage_error(pack, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    outcome = run_cli(["--content", str(pack), "--container", "--insecure"], monkeypatch, capsys)
    assert outcome.code == 2
    lines = outcome.stderr.strip().splitlines()
    assert len(lines) == 1 and "no Docker engine reachable" in lines[0]


@pytest.mark.parametrize("argv, env, message", [
    ([], {}, "no Splunk password: set SPLUNK_PASSWORD"),
    (["--app", "missing.tgz"], {"SPLUNK_PASSWORD": "x"}, "--app missing.tgz: no such file"),
    (["--app", "NOT_A_PACKAGE"], {"SPLUNK_PASSWORD": "x"}, "not an add-on package"),
    (["--insecure", "--ca-file", "x.pem"], {"SPLUNK_PASSWORD": "x"}, "contradict"),
    (["--hec-url", "host:8088"], {"SPLUNK_PASSWORD": "x"}, "is not an http(s)://host:port URL"),
    (["--server-app-dir", "/srv/apps"], {"SPLUNK_PASSWORD": "x"}, "--server-app-dir needs --stage-dir"),
    (["--hec-url", "https://admin:pw@h:8088"], {"SPLUNK_PASSWORD": "x"}, "credentials do not belong in a URL"),
], ids=["no-password", "missing-app", "bad-app", "tls-options", "bad-url", "server-dir", "url-credentials"])
def test_usage_errors_exit_2_before_contacting_splunk(argv, env, message, pack, monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    not_a_package = tmp_path / "addon.tgz"
    not_a_package.write_text("plain text")
    argv = [str(not_a_package) if a == "NOT_A_PACKAGE" else a for a in argv]
    outcome = run_cli(["--content", str(pack), "--splunk-url", "http://127.0.0.1:9", *argv], monkeypatch, capsys, env)
    assert outcome.code == 2
    assert message in outcome.stderr and len(outcome.stderr.strip().splitlines()) == 1


def test_the_password_is_asked_for_on_a_terminal(harness, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    asked = []
    monkeypatch.setattr(sys, "stdin", Terminal())
    monkeypatch.setattr("getpass.getpass", lambda prompt: asked.append(prompt) or PASSWORD)
    monkeypatch.delenv("SPLUNK_PASSWORD", raising=False)
    outcome = harness(env={"SPLUNK_PASSWORD": ""})
    assert outcome.code == 0, outcome.stderr
    assert asked == ["Splunk password: "]


def test_broken_content_is_invalid_input(harness, pack, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(pack, broken)
    (broken / TEST_DIR / "positive_sysmon.xml.log").unlink()
    outcome = harness(content=broken)
    assert outcome.code == 2
    assert "positive_sysmon.xml.log" in outcome.stderr


@pytest.mark.parametrize("failure", BUILD_FAILURES)
def test_a_valid_pack_whose_app_cannot_be_built_exits_1_as_every_command_does(harness, state, monkeypatch, tmp_path,
                                                                              failure):
    """The build comes before Splunk is reached: a build that fails (packaging, here SOURCE_DATE_EPOCH; rendering;
    a value the conf writer refuses) ends the run as it ends every command that builds (test_cli): exit 1,
    ``build failed: <reason>`` (not an unexpected error and exit 3, nor invalid input and exit 2), nothing sent
    or installed, no temporary folder left, and the JUnit report saying why."""
    import tempfile
    import xml.etree.ElementTree as ET

    breaks, expected = BUILD_FAILURES[failure]
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    breaks(monkeypatch)
    outcome = harness()
    assert outcome.code == 1, outcome.stderr
    lines = outcome.stderr.splitlines()
    assert lines[0].startswith("splunk-test: build: building ")
    assert said_as(lines[1:], expected), outcome.stderr
    assert "DA-ESS-DetPack" not in state.apps and state.hec_requests == 0
    only_main_left(state)
    assert list(temporary.iterdir()) == []
    [case] = ET.parse(tmp_path / "junit.xml").getroot().iter("testcase")
    assert case.find("error").get("message") == lines[1]


def test_a_build_that_failed_on_a_secret_does_not_print_it(harness, monkeypatch, tmp_path):
    """``build failed: ...`` is printed as every command prints it, but through the run's redaction as every
    other line of splunk-test: here the reason quotes SOURCE_DATE_EPOCH, set to the password by mistake."""
    outcome = harness(env={"SOURCE_DATE_EPOCH": PASSWORD})
    assert outcome.code == 1, outcome.stderr
    assert outcome.stderr.splitlines()[1] == "build failed: SOURCE_DATE_EPOCH: '***' is not a whole number of seconds " \
                                             "since 1970 (0 to 8589934591)"
    assert PASSWORD not in outcome.stderr and PASSWORD not in (tmp_path / "junit.xml").read_text()


def test_a_junit_report_that_cannot_be_written_is_one_line_and_exit_2_after_cleanup(harness, state, tmp_path):
    """``--junit`` under a file: the run still cleans up, then says so on one line (exit 2), not with a traceback."""
    (tmp_path / "file").write_text("")
    junit = tmp_path / "file" / "junit.xml"
    outcome = harness("--detection", "script_execution_via_wmi", "--junit", str(junit))
    assert outcome.code == 2, outcome.stderr
    assert outcome.stderr.splitlines()[-1] == (f"splunk-test: error: --junit {junit}: cannot be written: File exists: "
                                               f"{tmp_path / 'file'}")
    assert "Traceback" not in outcome.stderr
    only_main_left(state)


def test_a_junit_report_where_a_folder_is_names_the_path_given_not_a_temporary_file(harness, state, tmp_path):
    junit = tmp_path / "reports"
    junit.mkdir()
    outcome = harness("--detection", "script_execution_via_wmi", "--junit", str(junit))
    assert outcome.code == 2, outcome.stderr
    assert outcome.stderr.splitlines()[-1] == f"splunk-test: error: --junit {junit}: cannot be written: Is a directory"
    assert list(junit.iterdir()) == []
    only_main_left(state)


def test_remote_attack_data_is_invalid_input_before_anything_is_sent(harness, state, pack, tmp_path):
    remote = tmp_path / "remote"
    shutil.copytree(pack, remote)
    detection = remote / "detections" / "endpoint" / "script_execution_via_wmi.yml"
    detection.write_text(detection.read_text().replace(f"data: {TEST_DIR}/positive_sysmon.xml.log",
                                                       "data: https://example.test/positive_sysmon.xml.log"))
    outcome = harness(content=remote)
    assert outcome.code == 2, outcome.stderr
    assert "https://example.test/positive_sysmon.xml.log: remote attack data" in outcome.stderr
    assert state.hec_requests == 0
    only_main_left(state)


@pytest.fixture(scope="module")
def certificate() -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (valid until 2126) and its key, made for these tests only."""
    folder = Path(__file__).resolve().parent / "splunk_double" / "tls"
    return folder / "cert.pem", folder / "key.pem"


@pytest.fixture
def tls_splunk(state, certificate):
    import ssl
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    with SplunkDouble(state, context) as double:
        yield double


@pytest.mark.parametrize("trust, code", [([], 3), (["--ca-file", "CERT"], 0), (["--insecure"], 0)],
                         ids=["untrusted", "ca-file", "insecure"])
def test_tls_is_verified_unless_told_otherwise(tls_splunk, certificate, trust, code, pack, cim, monkeypatch, capsys):
    trust = [str(certificate[0]) if t == "CERT" else t for t in trust]
    outcome = run_cli(["--content", str(pack), "--splunk-url", tls_splunk.rest_url, "--hec-url", tls_splunk.hec_url,
                       "--app", str(cim), *FAST, *trust], monkeypatch, capsys, {"SPLUNK_PASSWORD": PASSWORD})
    assert outcome.code == code, outcome.stderr
    if code:
        assert "pass --ca-file FILE, or --insecure" in outcome.stderr


@pytest.mark.parametrize("mode", [[], ["--es"], ["--as-scheduled"], ["--es", "--as-scheduled"]],
                         ids=["default", "es", "as-scheduled", "es-as-scheduled"])
def test_the_projects_own_pack_and_attack_data(harness, state, mode, tmp_path):
    """The shipped detection, against the double in its stock configuration (with ES for --es)."""
    if not (PROJECT_ROOT / TEST_DIR).is_dir() or not any((PROJECT_ROOT / TEST_DIR).iterdir()):
        pytest.skip(f"the project's attack data is not there yet: {PROJECT_ROOT / TEST_DIR}")
    if "--es" in mode:
        state.install_es()
    outcome = harness(*mode, content=PROJECT_ROOT)
    assert outcome.code == 0, outcome.stderr
    if mode == ["--es"]:
        assert outcome.stderr.count("splunk-test: es: risk events ") == 5 and "ES " not in outcome.stderr
    if "--as-scheduled" in mode:
        assert_shipped_tests_as_scheduled(outcome.stderr, tmp_path / "junit.xml")
        unchecked = "its risk events and notables were not checked either"
        assert (unchecked in outcome.stderr) == ("--es" in mode)
    else:
        assert "5 of 5 test(s) passed in Splunk" in outcome.stderr
    only_main_left(state)


@pytest.mark.parametrize("mode", [["--as-scheduled"], ["--es", "--as-scheduled"]], ids=["as-scheduled", "es-as-scheduled"])
def test_runs_placed_just_before_a_whole_minute_have_the_windows_splunk_computes(harness, state, mode, tmp_path):
    """Each time the harness reads the server's clock it is 59.6 s past a minute: a run's ``dispatch.now``,
    sent in whole seconds, must not reach Splunk as the next minute, or its ``-70m@m`` window starts a minute
    later than offline and the event placed 30 s inside the window's start is found offline only."""
    if not (PROJECT_ROOT / TEST_DIR).is_dir() or not any((PROJECT_ROOT / TEST_DIR).iterdir()):
        pytest.skip(f"the project's attack data is not there yet: {PROJECT_ROOT / TEST_DIR}")
    if "--es" in mode:
        state.install_es()
    state.faults.clock_read_at = 59.6
    outcome = harness(*mode, content=PROJECT_ROOT)
    assert outcome.code == 0, outcome.stderr
    assert_shipped_tests_as_scheduled(outcome.stderr, tmp_path / "junit.xml")
    only_main_left(state)


def assert_shipped_tests_as_scheduled(stderr: str, junit: Path) -> None:
    """The shipped positive tests' events span two hours: the runs of the hourly schedule cover them all. The
    Sysmon test's three groups fit the runs (its declared 3 results hold); in the 4688 test one host's two
    events lie 90 minutes apart, so the runs give a result each where the declared 2 count them as one: that
    test is reported skipped with the reason, never as a plain pass."""
    schedule = [line for line in stderr.splitlines() if "splunk-test: schedule:" in line]
    assert len(schedule) == 5, schedule
    assert "of 3 consecutive runs (all 4 the detection should find)" in schedule[0]
    assert "of 2 consecutive runs (all 3 the detection should find)" in schedule[1]
    assert "rows: installed 3, raw 3, offline 3" in stderr
    assert "4 of 5 test(s) passed in Splunk, 0 failed, 0 could not be run, 1 skipped" in stderr
    report = junit.read_text()
    assert 'skipped="1"' in report and "2 result(s) declared over all events; events of one group lie farther " \
        "apart than one window, so the scheduled runs give 3, in Splunk as offline" in report


def test_a_real_third_party_dataset(harness, state, shared_datasets, tmp_path):
    """OTRF's Covenant WMI recording (read in place, not copied): Sysmon sees scrcons.exe start once."""
    content = write_pack(tmp_path / "otrf")
    target = content / TEST_DIR / "positive_sysmon.xml.log"
    target.unlink()
    target.symlink_to(shared_datasets / "otrf_covenant_wmi_asec" / "sysmon.xml.log")
    outcome = harness("--detection", "script_execution_via_wmi", content=content)
    assert outcome.code == 0, outcome.stderr
    assert "send: 2951 event(s)" in outcome.stderr
    assert "rows: installed 1, raw 1, offline 1" in outcome.stderr


@pytest.fixture
def open_stage():
    """A staging folder other users can read, as splunkd (another user) must (fact 16); pytest's own are 0700."""
    import tempfile
    folder = Path(tempfile.mkdtemp(prefix="detpack-test-stage-"))
    folder.chmod(0o755)
    yield folder / "stage"
    shutil.rmtree(folder, ignore_errors=True)


class StandInContainer:
    """What the Docker SDK returns for ``containers.run``, publishing the TLS double's ports. Its health check
    reports ``starting`` for the first ``starting`` reads, then ``healthy`` (fact 18)."""

    def __init__(self, double, starting: int = 2):
        port = lambda url: [{"HostPort": url.rsplit(":", 1)[1]}]  # noqa: E731
        self.ports = {"8089/tcp": port(double.rest_url), "8088/tcp": port(double.hec_url)}
        self.state = double.state
        self.starting = starting
        self.logins_while_starting = 0
        self.health_reads = 0
        self.attrs = {"NetworkSettings": {"Ports": self.ports}, "State": {"Status": "running"}}
        self.removed = False
        self.interrupt_reload = False

    def reload(self):
        if self.interrupt_reload:
            raise KeyboardInterrupt
        self.health_reads += 1
        status = "starting" if self.health_reads <= self.starting else "healthy"
        if status == "starting":
            self.logins_while_starting = self.state.logins
        self.attrs["State"]["Health"] = {"Status": status}

    def remove(self, force, v):
        self.removed = force and v


class StandInDocker:
    """Also plays the image's provisioning: ``SPLUNK_HEC_TOKEN`` becomes a token HEC accepts (fact 19)."""

    def __init__(self, double, starting: int = 2):
        self.containers = self
        self.started = StandInContainer(double, starting)
        self.environment = {}
        self.closed = False

    def run(self, image, environment, volumes, **kwargs):
        self.environment, self.volumes = environment, volumes
        if "SPLUNK_HEC_TOKEN" in environment:
            state = self.started.state
            state.tokens[environment["SPLUNK_HEC_TOKEN"]] = {"name": "splunk_hec_token", "index": "main",
                                                             "indexes": [], "useACK": False}
        return self.started

    def close(self):
        self.closed = True


def run_container(docker, stage, pack, cim, monkeypatch, capsys, *extra, env=None):
    from detpack.splunk import harness as module

    monkeypatch.setattr(module, "docker_client", lambda: docker)
    monkeypatch.setattr(module, "SERVER_APP_DIR", str(stage))  # the double reads the mount's host side
    return run_cli(["--content", str(pack), "--container", "--insecure", "--stage-dir", str(stage),
                    "--app", str(cim), *FAST, *extra], monkeypatch, capsys, {"SPLUNK_PASSWORD": PASSWORD, **(env or {})})


def test_container_flow_starts_installs_from_the_mount_and_removes_the_container(
        tls_splunk, state, pack, cim, monkeypatch, capsys, open_stage):
    docker = StandInDocker(tls_splunk)
    outcome = run_container(docker, open_stage, pack, cim, monkeypatch, capsys)
    assert outcome.code == 0, outcome.stderr
    assert "splunk-test: container: starting splunk/splunk:" in outcome.stderr
    assert docker.environment["SPLUNK_PASSWORD"] == PASSWORD and PASSWORD not in outcome.stderr
    assert docker.started.removed and docker.closed
    assert set(state.apps) == {"DA-ESS-DetPack", "Splunk_SA_CIM"}
    only_main_left(state)


def test_the_container_is_ready_when_healthy_not_when_login_works(tls_splunk, state, pack, cim, monkeypatch, capsys,
                                                                  open_stage):
    """Fact 18: REST answers while provisioning runs; nothing is done before Docker says healthy."""
    docker = StandInDocker(tls_splunk, starting=3)
    outcome = run_container(docker, open_stage, pack, cim, monkeypatch, capsys, "--detection", "script_execution_via_wmi")
    assert outcome.code == 0, outcome.stderr
    assert docker.started.health_reads >= 4 and docker.started.logins_while_starting == 0
    assert "container: container starting, waiting until healthy" in outcome.stderr
    assert "container: container is healthy" in outcome.stderr


def test_a_container_never_healthy_stops_at_its_bound(tls_splunk, state, pack, cim, monkeypatch, capsys, open_stage):
    docker = StandInDocker(tls_splunk, starting=10**9)
    outcome = run_container(docker, open_stage, pack, cim, monkeypatch, capsys, "--ready-timeout", "0.2")
    assert outcome.code == 3, outcome.stderr
    assert "the Splunk container is still starting after 0.2 s" in outcome.stderr
    assert state.logins == 0 and docker.started.removed


def test_a_hec_token_given_with_container_is_passed_to_the_container(tls_splunk, state, pack, cim, monkeypatch, capsys,
                                                                      open_stage):
    """Fact 19: the image's SPLUNK_HEC_TOKEN is the token HEC accepts; without it the new Splunk never learns it."""
    docker = StandInDocker(tls_splunk)
    token = "11111111-2222-3333-4444-555555555555"
    outcome = run_container(docker, open_stage, pack, cim, monkeypatch, capsys, "--detection", "script_execution_via_wmi",
                            env={"SPLUNK_HEC_TOKEN": token})
    assert outcome.code == 0, outcome.stderr
    assert docker.environment["SPLUNK_HEC_TOKEN"] == token and token not in outcome.stderr


def test_a_container_interrupted_right_after_it_started_is_removed(tls_splunk, pack, monkeypatch, capsys, open_stage):
    from detpack.splunk import harness as module

    docker = StandInDocker(tls_splunk)
    docker.started.interrupt_reload = True  # Ctrl-C before its ports are known
    monkeypatch.setattr(module, "docker_client", lambda: docker)
    outcome = run_cli(["--content", str(pack), "--container", "--insecure", "--stage-dir", str(open_stage)],
                      monkeypatch, capsys, {"SPLUNK_PASSWORD": PASSWORD})
    assert outcome.code == 130, outcome.stderr
    assert docker.started.removed and docker.closed


# -- the rules of a stock splunkd the harness must follow (each test fails on a harness ignoring its rule) --------

def test_a_disabled_saved_search_is_refused_by_the_double(splunk, state, pack, tmp_path, readable_copy):
    """Fact 1: "You cannot run a disabled search." The shipped search is disabled."""
    from detpack.build.app import build_app

    build = build_app(pack, tmp_path / "build", sync_committed=False)
    state.install(readable_copy(build.package))
    state.indexes["main"].append(_stored("<Event/>"))
    from splunk_double.state import SavedSearchDisabled
    with pytest.raises(SavedSearchDisabled):
        state.dispatch("DA-ESS-DetPack", STANZA, "admin", "0", "now", False)
    state.update_saved_search("DA-ESS-DetPack", STANZA, {"disabled": "0"})
    assert state.dispatch("DA-ESS-DetPack", STANZA, "admin", "0", "now", False).error == ""


@pytest.fixture
def readable_copy():
    """Copies a package into a folder every user can read, as the double requires of what it installs
    (splunkd runs as another user); pytest's own temporary folders are their owner's alone. The
    folders go when the test ends."""
    import tempfile

    folders = []

    def copy(package: Path) -> Path:
        folders.append(Path(tempfile.mkdtemp(prefix="detpack-pkg-")))
        folders[-1].chmod(0o755)
        return Path(shutil.copy(package, folders[-1] / package.name))

    yield copy
    for folder in folders:
        shutil.rmtree(folder)


def test_the_saved_search_runs_as_the_user_not_its_owner(harness, state, monkeypatch):
    """Fact 2: dispatchAs defaults to owner (nobody, who has no test index); a harness not setting
    dispatchAs=user finds no rows. The run sets it and puts it back."""
    dispatched = []
    original = state.dispatch
    monkeypatch.setattr(state, "dispatch", lambda app, name, *a: dispatched.append(
        dict(state.saved_search(app, name))) or original(app, name, *a))
    outcome = harness("--detection", "script_execution_via_wmi")
    assert outcome.code == 0, outcome.stderr
    assert dispatched and all(s["dispatchAs"] == "user" and s["disabled"] == "0" and s["enableSched"] == "0"
                              and s["cron_schedule"] == "0 * * * *" for s in dispatched)
    only_main_left(state)
    # only what was changed was put back into local/: the cron was never touched
    assert state.saved_local[("DA-ESS-DetPack", STANZA)] == {"enableSched": "1", "dispatchAs": "owner",
                                                             "disabled": "1"}


def test_a_search_left_on_the_scheduler_cannot_run_as_the_user(harness, state, monkeypatch):
    """Scheduled reports must run as their owner (Splunk Web; *unverified* for REST): a harness that makes the
    search run as the user without taking it off the scheduler is refused by the double."""
    from detpack.splunk import harness as module
    monkeypatch.setattr(module, "SAVED_SEARCH_CHANGES", {"dispatchAs": "user"})
    outcome = harness("--detection", "script_execution_via_wmi")
    assert outcome.code == 3, outcome.stderr
    assert "Scheduled reports must Run as Owner." in outcome.stderr
    only_main_left(state)


def test_a_refused_change_leaves_nothing_in_local(harness, state, monkeypatch):
    """A change splunkd refused is not 'restored': local/ receives only what the run really changed."""
    from detpack.splunk import harness as module
    monkeypatch.setattr(module, "SAVED_SEARCH_CHANGES", {**module.SAVED_SEARCH_CHANGES, "no_such_key": "1"})
    monkeypatch.setitem(module.SAVED_SEARCH_DEFAULTS, "no_such_key", "0")
    outcome = harness("--detection", "script_execution_via_wmi")
    assert outcome.code == 3, outcome.stderr
    assert state.saved_local[("DA-ESS-DetPack", STANZA)] == {"enableSched": "1", "dispatchAs": "owner"}
    only_main_left(state)


def test_a_saved_search_restore_that_does_not_hold_fails_the_run(harness, state, monkeypatch):
    """The restore is read back: a splunkd that kept the search off the scheduler is reported, exit 3."""
    original = state.update_saved_search
    monkeypatch.setattr(state, "update_saved_search", lambda app, name, keys: original(
        app, name, {k: v for k, v in keys.items() if (k, v) != ("enableSched", "1")}))
    outcome = harness("--detection", "script_execution_via_wmi")
    assert outcome.code == 3, outcome.stderr
    assert "saved search 'DetPack - Script Execution via WMI - Rule' not restored: enableSched='0' (was '1')" \
        in outcome.stderr


def test_a_role_restore_that_does_not_hold_fails_the_run(harness, state, monkeypatch):
    from splunk_double.server import DoubleHTTPServer
    original = DoubleHTTPServer.roles

    def sticky(self, method, role, params):
        if method == "POST" and params.get("srchIndexesDefault") == [""]:
            params = {}
        return original(self, method, role, params)

    monkeypatch.setattr(DoubleHTTPServer, "roles", sticky)
    outcome = harness("--detection", "script_execution_via_wmi")
    assert outcome.code == 3, outcome.stderr
    assert "role admin: srchIndexesDefault not restored" in outcome.stderr


def test_a_hec_token_that_cannot_be_deleted_is_reported_as_a_leak(harness, state, monkeypatch):
    """Fact 8: the entity is http://<name>; a 404 on delete means the token is still there, not "gone"."""
    monkeypatch.setattr(state, "delete_token", lambda entity: False)
    outcome = harness("--detection", "script_execution_via_wmi")
    assert outcome.code == 3, outcome.stderr
    assert "delete HEC token http://detpack_" in outcome.stderr and "may be left on the server" in outcome.stderr
    assert len(state.tokens) == 3, "one token per test, none deleted"


def test_packages_staged_where_splunkd_cannot_read_are_refused(harness, state, tmp_path):
    """Fact 16: splunkd reads the package as its own user; pytest's tmp_path is 0700."""
    outcome = harness("--stage-dir", str(tmp_path / "stage"))
    assert outcome.code == 2, outcome.stderr
    assert "splunkd reads the packages as its own user, but other users cannot enter or read" in outcome.stderr
    assert state.apps == {}


def test_the_double_refuses_a_package_other_users_cannot_read(state, pack, tmp_path):
    from splunk_double.state import AppPackageError
    package = cim_addon(tmp_path)
    with pytest.raises(AppPackageError, match="Permission denied"):
        state.install(package)


def test_an_error_message_beside_results_is_reported_and_the_test_still_passes(harness, state):
    """Fact 13: fail on isFailed or FATAL only; report ERRORs."""
    state.faults.job_messages = [{"type": "ERROR", "text": "automatic lookup failed on peer idx2"}]
    outcome = harness("--detection", "script_execution_via_wmi")
    assert outcome.code == 0, outcome.stderr
    assert "Splunk reported ERROR: automatic lookup failed on peer idx2" in outcome.stderr


def test_a_fatal_message_fails_the_test_as_infrastructure(harness, state):
    state.faults.job_messages = [{"type": "FATAL", "text": "search process died"}]
    outcome = harness("--detection", "script_execution_via_wmi")
    assert outcome.code == 3, outcome.stderr
    assert "search process died" in outcome.stderr
    only_main_left(state)


def test_hec_refusing_a_new_index_for_a_moment_is_waited_out(harness, state):
    """Fact 11 (unverified): HEC answers "Incorrect index" until it reloads its index list."""
    state.faults.new_index_hec_lag = 0.3
    outcome = harness("--detection", "script_execution_via_wmi")
    assert outcome.code == 0, outcome.stderr
    only_main_left(state)


def test_an_existing_server_gets_30_seconds_and_a_container_its_start_up_bound():
    from detpack.cli import make_parser, splunk_test_arguments
    from detpack.splunk.harness import options_from_args

    def options(*argv):
        return splunk_test_arguments(make_parser().parse_args(["splunk-test", *argv]))

    existing = options_from_args(options("--splunk-url", "https://h:8089"), {"SPLUNK_PASSWORD": "x"})
    container = options_from_args(options("--container"), {})
    assert (existing.connect_timeout, container.connect_timeout) == (30.0, 300.0)


@pytest.mark.parametrize("url, cause", [("http://127.0.0.1:PORT", "ConnectionRefusedError"),
                                        ("http://no-such-host.invalid:8089", "gaierror")], ids=["refused", "unknown-host"])
def test_an_unreachable_splunk_fails_within_its_bound_naming_url_and_cause(pack, monkeypatch, capsys, url, cause):
    import time
    from detpack.splunk import harness as module

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = url.replace("PORT", str(probe.getsockname()[1]))
    monkeypatch.setattr(module, "EXISTING_SERVER_WAIT", 0.5)
    started = time.monotonic()
    outcome = run_cli(["--content", str(pack), "--splunk-url", url, "--poll-interval", "0.1"],
                      monkeypatch, capsys, {"SPLUNK_PASSWORD": PASSWORD})
    assert outcome.code == 3, outcome.stderr
    assert time.monotonic() - started < 10
    assert f"connect: no answer yet from {url} ({cause}" in outcome.stderr
    failure = [line for line in outcome.stderr.splitlines() if "infrastructure failure" in line]
    assert len(failure) == 1 and f"Splunk at {url} did not answer within 0.5 s: {cause}" in failure[0]


# -- --es: the risk and notable events (facts 20-22) ------------------------------------------------------------

def test_es_without_enterprise_security_is_one_line_and_exit_2(harness, state):
    outcome = harness("--es")
    assert outcome.code == 2, outcome.stderr
    errors = [line for line in outcome.stderr.splitlines() if "error" in line]
    assert errors == [f"splunk-test: error: --es: Enterprise Security is not installed on {state_url(outcome)} "
                      "(no app SplunkEnterpriseSecuritySuite)"]
    assert state.hec_requests == 0 and "DA-ESS-DetPack" not in state.apps


def state_url(outcome) -> str:
    return outcome.stderr.split("waiting for Splunk at ", 1)[1].split(" ", 1)[0]


def test_es_checks_the_risk_events_and_the_notable_of_each_result(harness, state):
    state.install_es()
    outcome = harness("--es")
    assert outcome.code == 0, outcome.stderr
    assert outcome.stderr.count("splunk-test: es: risk events 2, notables 1") == 2
    risk = sorted((e.fields["risk_object"], e.fields["risk_object_type"], e.fields["risk_score"])
                  for e in state.indexes["risk"] if "ws01" in e.fields["risk_message"])
    assert risk == [("EXAMPLE\\alice", "user", "36"), ("ws01.example.test", "system", "36")]
    messages = {e.fields["risk_message"] for e in state.indexes["risk"]}
    assert "A wmic.exe process scrcons.exe that execute script in host ws01.example.test" in messages
    notable = next(e.fields for e in state.indexes["notable"] if e.fields.get("dest") == "ws01.example.test")
    assert (notable["rule_title"], notable["severity"], notable["security_domain"]) == (
        "Script Execution via WMI", "low", "endpoint")
    only_main_left(state)


def test_es_reports_risk_events_that_differ_from_the_package(harness, state, monkeypatch):
    state.install_es()
    original = state._es_actions

    def wrong_score(name, stanza, job):
        original(name, {**stanza, "action.risk.param._risk": stanza["action.risk.param._risk"].replace("36", "12")}, job)

    monkeypatch.setattr(state, "_es_actions", wrong_score)
    outcome = harness("--es", "--detection", "script_execution_via_wmi")
    assert outcome.code == 1, outcome.stderr
    assert "ES risk event: risk_object='ws01.example.test' has risk_object_type='system', risk_score='12'; " \
        "declared 'system', '36'" in outcome.stderr


def test_es_risk_and_notable_counts_are_warnings_not_failures(harness, state, monkeypatch):
    """How many risk events and notables ES writes per result row is unverified (contentctl does not count
    them): a second copy of each is a warning; a missing risk object or an unfilled token fails."""
    state.install_es()
    original = state._es_actions
    monkeypatch.setattr(state, "_es_actions", lambda name, stanza, job: [original(name, stanza, job) for _ in "12"])
    outcome = harness("--es", "--detection", "script_execution_via_wmi")
    assert outcome.code == 0, outcome.stderr
    assert "splunk-test: warning: ES risk events for risk_object='ws01.example.test': 2, expected 1 " \
        "(one per result row: *unverified*)" in outcome.stderr
    assert "splunk-test: warning: ES notables: 2 found, 1 expected" in outcome.stderr


def test_es_checks_fail_on_missing_objects_and_unfilled_tokens():
    from detpack.splunk.es import EsExpectations, check_risk_events

    stanza = {"action.risk": "1", "action.risk.param._risk_message": "Process $process_name$ on $dest$",
              "action.risk.param._risk": '[{"risk_object_field": "dest", "risk_object_type": "system", '
                                         '"risk_score": 36}, {"risk_object_field": "user", '
                                         '"risk_object_type": "user", "risk_score": 36}]'}
    expected = EsExpectations.from_stanza(stanza, [{"dest": "h1", "user": "u1", "process_name": "p.exe"}])
    found = [{"risk_object": "h1", "risk_object_type": "system", "risk_score": "36",
              "risk_message": "Process $process_name$ on h1"},
             {"risk_object": "h1", "risk_object_type": "system", "risk_score": "36.0",
              "risk_message": "Something else"}]
    findings = check_risk_events(expected, found, stanza["action.risk.param._risk_message"])
    assert findings.failures == [
        "ES risk event: no risk event for risk_object='u1' (user, score 36)",
        "ES risk event: risk_message 'Process $process_name$ on h1' has a token left unfilled",
        "ES risk event: risk_message 'Something else' does not match the declared 'Process $process_name$ on $dest$'"]
    assert findings.warnings == ["ES risk events for risk_object='h1': 2, expected 1 (one per result row: "
                                 "*unverified*)"]


def test_es_needs_the_actions_triggered(harness, state, monkeypatch):
    """Fact 3: without trigger_actions=1 no risk or notable event is written; the check sees that."""
    from splunk_double.server import DoubleHTTPServer
    original = DoubleHTTPServer.saved

    def untriggered(self, app, name, action, method, user, one):
        return original(self, app, name, action, method, user,
                        {**one, "trigger_actions": "0"} if action == "dispatch" else one)

    state.install_es()
    monkeypatch.setattr(DoubleHTTPServer, "saved", untriggered)
    outcome = harness("--es", "--detection", "script_execution_via_wmi", "--search-timeout", "0.2")
    assert outcome.code == 1, outcome.stderr
    assert "ES notable: no notable for this search with rule_title='Script Execution via WMI', severity='low', " \
        "security_domain='endpoint'" in outcome.stderr


def test_es_drilldowns_must_run_as_es_runs_them():
    from detpack.splunk.es import EsExpectations, check_notables

    stanza = {"action.notable": "1", "action.notable.param.rule_title": "t", "action.notable.param.severity": "low",
              "action.notable.param.security_domain": "endpoint", "action.notable.param.nes_fields": "dest",
              "action.notable.param.drilldown_searches":
                  '[{"name": "d $dest$", "search": "%original_detection_search% | search user=$user$"}]'}
    expected = EsExpectations.from_stanza(stanza, [{"dest": "h1"}])
    failures = check_notables(expected, [{"rule_title": "t", "severity": "low", "security_domain": "endpoint",
                                          "dest": "h1"}]).failures
    assert failures == ["ES drilldown 'd $dest$': %original_detection_search% is left in its search, and ES does "
                        "not substitute it", "ES drilldown 'd $dest$': token(s) $user$ have no value in the notable"]
    # a result field outside nes_fields is in the notable too (ES keeps the result's fields): not reported
    assert check_notables(expected, [{"rule_title": "t", "severity": "low", "security_domain": "endpoint",
                                      "dest": "h1"}], ["dest", "user"]).failures == failures[:1]


# -- --as-scheduled: the search's own window --------------------------------------------------------------------

def test_as_scheduled_moves_the_events_into_the_window_and_dispatches_over_it(harness, state):
    import time
    dispatched = []
    original = state.dispatch
    state.dispatch = lambda app, name, user, earliest, latest, trigger, at: dispatched.append((earliest, latest)) or \
        original(app, name, user, earliest, latest, trigger, at)
    outcome = harness("--as-scheduled", "--keep")
    assert outcome.code == 0, outcome.stderr
    assert "rows: installed 1, raw 1, offline 1" in outcome.stderr
    assert dispatched and set(dispatched) == {(None, None)}, "dispatched with the search's own time range"
    now = time.time()
    indexes = sorted(n for n in state.indexes if n.startswith("detpack_"))
    for name in indexes:  # the events the detection finds lie inside one run; none lies in the future
        found = [e.time for e in state.indexes[name] if "scrcons.exe'" in e.raw or "scrcons.exe<" in e.raw]
        assert all(now - 70 * 60 - 60 <= t < now - 10 * 60 for t in found)
        assert max(e.time for e in state.indexes[name]) < now
    # the Sysmon test's events are at minutes 1, 40, 41 and 42 of their hour: the spacing is kept
    sysmon_times = sorted(e.time for e in state.indexes[indexes[0]])
    assert [b - a for a, b in zip(sysmon_times, sysmon_times[1:])] == [39 * 60.0, 60.0, 60.0]


def test_events_left_at_their_own_time_are_outside_the_shipped_window(harness, state):
    """Without moving the events, the shipped search over -70m@m..-10m@m finds nothing (a harness ignoring
    the window fails)."""
    import time
    from splunk_double.state import time_bound
    event_time = 1714557660.25
    now = time.time()
    assert not time_bound("-70m@m", 0, now) <= event_time < time_bound("-10m@m", 0, now)


# -- the double on its own --------------------------------------------------------------------------------------

def test_the_standalone_double_prints_its_urls_and_credentials_and_serves_splunk_test(pack, monkeypatch, capsys):
    import os
    import signal
    import subprocess

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "tests.splunk_double", "--port", str(port), "--hec-port", "0",
                                "--cim", "--es"], cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)})
    try:
        lines = [process.stdout.readline().strip() for _ in range(4)]
        assert lines[0] == "splunk_double: a TEST DOUBLE of splunkd and HEC, not Splunk"
        assert lines[1] == f"--splunk-url http://127.0.0.1:{port}" and lines[2].startswith("--hec-url http://127.0.0.1:")
        password = lines[3].split("password ", 1)[1].split(" ", 1)[0]
        outcome = run_cli(["--content", str(pack), *lines[1].split(), *lines[2].split(), *FAST, "--es",
                           "--detection", "script_execution_via_wmi"], monkeypatch, capsys, {"SPLUNK_PASSWORD": password})
        assert outcome.code == 0, outcome.stderr
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


def test_events_that_left_the_window_before_the_search_ran_are_an_error_not_a_verdict(harness, state, monkeypatch):
    """--as-scheduled tolerates an indexing lag up to the time the events stay inside the window."""
    from dataclasses import replace

    from detpack.splunk import window
    monkeypatch.setattr("detpack.splunk.harness.place_in_window",
                        lambda *a: replace(window.place_in_window(*a), tolerance=0.0))
    outcome = harness("--as-scheduled", "--detection", "script_execution_via_wmi")
    assert outcome.code == 3, outcome.stderr
    assert "the events left the search's window before it ran" in outcome.stderr
    assert "rows:" not in outcome.stderr
    only_main_left(state)


def test_a_server_that_accepts_connections_but_never_answers_fails_within_the_bound(pack, monkeypatch, capsys):
    """A listener that never replies: each login attempt is bounded (by 10 s, here 0.25 s) and by what is left of
    the wait, and every failed attempt is shown."""
    import time
    from detpack.splunk import client, harness as module

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)  # the kernel completes the handshakes; nothing ever reads or answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        monkeypatch.setattr(module, "EXISTING_SERVER_WAIT", 1.2)
        monkeypatch.setattr(client, "ATTEMPT_TIMEOUT", 0.25)
        started = time.monotonic()
        outcome = run_cli(["--content", str(pack), "--splunk-url", url, "--poll-interval", "0.1"],
                          monkeypatch, capsys, {"SPLUNK_PASSWORD": PASSWORD})
        elapsed = time.monotonic() - started
    assert outcome.code == 3, outcome.stderr
    assert elapsed < 10, f"waited {elapsed:.0f} s for a bound of 1.2 s"
    assert f"connect: no answer yet from {url} (TimeoutError: timed out); trying again" in outcome.stderr
    failure = [line for line in outcome.stderr.splitlines() if "infrastructure failure" in line]
    assert len(failure) == 1 and f"Splunk at {url} did not answer within 1.2 s: " in failure[0]
    assert "timed out" in failure[0]


def test_an_html_answer_is_an_infrastructure_error_naming_the_call(harness, state, monkeypatch):
    """A 200 that is not JSON (a proxy's or portal's page) is named: call, URL, content type, its start."""
    from splunk_double.server import Answer, DoubleHTTPServer
    original = DoubleHTTPServer.rest_routes

    def portal(self, handler, method, path, params, body):
        if path.endswith("/server/info"):
            raise Answer(200, raw=b"<html><body>Sign in to the corporate portal</body></html>",
                         content_type="text/html; charset=utf-8")
        return original(self, handler, method, path, params, body)

    monkeypatch.setattr(DoubleHTTPServer, "rest_routes", portal)
    outcome = harness()
    assert outcome.code == 3, outcome.stderr
    failure = [line for line in outcome.stderr.splitlines() if "infrastructure failure" in line]
    assert len(failure) == 1, outcome.stderr
    assert "server info: http://127.0.0.1:" in failure[0] and "/services/server/info answered HTTP 200 with " \
        "text/html; charset=utf-8, not JSON: '<html><body>Sign in to the corporate portal</body></html>'" in failure[0]
    assert "JSONDecodeError" not in outcome.stderr


def test_an_error_without_a_json_body_names_its_status_once():
    from types import SimpleNamespace
    from splunklib import binding
    from detpack.splunk.client import _detail

    response = SimpleNamespace(status=400, reason="Bad Request", headers=[],
                               body=io.BytesIO(b"<response><messages><msg type='ERROR'>bad key</msg></messages></response>"))
    assert _detail(binding.HTTPError(response)) == "Bad Request -- bad key"


# -- lists and results are paged as splunkd pages them; unknown arguments are refused --------------------------

def _without_count(monkeypatch):
    """A client that forgets ``count=0`` (and so gets splunkd's default page)."""
    from detpack.splunk.client import SplunkClient
    original = SplunkClient._json
    monkeypatch.setattr(SplunkClient, "_json", lambda self, method, path, what, **params: original(
        self, method, path, what, **{k: v for k, v in params.items() if k != "count"}))


@pytest.mark.parametrize("forget_count", [False, True], ids=["count=0", "default-count"])
def test_an_app_beyond_the_first_30_listed_is_found_only_with_count_0(harness, state, monkeypatch, forget_count):
    """REST API reference, pagination: a collection GET returns 30 entries unless ``count`` says otherwise."""
    from splunk_double.state import App
    for n in range(40):
        state.apps[f"app_{n:02d}"] = App(f"app_{n:02d}", Path("/nonexistent"), {}, {}, set())
    if forget_count:
        _without_count(monkeypatch)
    outcome = harness("--detection", "script_execution_via_wmi", "--ready-timeout", "0.3")
    if forget_count:
        assert outcome.code == 3 and "apps DA-ESS-DetPack, Splunk_SA_CIM not all listed after install" in outcome.stderr
    else:
        assert outcome.code == 0, outcome.stderr


@pytest.mark.parametrize("forget_count, rows", [(False, 150), (True, 100)], ids=["count=0", "default-count"])
def test_job_results_beyond_100_come_only_with_count_0(splunk, state, monkeypatch, forget_count, rows):
    """REST API reference, search/jobs/{sid}/results: ``count`` defaults to 100 results."""
    from splunk_double.state import Job
    from detpack.splunk.client import SplunkClient, Target
    from detpack.splunk.retry import Backoff

    state.jobs["many"] = Job("many", 0.0, [{"n": str(i)} for i in range(150)], ["n"])
    if forget_count:
        _without_count(monkeypatch)
    client = SplunkClient(Target(splunk.rest_url, "admin", PASSWORD), Backoff(attempts=1))
    assert len(client.job_results("many").rows) == rows


def test_the_double_refuses_arguments_splunkd_does_not_know(splunk, state, pack, tmp_path, readable_copy):
    """splunkd answers 400 'Argument "x" is not supported by this handler.' for an unknown form field
    (splunk/terraform-provider-splunk issue #193); saved/searches takes savedsearches.conf.spec keys,
    authorization/roles the role keys of authorize.conf.spec."""
    from detpack.build.app import build_app
    from detpack.splunk import InfrastructureError
    from detpack.splunk.client import SplunkClient, Target
    from detpack.splunk.retry import Backoff
    from splunklib import binding

    build = build_app(pack, tmp_path / "build", sync_committed=False)
    state.install(readable_copy(build.package))
    client = SplunkClient(Target(splunk.rest_url, "admin", PASSWORD), Backoff(attempts=1))
    for wrong in ({"no_such_key": "1"}, {"dispatchas": "user"}):
        with pytest.raises(InfrastructureError, match=f'Argument "{next(iter(wrong))}" is not supported'):
            client.update_saved_search("DA-ESS-DetPack", STANZA, **wrong)
    client.update_saved_search("DA-ESS-DetPack", STANZA, enableSched="0", **{"dispatch.earliest_time": "-1h"})
    with pytest.raises(binding.HTTPError) as refused:
        client._json("post", "authorization/roles/admin", "role", srchIndexDefault="main")
    assert refused.value.status == 400 and b'Argument \\"srchIndexDefault\\" is not supported' in refused.value.body
    with pytest.raises(InfrastructureError, match="HTTP 400: In handler 'roles': index 'no_such_index' does not exist"):
        client.set_role_indexes("admin", ["*"], ["no_such_index"])
    assert state.roles["admin"]["srchIndexesDefault"] == []


def test_a_harness_sending_a_misspelled_key_fails_against_the_double(harness, state, monkeypatch):
    from detpack.splunk import harness as module
    monkeypatch.setattr(module, "SAVED_SEARCH_CHANGES", {**module.SAVED_SEARCH_CHANGES, "dispatchas": "user"})
    monkeypatch.setitem(module.SAVED_SEARCH_DEFAULTS, "dispatchas", "owner")
    outcome = harness("--detection", "script_execution_via_wmi")
    assert outcome.code == 3, outcome.stderr
    assert 'Argument "dispatchas" is not supported by this handler.' in outcome.stderr
    only_main_left(state)


# -- the server's clock, not this machine's --------------------------------------------------------------------

def _local_clock(monkeypatch):
    """A harness that computes windows and index times with its own clock."""
    import math
    import time
    from detpack.splunk.harness import Run
    monkeypatch.setattr(Run, "_server_now", lambda self, app: time.time())

    def next_local_second(self, app):
        since = math.floor(time.time()) + 1
        time.sleep(since - time.time())
        return float(since)
    monkeypatch.setattr(Run, "_next_server_second", next_local_second)


@pytest.mark.parametrize("mode", ["--as-scheduled", "--es"])
@pytest.mark.parametrize("offset", [-150.0, 150.0], ids=["server-behind", "server-ahead"])
def test_windows_and_index_times_follow_the_servers_clock(harness, state, mode, offset):
    """splunkd computes -10m@m and _index_earliest with its own clock: a clock 150 s apart changes nothing."""
    state.install_es()
    state.faults.clock_offset = offset
    outcome = harness(mode)
    assert outcome.code == 0, outcome.stderr
    assert "3 of 3 test(s) passed in Splunk" in outcome.stderr
    only_main_left(state)


@pytest.mark.parametrize("mode, message", [
    ("--as-scheduled", "fail: installed search: no results"),
    ("--es", "fail: ES notable: no notable for"),
])
def test_a_harness_using_its_own_clock_fails_against_a_server_behind_it(harness, state, monkeypatch, mode, message):
    state.install_es()
    state.faults.clock_offset = -150.0
    _local_clock(monkeypatch)
    outcome = harness(mode, "--detection", "script_execution_via_wmi", "--search-timeout", "0.3",
                      "--index-timeout", "0.5")
    assert outcome.code in (1, 3), outcome.stderr  # events in the server's future are not even searchable
    assert message in outcome.stderr


def test_the_standalone_double_on_port_0_picks_free_ports_for_both(monkeypatch):
    import os
    import signal
    import subprocess

    process = subprocess.Popen([sys.executable, "-m", "tests.splunk_double", "--port", "0"], cwd=PROJECT_ROOT,
                               stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)})
    try:
        lines = [process.stdout.readline().strip() for _ in range(3)]
        rest, hec = (int(line.rsplit(":", 1)[1]) for line in lines[1:3])
        assert rest > 1024 and hec > 1024 and rest != hec, lines
        with socket.create_connection(("127.0.0.1", hec), timeout=5):
            pass
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


def test_an_unreadable_automatic_staging_folder_does_not_blame_stage_dir(harness, state, monkeypatch, tmp_path):
    """Without --stage-dir the folder is the harness's own: the message says so and what to pass."""
    hidden = tmp_path / "private"
    hidden.mkdir(mode=0o700)
    monkeypatch.setattr("tempfile.tempdir", str(hidden))
    outcome = harness()
    assert outcome.code == 2, outcome.stderr
    assert f"the staging folder {hidden}/detpack-stage-" in outcome.stderr
    assert "(no --stage-dir given): splunkd reads the packages as its own user, but other users cannot enter or " \
        "read " in outcome.stderr and "(pass --stage-dir with a folder other users can enter)" in outcome.stderr
    assert "error: --stage-dir" not in outcome.stderr
    assert state.hec_requests == 0


def test_the_double_takes_what_splunk_sdk_sends_unchanged(splunk, state, pack, tmp_path, readable_copy):
    """splunk-sdk lists collections with count=-1 (splunklib client.py, null_count) and its
    SavedSearch.update() sends the search unchanged: the double answers both as in full and accepted."""
    import json

    from splunklib import client as sdk
    from splunklib.binding import HTTPError

    from detpack.build.app import build_app

    build = build_app(pack, tmp_path / "build", sync_committed=False)
    state.install(readable_copy(build.package))
    port = int(splunk.rest_url.rsplit(":", 1)[1])
    service = sdk.connect(host="127.0.0.1", port=port, scheme=splunk.rest_url.split(":", 1)[0],
                          username="admin", password=PASSWORD, app="DA-ESS-DetPack", owner="nobody")
    listed = json.loads(service.get("apps/local", count=-1, output_mode="json").body.read())
    assert "DA-ESS-DetPack" in [entry["name"] for entry in listed["entry"]]
    path = f"saved/searches/{STANZA}"  # splunk-sdk encodes the path
    search = state.saved_search("DA-ESS-DetPack", STANZA)["search"]
    service.post(path, description="kept as it was", search=search, output_mode="json")
    assert state.saved_search("DA-ESS-DetPack", STANZA)["description"] == "kept as it was"
    with pytest.raises(HTTPError) as refused:
        service.post(path, search=search + " | head 1", output_mode="json")
    assert refused.value.status == 400


def test_a_login_that_works_while_server_info_hangs_is_retried_by_the_bounded_loop_alone(harness, monkeypatch):
    """Within the wait for a server, each attempt is one login and one server/info request: a hanging
    server/info must not be retried inside the attempt, past the wait's bound."""
    import time

    from splunk_double.server import DoubleHTTPServer

    from detpack.splunk import client, harness as module

    calls = {"login": 0, "info": 0}
    original = DoubleHTTPServer.rest_routes

    def hanging_info(self, handler, method, path, params, body):
        if path.endswith("/auth/login"):
            calls["login"] += 1
        if path.endswith("/server/info"):
            calls["info"] += 1
            time.sleep(0.6)  # longer than an attempt may wait
        return original(self, handler, method, path, params, body)

    monkeypatch.setattr(DoubleHTTPServer, "rest_routes", hanging_info)
    monkeypatch.setattr(module, "EXISTING_SERVER_WAIT", 1.0)
    monkeypatch.setattr(client, "ATTEMPT_TIMEOUT", 0.2)
    outcome = harness()
    assert outcome.code == 3, outcome.stderr
    assert calls["login"] >= 1 and calls["info"] <= calls["login"], calls


def test_only_the_keys_that_differ_are_changed_and_restored(harness, state, monkeypatch):
    """A search already off the scheduler (enableSched = 0) keeps that key untouched: the run neither sets
    nor "restores" it, so nothing more lands in local/ than the run had to change."""
    from detpack.splunk.client import SplunkClient

    original_install, posted = state.install, []

    def install_off_the_scheduler(package):
        app = original_install(package)
        if app.name == "DA-ESS-DetPack":
            state.update_saved_search(app.name, STANZA, {"enableSched": "0"})
        return app

    def record(self, app, name, **keys):
        posted.append(keys)
        return original_update(self, app, name, **keys)

    original_update = SplunkClient.update_saved_search
    monkeypatch.setattr(state, "install", install_off_the_scheduler)
    monkeypatch.setattr(SplunkClient, "update_saved_search", record)
    outcome = harness("--detection", "script_execution_via_wmi")
    assert outcome.code == 0, outcome.stderr
    assert posted and all("enableSched" not in keys for keys in posted), posted
    assert state.saved_search("DA-ESS-DetPack", STANZA)["enableSched"] == "0"
