"""`autosrectl claude` against a live daemon, with a fake `claude` on a temporary PATH.

The fake records what it was started with (argv, environment, pid) and what the daemon's api
listener said at that moment (``GET $ANTHROPIC_BASE_URL/health``: whether the model was
already awake), so each test sees what a real Claude Code would have been given.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from autosred.admin.schema import SOCKET_ENV
from autosred.ctl.claude import api_base_url, model_option
from tests.support.daemon import Daemon, base_config, running_daemon, sim_recipe

FAKE_CLAUDE = """#!{python}
import json, os, sys, urllib.request
base = os.environ.get("ANTHROPIC_BASE_URL")
health = None
if base:
    # As Claude Code does: the token goes as a bearer (/health names models only then).
    token = os.environ.get("ANTHROPIC_AUTH_TOKEN", "")
    probe = urllib.request.Request(base + "/health", headers={{"Authorization": "Bearer " + token}})
    with urllib.request.urlopen(probe, timeout=10) as response:
        health = json.load(response)
with open({record!r}, "w") as out:
    json.dump({{"argv": sys.argv, "env": dict(os.environ), "pid": os.getpid(),
               "health": health}}, out)
print("fake claude ran")
sys.exit(7)
"""

LABEL = "claude-sonnet-4-5"
SERVED = ("capabilities", "fetch", "search")
"""The MCP servers a daemon with the default mcp section serves (autosrectl hands them on)."""


def claude_args(record: dict[str, Any], daemon: Daemon, *, token: bool = False) -> list[str]:
    """Claude Code's arguments after its name, the daemon's ``--mcp-config`` and the
    WebFetch ``--settings`` taken out once they are checked: every server the daemon serves,
    as ``autosred-<name>`` at the api listener, with the token's header (from the
    environment) when a token is set; the setting that skips WebFetch's vendor preflight."""
    argv: list[str] = record["argv"][1:]
    (option,) = [arg for arg in argv if arg.startswith("--mcp-config=")]
    value = option.partition("=")[2]
    header = {"headers": {"Authorization": "Bearer ${AUTOSRE_CLIENT_TOKEN}"}} if token else {}
    assert json.loads(value) == {
        "mcpServers": {
            f"autosred-{name}": {"type": "http", "url": f"{daemon.api_url}/mcp/{name}", **header}
            for name in SERVED
        }
    }
    (settings,) = [arg for arg in argv if arg.startswith("--settings")]
    assert settings == '--settings={"skipWebFetchPreflight":true}'
    # Both before the user's arguments: after a `--` they would be the prompt's words.
    assert argv.index(settings) == argv.index(option) + 1
    return [arg for arg in argv if arg not in (option, settings)]


@dataclass(frozen=True)
class Launched:
    rc: int
    out: str
    err: str
    pid: int
    record: dict[str, Any] | None


