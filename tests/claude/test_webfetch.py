"""Claude Code's own WebFetch through `autosrectl claude`, offline from any vendor host.

The simulated model, scripted, calls ``WebFetch`` on a page served over HTTPS on loopback
(a test CA that Claude Code, a node program, trusts through NODE_EXTRA_CA_CERTS). Claude Code
fetches the page itself and sends its summarising request (the page's text, under its
small-model label: the main model's, or claude-haiku-… when the user names one) to the
daemon, which serves it on the local model; the
summary comes back to the main loop as the tool's result. Claude Code runs with every
outside request sent to a proxy that refuses and records them, so the proxy's empty record
says that no request to any vendor host was attempted. The same run with the user's own
``skipWebFetchPreflight: false`` shows the proxy is in the way: the vendor's domain check is
attempted there, refused, and WebFetch never reaches the page.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.claude.support import (
    CLAUDE,
    MODEL,
    TITLE_SPEC,
    ClaudeRun,
    last_user_text,
    requires_claude_code,
    run_headless,
    scratch_env,
)
from tests.support.daemon import Daemon, base_config, metric_value, running_daemon, sim_recipe
from tests.support.mcppage import MARKER, PAGE
from tests.support.refusingproxy import RefusingProxy, refusing_proxy
from tests.web.fetch.sites import Site, body, make_ca, running_site

pytestmark = requires_claude_code

SUMMARY_MATCH = r"Web page content:"
"""How Claude Code's summarising request (querySource web_fetch_apply) begins its prompt."""
SUMMARY = "The page is about the grey heron; ringers know it by a code."
ANSWER = "It is about the grey heron."
HAIKU = "claude-haiku-4-5-20251001"
"""A user's ANTHROPIC_DEFAULT_HAIKU_MODEL: Claude Code then sends its small-model requests
under this label."""


@dataclass
class Setup:
    daemon: Daemon
    sim_url: str
    site: Site
    proxy: RefusingProxy
    ca_bundle: Path


@asynccontextmanager
async def webfetch_setup(tmp_path: Path) -> AsyncIterator[Setup]:
    ca = make_ca(tmp_path)
    recipe = sim_recipe(aliases=["claude-*"], claude_label=MODEL)
    daemon_dir = tmp_path / "daemon"
    daemon_dir.mkdir()
    routes = {"/heron": body(PAGE, "text/html; charset=utf-8")}
    async with (
        running_site(routes, ssl_context=ca.server_context("127.0.0.1")) as site,
        refusing_proxy() as proxy,
        running_daemon(daemon_dir, base_config(daemon_dir, [recipe])) as daemon,
    ):
        code, lines = await daemon.admin(
            "POST", "/v1/models/sim/scale", {"direction": "up", "wait": True}
        )
        assert code == 200 and lines[-1].get("ok"), lines
        sim_url = str((await daemon.model("sim"))["endpoint"]).rstrip("/")
        yield Setup(daemon, sim_url, site, proxy, ca.bundle)


async def _script(sim_url: str, *replies: dict[str, Any]) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{sim_url}/sim/script", json=[TITLE_SPEC, *replies]) as response:
            assert response.status == 200, await response.text()


async def _sim_requests(sim_url: str) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession() as session:
        async with session.get(
            f"{sim_url}/sim/requests", params={"path": "/v1/chat/completions"}
        ) as response:
            records = await response.json()
    assert isinstance(records, list)
    return records


async def _autosrectl_claude(setup: Setup, home: Path, *args: str, **extra: str) -> ClaudeRun:
    project = home.parent / f"{home.name}-project"
    project.mkdir(parents=True)
    env = scratch_env(
        home,
        # Every request to a host outside loopback goes to the refusing proxy; the daemon
        # and the test site are on loopback and reached directly.
        HTTPS_PROXY=setup.proxy.url,
        HTTP_PROXY=setup.proxy.url,
        NO_PROXY="127.0.0.1,localhost",
        NODE_EXTRA_CA_CERTS=str(setup.ca_bundle),
        **extra,
    )
    env["PATH"] = f"{CLAUDE.parent}{os.pathsep}{env['PATH']}"
    command = [sys.executable, "-m", "autosred.ctl", "--socket", str(setup.daemon.admin_socket)]
    # --no-mcp: Claude Code's own WebFetch, not the daemon's fetch tool.
    return await run_headless(
        [*command, "claude", "--no-mcp", *args, "--output-format", "json"], cwd=project, env=env
    )


