"""`autosrectl codex` against a live daemon, with a fake `codex` on a temporary PATH.

The fake records what it was started with (argv, environment, pid), the CODEX_HOME it was
given (config.toml as written and as TOML, every entry and where links point) and what the
daemon said at that moment (``GET /health`` on the provider's base URL: whether the model was
already awake), so each test sees what the real Codex would have been given.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from autosred.admin.schema import SOCKET_ENV
from autosred.ctl.codex import codex_config, make_home, model_option, sweep
from autosred.ctl.tomlwrite import dumps
from tests.support.daemon import Daemon, base_config, running_daemon, sim_recipe

FAKE_CODEX = """#!{python}
import json, os, sys, tomllib, urllib.request
home = os.environ.get("CODEX_HOME")
record = {{"argv": sys.argv, "env": dict(os.environ), "pid": os.getpid(), "home": None}}
if home and os.path.exists(os.path.join(home, "config.toml")):
    text = open(os.path.join(home, "config.toml"), encoding="utf-8").read()
    config = tomllib.loads(text)
    entries = {{}}
    for name in sorted(os.listdir(home)):
        path = os.path.join(home, name)
        entries[name] = os.readlink(path) if os.path.islink(path) else None
    provider = config["model_providers"][config["model_provider"]]
    base = provider["base_url"].removesuffix("/v1")
    # As Codex does: the provider's env_key is the bearer (/health names models only then).
    token = os.environ.get(provider.get("env_key", ""), "")
    probe = urllib.request.Request(base + "/health", headers={{"Authorization": "Bearer " + token}})
    with urllib.request.urlopen(probe, timeout=10) as response:
        health = json.load(response)
    record["home"] = {{"path": home, "text": text, "config": config, "entries": entries,
                      "mode": oct(os.stat(os.path.join(home, "config.toml")).st_mode & 0o777),
                      "health": health}}
with open({record!r}, "w") as out:
    json.dump(record, out)
print("fake codex ran")
sys.exit(7)
"""


@dataclass(frozen=True)
class Launched:
    rc: int
    out: str
    err: str
    pid: int
    record: dict[str, Any] | None

    @property
    def config(self) -> dict[str, Any]:
        assert self.record is not None and self.record["home"] is not None, self.err
        config: dict[str, Any] = self.record["home"]["config"]
        return config

    @property
    def home(self) -> dict[str, Any]:
        assert self.record is not None and self.record["home"] is not None, self.err
        home: dict[str, Any] = self.record["home"]
        return home


@pytest.fixture
def fake_bin(tmp_path: Path) -> Path:
    """A PATH directory holding only the fake `codex`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "codex"
    record = tmp_path / "codex-record.json"
    script.write_text(FAKE_CODEX.format(python=sys.executable, record=str(record)))
    script.chmod(0o755)
    return bin_dir


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """The user's HOME (their ~/.codex and ~/.cache live here)."""
    path = tmp_path / "home"
    path.mkdir()
    return path


def _recipe(**overrides: Any) -> dict[str, Any]:
    recipe = sim_recipe(startup_delay=0.3, aliases=["gpt-*"])
    recipe.update(overrides)
    return recipe


async def autosrectl_codex(
    daemon: Daemon | Path, path_dir: Path, home: Path, *args: str, **env: str
) -> Launched:
    socket = daemon.admin_socket if isinstance(daemon, Daemon) else daemon
    child_env = {
        k: v
        for k, v in os.environ.items()
        if k != SOCKET_ENV and not k.startswith(("CODEX_", "AUTOSRE_", "OPENAI_", "XDG_"))
    }
    child_env.update(PATH=str(path_dir), HOME=str(home), **env)
    record_path = path_dir.parent / "codex-record.json"
    record_path.unlink(missing_ok=True)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "autosred.ctl",
        "--socket",
        str(socket),
        "codex",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=child_env,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    record = json.loads(record_path.read_text()) if record_path.exists() else None
    return Launched(process.returncode, out.decode(), err.decode(), process.pid, record)


