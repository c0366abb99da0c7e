"""A fake of our own Control interface, with real state transitions.

Wakes run as tasks that step through phases and publish each step to every waiter's queue, as
the scaler's owner task does; so waiters joining a wake, waiters leaving early and failed
wakes behave as they will against the daemon. Tests steer it with events, never with sleeps:
``hold_at`` parks a wake at a phase until ``release`` is set; a scale-down drains until
``finish_requests`` is called.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field

from autosred.admin.control import ControlError
from autosred.admin.schema import (
    DriftField,
    DriftReport,
    DropboxCert,
    DropboxFile,
    DropboxSession,
    DropboxShare,
    DropboxShareRequest,
    DropboxToken,
    DropboxTokenCreated,
    DropboxTokenRequest,
    HelmValues,
    ModelStatus,
    Progress,
    RecipeApplied,
    RecipeApplyRequest,
    ReloadResult,
    RequestRecord,
    StateName,
    Status,
    WatchFrame,
    WatchModel,
)


def _no_dropbox() -> ControlError:
    return ControlError.of("not_found", "the dropbox is not enabled (dropbox.enabled)")


DEFAULT_PHASES = (("scheduling", ""), ("pulling image", "3 GiB"), ("loading weights", ""))


@dataclass
class FakeModel:
    name: str
    phases: tuple[tuple[str, str], ...] = DEFAULT_PHASES
    fail_at: str | None = None
    """The wake fails with ``failure`` on reaching this phase."""
    failure: str = "ImagePullBackOff: image vllm/vllm-openai:nope not found"
    hold_at: str | None = None
    """The wake waits at this phase until ``release`` is set."""
    release: asyncio.Event = field(default_factory=asyncio.Event)
    drained: asyncio.Event = field(default_factory=asyncio.Event)
    status: ModelStatus = field(init=False)

    def __post_init__(self) -> None:
        self.status = ModelStatus(
            name=self.name,
            served_model_name=f"org/{self.name}",
            aliases=[f"{self.name}-alias"],
            endpoint=f"http://127.0.0.1:18000/{self.name}",
        )


class FakeControl:
    """Implements autosred.admin.control.Control."""

    def __init__(self, models: Iterable[FakeModel]) -> None:
        self._models = {m.name: m for m in models}
        self._watchers: dict[str, list[asyncio.Queue[Progress | str]]] = {
            name: [] for name in self._models
        }
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.wakes: dict[str, int] = dict.fromkeys(self._models, 0)
        self.reload_result = ReloadResult(
            ok=True, messages=["config ok"], models=list(self._models)
        )
        self.status_error: Exception | None = None
        self.requests: list[RequestRecord] = []
        """Finished requests, oldest first (``request_done`` adds one)."""
        self._request_feeds: list[asyncio.Queue[RequestRecord]] = []
        self.frames_built = 0

    # --- test controls --------------------------------------------------------------------

    def model(self, name: str) -> FakeModel:
        return self._models[name]

    def set(self, name: str, **changes: object) -> None:
        model = self._models[name]
        model.status = dataclasses.replace(model.status, **changes)  # type: ignore[arg-type]

    def watchers(self, name: str) -> int:
        return len(self._watchers[name])

    async def settled(self, name: str) -> None:
        """Wait for the model's wake or stop task, if any, to end."""
        task = self._tasks.get(name)
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)

    def request_done(self, record: RequestRecord) -> None:
        self.requests.append(record)
        for feed in self._request_feeds:
            feed.put_nowait(record)

    @property
    def request_watchers(self) -> int:
        return len(self._request_feeds)

    def finish_requests(self, name: str) -> None:
        self.set(name, in_flight=0)
        self._models[name].drained.set()

    # --- Control ----------------------------------------------------------------------------

    def status(self) -> Status:
        if self.status_error is not None:
            raise self.status_error
        return Status(
            version="0.0.0-fake",
            pid=os.getpid(),
            uptime_seconds=3725.0,
            engine="process",
            listeners={"api": "127.0.0.1:8011", "codex": "127.0.0.1:8012", "admin": "/x.sock"},
            models=self.models(),
        )

    def models(self) -> list[ModelStatus]:
        return [m.status for m in self._models.values()]

    async def switch(self, model: str, *, wait: bool) -> AsyncIterator[Progress]:
        async for progress in self.scale_up(model, wait=wait):
            yield progress

    async def scale_up(self, model: str, *, wait: bool) -> AsyncIterator[Progress]:
        m = self._lookup(model)
        queue = self._watch(model)
        try:
            if m.status.state in ("stopped", "failed"):
                self._start(m)
            yield self._progress(m)
            if m.status.state == "ready" or not wait:
                return
            async for item in self._until(queue, "ready"):
                yield item
        finally:
            self._watchers[model].remove(queue)

    async def scale_down(self, model: str, *, wait: bool) -> AsyncIterator[Progress]:
        m = self._lookup(model)
        if m.status.state == "starting":
            raise ControlError.of("conflict", f"{model} is starting; try again when it is ready")
        queue = self._watch(model)
        try:
            if m.status.state in ("ready", "failed"):
                self._stop(m)
            yield self._progress(m)
            if m.status.state == "stopped" or not wait:
                return
            async for item in self._until(queue, "stopped"):
                yield item
        finally:
            self._watchers[model].remove(queue)

    async def reload(self) -> ReloadResult:
        return self.reload_result

    async def watch_frame(self) -> WatchFrame:
        self.frames_built += 1
        return WatchFrame(
            at=time.time(),
            models=[
                WatchModel(
                    name=m.name,
                    state=m.status.state,
                    phase=m.status.phase,
                    in_flight=m.status.in_flight,
                    held=m.status.held,
                    idle_left_seconds=m.status.idle_in_seconds,
                )
                for m in self._models.values()
            ],
            requests=self.requests[::-1],
        )

    async def watch_requests(self) -> AsyncIterator[RequestRecord]:
        feed: asyncio.Queue[RequestRecord] = asyncio.Queue()
        self._request_feeds.append(feed)
        try:
            while True:
                yield await feed.get()
        finally:
            self._request_feeds.remove(feed)

    async def drift(self, model: str) -> DriftReport:
        m = self._lookup(model)
        return DriftReport(
            model=m.name,
            engine="kubernetes",
            checked=True,
            recipe_hash="a" * 64,
            live_hash="b" * 64,
            pod=f"{m.name}-5d9c7-x2x4q",
            fields=[DriftField("container.args", '["--x"]', '["--y"]')],
        )

    def helm_values(self, model: str) -> HelmValues:
        m = self._lookup(model)
        return HelmValues(
            model=m.name,
            values={"models": [{"recipe": m.name}]},
            yaml=f"models:\n- recipe: {m.name}\n",
        )

    async def apply_recipe(self, model: str, request: RecipeApplyRequest) -> RecipeApplied:
        # Applied for real against the fake k3s in tests/daemon/test_recipe_apply.py.
        m = self._lookup(model)
        raise ControlError.of("bad_request", f"the fake control applies nothing ({m.name})")

    def dropbox_cert(self) -> DropboxCert:
        raise _no_dropbox()

    # The dropbox's own methods are tested against the real daemon (tests/dropbox).
    async def dropbox_tokens(self) -> list[DropboxToken]:
        raise _no_dropbox()

    async def dropbox_create_token(self, request: DropboxTokenRequest) -> DropboxTokenCreated:
        raise _no_dropbox()

    async def dropbox_revoke_token(self, name: str) -> DropboxToken:
        raise _no_dropbox()

    async def dropbox_session(self) -> DropboxSession:
        raise _no_dropbox()

    async def dropbox_files(self) -> list[DropboxFile]:
        raise _no_dropbox()

    async def dropbox_remove(self, file_id: str) -> DropboxFile:
        raise _no_dropbox()

    async def dropbox_share(self, request: DropboxShareRequest) -> DropboxShare:
        raise _no_dropbox()

    # --- internals --------------------------------------------------------------------------

    def _lookup(self, model: str) -> FakeModel:
        if model not in self._models:
            raise ControlError.unknown_model(model, self._models)
        return self._models[model]

    def _watch(self, model: str) -> asyncio.Queue[Progress | str]:
        queue: asyncio.Queue[Progress | str] = asyncio.Queue()
        self._watchers[model].append(queue)
        return queue

    async def _until(
        self, queue: asyncio.Queue[Progress | str], target: StateName
    ) -> AsyncIterator[Progress]:
        while True:
            item = await queue.get()
            if isinstance(item, str):
                raise ControlError.of("wake_failed", item)
            yield item
            if item.state == target:
                return

    def _progress(self, m: FakeModel) -> Progress:
        s = m.status
        return Progress(
            model=m.name, state=s.state, phase=s.phase, detail="", eta_seconds=s.eta_seconds
        )

    def _publish(self, m: FakeModel, item: Progress | str) -> None:
        for queue in self._watchers[m.name]:
            queue.put_nowait(item)

    def _start(self, m: FakeModel) -> None:
        # State changes at once (as the scaler's does when it takes the request), so the first
        # item a caller sees already says "starting".
        self.set(m.name, state="starting", phase="requested", eta_seconds=30.0, last_error=None)
        self.wakes[m.name] += 1
        self._tasks[m.name] = asyncio.create_task(self._wake(m))

    async def _wake(self, m: FakeModel) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        for index, (phase, detail) in enumerate(m.phases):
            eta = 10.0 * (len(m.phases) - index)
            self.set(m.name, phase=phase, eta_seconds=eta)
            self._publish(m, Progress(m.name, "starting", phase, detail, eta))
            if phase == m.fail_at:
                self.set(m.name, state="failed", phase=None, eta_seconds=None, last_error=m.failure)
                self._publish(m, m.failure)
                return
            if phase == m.hold_at:
                await m.release.wait()
            await asyncio.sleep(0)  # yield to the waiters between phases, as real I/O would
        self.set(
            m.name,
            state="ready",
            phase=None,
            eta_seconds=None,
            last_wake_seconds=loop.time() - started,
            idle_in_seconds=600.0,
        )
        self._publish(m, Progress(m.name, "ready"))

    def _stop(self, m: FakeModel) -> None:
        draining = m.status.in_flight > 0
        self.set(m.name, state="stopping", phase="draining" if draining else "stopping")
        if not draining:
            m.drained.set()
        self._tasks[m.name] = asyncio.create_task(self._drain_and_stop(m))

    async def _drain_and_stop(self, m: FakeModel) -> None:
        await m.drained.wait()
        self.set(m.name, state="stopping", phase="stopping")
        self._publish(m, Progress(m.name, "stopping", "stopping"))
        await asyncio.sleep(0)
        self.set(m.name, state="stopped", phase=None, idle_in_seconds=None)
        self._publish(m, Progress(m.name, "stopped"))
