"""Shared fixtures: the project root, the shared datasets folder, small content packs."""
from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATASETS = PROJECT_ROOT.parent / "shared" / "datasets"
SECURITY_CONTENT = PROJECT_ROOT.parent / "shared" / "corpora" / "security_content-4.42.0.tar.gz"


@pytest.fixture(scope="session")
def security_content(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Splunk's security_content 4.42, extracted once per run (never into the project)."""
    if not SECURITY_CONTENT.is_file():
        pytest.skip(f"security_content corpus not present at {SECURITY_CONTENT}")
    work = tmp_path_factory.mktemp("corpus")
    with tarfile.open(SECURITY_CONTENT) as archive:
        archive.extractall(work, filter="data")
    return work / "security_content"


@pytest.fixture
def shared_datasets() -> Path:
    if not SHARED_DATASETS.is_dir():
        pytest.skip(f"third-party datasets not present at {SHARED_DATASETS}")
    return SHARED_DATASETS


@pytest.fixture
def pack_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A writable copy of the project's own content pack, as the working directory."""
    root = tmp_path / "pack"
    for name in ("detections", "stories", "macros", "attack_data"):
        if (PROJECT_ROOT / name).exists():
            shutil.copytree(PROJECT_ROOT / name, root / name)
    shutil.copy(PROJECT_ROOT / "contentctl.yml", root / "contentctl.yml")
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def state():
    """A fresh Splunk TEST DOUBLE state (tests/splunk_double), answering searches with the offline engine."""
    from splunk_double import SplunkState, offline_engine
    from splunk_double.pack import PASSWORD

    return SplunkState("admin", PASSWORD, offline_engine)


@pytest.fixture
def splunk(state):
    """The test double serving ``state`` on loopback for the duration of a test."""
    from splunk_double import SplunkDouble

    with SplunkDouble(state) as double:
        yield double


@pytest.fixture
def interrupt_as_signals_are_held(monkeypatch: pytest.MonkeyPatch):
    """``arm()``: from then on, the next call holding Ctrl-C and SIGTERM is interrupted as it returns,
    as by a Ctrl-C that came meanwhile (once); it returns the thread's mask before, put back after the test."""
    import signal

    real = signal.pthread_sigmask
    unheld = real(signal.SIG_BLOCK, ())

    def pthread_sigmask(how, mask):
        previous = real(how, mask)
        if how == signal.SIG_BLOCK and signal.SIGINT in set(mask):
            monkeypatch.setattr(signal, "pthread_sigmask", real)  # once
            raise KeyboardInterrupt
        return previous

    def arm():
        monkeypatch.setattr(signal, "pthread_sigmask", pthread_sigmask)
        return unheld

    yield arm
    real(signal.SIG_SETMASK, unheld)
