"""Replay a pack's tests in a real Splunk: REST client, HEC sender, container, harness.

Exit codes of ``build.py splunk-test``: 0 every test passed, 1 a test failed or
the app could not be built, 2 invalid input or usage, 3 Splunk unreachable or another infrastructure
failure, 130 interrupted (after cleanup).
"""
from ..errors import EXIT_INTERRUPTED  # noqa: F401  (the harness and its callers read it here)

EXIT_INFRASTRUCTURE = 3


class InfrastructureError(Exception):
    """Splunk (or Docker) could not be reached or did not do what was asked."""


class Refused(InfrastructureError):
    """Splunk answered but will not go on (login refused, certificate not trusted): waiting will not help."""


class Rejected(InfrastructureError):
    """Splunk answered a change with a 4xx refusal: nothing was changed."""
