"""The other Anthropic-to-OpenAI translators, run in front of the same simulator as the daemon:

- **LiteLLM** proxy (PyPI ``litellm[proxy]``), its ``/v1/messages`` adapter, installed into its
  own virtualenv ``bench/.venv-litellm`` (git-ignored);
- **claude-code-router** (npm ``@musistudio/claude-code-router``; 2.0.0 is the last release
  that runs on node 20), installed with npm into ``bench/.venv-ccr`` (git-ignored).

Each is installed on first use (``install=False``: only what is already there is used) and
started with its own configuration in the run's directory. Anything that fails (no node, no
network, a start-up error) gives a `Skipped` with the reason, and the benchmark goes on
without that proxy.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.daemon import (
    SERVED,
    Sim,
    StartError,
    free_port,
    http_get_status,
    stop_process,
    wait_until,
)
from bench.procinfo import process_tree
from bench.routes import TOKEN

BENCH = Path(__file__).resolve().parent
LITELLM_VERSION = "1.108.7"
LITELLM_VENV = BENCH / ".venv-litellm"
CCR_VERSION = "2.0.0"
CCR_PACKAGE = "@musistudio/claude-code-router"
CCR_DIR = BENCH / ".venv-ccr"
INSTALL_TIMEOUT = 600.0


@dataclass
class Competitor:
    key: str
    """``litellm`` or ``ccr``: the CPU key and route key."""
    name: str
    """With its version, e.g. ``LiteLLM 1.108.7``."""
    host: str
    port: int
    process: subprocess.Popen[bytes]
    command: str
    """As shown in the report (``$BENCH_DIR`` for the run's directory)."""
    config_name: str
    config: str
    notes: list[str] = field(default_factory=list)

    def pids(self) -> list[int]:
        return process_tree(self.process.pid)


@dataclass(frozen=True)
class Skipped:
    key: str
    name: str
    reason: str


def _run(argv: list[str], *, cwd: Path | None = None) -> str | None:
    """Run an installer; None when it worked, else the end of its output."""
    try:
        done = subprocess.run(
            argv,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if done.returncode != 0:
        return f"`{' '.join(argv[:4])} ...` exited {done.returncode}: {done.stderr[-600:]}"
    return None


def _installed_version(python: Path, package: str) -> str | None:
    code = f"from importlib import metadata; print(metadata.version({package!r}))"
    done = subprocess.run(
        [str(python), "-c", code],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() if done.returncode == 0 else None


def ensure_litellm(*, install: bool, progress: Any) -> Path | str:
    """The ``litellm`` executable of ``bench/.venv-litellm``, installed if needed; else why
    not."""
    python = LITELLM_VENV / "bin" / "python"
    executable = LITELLM_VENV / "bin" / "litellm"
    if executable.exists() and _installed_version(python, "litellm") == LITELLM_VERSION:
        return executable
    if not install:
        return f"not installed in {LITELLM_VENV.relative_to(BENCH.parent)} (--no-install)"
    progress(f"installing litellm[proxy]=={LITELLM_VERSION} into {LITELLM_VENV} (once)")
    if not python.exists():
        # The base interpreter, not this virtualenv's (whose packages it must not see).
        base = Path(getattr(sys, "_base_executable", sys.executable))
        failed = _run([str(base), "-m", "venv", str(LITELLM_VENV)])
        if failed:
            return f"could not create {LITELLM_VENV}: {failed}"
    failed = _run(
        [str(python), "-m", "pip", "install", "--quiet", f"litellm[proxy]=={LITELLM_VERSION}"]
    )
    if failed:
        return f"pip could not install litellm[proxy]=={LITELLM_VERSION}: {failed}"
    return executable if executable.exists() else f"{executable} missing after pip install"


def _node_major() -> int | None:
    node = shutil.which("node")
    if node is None:
        return None
    done = subprocess.run([node, "--version"], capture_output=True, text=True, check=False)
    try:
        return int(done.stdout.strip().lstrip("v").split(".")[0])
    except ValueError:
        return None


def ensure_ccr(*, install: bool, progress: Any) -> Path | str:
    """claude-code-router's ``cli.js`` under ``bench/.venv-ccr``, installed if needed; else
    why not."""
    major = _node_major()
    if major is None:
        return "node is not installed (claude-code-router is a node program)"
    if major < 20:
        return f"node {major} is too old (claude-code-router {CCR_VERSION} needs node >= 20)"
    package = CCR_DIR / "node_modules" / CCR_PACKAGE
    cli = package / "dist" / "cli.js"
    manifest = package / "package.json"
    if cli.exists() and json.loads(manifest.read_text()).get("version") == CCR_VERSION:
        return cli
    if not install:
        return f"not installed in {CCR_DIR.relative_to(BENCH.parent)} (--no-install)"
    npm = shutil.which("npm")
    if npm is None:
        return "npm is not installed"
    progress(f"installing {CCR_PACKAGE}@{CCR_VERSION} into {CCR_DIR} (once)")
    CCR_DIR.mkdir(exist_ok=True)
    failed = _run(
        [
            npm,
            "install",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            "--prefix",
            str(CCR_DIR),
            f"{CCR_PACKAGE}@{CCR_VERSION}",
        ],
        cwd=CCR_DIR,
    )
    if failed:
        return f"npm could not install {CCR_PACKAGE}@{CCR_VERSION}: {failed}"
    return cli if cli.exists() else f"{cli} missing after npm install"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTOSRED_", "LITELLM_"))}
    env.update(extra)
    return env


def _shown(argv: list[str], workdir: Path) -> str:
    root = str(BENCH.parent) + "/"
    parts = []
    for arg in argv:
        if arg.startswith(str(workdir)):
            parts.append("$BENCH_DIR" + arg.removeprefix(str(workdir)))
        else:
            parts.append(arg.removeprefix(root))
    return " ".join(parts)


def litellm_config(sim: Sim) -> dict[str, Any]:
    return {
        "model_list": [
            {
                "model_name": SERVED,
                "litellm_params": {
                    # LiteLLM's provider for vLLM's OpenAI-compatible server. With `openai/`,
                    # LiteLLM 1.108.7 sends a /v1/messages request that has `thinking` (every
                    # Claude Code main turn) to the upstream's /v1/responses instead, even with
                    # use_chat_completions_url_for_anthropic_messages.
                    "model": f"hosted_vllm/{SERVED}",
                    "api_base": f"{sim.url}/v1",
                    "api_key": "none",
                },
            }
        ],
        "litellm_settings": {
            "drop_params": True,
            "use_chat_completions_url_for_anthropic_messages": True,
        },
        # LiteLLM refuses to start without a master key; the routes send it as their token.
        "general_settings": {"master_key": TOKEN},
    }


@contextlib.contextmanager
def running_litellm(
    workdir: Path, sim: Sim, *, install: bool, progress: Any
) -> Iterator[Competitor | Skipped]:
    name = f"LiteLLM {LITELLM_VERSION}"
    found = ensure_litellm(install=install, progress=progress)
    if isinstance(found, str):
        yield Skipped("litellm", name, found)
        return
    home = workdir / "litellm"
    home.mkdir()
    config_path = home / "config.yaml"
    config = litellm_config(sim)
    config_path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    host, port = "127.0.0.1", free_port()
    argv = [str(found), "--config", str(config_path), "--host", host, "--port", str(port)]
    env = _env(LITELLM_LOCAL_MODEL_COST_MAP="True")  # no network: the bundled cost map
    log = home / "litellm.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv, cwd=home, stdout=out, stderr=out, env=env, start_new_session=True
        )
    try:
        try:
            wait_until(
                "LiteLLM",
                lambda: http_get_status(host, port, "/health/liveliness") == 200,
                process,
                log,
                timeout=120.0,
            )
        except StartError as exc:
            yield Skipped("litellm", name, f"did not start: {str(exc)[-600:]}")
            return
        yield Competitor(
            key="litellm",
            name=name,
            host=host,
            port=port,
            process=process,
            command="LITELLM_LOCAL_MODEL_COST_MAP=True " + _shown(argv, workdir),
            config_name="$BENCH_DIR/litellm/config.yaml",
            config=json.dumps(config, indent=2),
            notes=[
                "one uvicorn worker (its default), its default logging; model "
                f"`hosted_vllm/{SERVED}` (see `bench/competitors.py` for why not `openai/`)"
            ],
        )
    finally:
        stop_process(process)


def ccr_config(sim: Sim, port: int) -> dict[str, Any]:
    return {
        "LOG": False,
        "HOST": "127.0.0.1",
        "PORT": port,
        "API_TIMEOUT_MS": 600000,
        "NON_INTERACTIVE_MODE": True,
        "Providers": [
            {
                "name": "sim",
                "api_base_url": f"{sim.url}/v1/chat/completions",
                "api_key": "none",
                "models": [SERVED],
            }
        ],
        "Router": {"default": f"sim,{SERVED}"},
    }


@contextlib.contextmanager
def running_ccr(
    workdir: Path, sim: Sim, *, install: bool, progress: Any
) -> Iterator[Competitor | Skipped]:
    name = f"claude-code-router {CCR_VERSION}"
    found = ensure_ccr(install=install, progress=progress)
    if isinstance(found, str):
        yield Skipped("ccr", name, found)
        return
    node = shutil.which("node")
    assert node is not None  # ensure_ccr checked
    home = workdir / "ccr-home"  # it reads $HOME/.claude-code-router/config.json
    (home / ".claude-code-router").mkdir(parents=True)
    host, port = "127.0.0.1", free_port()
    config = ccr_config(sim, port)
    (home / ".claude-code-router" / "config.json").write_text(json.dumps(config, indent=2))
    argv = [node, str(found), "start"]  # `start` serves in the foreground
    log = workdir / "ccr.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv,
            cwd=home,
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
            env=_env(HOME=str(home)),
            start_new_session=True,
        )
    try:
        try:
            wait_until(
                "claude-code-router",
                lambda: http_get_status(host, port, "/") < 500,
                process,
                log,
                timeout=60.0,
            )
        except StartError as exc:
            yield Skipped("ccr", name, f"did not start: {str(exc)[-600:]}")
            return
        yield Competitor(
            key="ccr",
            name=name,
            host=host,
            port=port,
            process=process,
            command="HOME=$BENCH_DIR/ccr-home node " + _shown(argv[1:], workdir),
            config_name="$BENCH_DIR/ccr-home/.claude-code-router/config.json",
            config=json.dumps(config, indent=2),
            notes=["its logs off (`LOG: false`)"],
        )
    finally:
        stop_process(process)
