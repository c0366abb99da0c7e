"""The fetch tool's handler against real HTTP and HTTPS sites on loopback (aiohttp servers,
a trustme CA): HTML to Markdown, pagination, charsets, JSON, redirects, the byte cap, the
timeout, HTTP errors. The SSRF cases are in test_fetch_guard.py, robots.txt in
test_fetch_robots.py."""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from autosred.mcp.tools import ToolResult
from tests.mcp.fetch.conftest import ToolFactory
from tests.web.fetch.sites import (
    SiteCA,
    body,
    never_answers,
    page,
    redirect,
    running_site,
    streamed,
)


def ok(result: ToolResult) -> str:
    assert not result.is_error, result.text
    return result.text


def failed(result: ToolResult) -> str:
    assert result.is_error, result.text
    return result.text


async def test_html_page_over_https_comes_back_as_markdown(
    make_tool: ToolFactory, ca: SiteCA
) -> None:
    routes = {"/library/json.html": page("python-json.html")}
    async with running_site(routes, ssl_context=ca.server_context("127.0.0.1")) as site:
        tool = make_tool()
        url = site.url("/library/json.html")
        text = ok(await tool.call({"url": url, "max_length": 100_000}))
    assert text.startswith(f"Contents of {url}:\n\n# ")
    assert "JSON encoder and decoder" in text
    # Code blocks are fenced, with their lines intact.
    assert "```\n>>> import json\n>>> json.dumps(['foo', {'bar': ('baz', None, 1.0, 2)}])" in text
    # Links are absolute against the page's own URL, so the model can fetch them next.
    assert f"]({url}#module-json)" in text
    assert "](https://docs.python.org" not in text  # no join against the site root
    assert "<div" not in text and "<span" not in text


async def test_docbook_screen_blocks_stay_code(make_tool: ToolFactory) -> None:
    async with running_site({"/ch08.html": page("debian-reference-ch08.html")}) as site:
        text = ok(await make_tool().call({"url": site.url("/ch08.html"), "max_length": 100_000}))
    # A multi-line <pre class="screen"> is a fenced block; a one-line one inline code.
    assert (
        "```\n# dpkg-reconfigure keyboard-configuration\n# dpkg-reconfigure console-setup\n```"
        in text
    )
    assert "`# dpkg-reconfigure locales`" in text


async def test_raw_returns_the_html_as_sent(make_tool: ToolFactory) -> None:
    async with running_site({"/p": page("python-urllib-robotparser.html")}) as site:
        text = ok(await make_tool().call({"url": site.url("/p"), "raw": True, "max_length": 300}))
    assert "<!DOCTYPE html>" in text


async def test_pages_join_up_to_the_whole_text(make_tool: ToolFactory) -> None:
    async with running_site({"/p": page("python-json.html")}) as site:
        tool = make_tool()
        url = site.url("/p")
        whole = ok(await tool.call({"url": url, "max_length": 1_000_000}))
        content = whole.split("\n\n", 1)[1]
        pieces: list[str] = []
        start = 0
        while True:
            text = ok(await tool.call({"url": url, "start_index": start, "max_length": 7000}))
            piece = text.split("\n\n", 1)[1]
            if "More remains: call fetch again with start_index=" not in piece:
                pieces.append(piece)
                break
            piece, note = piece.rsplit("\n\n[Characters ", 1)
            pieces.append(piece)
            start = int(note.split("start_index=")[1].split(" ")[0])
        past = await tool.call({"url": url, "start_index": len(content) + 10})
    assert "".join(pieces) == content
    assert len(pieces) > 3
    assert past.is_error and "past the end" in past.text and str(len(content)) in past.text


