"""Start a throw-away Splunk in Docker (``--container``) with the Docker SDK.

The image is pinned; the admin password is generated per run and only passed
to the container's environment; the management and HEC ports are published on
127.0.0.1 only, on free host ports. The folder holding the packages to install
is mounted read-only at ``SERVER_APP_DIR`` so that the REST install
(``apps/local`` with ``filename=true``) can read them inside the container.
"""
from __future__ import annotations

import secrets
import string
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
                 on_started: Callable[[Any], None] = lambda container: None) -> SplunkContainer:
    """Run ``image`` detached (admin password generated unless given); ``on_started`` gets the container
    as soon as Docker created it (to register its removal); the caller waits until splunkd answers."""
    from docker.errors import DockerException

    password = password or generate_password()
    try:
        container = engine.containers.run(
            image,
            detach=True,
            environment={"SPLUNK_START_ARGS": "--accept-license", "SPLUNK_PASSWORD": password,
                         "SPLUNK_GENERAL_TERMS": "--accept-sgt-current-at-splunk-com"},
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


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