async def test_wakes_the_model_then_becomes_codex_with_a_fresh_home(
    tmp_path: Path, fake_bin: Path, home: Path
) -> None:
    async with running_daemon(tmp_path, base_config(tmp_path, [_recipe()])) as daemon:
        assert (await daemon.model("sim"))["state"] == "stopped"
        user_args = ["exec", "--skip-git-repo-check", "--json", "--", "-m not an option"]
        result = await autosrectl_codex(
            daemon, fake_bin, home, *user_args, OPENAI_API_KEY="sk-real-openai-key"
        )

        # exec: the fake's exit status and output are autosrectl's, in the same process.
        assert result.rc == 7, result.err
        assert result.out == "fake codex ran\n"
        record = result.record
        assert record is not None
        assert record["pid"] == result.pid
        assert record["argv"] == [str(fake_bin / "codex"), *user_args]
        env = record["env"]
        assert env["AUTOSRE_CLIENT_TOKEN"] == "autosred"
        assert env["PATH"] == str(fake_bin)
        codex_home = Path(env["CODEX_HOME"])
        assert codex_home.parent == home / ".cache" / "autosred" / "codex"
        assert codex_home.name.startswith(f"{result.pid}-")

        # The provider: the codex listener, the Responses API, the token by env_key. No
        # gpt-* name is listed (the alias is a glob), but the daemon resolves gpt-5.5, the
        # name Codex has metadata (and apply_patch) for.
        config = result.config
        assert config["model_provider"] == "autosred"
        assert config["model"] == "gpt-5.5"
        provider = config["model_providers"]["autosred"]
        assert provider["base_url"] == f"{daemon.codex_url}/v1"
        assert provider["wire_api"] == "responses"
        assert provider["env_key"] == "AUTOSRE_CLIENT_TOKEN"
        assert config["check_for_update_on_startup"] is False
        assert config["analytics"] == {"enabled": False}
        assert "model_context_window" not in config  # the recipe states no max_model_len
        assert result.home["mode"] == "0o600"
        # No ~/.codex yet: one is made for the sessions, which the new home links to.
        entries = result.home["entries"]
        assert entries["sessions"] == str(home / ".codex" / "sessions")
        assert entries["archived_sessions"] == str(home / ".codex" / "archived_sessions")
        assert "auth.json" not in entries

        # Woken before Codex started, with the progress on stderr (stdout stays clean).
        assert result.home["health"]["models"] == {"sim": "ready"}
        assert "sim: ready (waited" in result.err
        assert (await daemon.model("sim"))["state"] == "ready"

        # Already awake: no progress at all; the first home is gone (its Codex exited).
        again = await autosrectl_codex(daemon, fake_bin, home, "exec", "again")
        assert again.rc == 7
        assert again.err == ""
        assert again.record is not None
        assert again.record["argv"][1:] == ["exec", "again"]
        assert not codex_home.exists()
        assert (home / ".codex" / "sessions").is_dir()
        homes = list((home / ".cache" / "autosred" / "codex").iterdir())
        assert [path.name.split("-")[0] for path in homes] == [str(again.pid)]
        assert set(again.config["mcp_servers"]) == {
            "autosred-capabilities",
            "autosred-fetch",
            "autosred-search",
        }
        # The daemon runs the hosted web search (on by default with mcp.search): Codex asks
        # for live searches, not its default cached mode, which never searches anew.
        assert again.config["web_search"] == "live"

        # autosrectl's own --no-mcp: none of the daemon's servers, and not passed to Codex.
        quiet = await autosrectl_codex(daemon, fake_bin, home, "--no-mcp", "exec", "quiet")
        assert quiet.rc == 7, quiet.err
        assert quiet.record is not None
        assert quiet.record["argv"][1:] == ["exec", "quiet"]
        assert "mcp_servers" not in quiet.config