async def test_charset_from_the_header(make_tool: ToolFactory) -> None:
    text = "Grüße aus Köln, € 5"
    routes = {
        "/latin": body(
            text.replace("€", "EUR").encode("iso-8859-1"), "text/plain; charset=ISO-8859-1"
        ),
        "/cp1252": body(text.encode("cp1252"), "text/plain; charset=windows-1252"),
        "/utf8": body(text.encode("utf-8"), "text/plain"),
    }
    async with running_site(routes) as site:
        tool = make_tool()
        latin = ok(await tool.call({"url": site.url("/latin")}))
        cp1252 = ok(await tool.call({"url": site.url("/cp1252")}))
        utf8 = ok(await tool.call({"url": site.url("/utf8")}))
    assert latin.endswith("Grüße aus Köln, EUR 5")
    assert cp1252.endswith(text)
    assert utf8.endswith(text)


async def test_charset_from_the_meta_tag(make_tool: ToolFactory) -> None:
    html = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=koi8-r">'
        "<title>t</title></head><body><h1>Заголовок</h1>"
        + "<p>Привет, мир. Это тестовая страница с кириллицей.</p>" * 20
        + "</body></html>"
    )
    async with running_site({"/ru": body(html.encode("koi8-r"), "text/html")}) as site:
        text = ok(await make_tool().call({"url": site.url("/ru")}))
    assert "Привет, мир." in text


async def test_json_and_text_come_back_as_they_are(make_tool: ToolFactory) -> None:
    document = {"name": "autosred", "tools": ["fetch", "search"], "nested": {"n": 1}}
    raw_json = json.dumps(document, indent=2).encode()
    routes = {
        "/api": body(raw_json, "application/json"),
        "/problem": body(raw_json, "application/problem+json"),
        "/readme": body(b"# Title\n\n<b>not html</b>\n", "text/markdown"),
    }
    async with running_site(routes) as site:
        tool = make_tool()
        api = ok(await tool.call({"url": site.url("/api")}))
        problem = ok(await tool.call({"url": site.url("/problem")}))
        readme = ok(await tool.call({"url": site.url("/readme")}))
    assert json.loads(api.split("\n\n", 1)[1]) == document
    assert json.loads(problem.split("\n\n", 1)[1]) == document
    assert readme.endswith("# Title\n\n<b>not html</b>\n")


async def test_other_types_are_refused_with_the_type_named(make_tool: ToolFactory) -> None:
    routes = {
        "/logo": body(b"\x89PNG\r\n\x1a\n" + bytes(64), "image/png"),
        "/blob": body(bytes(range(256)), "application/octet-stream"),
    }
    async with running_site(routes) as site:
        tool = make_tool()
        logo = failed(await tool.call({"url": site.url("/logo")}))
        blob = failed(await tool.call({"url": site.url("/blob")}))
    assert "image/png" in logo
    assert "application/octet-stream" in blob


async def test_redirects_are_followed_hop_by_hop(make_tool: ToolFactory) -> None:
    routes = {
        "/a": redirect("/b", 301),
        "/b": redirect("c", 307),
        "/c": redirect("/final?x=1", 303),
        "/final": body(b"arrived", "text/plain"),
    }
    async with running_site(routes) as site:
        text = ok(await make_tool().call({"url": site.url("/a")}))
        assert text == f"Contents of {site.url('/final?x=1')}:\n\narrived"
        assert [site.hits[p] for p in ("/a", "/b", "/c", "/final")] == [1, 1, 1, 1]


async def test_too_many_redirects_are_refused(make_tool: ToolFactory) -> None:
    routes = {f"/r{n}": redirect(f"/r{n + 1}") for n in range(5)}
    routes["/r5"] = body(b"end", "text/plain")
    async with running_site(routes) as site:
        text = failed(await make_tool(max_redirects=3).call({"url": site.url("/r0")}))
        assert "redirected more than 3 times" in text
        assert site.hits["/r4"] == 0
        assert ok(await make_tool(max_redirects=5).call({"url": site.url("/r0")})).endswith("end")


async def test_a_declared_length_over_the_cap_is_refused_unread(make_tool: ToolFactory) -> None:
    async with running_site({"/big": body(b"x" * 50_000, "text/plain")}) as site:
        text = failed(await make_tool(max_bytes=10_000).call({"url": site.url("/big")}))
    assert "50,000 bytes" in text and "10,000 bytes" in text