def _webfetch(url: str) -> dict[str, Any]:
    arguments = {"url": url, "prompt": "Which bird is this page about?"}
    return {"tool_calls": [{"name": "WebFetch", "arguments": arguments}]}


@pytest.mark.parametrize("haiku", [None, HAIKU], ids=["default-small-model", "haiku-label"])
async def test_webfetch_reaches_the_page_and_the_local_model_with_no_vendor_request(
    tmp_path: Path, haiku: str | None
) -> None:
    async with webfetch_setup(tmp_path) as setup:
        url = setup.site.url("/heron")
        await _script(
            setup.sim_url,
            {"match": SUMMARY_MATCH, "text": SUMMARY},
            _webfetch(url),
            {"text": ANSWER},
        )
        run = await _autosrectl_claude(
            setup,
            tmp_path / "home",
            "-p",
            "What is on the page?",
            "--allowedTools",
            "WebFetch",
            **({"ANTHROPIC_DEFAULT_HAIKU_MODEL": haiku} if haiku else {}),
        )
        assert run.rc == 0, run
        result = run.json()
        assert result["is_error"] is False, result
        assert result["result"] == ANSWER

        # Not one request left loopback: the vendor's domain check was not even attempted.
        assert setup.proxy.asked == []
        # Claude Code fetched the page itself, once.
        assert setup.site.hits["/heron"] == 1

        records = await _sim_requests(setup.sim_url)
        summaries = [r for r in records if SUMMARY_MATCH in last_user_text(r["body"])]
        assert len(summaries) == 1, records
        # The page's text reached the local model in the summarising request, and no tools
        # came with it.
        summary_body = summaries[0]["body"]
        assert MARKER in last_user_text(summary_body)
        assert "grey heron" in last_user_text(summary_body)
        assert not summary_body.get("tools")
        # The summary came back to the main loop as WebFetch's result.
        turns = [r for r in records if r["body"].get("tools")]
        assert len(turns) == 2, turns
        results = [m for m in turns[1]["body"]["messages"] if m["role"] == "tool"]
        assert len(results) == 1
        assert SUMMARY in json.dumps(results[0]["content"])

        # The summarising request went under Claude Code's small-model label: with a base URL
        # of its own and a token, that is the main model's unless the user names a haiku
        # model; either way the recipe's claude-* alias put it on the local model, and the
        # daemon answered every request it received with 200.
        labels = {MODEL} if haiku is None else {MODEL, haiku}
        assert set(result["modelUsage"]) == labels, result["modelUsage"]
        assert summaries[0]["http_status"] == 200
        metrics = await setup.daemon.metrics()
        answered = [
            line
            for line in metrics.splitlines()
            if line.startswith("autosred_requests_total{") and not line.endswith(" 0.0")
        ]
        assert answered and all('api="anthropic"' in line for line in answered), answered
        assert all('status="200"' in line for line in answered), answered
        assert metric_value(metrics, "autosred_requests_total", api="anthropic") == len(records)


async def test_with_the_preflight_on_the_vendor_is_asked_and_webfetch_fails(
    tmp_path: Path,
) -> None:
    """The control: the user's own ``skipWebFetchPreflight: false`` (autosrectl keeps the
    user's word) brings the vendor's domain check back, and it is the refusing proxy that
    receives it, so the empty record above means what it says."""
    async with webfetch_setup(tmp_path) as setup:
        await _script(setup.sim_url, _webfetch(setup.site.url("/heron")), {"text": ANSWER})
        run = await _autosrectl_claude(
            setup,
            tmp_path / "home",
            '--settings={"skipWebFetchPreflight": false}',
            "-p",
            "What is on the page?",
            "--allowedTools",
            "WebFetch",
        )
        assert run.rc == 0, run
        assert setup.proxy.asked == ["CONNECT api.anthropic.com:443"]
        assert setup.site.hits["/heron"] == 0
        records = await _sim_requests(setup.sim_url)
        turns = [r for r in records if r["body"].get("tools")]
        assert len(turns) == 2, turns
        (failure,) = [m for m in turns[1]["body"]["messages"] if m["role"] == "tool"]
        assert "Unable to verify if domain 127.0.0.1 is safe to fetch" in json.dumps(
            failure["content"]
        )
