"""``python -m fake_k3s --port N --kubeconfig-out FILE``: the fake k3s, standalone.

Serves until SIGTERM or SIGINT, then stops every sim it started. Prints one line to stdout
once it is serving (``fake-k3s: serving http://127.0.0.1:N kubeconfig=FILE``) so a script can
wait for it; the kubeconfig exists from then on.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from fake_k3s.cluster import FakeCluster
from fake_k3s.control import FAIL_MODES, Settings


def build_parser() -> argparse.ArgumentParser:
    defaults = Settings()
    parser = argparse.ArgumentParser(
        prog="python -m fake_k3s",
        description="A fake one-node k3s (Kubernetes API over plain HTTP, no auth) whose pods "
        "run autosred-sim. Change delays and failures at run time with POST /__control.",
    )
    parser.add_argument(
        "--port", type=int, required=True, help="API port on --host (0: a free one)"
    )
    parser.add_argument(
        "--kubeconfig-out", type=Path, required=True, help="where to write the kubeconfig"
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1)"
    )
    parser.add_argument("--namespace", default="default", help="the kubeconfig context's namespace")
    parser.add_argument(
        "--pull-delay", type=float, default=defaults.pull_delay, help="seconds of image pull"
    )
    parser.add_argument("--start-delay", type=float, default=defaults.start_delay,
                        help="seconds the sim takes to load before /health answers")  # fmt: skip
    parser.add_argument("--fail", choices=FAIL_MODES, default="none", help="failure for new pods")
    parser.add_argument("--gpus", type=int, default=defaults.gpus, help="the node's nvidia.com/gpu")
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    return parser


async def serve(args: argparse.Namespace) -> int:
    settings = Settings(
        pull_delay=args.pull_delay, start_delay=args.start_delay, fail=args.fail, gpus=args.gpus
    )
    cluster = FakeCluster(settings=settings, host=args.host, port=args.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await cluster.start()
        cluster.write_kubeconfig(args.kubeconfig_out, args.namespace)
        print(f"fake-k3s: serving {cluster.url} kubeconfig={args.kubeconfig_out}", flush=True)
        await stop.wait()
    finally:
        await cluster.aclose()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, stream=sys.stderr, format="fake-k3s: %(message)s")
    try:
        return asyncio.run(serve(args))
    except OSError as exc:
        print(f"fake-k3s: cannot serve on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
