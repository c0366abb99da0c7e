"""hosted_tools: each tool follows its MCP server unless set, its per-request cap, the check
that a hosted search alone still has a backend, and the metrics family the executors record
into."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from autosred.config import ConfigError, Settings, load_settings
from autosred.metrics import Metrics
from autosred.recipes import load_catalog
from tests.support.daemon import base_config, running_daemon, sim_recipe

ROOT = Path(__file__).resolve().parents[2]


def _load(tmp_path: Path, text: str) -> Settings:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return load_settings(path)


def test_by_default_both_tools_follow_their_mcp_servers() -> None:
    settings = Settings()
    assert settings.hosted_tools.web_search.enabled is None
    assert settings.hosted_web_search_enabled() is True
    assert settings.hosted_web_fetch_enabled() is True
    assert settings.hosted_tools.web_search.max_uses == 5
    assert settings.hosted_tools.web_fetch.max_uses == 5


@given(
    search_server=st.booleans(),
    fetch_server=st.booleans(),
    search=st.sampled_from([None, True, False]),
    fetch=st.sampled_from([None, True, False]),
)
def test_an_explicit_setting_wins_over_the_mcp_server(
    search_server: bool, fetch_server: bool, search: bool | None, fetch: bool | None
) -> None:
    settings = Settings(
        mcp={"search": {"enabled": search_server}, "fetch": {"enabled": fetch_server}},
        hosted_tools={"web_search": {"enabled": search}, "web_fetch": {"enabled": fetch}},
    )
    assert settings.hosted_web_search_enabled() is (search_server if search is None else search)
    assert settings.hosted_web_fetch_enabled() is (fetch_server if fetch is None else fetch)


def test_a_disabled_mcp_server_turns_its_hosted_tool_off_unless_it_is_set(tmp_path: Path) -> None:
    settings = _load(
        tmp_path,
        "mcp:\n  search: {enabled: false}\n  fetch: {enabled: false}\n"
        "hosted_tools:\n  web_fetch: {enabled: true, max_uses: 2}\n",
    )
    assert settings.hosted_web_search_enabled() is False
    assert settings.hosted_web_fetch_enabled() is True
    assert settings.hosted_tools.web_fetch.max_uses == 2


def test_env_sets_a_hosted_tool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOSRED_HOSTED_TOOLS__WEB_SEARCH__ENABLED", "false")
    monkeypatch.setenv("AUTOSRED_HOSTED_TOOLS__WEB_FETCH__MAX_USES", "9")
    settings = _load(tmp_path, "{}\n")
    assert settings.hosted_web_search_enabled() is False
    assert settings.hosted_tools.web_fetch.max_uses == 9


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "hosted_tools:\n  web_search: {max_uses: 0}\n",
            "hosted_tools.web_search.max_uses: Input should be greater than or equal to 1",
        ),
        (
            "hosted_tools:\n  web_fetch: {enabled: sometimes}\n",
            "hosted_tools.web_fetch.enabled: Input should be a valid boolean",
        ),
        ("hosted_tools:\n  web_browse: {}\n", "hosted_tools.web_browse: unknown key"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, text)
    assert any(
        line.startswith(f"{tmp_path / 'c.yaml'}: {message}") for line in caught.value.messages
    ), caught.value.messages


def test_a_hosted_search_on_its_own_still_needs_the_searxng_url(tmp_path: Path) -> None:
    # With the MCP server off, mcp.search's own check does not run; the hosted tool uses
    # the same backend, so the root checks it.
    text = "mcp:\n  search: {enabled: false, backend: searxng}\n"
    assert _load(tmp_path, text).hosted_web_search_enabled() is False
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, text + "hosted_tools:\n  web_search: {enabled: true}\n")
    assert "mcp.search.searxng_url" in "\n".join(caught.value.messages)
    fixed = text.replace("searxng}", "searxng, searxng_url: 'http://127.0.0.1:8888'}")
    settings = _load(tmp_path, fixed + "hosted_tools:\n  web_search: {enabled: true}\n")
    assert settings.hosted_web_search_enabled() is True


def _sample(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if match and dict(re.findall(r'(\w+)="([^"]*)"', match.group(1))) == labels:
            return float(match.group(2))
    return None


def test_a_recorded_call_counts_by_surface_client_tool_and_outcome() -> None:
    metrics = Metrics()
    for outcome in ("ok", "ok", "max_uses_exceeded"):
        metrics.record_hosted_tool_call(
            surface="anthropic", client="e2e", tool="web_search", outcome=outcome, seconds=0.2
        )
    metrics.record_hosted_tool_call(
        surface="responses", client="-", tool="web_fetch", outcome="url_not_allowed", seconds=0.01
    )
    text = metrics.render().decode()
    calls = "autosred_hosted_tool_calls_total"
    assert (
        _sample(text, calls, surface="anthropic", client="e2e", tool="web_search", outcome="ok")
        == 2
    )
    assert (
        _sample(
            text,
            calls,
            surface="anthropic",
            client="e2e",
            tool="web_search",
            outcome="max_uses_exceeded",
        )
        == 1
    )
    assert (
        _sample(
            text,
            calls,
            surface="responses",
            client="-",
            tool="web_fetch",
            outcome="url_not_allowed",
        )
        == 1
    )
    durations = "autosred_hosted_tool_call_duration_seconds_count"
    assert _sample(text, durations, surface="anthropic", tool="web_search") == 3
    assert _sample(text, durations, surface="responses", tool="web_fetch") == 1


async def test_a_reload_names_a_hosted_tools_change_as_needing_a_restart(tmp_path: Path) -> None:
    config = base_config(tmp_path, [sim_recipe()])
    async with running_daemon(tmp_path, config) as daemon:
        changed = base_config(tmp_path, [sim_recipe()], hosted_tools={"web_fetch": {"max_uses": 2}})
        daemon.config_path.write_text(yaml.safe_dump(changed))
        status, result = await daemon.admin("POST", "/v1/reload")
        assert status == 200, result
        assert result["messages"] == ["hosted_tools: changed; takes effect after a restart"]


def test_the_demo_recipes_serve_claude_codes_small_model_label() -> None:
    """WebFetch's summarising request goes under Claude Code's small-model label, which is
    claude-haiku-… when the user names one (ANTHROPIC_DEFAULT_HAIKU_MODEL): the demos' claude-*
    alias puts it on the same local model as the main label."""
    for name in ("demo.yaml", "demo-k8s.yaml"):
        path = ROOT / "etc" / "autosred" / name
        catalog = load_catalog(load_settings(path), config_source=str(path))
        main = catalog.resolve("claude-sonnet-4-5")
        assert main is not None, name
        assert catalog.resolve("claude-haiku-4-5-20251001") == main, name
