"""The ``browser`` tool group: navigate, read and act on pages by element refs.

A model without vision works from the accessibility snapshot: each interactive element is a
line with a ref (``- button "Sign in" [ref=e12]``), and the actions take that ref. Every
action answers with the page's new snapshot, so the model never needs a second call to see
what its click did. A call's state (the context, its tabs, its cookies) is its MCP
session's: the workload opens a context on a session's first call and closes it with the
session. Every failure the model can act on is a tool error saying what to do.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from autosred.config import BrowserSettings
from autosred.mcp.browser.render import cap, render_tabs, render_view
from autosred.mcp.tools import (
    CallContext,
    Image,
    ResourceItem,
    ToolResult,
    ToolSpec,
    parse_arguments,
    schema_of,
)
from autosred.web.browser.apng import assemble
from autosred.web.browser.files import SavedFile
from autosred.web.browser.session import ActionFailed, BrowserSession
from autosred.web.browser.workload import BrowserUnavailable, BrowserWorkload

log = logging.getLogger(__name__)

RESOURCE_PREFIX = "autosred://browser/files/"
"""The URIs of the saved PDFs and screenshots (``resources/read``)."""
DIRECT = CallContext(session="direct", client="-")
"""The context of calls made outside any MCP session (a tool's ``handler``)."""
MAX_WAIT = 60.0
REF_FIELD = Field(
    min_length=1, max_length=40, description="An element's ref from the latest snapshot (e12)."
)


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NoArgs(_Args):
    pass


class NavigateArgs(_Args):
    url: str = Field(min_length=1, max_length=8192, description="The http(s) URL to open.")


class SnapshotArgs(_Args):
    ref: str | None = Field(
        default=None,
        min_length=1,
        max_length=40,
        description="Only this element's part of the page (its ref); default: the whole page.",
    )


class RefArgs(_Args):
    ref: str = REF_FIELD


class TypeArgs(_Args):
    ref: str = REF_FIELD
    text: str = Field(max_length=100_000, description="The text to put in the field.")
    submit: bool = Field(default=False, description="Press Enter afterwards.")


class PressArgs(_Args):
    key: str = Field(
        min_length=1,
        max_length=64,
        description="A key or chord as Playwright names it: Enter, Tab, ArrowDown, Escape, "
        "Control+A.",
    )


class ScrollArgs(_Args):
    direction: Literal["up", "down", "left", "right"] | None = Field(
        default=None, description="Scroll the page by most of a screen this way."
    )
    ref: str | None = Field(
        default=None, min_length=1, max_length=40, description="Scroll this element into view."
    )

    @model_validator(mode="after")
    def _one(self) -> ScrollArgs:
        if self.direction is not None and self.ref is not None:
            raise ValueError("give direction or ref, not both")
        return self


class SelectArgs(_Args):
    ref: str = REF_FIELD
    values: list[str] = Field(
        min_length=1, max_length=100, description="The option values or labels to select."
    )


class TabArgs(_Args):
    index: int = Field(ge=0, le=1000, description="The tab's index, as tabs lists them.")


class WaitArgs(_Args):
    text: str | None = Field(
        default=None, min_length=1, max_length=1000, description="Text to wait for."
    )
    ref: str | None = Field(
        default=None, min_length=1, max_length=40, description="An element to wait for."
    )
    timeout: float = Field(default=10.0, gt=0, le=MAX_WAIT, description="Seconds to wait at most.")

    @model_validator(mode="after")
    def _one(self) -> WaitArgs:
        if (self.text is None) == (self.ref is None):
            raise ValueError("give exactly one of text and ref")
        return self


class ScreenshotArgs(_Args):
    ref: str | None = Field(
        default=None, min_length=1, max_length=40, description="Only this element."
    )
    full_page: bool = Field(
        default=False, description="The whole scrollable page, not just the viewport."
    )


class EvaluateArgs(_Args):
    js: str = Field(
        min_length=1,
        max_length=100_000,
        description="A JavaScript expression or function, run in the page; its result is returned.",
    )


Action = Callable[[BrowserSession, Any], Awaitable[str | ToolResult]]


class BrowserTools:
    """The ``browser`` group over the daemon's :class:`BrowserWorkload`, which the daemon
    builds and this group closes (at the daemon's stop)."""

    name = "browser"

    def __init__(self, settings: BrowserSettings, *, workload: BrowserWorkload) -> None:
        self._settings = settings
        self._workload = workload

    def tools(self) -> Sequence[ToolSpec]:
        specs = [
            self._spec(
                "navigate",
                "Open a page",
                "Open an http(s) URL in the current tab and return the page's accessibility "
                "snapshot: one line per element, interactive ones with a ref "
                '(- button "Sign in" [ref=e12]) that click, type and the other tools take. '
                "Only public addresses can be opened (requests to loopback, private or "
                "link-local addresses are blocked, redirects included).",
                NavigateArgs,
                self._navigate,
                read_only=False,
            ),
            self._spec(
                "snapshot",
                "Read the page",
                "The current page's accessibility snapshot with element refs (of one element "
                "with ref).",
                SnapshotArgs,
                self._snapshot,
            ),
            self._spec(
                "click",
                "Click an element",
                "Click the element with this ref; returns the page's new snapshot.",
                RefArgs,
                self._click,
                read_only=False,
            ),
            self._spec(
                "type",
                "Type into a field",
                "Replace the text of the input with this ref (submit: press Enter after); "
                "returns the new snapshot.",
                TypeArgs,
                self._type,
                read_only=False,
            ),
            self._spec(
                "press",
                "Press a key",
                "Press a key in the page (Enter, Tab, ArrowDown, Escape, Control+A); returns "
                "the new snapshot.",
                PressArgs,
                self._press,
                read_only=False,
            ),
            self._spec(
                "scroll",
                "Scroll",
                "Scroll the page up, down, left or right by most of a screen, or scroll the "
                "element with ref into view; returns the new snapshot.",
                ScrollArgs,
                self._scroll,
            ),
            self._spec(
                "select",
                "Choose options",
                "Select options (by value or label) in the select element with ref; returns "
                "the new snapshot.",
                SelectArgs,
                self._select,
                read_only=False,
            ),
            self._spec(
                "back",
                "Go back",
                "Go back to the previous page in the tab's history; returns its snapshot.",
                NoArgs,
                self._back,
                read_only=False,
            ),
            self._spec(
                "tabs",
                "List tabs",
                "The open tabs with their index, title and URL (* marks the current one).",
                NoArgs,
                self._tabs,
            ),
            self._spec(
                "tab",
                "Switch tab",
                "Make the tab with this index (from tabs) the current one; returns its snapshot.",
                TabArgs,
                self._tab,
            ),
            self._spec(
                "wait_for",
                "Wait for text or an element",
                "Wait until the text (or the element with ref) is visible, up to timeout "
                "seconds; returns the snapshot then.",
                WaitArgs,
                self._wait_for,
            ),
            self._spec(
                "pdf",
                "Save the page as PDF",
                "Print the current page to a PDF (A4), saved by the server; the answer links "
                "to it as a resource (resources/read gets the file).",
                NoArgs,
                self._pdf,
            ),
            self._spec(
                "record_start",
                "Start recording",
                "Start recording the current tab (what it shows, as it repaints) until "
                "record_stop.",
                NoArgs,
                self._record_start,
            ),
            self._spec(
                "record_stop",
                "Stop recording",
                "Stop the recording and save it as an animated PNG (plays in any browser); "
                "the answer links to it as a resource.",
                NoArgs,
                self._record_stop,
            ),
            self._spec(
                "screenshot",
                "Take a screenshot",
                "A picture of the current tab's viewport (the whole page with full_page, one "
                "element with ref), as an image; PNG, or JPEG when the PNG is too large.",
                ScreenshotArgs,
                self._screenshot,
            ),
        ]
        if self._settings.allow_evaluate:
            specs.append(
                self._spec(
                    "evaluate",
                    "Run JavaScript",
                    "Run a JavaScript expression or function in the current page and return "
                    "its result as text.",
                    EvaluateArgs,
                    self._evaluate,
                    read_only=False,
                )
            )
        return specs

    async def session_ended(self, session: str) -> None:
        await self._workload.end_session(session)

    async def close(self) -> None:
        await self._workload.close()

    # ------------------------------------------------------------------------------ plumbing

    def _spec(
        self,
        name: str,
        title: str,
        description: str,
        model: type[_Args],
        action: Action,
        *,
        read_only: bool = True,
    ) -> ToolSpec:
        async def in_session(arguments: Mapping[str, Any], call: CallContext) -> ToolResult:
            return await self._call(name, model, action, arguments, call)

        async def direct(arguments: Mapping[str, Any]) -> ToolResult:
            return await self._call(name, model, action, arguments, DIRECT)

        return ToolSpec(
            name=name,
            title=title,
            description=description,
            input_schema=lean_schema(schema_of(model)),
            handler=direct,
            session_handler=in_session,
            read_only=read_only,
        )

    async def _call(
        self,
        name: str,
        model: type[_Args],
        action: Action,
        arguments: Mapping[str, Any],
        call: CallContext,
    ) -> ToolResult:
        args = parse_arguments(model, arguments)
        if isinstance(args, ToolResult):
            return args
        started = time.monotonic()
        outcome = "ok"
        try:
            async with self._workload.session(call.session) as session:
                result = await action(session, args)
        except BrowserUnavailable as exc:
            outcome = "unavailable"
            return ToolResult.error(str(exc))
        except ActionFailed as exc:
            outcome = "failed"
            return ToolResult.error(str(exc))
        finally:
            log.info(
                "mcp.browser",
                extra={
                    "fields": {
                        "tool": name,
                        "outcome": outcome,
                        "client": call.client,
                        "duration_s": round(time.monotonic() - started, 4),
                    }
                },
            )
        return result if isinstance(result, ToolResult) else ToolResult(result)

    async def _view(self, session: BrowserSession, done: str, *, ref: str | None = None) -> str:
        view = await session.view(ref=ref)
        return render_view(view, done=done, max_chars=self._settings.max_text_chars)

    # ------------------------------------------------------------------------------- tools

    async def _navigate(self, session: BrowserSession, args: NavigateArgs) -> str:
        await session.navigate(args.url)
        return await self._view(session, "")

    async def _snapshot(self, session: BrowserSession, args: SnapshotArgs) -> str:
        return await self._view(session, "", ref=args.ref)

    async def _click(self, session: BrowserSession, args: RefArgs) -> str:
        await session.click(args.ref)
        return await self._view(session, f"Clicked {args.ref}.")

    async def _type(self, session: BrowserSession, args: TypeArgs) -> str:
        await session.type(args.ref, args.text, submit=args.submit)
        done = f"Typed into {args.ref}" + (" and pressed Enter." if args.submit else ".")
        return await self._view(session, done)

    async def _press(self, session: BrowserSession, args: PressArgs) -> str:
        await session.press(args.key)
        return await self._view(session, f"Pressed {args.key}.")

    async def _scroll(self, session: BrowserSession, args: ScrollArgs) -> str:
        await session.scroll(direction=args.direction, ref=args.ref)
        done = (
            f"Scrolled {args.ref} into view."
            if args.ref
            else f"Scrolled {args.direction or 'down'}."
        )
        return await self._view(session, done)

    async def _select(self, session: BrowserSession, args: SelectArgs) -> str:
        chosen = await session.select(args.ref, args.values)
        return await self._view(
            session, f"Selected {', '.join(chosen) or 'nothing'} in {args.ref}."
        )

    async def _back(self, session: BrowserSession, args: NoArgs) -> str:
        went = await session.back()
        return await self._view(
            session, "Went back." if went else "There was no page to go back to."
        )

    async def _tabs(self, session: BrowserSession, args: NoArgs) -> str:
        return render_tabs(await session.tabs())

    async def _tab(self, session: BrowserSession, args: TabArgs) -> str:
        await session.select_tab(args.index)
        return await self._view(session, f"Switched to tab {args.index}.")

    async def _wait_for(self, session: BrowserSession, args: WaitArgs) -> str:
        await session.wait_for(text=args.text, ref=args.ref, timeout=args.timeout)
        what = f"element {args.ref}" if args.ref else f"{args.text!r}"
        return await self._view(session, f"{what} is there.")

    async def _screenshot(self, session: BrowserSession, args: ScreenshotArgs) -> ToolResult:
        shot = await session.screenshot(
            ref=args.ref,
            full_page=args.full_page,
            max_bytes=self._settings.max_screenshot_bytes,
        )
        kind = "PNG" if shot.mime_type == "image/png" else "JPEG"
        saved = await self._workload.files.save(f"screenshot-{kind.lower()}", shot.data)
        return ToolResult(
            f"Screenshot of {session.current_url}: {shot.width}x{shot.height} {kind}, "
            f"{len(shot.data):,} bytes, saved as {resource_uri(saved.name)}.",
            images=(Image(data=shot.data, mime_type=shot.mime_type),),
            links=(_link(saved, f"Screenshot of {session.current_url}"),),
        )

    async def _pdf(self, session: BrowserSession, args: NoArgs) -> ToolResult:
        data = await session.pdf()
        saved = await self._workload.files.save("pdf", data)
        return ToolResult(
            f"Saved {session.current_url} as a PDF of {len(data):,} bytes: "
            f"{resource_uri(saved.name)} (read it with resources/read).",
            links=(_link(saved, f"PDF of {session.current_url}"),),
        )

    async def _record_start(self, session: BrowserSession, args: NoArgs) -> str:
        await session.record_start()
        return f"Recording {session.current_url}; call record_stop to save it."

    async def _record_stop(self, session: BrowserSession, args: NoArgs) -> ToolResult:
        recording = await session.record_stop()
        seconds = time.monotonic() - recording.started
        if not recording.frames:
            return ToolResult.error(
                "The recording has no frames (the page never painted); nothing was saved."
            )
        data, count = await asyncio.to_thread(assemble, recording.frames)
        saved = await self._workload.files.save("recording", data)
        cut = " (frames past the recording's limits were dropped)" if recording.cut else ""
        return ToolResult(
            f"Saved a recording of {count} frames over {seconds:.1f} s as an animated PNG "
            f"of {len(data):,} bytes{cut}: {resource_uri(saved.name)}.",
            links=(_link(saved, f"Recording of {session.current_url}"),),
        )

    # --------------------------------------------------------------------------- resources

    async def list_resources(self) -> Sequence[ResourceItem]:
        return [_link(saved, None) for saved in await self._workload.files.listed()]

    async def read_resource(self, uri: str) -> tuple[bytes, str] | None:
        if not uri.startswith(RESOURCE_PREFIX):
            return None
        return await self._workload.files.read(uri[len(RESOURCE_PREFIX) :])

    async def _evaluate(self, session: BrowserSession, args: EvaluateArgs) -> str:
        result = await session.evaluate(args.js)
        return cap(result, self._settings.max_text_chars)


def resource_uri(name: str) -> str:
    return RESOURCE_PREFIX + name


def _link(saved: SavedFile, description: str | None) -> ResourceItem:
    return ResourceItem(
        uri=resource_uri(saved.name),
        name=saved.name,
        mime_type=saved.mime_type,
        size=saved.size,
        description=description,
    )


def lean_schema(schema: Any) -> Any:
    """The schema without pydantic's ``title`` entries (``"title": "Ref"`` beside a property
    named ``ref``): a client puts every tool's schema in every model request, and sixteen
    tools' titles are tokens of the context spent on nothing."""
    if isinstance(schema, dict):
        return {
            key: lean_schema(value)
            for key, value in schema.items()
            if not (key == "title" and isinstance(value, str))
        }
    if isinstance(schema, list):
        return [lean_schema(item) for item in schema]
    return schema