@pytest.fixture
def fake_bin(tmp_path: Path) -> Path:
    """A PATH directory holding only the fake `claude`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "claude"
    record = tmp_path / "claude-record.json"
    script.write_text(FAKE_CLAUDE.format(python=sys.executable, record=str(record)))
    script.chmod(0o755)
    return bin_dir


def _recipe(**overrides: Any) -> dict[str, Any]:
    recipe = sim_recipe(startup_delay=0.3, aliases=["claude-*"], claude_label=LABEL)
    recipe.update(overrides)
    return recipe


async def autosrectl_claude(
    daemon: Daemon | Path, path_dir: Path, *args: str, **env: str
) -> Launched:
    socket = daemon.admin_socket if isinstance(daemon, Daemon) else daemon
    child_env = {
        k: v
        for k, v in os.environ.items()
        if k != SOCKET_ENV and not k.startswith(("ANTHROPIC_", "AUTOSRE_", "CLAUDE_"))
    }
    child_env.update(PATH=str(path_dir), **env)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "autosred.ctl",
        "--socket",
        str(socket),
        "claude",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=child_env,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    record_path = path_dir.parent / "claude-record.json"
    record = json.loads(record_path.read_text()) if record_path.exists() else None
    return Launched(process.returncode, out.decode(), err.decode(), process.pid, record)


async def test_wakes_the_model_then_becomes_claude_with_env_and_args(
    tmp_path: Path, fake_bin: Path
) -> None:
    async with running_daemon(tmp_path, base_config(tmp_path, [_recipe()])) as daemon:
        assert (await daemon.model("sim"))["state"] == "stopped"
        user_args = ["-p", "hello there", "--output-format", "json", "--", "--not-an-option"]
        result = await autosrectl_claude(
            daemon, fake_bin, *user_args, ANTHROPIC_API_KEY="sk-ant-real-key"
        )

        # exec: the fake's exit status and output are autosrectl's, in the same process.
        assert result.rc == 7, result.err
        assert result.out == "fake claude ran\n"
        record = result.record
        assert record is not None
        assert record["pid"] == result.pid
        assert record["argv"][0] == str(fake_bin / "claude")
        assert claude_args(record, daemon) == ["--model", LABEL, *user_args]
        env = record["env"]
        assert env["ANTHROPIC_BASE_URL"] == daemon.api_url
        assert env["ANTHROPIC_AUTH_TOKEN"] == "autosred"
        assert env["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] == "1"
        assert "ANTHROPIC_API_KEY" not in env
        assert env["PATH"] == str(fake_bin)

        # Woken before Claude Code started, with the progress on stderr (stdout stays clean).
        assert record["health"]["models"] == {"sim": "ready"}
        assert "sim: ready (waited" in result.err
        assert (await daemon.model("sim"))["state"] == "ready"

        # Already awake: no progress at all this time.
        again = await autosrectl_claude(daemon, fake_bin, "-p", "again")
        assert again.rc == 7
        assert again.err == ""
        assert again.record is not None
        assert claude_args(again.record, daemon) == ["--model", LABEL, "-p", "again"]


async def test_label_from_env_or_the_users_model_and_the_client_token(
    tmp_path: Path, fake_bin: Path
) -> None:
    token = "s3cret-client-token"
    clients = [{"name": "laptop", "token_sha256": hashlib.sha256(token.encode()).hexdigest()}]
    recipes = [
        sim_recipe("other", aliases=["gpt-*"]),
        _recipe(),
    ]
    config = base_config(tmp_path, recipes, api={"clients": clients})
    async with running_daemon(tmp_path, config) as daemon:
        # Discovery through /v1/models needs the token: without it, a clear refusal.
        refused = await autosrectl_claude(daemon, fake_bin, "-p", "hi")
        assert refused.rc == 1
        assert "AUTOSRE_CLIENT_TOKEN" in refused.err and "401" in refused.err
        assert refused.record is None

        # With the token: discovered label (the second recipe's), token passed on.
        found = await autosrectl_claude(daemon, fake_bin, "-p", "hi", AUTOSRE_CLIENT_TOKEN=token)
        assert found.rc == 7, found.err
        assert found.record is not None
        assert claude_args(found.record, daemon, token=True) == ["--model", LABEL, "-p", "hi"]
        assert found.record["env"]["ANTHROPIC_AUTH_TOKEN"] == token
        # The MCP header is expanded from the environment: the token is in no argument
        # (another local user can read a process's argv).
        assert found.record["env"]["AUTOSRE_CLIENT_TOKEN"] == token
        assert not [arg for arg in found.record["argv"] if token in arg]
        states = {m["name"]: m["state"] for m in (await daemon.status())["models"]}
        assert states == {"other": "stopped", "sim": "ready"}
        (fake_bin.parent / "claude-record.json").unlink()

        # AUTOSRE_CLAUDE_LABEL wins over discovery; the daemon resolves it (here a glob).
        labelled = await autosrectl_claude(
            daemon,
            fake_bin,
            "-p",
            "hi",
            AUTOSRE_CLAUDE_LABEL="gpt-4o",
            AUTOSRE_CLIENT_TOKEN=token,
        )
        assert labelled.rc == 7, labelled.err
        assert labelled.record is not None
        assert claude_args(labelled.record, daemon, token=True) == [
            "--model",
            "gpt-4o",
            "-p",
            "hi",
        ]
        assert labelled.record["health"]["models"]["other"] == "ready"
        assert "other: ready (waited" in labelled.err

        # The user's own --model is used as given and not repeated.
        own = await autosrectl_claude(
            daemon, fake_bin, "--model=claude-opus-4-5", "-p", "hi", AUTOSRE_CLIENT_TOKEN=token
        )
        assert own.rc == 7, own.err
        assert own.record is not None
        assert claude_args(own.record, daemon, token=True) == [
            "--model=claude-opus-4-5",
            "-p",
            "hi",
        ]


async def test_a_small_context_window_becomes_claude_codes_auto_compact_window(
    tmp_path: Path, fake_bin: Path
) -> None:
    recipes = [_recipe(max_model_len=32768), sim_recipe("big", aliases=["claude-big"])]
    async with running_daemon(tmp_path, base_config(tmp_path, recipes)) as daemon:
        small = await autosrectl_claude(daemon, fake_bin, "-p", "hi")
        assert small.rc == 7, small.err
        assert small.record is not None
        # 83.5% of 32,768, the share Claude Code keeps on its own 200k window (claudewindow).
        assert small.record["env"]["CLAUDE_CODE_AUTO_COMPACT_WINDOW"] == "32768"
        assert small.record["env"]["CLAUDE_AUTOCOMPACT_PCT_OVERRIDE"] == "34.201"

        # The user's own choice stays as it is, and nothing is added to it.
        own = await autosrectl_claude(
            daemon, fake_bin, "-p", "hi", CLAUDE_AUTOCOMPACT_PCT_OVERRIDE="60"
        )
        assert own.record is not None
        assert own.record["env"]["CLAUDE_AUTOCOMPACT_PCT_OVERRIDE"] == "60"
        assert "CLAUDE_CODE_AUTO_COMPACT_WINDOW" not in own.record["env"]

        # A recipe that states no max_model_len: Claude Code keeps its own default.
        unknown = await autosrectl_claude(daemon, fake_bin, "--model", "claude-big", "-p", "hi")
        assert unknown.rc == 7, unknown.err
        assert unknown.record is not None
        assert not {"CLAUDE_CODE_AUTO_COMPACT_WINDOW", "CLAUDE_AUTOCOMPACT_PCT_OVERRIDE"} & set(
            unknown.record["env"]
        )


async def test_no_mcp_is_autosrectls_and_not_passed_on(tmp_path: Path, fake_bin: Path) -> None:
    async with running_daemon(tmp_path, base_config(tmp_path, [_recipe()])) as daemon:
        result = await autosrectl_claude(daemon, fake_bin, "--no-mcp", "-p", "hi", "--", "--no-mcp")
        assert result.rc == 7, result.err
        assert result.record is not None
        argv = result.record["argv"][1:]
        assert argv == [
            "--model",
            LABEL,
            '--settings={"skipWebFetchPreflight":true}',
            "-p",
            "hi",
            "--",
            "--no-mcp",
        ]


async def test_the_users_own_settings_get_the_webfetch_setting_merged(
    tmp_path: Path, fake_bin: Path
) -> None:
    """Claude Code takes one --settings (the last): the user's keeps its keys and gains
    skipWebFetchPreflight, unless it says otherwise or cannot be read (then a warning)."""
    own = tmp_path / "my-settings.json"
    own.write_text('{"model": "opus", "env": {"A": "1"}}')
    async with running_daemon(tmp_path, base_config(tmp_path, [_recipe()])) as daemon:
        from_file = await autosrectl_claude(
            daemon, fake_bin, "--no-mcp", "--settings", str(own), "-p", "hi"
        )
        assert from_file.rc == 7, from_file.err
        assert from_file.record is not None
        argv = from_file.record["argv"][1:]
        assert argv[:2] == ["--model", LABEL]
        option, *rest = argv[2:]
        assert rest == ["-p", "hi"]
        assert option.startswith("--settings=")
        assert json.loads(option.partition("=")[2]) == {
            "model": "opus",
            "env": {"A": "1"},
            "skipWebFetchPreflight": True,
        }
        assert "--settings" not in from_file.err  # no warning: it was read
        assert own.read_text() == '{"model": "opus", "env": {"A": "1"}}'  # never written

        said = await autosrectl_claude(
            daemon, fake_bin, "--no-mcp", '--settings={"skipWebFetchPreflight": false}', "-p", "hi"
        )
        assert said.record is not None
        assert said.record["argv"][3:] == [
            '--settings={"skipWebFetchPreflight": false}',
            "-p",
            "hi",
        ]

        own.write_text("// comments are Claude Code's, not JSON\n{}")
        unread = await autosrectl_claude(daemon, fake_bin, "--no-mcp", "--settings", str(own))
        assert unread.rc == 7, unread.err
        assert unread.record is not None
        assert unread.record["argv"][3:] == ["--settings", str(own)]
        assert "skipWebFetchPreflight" in unread.err and "not plain JSON" in unread.err


async def test_names_that_resolve_to_no_model(tmp_path: Path, fake_bin: Path) -> None:
    recipes = [sim_recipe(aliases=["sim-*"])]  # no claude_label, no claude-* alias
    async with running_daemon(tmp_path, base_config(tmp_path, recipes)) as daemon:
        none_listed = await autosrectl_claude(daemon, fake_bin, "-p", "hi")
        assert none_listed.rc == 1
        assert "no claude-* model name" in none_listed.err
        assert "AUTOSRE_CLAUDE_LABEL" in none_listed.err
        assert none_listed.record is None

        typo = await autosrectl_claude(
            daemon, fake_bin, "-p", "hi", AUTOSRE_CLAUDE_LABEL="claude-typo"
        )
        assert typo.rc == 1
        assert "'claude-typo' names no model" in typo.err
        assert typo.record is None
        assert (await daemon.model("sim"))["state"] == "stopped"

        # A short name of the user's (Claude Code expands `opus` itself): the first model.
        short = await autosrectl_claude(daemon, fake_bin, "--model", "opus", "-p", "hi")
        assert short.rc == 7, short.err
        assert "knows no model 'opus'; waking sim" in short.err
        assert short.record is not None
        assert claude_args(short.record, daemon) == ["--model", "opus", "-p", "hi"]
        assert short.record["health"]["models"] == {"sim": "ready"}


async def test_missing_claude_exits_127_and_wakes_nothing(tmp_path: Path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    async with running_daemon(tmp_path, base_config(tmp_path, [_recipe()])) as daemon:
        result = await autosrectl_claude(daemon, empty, "-p", "hi")
        assert result.rc == 127
        assert "Claude Code is not installed" in result.err
        assert "npm install -g @anthropic-ai/claude-code" in result.err
        assert result.out == ""
        assert (await daemon.model("sim"))["state"] == "stopped"


async def test_daemon_unreachable_and_info_flags(tmp_path: Path, fake_bin: Path) -> None:
    missing_socket = tmp_path / "nobody.sock"
    down = await autosrectl_claude(missing_socket, fake_bin, "-p", "hi")
    assert down.rc == 3
    assert "cannot reach autosred" in down.err
    assert down.record is None

    # --version only prints: no daemon needed, arguments untouched.
    version = await autosrectl_claude(missing_socket, fake_bin, "--version")
    assert version.rc == 7, version.err
    assert version.record is not None
    assert version.record["argv"][1:] == ["--version"]
    assert version.record["env"]["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] == "1"


def test_model_option() -> None:
    assert model_option(["-p", "hi"]) is None
    assert model_option(["--model", "a", "-p", "hi"]) == "a"
    assert model_option(["--model=b"]) == "b"
    assert model_option(["--model", "a", "--model=c"]) == "c"
    assert model_option(["-p", "--", "--model", "x"]) is None
    assert model_option(["--model"]) is None


def test_api_base_url() -> None:
    assert api_base_url("127.0.0.1:8011") == "http://127.0.0.1:8011"
    assert api_base_url("0.0.0.0:8011") == "http://127.0.0.1:8011"
    assert api_base_url("[::]:8011") == "http://[::1]:8011"
    assert api_base_url("[::1]:8011") == "http://[::1]:8011"
    assert api_base_url("http://gpu-box:8011/") == "http://gpu-box:8011"
