"""`autosred-sim` / `python -m autosred.sim`: the simulated vLLM as a process.

    autosred-sim --port N --model NAME [--host H] [--startup-delay S] [--fail-start REASON]
                 [--max-model-len N] [--script FILE] [--tokens-per-second R] [--seed N]
                 [--max-num-seqs N] [--api-key KEY] [--log-level LEVEL]

Logs go to stderr, one line per event, each prefixed "autosred-sim: "; the first line says
plainly that this is a simulator.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from autosred.sim.config import DEFAULT_MAX_MODEL_LEN, SimConfig
from autosred.sim.replies import ReplySpec, SpecError, load_script_file
from autosred.sim.server import serve


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autosred-sim",
        description="A SIMULATED vLLM OpenAI-compatible server (no model, no GPU): "
        "deterministic scripted replies for demos, tests and benchmarks.",
    )
    parser.add_argument("--port", type=int, required=True, help="port to serve on")
    parser.add_argument("--model", required=True, help="served model name")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--startup-delay",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="simulate loading weights: the port is bound only after this delay",
    )
    parser.add_argument(
        "--fail-start",
        metavar="REASON",
        help="after the start-up delay, log REASON and exit 1 (a failed wake)",
    )
    parser.add_argument(
        "--max-model-len",
        type=int,
        default=DEFAULT_MAX_MODEL_LEN,
        help=f"context window in (toy) tokens (default {DEFAULT_MAX_MODEL_LEN})",
    )
    parser.add_argument(
        "--max-num-seqs",
        type=int,
        metavar="N",
        help="requests generating at once (vLLM's flag); more wait in line (default: no limit)",
    )
    parser.add_argument("--script", metavar="FILE", help="YAML/JSON list of reply specs")
    parser.add_argument(
        "--tokens-per-second",
        type=float,
        default=0.0,
        metavar="R",
        help="stream pacing; 0 (default) sends as fast as possible",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of generated ids (default 0)")
    parser.add_argument("--api-key", help="require 'Authorization: Bearer KEY' on /v1/*")
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="stderr log level (default INFO)",
    )
    return parser


def config_from_args(args: argparse.Namespace, parser: argparse.ArgumentParser) -> SimConfig:
    script: tuple[ReplySpec, ...] = ()
    if args.script:
        try:
            script = load_script_file(args.script)
        except (OSError, SpecError) as exc:
            parser.error(f"--script {args.script}: {exc}")
    if args.max_model_len < 1:
        parser.error("--max-model-len must be at least 1")
    if args.max_num_seqs is not None and args.max_num_seqs < 1:
        parser.error("--max-num-seqs must be at least 1")
    if args.tokens_per_second < 0 or args.startup_delay < 0:
        parser.error("--tokens-per-second and --startup-delay may not be negative")
    return SimConfig(
        model=args.model,
        host=args.host,
        port=args.port,
        max_model_len=args.max_model_len,
        script=script,
        tokens_per_second=args.tokens_per_second,
        seed=args.seed,
        startup_delay=args.startup_delay,
        fail_start=args.fail_start,
        api_key=args.api_key,
        max_num_seqs=args.max_num_seqs,
    )


def _configure_logging(level: str) -> None:
    # Only the simulator's logger, so embedding main() in a test process touches nothing else.
    logger = logging.getLogger("autosred.sim")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("autosred-sim: %(message)s"))
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    config = config_from_args(args, parser)
    _configure_logging(args.log_level)
    try:
        return asyncio.run(serve(config))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
