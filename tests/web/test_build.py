"""build_web_service: the daemon's one service has search when the MCP search server or the
hosted web_search runs, fetch when the MCP fetch server or the hosted web_fetch does, and is
not built when nothing needs the web."""

from __future__ import annotations

import logging

from hypothesis import given
from hypothesis import strategies as st

from autosred.config import Settings
from autosred.web.service import build_web_service

LOG = logging.getLogger("test.web")


@given(
    search_server=st.booleans(),
    fetch_server=st.booleans(),
    hosted_search=st.sampled_from([None, True, False]),
    hosted_fetch=st.sampled_from([None, True, False]),
)
async def test_each_part_is_there_when_something_uses_it(
    search_server: bool,
    fetch_server: bool,
    hosted_search: bool | None,
    hosted_fetch: bool | None,
) -> None:
    settings = Settings(
        mcp={"search": {"enabled": search_server}, "fetch": {"enabled": fetch_server}},
        hosted_tools={
            "web_search": {"enabled": hosted_search},
            "web_fetch": {"enabled": hosted_fetch},
        },
    )
    searches = search_server or settings.hosted_web_search_enabled()
    fetches = fetch_server or settings.hosted_web_fetch_enabled()
    web = build_web_service(settings, log=LOG)
    if not (searches or fetches):
        assert web is None
        return
    assert web is not None
    try:
        assert (web.searches, web.fetches) == (searches, fetches)
        assert web.search_per_minute == (settings.mcp.search.per_minute if searches else 0)
    finally:
        await web.close()
