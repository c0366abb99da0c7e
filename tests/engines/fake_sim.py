"""Stand-in for ``python -m autosred.sim`` until the simulator lands (same command line contract).

``--port N --model NAME [--startup-delay S] [--fail-start REASON]``: the port is bound only
after the delay; ``--fail-start`` prints the reason to stderr and exits 1. Serves GET /health
and GET /v1/models. The tests use the real simulator whenever ``autosred.sim.__main__`` exists.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--model", required=True)
    parser.add_argument("--startup-delay", type=float, default=0.0)
    parser.add_argument("--fail-start", default=None)
    args = parser.parse_args()
    print(f"fake sim (a simulator, not vLLM): loading {args.model}", flush=True)
    time.sleep(args.startup_delay)
    if args.fail_start is not None:
        print(args.fail_start, file=sys.stderr, flush=True)
        sys.exit(1)

    models = json.dumps({"object": "list", "data": [{"id": args.model, "object": "model"}]})

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = models.encode() if self.path == "/v1/models" else b""
            self.send_response(200 if self.path in {"/health", "/v1/models"} else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((args.host, args.port), Handler)
    print(f"fake sim: serving {args.model} on {args.host}:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
