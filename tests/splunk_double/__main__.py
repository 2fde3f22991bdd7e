"""Run the Splunk TEST DOUBLE on its own, to point ``splunk-test`` at it by hand. It is not Splunk.

    python -m tests.splunk_double --port 18089 [--hec-port 18088] [--password PW] [--cim] [--es]

``--port 0`` picks free ports for both REST and HEC; the URLs printed say which.

Prints its REST and HEC URLs and the admin credentials it accepts, then serves on 127.0.0.1 until Ctrl-C
or SIGTERM. ``--cim`` installs a stand-in that declares the CIM ``Endpoint`` data model (so no CIM
package is needed with ``--app``); ``--es`` pretends Enterprise Security is installed (its risk and notable
actions are modelled from the documented behaviour: see ``state.SplunkState._es_actions``).
"""
from __future__ import annotations

import argparse
import secrets
import signal
import sys
import tempfile
from pathlib import Path

from . import SplunkDouble, SplunkState, offline_engine
from .pack import cim_addon


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.splunk_double",
                                     description="A loopback TEST DOUBLE of splunkd and HEC (not Splunk).")
    parser.add_argument("--port", type=int, required=True, help="REST (management) port on 127.0.0.1")
    parser.add_argument("--hec-port", type=int, help="HEC port (default: --port + 1; with --port 0, a free port)")
    parser.add_argument("--password", help="admin password it accepts (default: generated)")
    parser.add_argument("--cim", action="store_true", help="install a stand-in declaring the Endpoint data model")
    parser.add_argument("--es", action="store_true", help="pretend Enterprise Security is installed")
    args = parser.parse_args(argv)
    password = args.password or "Dbl-" + secrets.token_urlsafe(12)
    state = SplunkState("admin", password, offline_engine)
    hec_port = args.hec_port if args.hec_port is not None else (args.port + 1 if args.port else 0)
    try:
        double = SplunkDouble(state, rest_port=args.port, hec_port=hec_port)
    except OSError as exc:
        print(f"splunk_double: cannot listen on 127.0.0.1:{args.port}/{hec_port}: {exc}", file=sys.stderr)
        return 2
    # Ctrl-C and SIGTERM stop it, also when sent the moment the URLs are printed: both are blocked before the
    # serving threads start (they inherit the mask, so the kernel cannot hand the signal to one of them while
    # the main thread sleeps) and the main thread waits for them with sigwait; one sent early stays pending
    stops = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stops)
    with tempfile.TemporaryDirectory(prefix="splunk-double-cim-") as folder, double:
        if args.cim:
            Path(folder).chmod(0o755)
            state.install(cim_addon(Path(folder)))
        if args.es:
            state.install_es()
        print("splunk_double: a TEST DOUBLE of splunkd and HEC, not Splunk", flush=True)
        print(f"--splunk-url {double.rest_url}", flush=True)
        print(f"--hec-url {double.hec_url}", flush=True)
        print(f"username admin, password {password} (export SPLUNK_PASSWORD='{password}')", flush=True)
        signal.sigwait(stops)
    return 0


if __name__ == "__main__":
    sys.exit(main())