async def test_a_streamed_body_over_the_cap_is_cut_off(make_tool: ToolFactory) -> None:
    async with running_site({"/stream": streamed(b"y" * 4096, 64)}) as site:
        tool = make_tool(max_bytes=20_000)
        text = failed(await tool.call({"url": site.url("/stream")}))
        assert "more than 20,000 bytes" in text
        # The tool goes on working after giving up a download half way.
        small = make_tool(max_bytes=1_000_000)
        assert ok(await small.call({"url": site.url("/stream"), "max_length": 10}))


async def test_a_site_that_never_answers_times_out(make_tool: ToolFactory) -> None:
    released = asyncio.Event()
    async with running_site({"/hang": never_answers(released)}) as site:
        try:
            text = failed(await make_tool(timeout=1).call({"url": site.url("/hang")}))
        finally:
            released.set()
    assert "timed out" in text or "took longer than" in text


async def test_http_errors_are_tool_errors_with_a_hint(make_tool: ToolFactory) -> None:
    routes = {
        "/gone": body(b"nope", "text/plain", status=404),
        "/busy": body(b"slow down", "text/plain", status=429),
        "/broken": body(b"oops", "text/plain", status=503),
    }
    async with running_site(routes) as site:
        tool = make_tool()
        gone = failed(await tool.call({"url": site.url("/gone")}))
        busy = failed(await tool.call({"url": site.url("/busy")}))
        broken = failed(await tool.call({"url": site.url("/broken")}))
    assert "404" in gone and "does not exist" in gone
    assert "429" in busy and "rate limiting" in busy
    assert "503" in broken and "try again later" in broken


async def test_a_closed_port_is_a_tool_error(make_tool: ToolFactory) -> None:
    async with running_site({}) as site:
        url = site.url("/")
    text = failed(await make_tool().call({"url": url}))
    assert "Could not connect" in text


async def test_an_untrusted_certificate_is_refused(make_tool: ToolFactory, ca: SiteCA) -> None:
    async with running_site(
        {"/": body(b"hi", "text/plain")}, ssl_context=ca.server_context("127.0.0.1")
    ) as site:
        text = failed(await make_tool(ca_bundle=None).call({"url": site.url("/")}))
    assert "certificate" in text


async def test_bad_arguments_are_tool_errors(make_tool: ToolFactory) -> None:
    tool = make_tool()
    assert "max_length" in failed(await tool.call({"url": "https://example.com", "max_length": 0}))
    assert "start_index" in failed(
        await tool.call({"url": "https://example.com", "start_index": -1})
    )
    assert "url" in failed(await tool.call({}))
    assert "surprise" in failed(await tool.call({"url": "https://example.com", "surprise": 1}))


async def test_the_tool_is_listed_with_its_schema(make_tool: ToolFactory) -> None:
    (spec,) = make_tool().tools()
    assert spec.name == "fetch" and spec.read_only
    properties = spec.input_schema["properties"]
    assert set(properties) == {"url", "max_length", "start_index", "raw"}
    assert properties["max_length"]["default"] == 5000
    assert spec.input_schema["required"] == ["url"]


async def test_a_continuation_reads_the_text_the_first_call_saw(make_tool: ToolFactory) -> None:
    served = 0

    async def changing(request: web.Request) -> web.StreamResponse:
        nonlocal served
        served += 1
        return web.Response(text=f"version {served} " + "abcdefghij" * 50)

    async with running_site({"/live": changing}) as site:
        tool = make_tool()
        url = site.url("/live")
        first = ok(await tool.call({"url": url, "max_length": 100}))
        second = ok(await tool.call({"url": url, "start_index": 100, "max_length": 100}))
        again = ok(await tool.call({"url": url, "max_length": 100}))
    assert "version 1 " in first and "[Characters 100-200 of 510." in second
    assert "version 2 " in again  # a new first call fetches anew
    assert served == 2
