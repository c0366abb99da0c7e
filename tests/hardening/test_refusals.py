"""What a careless or hostile operator's files must not do to the daemon: an empty config,
a world-writable state directory, a signing key others can read. Each is refused (exit 2, the
fix in the message) at start; an empty config on reload keeps the running one."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from autosred.daemon.keys import KEY_FILE
from tests.support.ctl import autosrectl
from tests.support.daemon import base_config, running_daemon, sim_recipe

EMPTY_FILES = {
    "empty": "",
    "comments only": "# nothing here yet\n",
    "null": "null\n",
    "tilde": "~\n",
}


def autosred(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "autosred.daemon", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("text", EMPTY_FILES.values(), ids=EMPTY_FILES.keys())
@pytest.mark.parametrize("check", [True, False], ids=["check-config", "start"])
def test_an_empty_config_is_refused(tmp_path: Path, text: str, check: bool) -> None:
    path = tmp_path / "autosred.yaml"
    path.write_text(text)
    result = autosred(*(["--check-config"] if check else []), "--config", str(path))
    assert result.returncode == 2, result.stderr
    assert f"{path}: the file is empty (or only null)" in result.stderr
    assert "write `{}` to run on the defaults" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_explicit_empty_mapping_still_means_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "autosred.yaml"
    path.write_text("{}\n")
    result = autosred("--check-config", "--config", str(path))
    assert result.returncode == 0, result.stderr
    assert "recipes: none" in result.stdout


@pytest.mark.parametrize("text", ["", "null\n"], ids=["empty", "null"])
async def test_reloading_an_empty_config_keeps_the_running_one(tmp_path: Path, text: str) -> None:
    config = base_config(tmp_path, [sim_recipe()])
    async with running_daemon(tmp_path, config) as daemon:
        socket = str(daemon.admin_socket)
        code, out, _ = await autosrectl("--socket", socket, "scale", "up", "sim", "--wait")
        assert code == 0, out
        daemon.config_path.write_text(text)
        seen = len(daemon.notify.lines())
        daemon.signal(signal.SIGHUP)
        seen = await daemon.notify.wait_for("RELOADING=1", after=seen)
        await daemon.notify.wait_for("READY=1", after=seen)
        rejected = daemon.events_named("daemon.reload_rejected")
        assert rejected and "the file is empty" in " ".join(rejected[-1]["problems"])
        code, out, err = await autosrectl("--socket", socket, "status", "--json")
        assert code == 0, err
        models = json.loads(out)["models"]
        assert [(m["name"], m["state"]) for m in models] == [("sim", "ready")]
        # The same through autosrectl reload: exit 1 with the reason, nothing stopped.
        code, out, err = await autosrectl("--socket", socket, "reload")
        assert code == 1
        assert "the file is empty" in out + err
        assert (await daemon.model("sim"))["state"] == "ready"


def _start_with_state(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    config = base_config(tmp_path, [sim_recipe()])
    path = tmp_path / "autosred.yaml"
    path.write_text(yaml.safe_dump(config))
    return autosred("--config", str(path))


def test_a_world_writable_state_dir_is_refused_with_the_fix(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    state.chmod(0o777)
    result = _start_with_state(tmp_path)
    assert result.returncode == 2, result.stderr
    assert f"{state} is writable by every user" in result.stderr
    assert f"chmod 0700 {state}" in result.stderr
    assert not (state / KEY_FILE).exists()  # refused before anything was written


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_a_key_file_others_can_read_is_refused_with_the_fix(tmp_path: Path, mode: int) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    key = state / KEY_FILE
    key.write_text("ab" * 32 + "\n")
    key.chmod(mode)
    result = _start_with_state(tmp_path)
    assert result.returncode == 2, result.stderr
    assert f"{key} is readable or writable by others (mode {mode:04o})" in result.stderr
    assert f"chmod 0600 {key}" in result.stderr


async def test_private_modes_start_and_a_public_metrics_bind_is_warned_about(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o750)  # systemd's StateDirectoryMode: group may read, nobody may write
    (state / KEY_FILE).write_text("ab" * 32 + "\n")
    (state / KEY_FILE).chmod(0o600)
    config = base_config(tmp_path, [sim_recipe()], metrics={"listen": "0.0.0.0:0"})
    async with running_daemon(tmp_path, config) as daemon:
        warned = daemon.events_named("daemon.metrics_exposed")
        assert len(warned) == 1 and warned[0]["level"] == "warning"
        assert warned[0]["listen"] == "0.0.0.0:0"
    loopback = base_config(tmp_path / "lo", [sim_recipe()])
    (tmp_path / "lo").mkdir()
    async with running_daemon(tmp_path / "lo", loopback) as daemon:
        assert not daemon.events_named("daemon.metrics_exposed")
