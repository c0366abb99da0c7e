"""The real daemon as a subprocess on a test configuration, with a fake NOTIFY_SOCKET."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from tests.support.notify import NotifyListener

SIM_COMMAND = [
    sys.executable,
    "-m",
    "autosred.sim",
    "--host",
    "{host}",
    "--port",
    "{port}",
    "--model",
    "{served_model_name}",
]


def sim_recipe(
    name: str = "sim", *, startup_delay: float = 0.0, **overrides: Any
) -> dict[str, Any]:
    """A process-engine recipe running autosred-sim; extra sim flags via ``sim_args``."""
    sim_args: list[str] = overrides.pop("sim_args", [])
    command = [*SIM_COMMAND, "--startup-delay", str(startup_delay), *sim_args]
    recipe: dict[str, Any] = {
        "name": name,
        "served_model_name": f"{name}-served",
        "aliases": [f"{name}-alias", f"{name}-glob-*"],
        "command": command,
        "idle_timeout": "10m",
        "wake_budget": "60s",
    }
    recipe.update(overrides)
    return recipe


def base_config(tmp_path: Path, recipes: list[dict[str, Any]], **sections: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "api": {"listen": "127.0.0.1:0"},
        "codex": {"listen": "127.0.0.1:0"},
        "metrics": {"listen": "127.0.0.1:0"},
        "admin": {"socket": str(tmp_path / "admin.sock"), "group": None},
        "state_dir": str(tmp_path / "state"),
        "engine": {"kind": "process", "stop_timeout": 5, "health_interval": 0.05},
        # min_residency 0: tests with several recipes switch at once unless they test residency.
        "scaler": {
            "keepalive_after": 0.3,
            "keepalive_interval": 0.3,
            "idle_check_interval": 0.1,
            "min_residency": 0,
        },
        "shutdown": {"grace": 10},
        "log": {"level": "debug", "format": "json"},
        "recipes": recipes,
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    return config


@dataclass
class Daemon:
    process: asyncio.subprocess.Process
    config_path: Path
    admin_socket: Path
    notify: NotifyListener
    log_path: Path
    listeners: dict[str, str] = field(default_factory=dict)

    @property
    def api_url(self) -> str:
        return f"http://{self.listeners['api']}"

    @property
    def codex_url(self) -> str:
        return f"http://{self.listeners['codex']}"

    @property
    def metrics_url(self) -> str:
        return f"http://{self.listeners['metrics']}"

    def log_events(self) -> list[dict[str, Any]]:
        events = []
        for line in self.log_path.read_text().splitlines():
            with contextlib.suppress(ValueError):
                events.append(json.loads(line))
        return events

    def events_named(self, name: str) -> list[dict[str, Any]]:
        return [event for event in self.log_events() if event.get("event") == name]

    async def admin(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        connector = aiohttp.UnixConnector(path=str(self.admin_socket))
        async with aiohttp.ClientSession(connector=connector) as session:
            async with session.request(method, f"http://autosred{path}", json=body) as response:
                text = await response.text()
                lines = [json.loads(line) for line in text.splitlines() if line.strip()]
                return response.status, lines[0] if len(lines) == 1 else lines

    async def status(self) -> dict[str, Any]:
        code, body = await self.admin("GET", "/v1/status")
        assert code == 200, body
        assert isinstance(body, dict)
        return body

    async def model(self, name: str) -> dict[str, Any]:
        status = await self.status()
        return next(model for model in status["models"] if model["name"] == name)

    async def wait_state(self, name: str, state: str, *, timeout: float = 30.0) -> dict[str, Any]:
        """Poll the admin API (with a deadline) until the model is in ``state``."""
        async with asyncio.timeout(timeout):
            while True:
                model = await self.model(name)
                if model["state"] == state:
                    return model
                await asyncio.sleep(0.05)

    async def metrics(self) -> str:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{self.metrics_url}/metrics") as response:
                return await response.text()

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    async def wait_exit(self, timeout: float = 30.0) -> int:
        async with asyncio.timeout(timeout):
            return await self.process.wait()


def metric_value(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text (0 when absent)."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        series, _, value = line.rpartition(" ")
        if series.split("{")[0] != name:
            continue
        if all(f'{key}="{val}"' in series for key, val in labels.items()):
            return float(value)
    return 0.0


@contextlib.asynccontextmanager
async def running_daemon(
    tmp_path: Path, config: dict[str, Any], *, env: dict[str, str] | None = None
) -> AsyncIterator[Daemon]:
    """Start ``autosred --config`` and yield once it has sent READY=1; SIGKILL at the end if it
    is still running (tests that check shutdown stop it themselves)."""
    config_path = tmp_path / "autosred.yaml"
    config_path.write_text(yaml.safe_dump(config))
    notify = NotifyListener(tmp_path / "notify.sock")
    log_path = tmp_path / "daemon.log"
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("WATCHDOG_")}
    child_env = {**inherited, "NOTIFY_SOCKET": str(notify.path), **(env or {})}
    with log_path.open("wb") as log_file:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "autosred.daemon",
            "--config",
            str(config_path),
            env=child_env,
            stdout=log_file,
            stderr=log_file,
            start_new_session=True,
        )
    daemon = Daemon(
        process=process,
        config_path=config_path,
        admin_socket=Path(config["admin"]["socket"]),
        notify=notify,
        log_path=log_path,
    )
    try:
        ready = asyncio.create_task(notify.wait_for("READY=1", timeout=30))
        exited = asyncio.create_task(process.wait())
        done, _ = await asyncio.wait({ready, exited}, return_when=asyncio.FIRST_COMPLETED)
        if exited in done:
            ready.cancel()
            raise AssertionError(f"daemon exited {process.returncode}:\n{log_path.read_text()}")
        exited.cancel()
        ready.result()
        daemon.listeners = (await daemon.status())["listeners"]
        yield daemon
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
        await notify.close()
