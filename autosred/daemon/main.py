"""``autosred``: the daemon's command line."""

from __future__ import annotations

import argparse
import asyncio
import sys
from importlib import resources
from pathlib import Path

from autosred import __version__
from autosred.config import DEFAULT_CONFIG_PATH, ConfigError
from autosred.daemon import logs
from autosred.daemon.gctuning import tune_collector
from autosred.daemon.statemodes import state_mode_problems
from autosred.daemon.supervisor import Supervisor, config_loader

EXIT_CONFIG = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autosred",
        description="Run coding agents on a self-hosted vLLM: supervisor, translation proxy, "
        "admin API. Runs in the foreground (systemd: Type=notify).",
    )
    parser.add_argument(
        "--config",
        type=Path,
        help=f"YAML configuration (default {DEFAULT_CONFIG_PATH}; when that file does not "
        "exist, the embedded demo configuration)",
    )
    parser.add_argument(
        "--check-config",
        action="store_true",
        help="validate the configuration and recipes, print the result, exit 0 (valid) or 2",
    )
    parser.add_argument("--version", action="version", version=f"autosred {__version__}")
    return parser


def embedded_demo_config() -> Path:
    """The demo configuration shipped inside the package (runs autosred-sim, no GPU needed)."""
    return Path(str(resources.files("autosred") / "data" / "demo.yaml"))


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    path: Path | None = args.config
    if path is None:
        path = DEFAULT_CONFIG_PATH if DEFAULT_CONFIG_PATH.exists() else embedded_demo_config()
    load = config_loader(path)
    try:
        settings, catalog = load()
    except ConfigError as exc:
        for message in exc.messages:
            print(f"autosred: {message}", file=sys.stderr)
        if args.check_config:
            print(f"autosred: {path}: configuration is NOT valid", file=sys.stderr)
        return EXIT_CONFIG
    if args.check_config:
        names = ", ".join(recipe.name for recipe in catalog) or "none"
        print(f"{path}: configuration is valid; engine {settings.engine.kind}; recipes: {names}")
        return 0
    problems = state_mode_problems(settings.resolved_state_dir())
    if problems:
        for message in problems:
            print(f"autosred: {message}", file=sys.stderr)
        return EXIT_CONFIG
    log = logs.configure(settings.log.level, settings.log.format)
    tune_collector()
    log.info("daemon.starting", extra={"fields": {"version": __version__, "config": str(path)}})
    supervisor = Supervisor(settings=settings, catalog=catalog, reload_config=load, log=log)
    try:
        return asyncio.run(supervisor.run())
    except ConfigError as exc:
        for message in exc.messages:
            log.error("daemon.config_error", extra={"fields": {"problem": message}})
        return EXIT_CONFIG
    except OSError as exc:
        log.error("daemon.start_failed", extra={"fields": {"error": str(exc)}})
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
