"""The daemon's MCP servers as `autosrectl claude` and `codex` hand them to the client: the
names (``autosred-<name>``), the URLs on the api listener, the token kept off the command
line, and autosrectl's own ``--no-mcp`` taken out of the client's arguments."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from autosred.admin.schema import Status
from autosred.ctl.mcpservers import NO_MCP, claude_config, codex_tables, server_urls, without_no_mcp
from tests.ctl.run import run
from tests.support.daemon import base_config, running_daemon, sim_recipe

API = "http://127.0.0.1:8011"


def _status(mcp: dict[str, str]) -> Status:
    return Status(version="1", pid=1, uptime_seconds=1, engine="process", mcp=mcp)


def test_each_server_is_autosred_name_at_its_path_on_the_api_listener() -> None:
    status = _status({"search": "/mcp/search", "fetch": "/mcp/fetch"})
    assert server_urls(status, API) == {
        "autosred-fetch": f"{API}/mcp/fetch",
        "autosred-search": f"{API}/mcp/search",
    }
    assert list(server_urls(status, API)) == ["autosred-fetch", "autosred-search"]
    assert server_urls(_status({}), API) == {}


def test_claude_config_is_streamable_http_with_the_token_from_the_environment() -> None:
    urls = {"autosred-fetch": f"{API}/mcp/fetch"}
    with_token = json.loads(claude_config(urls, token_env="AUTOSRE_CLIENT_TOKEN"))
    assert with_token == {
        "mcpServers": {
            "autosred-fetch": {
                "type": "http",
                "url": f"{API}/mcp/fetch",
                # Claude Code expands ${VAR} from its environment: the token is not in argv.
                "headers": {"Authorization": "Bearer ${AUTOSRE_CLIENT_TOKEN}"},
            }
        }
    }
    without = json.loads(claude_config(urls, token_env=None))
    assert without == {
        "mcpServers": {"autosred-fetch": {"type": "http", "url": f"{API}/mcp/fetch"}}
    }


def test_codex_tables_name_the_token_variable() -> None:
    urls = {"autosred-fetch": f"{API}/mcp/fetch", "autosred-search": f"{API}/mcp/search"}
    assert codex_tables(urls, token_env="AUTOSRE_CLIENT_TOKEN") == {
        "autosred-fetch": {
            "url": f"{API}/mcp/fetch",
            "bearer_token_env_var": "AUTOSRE_CLIENT_TOKEN",
        },
        "autosred-search": {
            "url": f"{API}/mcp/search",
            "bearer_token_env_var": "AUTOSRE_CLIENT_TOKEN",
        },
    }


def test_no_mcp_is_taken_out_of_the_options_only() -> None:
    assert without_no_mcp(["-p", "hi"]) == (["-p", "hi"], False)
    assert without_no_mcp([NO_MCP, "-p", "hi"]) == (["-p", "hi"], True)
    assert without_no_mcp(["-p", "hi", NO_MCP]) == (["-p", "hi"], True)
    # After `--` every word is the prompt's, --no-mcp included.
    assert without_no_mcp(["-p", "--", NO_MCP]) == (["-p", "--", NO_MCP], False)
    assert without_no_mcp([NO_MCP, "--", NO_MCP]) == (["--", NO_MCP], True)


_words = st.lists(st.sampled_from(["-p", "hi", "--", NO_MCP, "--model", "x", "--no-mcpx", ""]))


@given(_words)
def test_no_mcp_removal_keeps_every_other_word_in_order(args: list[str]) -> None:
    kept, found = without_no_mcp(args)
    end = args.index("--") if "--" in args else len(args)
    assert found == (NO_MCP in args[:end])
    assert kept == [a for a in args[:end] if a != NO_MCP] + args[end:]
    assert without_no_mcp(kept) == (kept, False)


async def test_the_daemon_reports_the_servers_it_serves(tmp_path: Path) -> None:
    config = base_config(tmp_path, [sim_recipe()], mcp={"search": {"enabled": False}})
    async with running_daemon(tmp_path, config) as daemon:
        served = {"capabilities": "/mcp/capabilities", "fetch": "/mcp/fetch"}
        assert (await daemon.status())["mcp"] == served
        # autosrectl status --json shows them as the launchers read them.
        shown = await run("--socket", str(daemon.admin_socket), "status", "--json")
        assert shown.rc == 0, shown.err
        status = Status.from_json(json.loads(shown.out))
        assert server_urls(status, daemon.api_url) == {
            "autosred-capabilities": f"{daemon.api_url}/mcp/capabilities",
            "autosred-fetch": f"{daemon.api_url}/mcp/fetch",
        }
        # The hosted tools follow their MCP servers by default: search is off, so only fetch
        # runs, and autosrectl codex leaves Codex's web search mode alone.
        assert status.hosted_tools == ["web_fetch"]