async def test_the_users_config_is_carried_over_under_autosreds_provider(
    tmp_path: Path, fake_bin: Path, home: Path
) -> None:
    user_home = home / ".codex"
    user_home.mkdir()
    (user_home / "config.toml").write_text(
        """
model = "o3"
model_provider = "openai"
approval_policy = "on-request"
web_search = "cached"
model_context_window = 400000
check_for_update_on_startup = true
notify = ["notify-send", "Codex"]

[mcp_servers.docs]
command = "docs-mcp"
args = ["--port", "3000"]
env = { TOKEN = "t" }

[model_providers.autosred]
base_url = "http://elsewhere.example/v1"

[model_providers.ollama]
name = "Ollama"
base_url = "http://localhost:11434/v1"

[profiles.fast]
model = "o4-mini"
model_provider = "openai"
model_reasoning_effort = "low"

[projects."/src/my project"]
trust_level = "trusted"
""".lstrip()
    )
    (user_home / "AGENTS.md").write_text("Always answer in haiku.\n")
    (user_home / "auth.json").write_text('{"OPENAI_API_KEY": "sk-secret"}')
    (user_home / "prompts").mkdir()
    (user_home / "history.jsonl").write_text("")
    recipe = _recipe(max_model_len=4096, aliases=["gpt-4o", "gpt-*"])
    async with running_daemon(tmp_path, base_config(tmp_path, [recipe])) as daemon:
        result = await autosrectl_codex(daemon, fake_bin, home, "exec", "hi")

        assert result.rc == 7, result.err
        config = result.config
        # autosred's provider and model win: gpt-4o is listed on /v1/models (a literal alias).
        assert config["model_provider"] == "autosred"
        assert config["model"] == "gpt-4o"
        assert config["model_providers"]["autosred"]["base_url"] == f"{daemon.codex_url}/v1"
        assert config["model_context_window"] == 4096  # the recipe's max_model_len
        # ... a profile cannot take the session elsewhere ...
        assert config["profiles"] == {"fast": {"model_reasoning_effort": "low"}}
        # ... and everything else is the user's.
        assert config["approval_policy"] == "on-request"
        assert config["web_search"] == "cached"  # the user's mode, though the daemon searches
        assert config["check_for_update_on_startup"] is True
        assert config["notify"] == ["notify-send", "Codex"]
        # The user's servers stay, beside the daemon's.
        assert config["mcp_servers"] == {
            "docs": {"command": "docs-mcp", "args": ["--port", "3000"], "env": {"TOKEN": "t"}},
            **{
                f"autosred-{name}": {
                    "url": f"{daemon.api_url}/mcp/{name}",
                    "bearer_token_env_var": "AUTOSRE_CLIENT_TOKEN",
                }
                for name in ("capabilities", "fetch", "search")
            },
        }
        assert config["model_providers"]["ollama"]["base_url"] == "http://localhost:11434/v1"
        assert config["projects"] == {"/src/my project": {"trust_level": "trusted"}}
        entries = result.home["entries"]
        for name in ("AGENTS.md", "prompts", "history.jsonl", "sessions"):
            assert entries[name] == str(user_home / name)
        assert "auth.json" not in entries
        assert "skills" not in entries  # absent in the user's home: not linked

        # $CODEX_HOME names the user's home instead of ~/.codex; a broken config is skipped
        # with a word (Codex itself would refuse it).
        other = tmp_path / "other-codex-home"
        other.mkdir()
        (other / "config.toml").write_text("model = [unclosed\n")
        (other / "AGENTS.md").write_text("Be brief.\n")
        elsewhere = await autosrectl_codex(
            daemon, fake_bin, home, "exec", "hi", CODEX_HOME=str(other)
        )
        assert elsewhere.rc == 7, elsewhere.err
        assert f"autosrectl: ignoring {other / 'config.toml'}" in elsewhere.err
        assert elsewhere.config["model"] == "gpt-4o"
        assert "approval_policy" not in elsewhere.config
        assert elsewhere.home["entries"]["AGENTS.md"] == str(other / "AGENTS.md")
        assert elsewhere.home["entries"]["sessions"] == str(other / "sessions")


