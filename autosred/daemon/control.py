"""The admin API's view of the daemon: the Control protocol over the real scaler."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import yaml

from autosred import __version__
from autosred.admin.control import ControlError
from autosred.admin.schema import (
    AppliedObject,
    BrowserStatus,
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
    LogLine,
    ModelStatus,
    Progress,
    RecipeApplied,
    RecipeApplyRequest,
    ReloadResult,
    RequestRecord,
    ServerFigures,
    Status,
    WatchConnection,
    WatchFrame,
    WatchGpu,
    WatchModel,
)
from autosred.daemon.dropboxcontrol import NOT_ENABLED, DropboxControl
from autosred.daemon.logtails import LogTails
from autosred.daemon.modelservers import running_endpoints
from autosred.dropbox.access import Access
from autosred.dropbox.cert import DropboxTls
from autosred.dropbox.service import DropboxService
from autosred.engines.base import (
    ApplyRefused,
    DriftSource,
    EngineUnavailable,
    ProcessOwner,
    RecipeApplier,
)
from autosred.gpu import GpuProcess, GpuReader, GpuReading
from autosred.proxy.requestlog import RequestEntry, RequestLog
from autosred.recipes import Recipe, render
from autosred.scaler import ModelGate, ModelState, Snapshot, UnknownModel
from autosred.scaler.controller import ModelController
from autosred.servermetrics.figures import Figures
from autosred.servermetrics.reader import ServerMetricsReader


class DaemonControl:
    """Implements :class:`autosred.admin.control.Control` for the running daemon."""

    def __init__(
        self,
        *,
        gate: ModelGate,
        listeners: Callable[[], dict[str, str]],
        mcp: Callable[[], dict[str, str]] = dict,
        hosted_tools: Callable[[], list[str]] = list,
        dropbox: Callable[[], DropboxTls | None] = lambda: None,
        dropbox_access: Callable[[], Access | None] = lambda: None,
        dropbox_service: Callable[[], DropboxService | None] = lambda: None,
        browser: Callable[[], BrowserStatus | None] = lambda: None,
        dropbox_hostnames: Callable[[], Sequence[str]] = tuple,
        reload: Callable[[], Awaitable[ReloadResult]],
        started: float,
        requests: RequestLog | None = None,
        server_metrics: ServerMetricsReader | None = None,
        connections: Callable[[], list[tuple[str, str, int]]] = list,
        gpu: GpuReader | None = None,
        log_tails: LogTails | None = None,
    ) -> None:
        self._gate = gate
        self._listeners = listeners
        self._mcp = mcp
        self._hosted_tools = hosted_tools
        self._dropbox = dropbox
        self._dropbox_control = DropboxControl(
            tls=dropbox,
            access=dropbox_access,
            files=dropbox_service,
            listen=lambda: self._listeners().get("dropbox", ""),
            hostnames=dropbox_hostnames,
        )
        self._browser = browser
        self._reload = reload
        self._started = started
        self._requests = requests or RequestLog()
        self._server_metrics = server_metrics
        self._connections = connections
        self._gpu = gpu
        self._log_tails = log_tails

    def status(self) -> Status:
        return Status(
            version=__version__,
            pid=os.getpid(),
            uptime_seconds=round(time.monotonic() - self._started, 3),
            engine=self._gate.engine_kind,
            listeners=self._listeners(),
            models=self.models(),
            mcp=self._mcp(),
            hosted_tools=self._hosted_tools(),
            browser=self._browser(),
        )

    def models(self) -> list[ModelStatus]:
        by_name = {recipe.name: recipe for recipe in self._gate.catalog}
        result = []
        for snapshot in self._gate.snapshots():
            recipe = by_name[snapshot.name]
            result.append(
                ModelStatus(
                    name=snapshot.name,
                    served_model_name=recipe.served_model_name,
                    aliases=list(recipe.aliases),
                    state=snapshot.state.value,
                    in_flight=snapshot.in_flight,
                    held=snapshot.held,
                    phase=snapshot.phase,
                    eta_seconds=_round(snapshot.eta_seconds),
                    last_wake_seconds=snapshot.last_wake_seconds,
                    idle_in_seconds=_round(
                        max(0.0, snapshot.idle_deadline - time.time())
                        if snapshot.idle_deadline is not None
                        else None
                    ),
                    last_error=snapshot.last_error,
                    endpoint=snapshot.endpoint,
                    degraded=snapshot.degraded,
                )
            )
        return result

    def _controller(self, model: str) -> ModelController:
        try:
            return self._gate.controller(self._gate.resolve(model).name)
        except UnknownModel as exc:
            raise ControlError.unknown_model(model, [r.name for r in self._gate.catalog]) from exc

    async def scale_up(self, model: str, *, wait: bool) -> AsyncIterator[Progress]:
        controller = self._controller(model)
        first = await controller.scale_up()
        async for progress in self._follow(controller, first, wait=wait, target=ModelState.READY):
            yield progress

    async def scale_down(self, model: str, *, wait: bool) -> AsyncIterator[Progress]:
        controller = self._controller(model)
        first = await controller.scale_down()
        async for progress in self._follow(controller, first, wait=wait, target=ModelState.STOPPED):
            yield progress

    async def switch(self, model: str, *, wait: bool) -> AsyncIterator[Progress]:
        controller = self._controller(model)
        first = await self._gate.switch(controller.recipe.name)
        async for progress in self._follow(controller, first, wait=wait, target=ModelState.READY):
            yield progress

    async def _follow(
        self, controller: ModelController, first: Snapshot, *, wait: bool, target: ModelState
    ) -> AsyncIterator[Progress]:
        yield _progress(first)
        if not wait or _reached(first, target):
            return
        queue = controller.subscribe()
        try:
            while True:
                snapshot = await queue.get()
                yield _progress(snapshot)
                if _reached(snapshot, target):
                    return
                if snapshot.state is ModelState.FAILED:
                    raise ControlError.of("wake_failed", snapshot.last_error or "the wake failed")
        finally:
            controller.unsubscribe(queue)

    async def drift(self, model: str) -> DriftReport:
        recipe = self._recipe(model)
        engine = self._gate.engine
        if not isinstance(engine, DriftSource):
            return DriftReport(
                model=recipe.name,
                engine=engine.kind,
                checked=False,
                message=f"the {engine.kind} engine does not deploy from the recipe: "
                "there is no rendered spec to compare",
            )
        try:
            result = await engine.drift(recipe)
        except EngineUnavailable as exc:
            raise ControlError.of("unavailable", exc.reason) from exc
        if not result.deployed:
            message = "not deployed (no Deployment yet)"
        elif result.drifted:
            message = f"{len(result.fields)} field(s) differ from the recipe"
        else:
            message = "matches the recipe"
        return DriftReport(
            model=recipe.name,
            engine=engine.kind,
            checked=result.deployed,
            message=message,
            recipe_hash=result.recipe_hash or None,
            live_hash=result.live_hash,
            pod=result.pod,
            fields=[DriftField(f.field, f.recipe, f.live) for f in result.fields],
        )

    def dropbox_cert(self) -> DropboxCert:
        tls = self._dropbox()
        if tls is None:
            raise ControlError.of("not_found", NOT_ENABLED)
        return DropboxCert(
            fingerprint=tls.fingerprint, pem=tls.pem, listen=self._listeners().get("dropbox", "")
        )

    async def dropbox_tokens(self) -> list[DropboxToken]:
        return await self._dropbox_control.tokens()

    async def dropbox_create_token(self, request: DropboxTokenRequest) -> DropboxTokenCreated:
        return await self._dropbox_control.create_token(request)

    async def dropbox_revoke_token(self, name: str) -> DropboxToken:
        return await self._dropbox_control.revoke_token(name)

    async def dropbox_session(self) -> DropboxSession:
        return await self._dropbox_control.session()

    async def dropbox_files(self) -> list[DropboxFile]:
        return await self._dropbox_control.files()

    async def dropbox_remove(self, file_id: str) -> DropboxFile:
        return await self._dropbox_control.remove(file_id)

    async def dropbox_share(self, request: DropboxShareRequest) -> DropboxShare:
        return await self._dropbox_control.share(request)

    def helm_values(self, model: str) -> HelmValues:
        recipe = self._recipe(model)
        try:
            values = {"models": [render.helm_values(recipe)]}
        except render.RenderError as exc:
            raise ControlError.of("bad_request", str(exc)) from exc
        text = yaml.safe_dump(values, sort_keys=False, default_flow_style=False)
        return HelmValues(model=recipe.name, values=values, yaml=text)

    async def apply_recipe(self, model: str, request: RecipeApplyRequest) -> RecipeApplied:
        recipe = self._recipe(model)
        engine = self._gate.engine
        if not isinstance(engine, RecipeApplier):
            raise ControlError.of(
                "bad_request",
                f"the {engine.kind} engine does not deploy recipes to Kubernetes: recipe apply "
                "needs engine.kind: kubernetes (its kubeconfig and namespace)",
            )
        try:
            objects = await engine.apply(recipe, dry_run=request.dry_run, force=request.force)
        except ApplyRefused as exc:
            raise ControlError.of(
                "conflict" if exc.conflict else "bad_request", exc.reason
            ) from exc
        except EngineUnavailable as exc:
            raise ControlError.of("unavailable", exc.reason) from exc
        return RecipeApplied(
            model=recipe.name,
            dry_run=request.dry_run,
            namespace=engine.namespace,
            objects=[
                AppliedObject(kind=o.kind, name=o.name, action=o.action, diff=o.diff)
                for o in objects
            ],
        )

    def _recipe(self, model: str) -> Recipe:
        try:
            return self._gate.resolve(model)
        except UnknownModel as exc:
            raise ControlError.unknown_model(model, [r.name for r in self._gate.catalog]) from exc

    async def reload(self) -> ReloadResult:
        return await self._reload()

    async def watch_frame(self) -> WatchFrame:
        servers = self._server_metrics
        if servers is not None:
            await servers.refresh(running_endpoints(self._gate))
        # NVML calls block in the driver for a moment: off the event loop.
        gpus, processes = await asyncio.to_thread(self._read_gpus)
        residency = await self._residency(processes) if gpus else {}
        log = await self._log_tail()
        now = time.time()
        return WatchFrame(
            at=round(now, 3),
            models=[
                _watch_model(
                    snapshot,
                    now,
                    server=servers.figures(snapshot.name) if servers is not None else None,
                    residency_bytes=residency.get(snapshot.name),
                )
                for snapshot in self._gate.snapshots()
            ],
            requests=[_record(entry) for entry in self._requests.recent(FRAME_REQUESTS)],
            connections=[
                WatchConnection(listener=listener, surface=listener, peer=peer, count=count)
                for listener, peer, count in self._connections()
            ],
            gpus=[_watch_gpu(reading) for reading in gpus],
            log=[LogLine(model=model, line=line) for model, line in log],
        )

    def _read_gpus(self) -> tuple[list[GpuReading], list[GpuProcess]]:
        if self._gpu is None:
            return [], []
        return self._gpu.read_all()

    async def _residency(self, processes: list[GpuProcess]) -> dict[str, int]:
        """GPU memory held by each model with a server, summed over the processes NVML lists
        that the engine says are that server's (none for an engine that cannot tell, or when
        it cannot tell now)."""
        engine = self._gate.engine
        if not isinstance(engine, ProcessOwner):
            return {}
        by_name = {recipe.name: recipe for recipe in self._gate.catalog}
        pids = {p.pid for p in processes}
        result: dict[str, int] = {}
        for snapshot in self._gate.snapshots():
            recipe = by_name.get(snapshot.name)
            if snapshot.state not in _SERVER_STATES or recipe is None:
                continue
            try:
                theirs = await engine.server_processes(recipe, pids)
            except EngineUnavailable:
                continue
            result[snapshot.name] = sum(p.memory_bytes for p in processes if p.pid in theirs)
        return result

    async def _log_tail(self) -> list[tuple[str, str]]:
        """The last lines of every model server that is up or coming up."""
        if self._log_tails is None:
            return []
        by_name = {recipe.name: recipe for recipe in self._gate.catalog}
        return await self._log_tails.read(
            by_name[snapshot.name]
            for snapshot in self._gate.snapshots()
            if snapshot.state in _SERVER_STATES and snapshot.name in by_name
        )

    async def watch_requests(self) -> AsyncIterator[RequestRecord]:
        async for entry in self._requests.follow():
            yield _record(entry)


_SERVER_STATES = frozenset({ModelState.STARTING, ModelState.READY, ModelState.STOPPING})
"""States in which a model has a server whose output is worth showing."""
FRAME_REQUESTS = 50
"""Recent requests in each watch frame: more than a screen shows, far fewer than the ring."""


def _watch_model(
    snapshot: Snapshot, now: float, *, server: Figures | None, residency_bytes: int | None
) -> WatchModel:
    idle = snapshot.idle_deadline
    return WatchModel(
        name=snapshot.name,
        state=snapshot.state.value,
        phase=snapshot.phase,
        eta_seconds=_round(snapshot.eta_seconds),
        uptime_seconds=(
            _round(max(0.0, now - snapshot.ready_since))
            if snapshot.ready_since is not None
            else None
        ),
        idle_left_seconds=_round(max(0.0, idle - now) if idle is not None else None),
        in_flight=snapshot.in_flight,
        held=snapshot.held,
        drift=[DriftField(d.field, d.recipe, d.live) for d in snapshot.drift],
        residency_bytes=residency_bytes,
        last_error=snapshot.last_error,
        server=_server_figures(server) if server is not None else None,
    )


def _watch_gpu(reading: GpuReading) -> WatchGpu:
    return WatchGpu(
        index=reading.index,
        name=reading.name,
        memory_used_bytes=reading.memory_total_bytes - reading.memory_free_bytes,
        memory_total_bytes=reading.memory_total_bytes,
        utilization_percent=reading.utilization_percent,
        temperature_celsius=reading.temperature_celsius,
        power_watts=reading.power_watts,
    )


def _server_figures(figures: Figures) -> ServerFigures:
    return ServerFigures(
        requests_running=figures.requests_running,
        requests_waiting=figures.requests_waiting,
        kv_cache_usage=_figure(figures.kv_cache_usage),
        prompt_tokens_per_second=_figure(figures.prompt_tokens_per_second),
        generation_tokens_per_second=_figure(figures.generation_tokens_per_second),
        ttft_p50_seconds=_figure(figures.ttft_p50_seconds),
        ttft_p95_seconds=_figure(figures.ttft_p95_seconds),
        prefix_cache_hit_rate=_figure(figures.prefix_cache_hit_rate),
    )


def _figure(value: float | None) -> float | None:
    return round(value, 4) if value is not None else None


def _record(entry: RequestEntry) -> RequestRecord:
    return RequestRecord(
        at=round(entry.at, 3),
        surface=entry.surface,
        client=entry.client,
        model=entry.model,
        status=entry.status,
        ttfb_seconds=_ms(entry.ttfb_seconds),
        tokens_in=entry.tokens_in,
        tokens_out=entry.tokens_out,
        duration_seconds=round(entry.duration_seconds, 3),
    )


def _ms(value: float | None) -> float | None:
    return round(value, 3) if value is not None else None


def _reached(snapshot: Snapshot, target: ModelState) -> bool:
    if target is ModelState.STOPPED:
        return snapshot.state in (ModelState.STOPPED, ModelState.FAILED)
    return snapshot.state is target


def _progress(snapshot: Snapshot) -> Progress:
    return Progress(
        model=snapshot.name,
        state=snapshot.state.value,
        phase=snapshot.phase,
        detail=snapshot.detail,
        eta_seconds=_round(snapshot.eta_seconds),
    )


def _round(value: float | None) -> float | None:
    return round(value, 1) if value is not None else None
