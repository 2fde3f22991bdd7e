"""Start a throw-away Splunk in Docker (``--container``) with the Docker SDK.

The image is pinned; the admin password is generated per run and only passed
to the container's environment; the management and HEC ports are published on
127.0.0.1 only, on free host ports. The folder holding the packages to install
is mounted read-only at ``SERVER_APP_DIR`` so that the REST install
(``apps/local`` with ``filename=true``) can read them inside the container.

The image answers REST while its provisioning still runs (HEC set-up, possibly a
final restart); it is ready when Docker reports its health check ``healthy``
(splunkd notes, fact 18), which ``wait_until_healthy`` waits for.
"""
from __future__ import annotations

import secrets
import string
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

SPLUNK_IMAGE = "splunk/splunk:9.3.2"
SERVER_APP_DIR = "/tmp/detpack-apps"
REST_PORT, HEC_PORT = "8089/tcp", "8088/tcp"


class ContainerUnavailable(Exception):
    """No Docker engine (or no Docker SDK): a usage problem on this machine, exit 2."""


class ContainerFailed(Exception):
    """Docker is there but the Splunk container could not be started: infrastructure, exit 3."""


def generate_password() -> str:
    """A password Splunk's default policy accepts (length, upper, lower, digit)."""
    alphabet = string.ascii_letters + string.digits
    return "Dp1" + "".join(secrets.choice(alphabet) for _ in range(21))


def docker_client() -> Any:
    """The Docker SDK client, or ContainerUnavailable with a one-line reason."""
    try:
        import docker
        from docker.errors import DockerException
    except ImportError:
        raise ContainerUnavailable("--container needs the Docker SDK (pip install docker==7.1.0)") from None
    try:
        engine = docker.from_env()
        engine.ping()
    except DockerException as exc:
        raise ContainerUnavailable(f"--container: no Docker engine reachable ({_first_line(exc)}); "
                                   "start Docker or pass --splunk-url for an existing Splunk") from None
    return engine


@dataclass
class SplunkContainer:
    container: Any
    rest_url: str
    hec_url: str
    password: str = field(repr=False)


def remove_container(container: Any) -> None:
    """Remove the container and its volumes; one already gone is fine."""
    from docker.errors import NotFound

    try:
        container.remove(force=True, v=True)
    except NotFound:
        pass


def start_splunk(engine: Any, stage_dir: Path, image: str = SPLUNK_IMAGE, password: str | None = None,
                 on_started: Callable[[Any], None] = lambda container: None,
                 hec_token: str | None = None) -> SplunkContainer:
    """Run ``image`` detached (admin password generated unless given; ``hec_token``, when given, is the
    token its HEC accepts, through the image's ``SPLUNK_HEC_TOKEN``: fact 19); ``on_started`` gets the
    container as soon as Docker created it (to register its removal); the caller waits until it is healthy."""
    from docker.errors import DockerException

    password = password or generate_password()
    # the image's documented environment (splunkd notes, fact 19)
    environment = {"SPLUNK_START_ARGS": "--accept-license", "SPLUNK_PASSWORD": password,
                   "SPLUNK_GENERAL_TERMS": "--accept-sgt-current-at-splunk-com"}
    if hec_token:
        environment["SPLUNK_HEC_TOKEN"] = hec_token
    try:
        container = engine.containers.run(
            image,
            detach=True,
            environment=environment,
            ports={REST_PORT: ("127.0.0.1", None), HEC_PORT: ("127.0.0.1", None)},
            volumes={str(stage_dir.resolve()): {"bind": SERVER_APP_DIR, "mode": "ro"}},
            labels={"detpack.splunk-test": "1"},
        )
    except DockerException as exc:
        raise ContainerFailed(f"could not start {image}: {_first_line(exc)}") from None
    on_started(container)
    try:
        container.reload()  # learn the host ports Docker picked
        ports = container.attrs["NetworkSettings"]["Ports"]
        rest, hec = ports[REST_PORT][0]["HostPort"], ports[HEC_PORT][0]["HostPort"]
    except (DockerException, KeyError, IndexError, TypeError) as exc:
        remove_container(container)
        raise ContainerFailed(f"{image} started but its ports are unknown: {_first_line(exc)}") from None
    return SplunkContainer(container, f"https://127.0.0.1:{rest}", f"https://127.0.0.1:{hec}", password)


def health(container: Any) -> str:
    """Docker's view of the container: its health status, or its state when it has no health check or stopped."""
    container.reload()
    state = container.attrs.get("State") or {}
    if state.get("Status") not in (None, "running", "created"):
        return str(state.get("Status"))
    return str((state.get("Health") or {}).get("Status") or "no health check")


def wait_until_healthy(container: Any, timeout: float, first_wait: float, say: Callable[[str], None],
                       sleep=time.sleep) -> None:
    """Wait until Docker reports the container ``healthy``, at most ``timeout`` seconds, saying each change
    of status and every 30 s. ContainerFailed when it stopped, has no health check, or ran out of time."""
    from docker.errors import DockerException

    deadline, wait, last, said_at = time.monotonic() + timeout, first_wait, "", 0.0
    while True:
        try:
            status = health(container)
        except DockerException as exc:
            raise ContainerFailed(f"cannot read the container's health: {_first_line(exc)}") from None
        if status == "healthy":
            say("container is healthy")
            return
        if status in ("exited", "dead", "removing", "paused", "no health check"):
            raise ContainerFailed(f"the Splunk container is {status}; it never reported healthy")
        now = time.monotonic()
        if status != last or now - said_at >= 30:
            say(f"container {status}, waiting until healthy ({max(deadline - now, 0):.0f} s left)")
            last, said_at = status, now
        if now >= deadline:
            raise ContainerFailed(f"the Splunk container is still {status} after {timeout:g} s")
        sleep(min(wait, max(deadline - now, 0.0)))
        wait = min(wait * 2, 15.0)


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