async def test_model_choice_and_the_client_token(
    tmp_path: Path, fake_bin: Path, home: Path
) -> None:
    token = "s3cret-client-token"
    clients = [{"name": "laptop", "token_sha256": hashlib.sha256(token.encode()).hexdigest()}]
    # Two models awake at once: they claim no GPU, so neither is switched out for the other.
    no_gpu = {"count": 0}
    recipes = [
        sim_recipe("other", aliases=["other-*"], gpu=no_gpu),
        _recipe(aliases=["qwen-coder"], gpu=no_gpu),
    ]
    config = base_config(tmp_path, recipes, api={"clients": clients}, codex={"listen": None})
    async with running_daemon(tmp_path, config) as daemon:
        # Discovery through /v1/models needs the token: without it, a clear refusal.
        refused = await autosrectl_codex(daemon, fake_bin, home, "exec", "hi")
        assert refused.rc == 1
        assert "AUTOSRE_CLIENT_TOKEN" in refused.err and "401" in refused.err
        assert refused.record is None

        # No gpt-* name anywhere (not even through a glob): the first model listed. No codex
        # listener: the api listener.
        first = await autosrectl_codex(
            daemon, fake_bin, home, "exec", "hi", AUTOSRE_CLIENT_TOKEN=token
        )
        assert first.rc == 7, first.err
        assert first.config["model"] == "other"
        assert first.config["model_providers"]["autosred"]["base_url"] == f"{daemon.api_url}/v1"
        assert first.record is not None
        assert first.record["env"]["AUTOSRE_CLIENT_TOKEN"] == token
        states = {m["name"]: m["state"] for m in (await daemon.status())["models"]}
        assert states == {"other": "ready", "sim": "stopped"}

        # $AUTOSRE_CODEX_MODEL wins over discovery; the daemon resolves it.
        chosen = await autosrectl_codex(
            daemon,
            fake_bin,
            home,
            "exec",
            "hi",
            AUTOSRE_CODEX_MODEL="qwen-coder",
            AUTOSRE_CLIENT_TOKEN=token,
        )
        assert chosen.rc == 7, chosen.err
        assert chosen.config["model"] == "qwen-coder"
        assert chosen.home["health"]["models"]["sim"] == "ready"
        assert "sim: ready (waited" in chosen.err

        # The user's own -m wins over both, and is left in the arguments for Codex.
        own = await autosrectl_codex(
            daemon,
            fake_bin,
            home,
            "exec",
            "-m",
            "other-x",
            "hi",
            AUTOSRE_CODEX_MODEL="qwen-coder",
            AUTOSRE_CLIENT_TOKEN=token,
        )
        assert own.rc == 7, own.err
        assert own.config["model"] == "other-x"
        assert own.record is not None
        assert own.record["argv"][1:] == ["exec", "-m", "other-x", "hi"]

        # A name autosred does not know fails here, not as a 404 inside Codex.
        typo = await autosrectl_codex(
            daemon, fake_bin, home, "--model=gpt-typo", "exec", "hi", AUTOSRE_CLIENT_TOKEN=token
        )
        assert typo.rc == 1
        assert "'gpt-typo' names no model" in typo.err
        assert typo.record is None


