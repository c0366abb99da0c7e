"""The contract for acceptance tests outside the repository:
``python -m fake_k3s --port N --kubeconfig-out FILE`` (or its older name,
``python -m tests.fakes.cluster``) and ``POST /__control``."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
import yaml

from tests.fakes_tests.support import NS, Kube, deployment, ready

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = ["fake_k3s", "tests.fakes.cluster"]
"""The module to run with ``python -m``: the fake's home, and the alias the contract names."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("module", COMMANDS)
async def test_standalone_serves_writes_kubeconfig_takes_control_and_stops_its_sims(
    tmp_path: Path, module: str
) -> None:
    port = _free_port()
    kubeconfig = tmp_path / "kube" / "config.yaml"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            module,
            "--port",
            str(port),
            "--kubeconfig-out",
            str(kubeconfig),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.to_thread(process.stdout.readline)
        assert line.strip() == f"fake-k3s: serving http://127.0.0.1:{port} kubeconfig={kubeconfig}"
        document = yaml.safe_load(kubeconfig.read_text())
        (context,) = document["contexts"]
        assert document["current-context"] == context["name"]
        assert context["context"]["namespace"] == "default"
        assert document["clusters"][0]["cluster"]["server"] == f"http://127.0.0.1:{port}"

        async with aiohttp.ClientSession() as http:
            control = f"http://127.0.0.1:{port}/__control"
            async with http.post(
                control, json={"pull_delay": 0.05, "start_delay": 0, "fail": "none"}
            ) as response:
                assert response.status == 200
                assert (await response.json())["pull_delay"] == 0.05

            kube = Kube(kubeconfig)
            try:
                await kube(kube.apps.create_namespaced_deployment, NS, deployment("m", replicas=1))
                pod = (await kube.pod_events(label_selector="app=m", until=ready))[-1][1]
            finally:
                kube.close()
            health = f"http://{pod.status.pod_ip}:8000/health"
            async with http.get(health) as response:
                assert response.status == 200

            process.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(process.wait, 10) == 0
            # The sim went with it: nothing listens on the pod's address any more.
            with socket.socket() as probe:
                assert probe.connect_ex((pod.status.pod_ip, 8000)) != 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize("module", COMMANDS)
def test_standalone_refuses_a_taken_port(tmp_path: Path, module: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.monotonic()
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                module,
                "--port",
                str(port),
                "--kubeconfig-out",
                str(tmp_path / "k"),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 1 and "cannot serve" in result.stderr
    assert time.monotonic() - started < 30
    assert not (tmp_path / "k").exists()


async def test_sims_die_with_a_killed_fake(tmp_path: Path) -> None:
    """SIGKILL leaves the fake no chance to clean up: the kernel's parent-death signal must."""
    port = _free_port()
    kubeconfig = tmp_path / "kubeconfig"
    argv = [sys.executable, "-m", "fake_k3s", "--port", str(port), "--kubeconfig-out",
            str(kubeconfig), "--pull-delay", "0", "--start-delay", "0"]  # fmt: skip
    process = subprocess.Popen(
        argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert process.stdout is not None
        assert "serving" in await asyncio.to_thread(process.stdout.readline)
        kube = Kube(kubeconfig)
        try:
            await kube(kube.apps.create_namespaced_deployment, NS, deployment("m", replicas=1))
            pod = (await kube.pod_events(label_selector="app=m", until=ready))[-1][1]
        finally:
            kube.close()
        process.kill()
        process.wait()
        deadline = time.monotonic() + 10
        while _listening(pod.status.pod_ip, 8000):
            assert time.monotonic() < deadline, "the sim outlived its fake cluster"
            await asyncio.sleep(0.05)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _listening(host: str, port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex((host, port)) == 0
