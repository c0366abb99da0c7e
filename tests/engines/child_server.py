"""A tiny model-server stand-in for the process engine's tests: serves GET /health -> 200.

Run as a script by the engine under test (never imported). What it prints is what the tests
read back through the engine's ``engine.child_output`` log lines.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = 200 if self.path == "/health" else 404
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass  # the engine's health polls would flood the output the tests read


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--print-argv", action="store_true", help="print argv as JSON first")
    parser.add_argument("--on-term", choices=["exit", "ignore"], default="exit")
    parser.add_argument("--grandchild", action="store_true", help="spawn a sleeping grandchild")
    parser.add_argument("rest", nargs="*", help="ignored: for the placeholder test")
    args = parser.parse_args()
    if args.print_argv:
        print("argv=" + json.dumps(sys.argv[1:]), flush=True)

    def on_term(signum: int, frame: FrameType | None) -> None:
        if args.on_term == "ignore":
            print("ignoring SIGTERM", flush=True)
            return
        print("got SIGTERM, exiting", flush=True)
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_term)
    if args.grandchild:
        grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        print(f"grandchild={grandchild.pid}", flush=True)
    server = ThreadingHTTPServer((args.host, args.port), _Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"listening on {args.host}:{args.port}", flush=True)
    # The main thread only waits, so that signal handlers run promptly.
    while True:
        signal.pause()


if __name__ == "__main__":
    main()