async def test_missing_codex_exits_127_and_wakes_nothing(tmp_path: Path, home: Path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    async with running_daemon(tmp_path, base_config(tmp_path, [_recipe()])) as daemon:
        result = await autosrectl_codex(daemon, empty, home, "exec", "hi")
        assert result.rc == 127
        assert "the Codex CLI is not installed" in result.err
        assert "npm install -g @openai/codex" in result.err
        assert result.out == ""
        assert (await daemon.model("sim"))["state"] == "stopped"
        assert not (home / ".cache").exists()


async def test_daemon_unreachable_and_info_flags(
    tmp_path: Path, fake_bin: Path, home: Path
) -> None:
    missing_socket = tmp_path / "nobody.sock"
    down = await autosrectl_codex(missing_socket, fake_bin, home, "exec", "hi")
    assert down.rc == 3
    assert "cannot reach autosred" in down.err
    assert down.record is None

    # autosrectl's own --no-mcp is not Codex's.
    quiet = await autosrectl_codex(missing_socket, fake_bin, home, "--no-mcp", "--version")
    assert quiet.rc == 7, quiet.err
    assert quiet.record is not None
    assert quiet.record["argv"][1:] == ["--version"]

    # --version only prints: no daemon needed, arguments untouched, no home written.
    version = await autosrectl_codex(missing_socket, fake_bin, home, "--version")
    assert version.rc == 7, version.err
    assert version.record is not None
    assert version.record["argv"][1:] == ["--version"]
    assert "CODEX_HOME" not in version.record["env"]


def test_model_option() -> None:
    assert model_option(["exec", "hi"]) is None
    assert model_option(["-m", "a", "exec"]) == "a"
    assert model_option(["exec", "--model", "b", "hi"]) == "b"
    assert model_option(["--model=c"]) == "c"
    assert model_option(["-md"]) == "d"
    assert model_option(["-m=e"]) == "e"
    assert model_option(["-m", "a", "--model=f"]) == "f"
    assert model_option(["exec", "--", "-m", "x"]) is None
    assert model_option(["-m"]) is None


def test_codex_config_leaves_the_users_mapping_alone() -> None:
    user: dict[str, Any] = {"profiles": {"p": {"model": "o3", "sandbox_mode": "read-only"}}}
    config = codex_config(user, base_url="http://h:1", model="gpt-5.5", context_window=None)
    assert config["profiles"] == {"p": {"sandbox_mode": "read-only"}}
    assert user == {"profiles": {"p": {"model": "o3", "sandbox_mode": "read-only"}}}
    assert tomllib.loads(dumps(config)) == config


def test_codex_config_adds_the_daemons_mcp_servers_beside_the_users() -> None:
    user: dict[str, Any] = {
        "mcp_servers": {
            "docs": {"command": "docs-mcp"},
            "autosred-fetch": {"url": "http://elsewhere/mcp"},
        }
    }
    urls = {"autosred-fetch": "http://h:1/mcp/fetch", "autosred-search": "http://h:1/mcp/search"}
    config = codex_config(
        user, base_url="http://h:1", model="gpt-5.5", context_window=None, mcp_servers=urls
    )
    token = {"bearer_token_env_var": "AUTOSRE_CLIENT_TOKEN"}
    assert config["mcp_servers"] == {
        "docs": {"command": "docs-mcp"},
        "autosred-fetch": {"url": "http://h:1/mcp/fetch", **token},
        "autosred-search": {"url": "http://h:1/mcp/search", **token},
    }
    assert user["mcp_servers"]["autosred-fetch"] == {"url": "http://elsewhere/mcp"}
    assert tomllib.loads(dumps(config)) == config
    # None served (or --no-mcp): the user's servers as they were, no table added.
    assert "mcp_servers" not in codex_config(
        {}, base_url="http://h:1", model="gpt-5.5", context_window=None, mcp_servers={}
    )


def test_codex_config_asks_for_live_web_search_only_when_the_daemon_searches() -> None:
    def mode(user: dict[str, Any], *, live: bool) -> object:
        config = codex_config(
            user, base_url="http://h:1", model="gpt-5.5", context_window=None, live_web_search=live
        )
        return config.get("web_search")

    assert mode({}, live=True) == "live"
    assert mode({}, live=False) is None
    assert mode({"web_search": "disabled"}, live=True) == "disabled"
    assert mode({"web_search": "cached"}, live=False) == "cached"


def test_sweep_removes_homes_of_finished_runs_only(tmp_path: Path) -> None:
    parent = tmp_path / "homes"
    user_sessions = tmp_path / "user" / "sessions"
    user_sessions.mkdir(parents=True)
    (user_sessions / "rollout.jsonl").write_text("{}\n")
    dead = parent / "999999999-abc"  # above any pid_max: no such process
    dead.mkdir(parents=True)
    (dead / "sessions").symlink_to(user_sessions)
    (dead / "state_5.sqlite").write_text("x")
    mine = parent / f"{os.getpid()}-def"
    mine.mkdir()
    (parent / "not-a-home").mkdir()

    sweep(parent)

    assert not dead.exists()
    assert mine.exists()
    assert (parent / "not-a-home").exists()
    # The link was removed, not what it points to.
    assert (user_sessions / "rollout.jsonl").read_text() == "{}\n"


def test_make_home_links_only_what_exists(tmp_path: Path) -> None:
    user_home = tmp_path / "user"
    user_home.mkdir()
    (user_home / "rules").mkdir()
    (user_home / "auth.json").write_text("{}")
    home = make_home(tmp_path / "homes", user_home, {"model": "m"})
    assert (home / "config.toml").read_text() == 'model = "m"\n'
    links = {path.name: os.readlink(path) for path in home.iterdir() if path.is_symlink()}
    assert links == {
        "rules": str(user_home / "rules"),
        "sessions": str(user_home / "sessions"),
        "archived_sessions": str(user_home / "archived_sessions"),
    }
    assert oct(home.stat().st_mode & 0o777) == "0o700"
