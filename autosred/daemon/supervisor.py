"""The composition root at run time: builds every part, binds the listeners, handles signals.

Start-up: engine, gate (owner tasks adopt running servers), listeners, then READY=1.
SIGTERM: STOPPING=1, stop accepting, let in-flight requests finish until shutdown.grace is over,
cancel those still running (each ends with its surface's error event), stop the owner tasks,
close the engine, exit 0: within the grace + config.SHUTDOWN_MARGIN (+ engine.stop_timeout
for a process engine child that ignores SIGTERM). SIGHUP: reload config and recipes; a bad new
config keeps the running one.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from aiohttp import web

from autosred.admin.app import make_app as make_admin_app
from autosred.admin.schema import BrowserStatus, ReloadResult, default_socket_path
from autosred.admin.serve import serve_unix
from autosred.clienttokens import ClientTokens
from autosred.config import (
    ConfigError,
    Settings,
    is_loopback_host,
    load_settings,
    split_listen,
)
from autosred.daemon import logs, loopguard
from autosred.daemon.checks import check_runtime
from autosred.daemon.connections import ConnectionGuard, GuardedAppRunner, TLSSite
from autosred.daemon.control import DaemonControl
from autosred.daemon.engines import build_engine
from autosred.daemon.gctuning import freeze_startup_heap
from autosred.daemon.inflight import InFlight
from autosred.daemon.keys import thinking_key
from autosred.daemon.logtails import LogTails
from autosred.daemon.modelservers import running_endpoints
from autosred.daemon.notify import Notifier
from autosred.daemon.throttle import LogThrottle
from autosred.dropbox.access import Access, StateFileError, access_file
from autosred.dropbox.app import HSTS, make_dropbox_app
from autosred.dropbox.cert import CertificateError, DropboxTls
from autosred.dropbox.service import DropboxService
from autosred.dropbox.storage import StoreError
from autosred.engines.base import Engine
from autosred.gpu import GpuReader
from autosred.mcp.groups import build_groups
from autosred.mcp.host import McpHost
from autosred.metrics import CONTENT_TYPE, Metrics
from autosred.proxy.anthropic.signature import ThinkingSigner
from autosred.proxy.app import make_api_app
from autosred.proxy.hosted.service import hosted_tools_of
from autosred.proxy.requestlog import RequestLog
from autosred.recipes import Catalog, load_catalog
from autosred.scaler import ModelGate, ModelState, Snapshot
from autosred.scaler.history import WakeHistory
from autosred.servermetrics.reader import ServerMetricsReader
from autosred.servermetrics.reexport import ServerSeries
from autosred.web.browser.workload import BrowserWorkload
from autosred.web.service import WebService, build_web_service

ConfigLoader = Callable[[], tuple[Settings, Catalog]]

CANCEL_WAIT = 2.0
"""Seconds requests cancelled at the end of the grace get to write their error event."""
CLOSE_TIMEOUT = 1.0
"""aiohttp's own shutdown wait per connection, once the daemon has drained its requests (it
waits this twice at most): only a handler that ignored its cancellation still runs then."""


def config_loader(path: Path) -> ConfigLoader:
    """Reads (and re-reads, on reload) the configuration and recipes, checked as a whole."""

    def load() -> tuple[Settings, Catalog]:
        source = str(path)
        settings = load_settings(path, source=source)
        catalog = load_catalog(settings, config_source=source)
        problems = check_runtime(settings, catalog, source=source)
        if problems:
            raise ConfigError(problems)
        return settings, catalog

    return load


class Supervisor:
    """Owns the daemon's parts for one run; ``run`` returns the exit status."""

    def __init__(
        self,
        *,
        settings: Settings,
        catalog: Catalog,
        reload_config: ConfigLoader,
        log: logging.Logger,
    ) -> None:
        self._settings = settings
        self._catalog = catalog
        self._reload_config = reload_config
        self._log = log
        self._notifier = Notifier(log=log)
        self._metrics = Metrics()
        self._requests = RequestLog()
        self._server_metrics = ServerMetricsReader(log=log.getChild("servermetrics"))
        # The model servers' series ride on the daemon's registry, read when it is scraped.
        self._metrics.registry.register(ServerSeries(self._server_metrics.families))
        self._metrics.watchers.set_function(lambda: self._requests.watchers)
        self._metrics.watch_backlog.set_function(self._requests.backlog)
        self._stopping = asyncio.Event()
        self._started = time.monotonic()
        self._listeners: dict[str, str] = {}
        self._mcp_servers: dict[str, str] = {}
        self._hosted_tools: list[str] = []
        """The MCP servers mounted on the api listener: name -> path (/mcp/<name>)."""
        self._background: set[asyncio.Task[None]] = set()
        self._ready = False
        self._gate_: ModelGate | None = None
        self._last_status = ""
        self._gpu = GpuReader(log=log)
        # One throttle for what clients and the kernel can make happen at will.
        self._throttle = LogThrottle(log.getChild("http"))
        self._inflight = InFlight()
        self._dropbox_tls: DropboxTls | None = None
        self._dropbox_service: DropboxService | None = None
        self._guards: list[ConnectionGuard] = []
        self._log_tails: LogTails | None = None
        self._dropbox_access: Access | None = None
        self._browser: BrowserWorkload | None = None
        """The MCP browser's workload (closed by its group with the MCP host)."""

    @property
    def _gate(self) -> ModelGate:
        assert self._gate_ is not None, "the gate exists only while the daemon runs"
        return self._gate_

    # ------------------------------------------------------------------------------ running

    async def run(self) -> int:
        settings = self._settings
        engine = build_engine(settings, self._catalog, log=self._log.getChild("engine"))
        state_dir = settings.resolved_state_dir()
        history = WakeHistory(state_dir / "wake-history.json", log=self._log)
        gpu = GpuReader(log=self._log.getChild("gpu"))
        self._gpu = gpu
        gate = ModelGate(
            catalog=self._catalog,
            engine=engine,
            history=history,
            metrics=self._metrics,
            settings=settings.scaler,
            log=self._log.getChild("scaler"),
            gpu=gpu,
            on_change=self._on_model_change,
            drift_action=settings.drift.action,
        )
        self._gate_ = gate
        runners: list[web.BaseRunner] = []
        loopguard.install(asyncio.get_running_loop(), self._throttle)
        try:
            await gate.start()
            api_runner = await self._start_api(gate)
            runners.append(api_runner)
            if settings.metrics.listen is not None:
                runners.append(await self._start_metrics(gate))
            if settings.dropbox.enabled:
                runners.append(await self._start_dropbox())
            runners.append(await self._start_admin(gate))
            self._install_signal_handlers()
            self._start_watchdog()
            self._ready = True
            freeze_startup_heap()
            self._notifier.ready(self._status_line(gate))
            self._log.info(
                "daemon.ready",
                extra={
                    "fields": {
                        **self._listeners,
                        "models": len(self._catalog),
                        "engine": engine.kind,
                    }
                },
            )
            await self._stopping.wait()
            await self._shutdown(gate, engine, runners)
            return 0
        except BaseException:
            self._log.info("daemon.aborting")
            await self._shutdown(gate, engine, runners)
            raise

    async def _start_api(self, gate: ModelGate) -> web.AppRunner:
        settings = self._settings
        key = thinking_key(settings.resolved_state_dir(), log=self._log)
        # The one web service: the MCP search/fetch groups and the hosted tools share it.
        web_service = build_web_service(settings, log=self._log.getChild("web"))
        hosted_tools = hosted_tools_of(settings, web_service)
        self._hosted_tools = sorted(hosted_tools.kinds) if hosted_tools is not None else []
        app = make_api_app(
            gate=gate,
            metrics=self._metrics,
            settings=settings.api,
            log=self._log.getChild("proxy"),
            signer=ThinkingSigner(key),
            reasoning_key=key,  # the Responses surface derives its own key from it
            hosted_tools=hosted_tools,
            ping_interval=settings.scaler.keepalive_interval,
            requests=self._requests,
        )
        if web_service is not None:
            # Registered before the MCP host's: closed after it, once nothing uses it.
            app.cleanup_ctx.append(_closing(web_service))
        # The drain at shutdown waits for these handlers (outermost: it sees every one).
        app.middlewares.insert(0, self._inflight.middleware)
        # /mcp is the MCP host's, in front of the proxy's middlewares (its own token check,
        # errors and body limit); everything else passes through it to the proxy.
        mcp = self._mcp_host(web_service)
        app.middlewares.insert(1, mcp.middleware)
        app.cleanup_ctx.append(mcp.lifespan)
        # handler_cancellation: a client that hangs up cancels its handler, which closes the
        # upstream request at once so vLLM frees the sequence's KV cache.
        runner = GuardedAppRunner(
            app,
            guard=self._guarded(
                ConnectionGuard(settings.connections, listener="api", throttle=self._throttle)
            ),
            handle_signals=False,
            handler_cancellation=True,
            shutdown_timeout=CLOSE_TIMEOUT,
            access_log=None,
        )
        await runner.setup()
        for name, address in (("api", settings.api.listen), ("codex", settings.codex.listen)):
            if address is None:
                continue
            host, port = split_listen(address)
            site = web.TCPSite(runner, host, port, reuse_address=True)
            await site.start()
            self._listeners[name] = _bound_address(site, host)
        return runner

    def _mcp_host(self, web_service: WebService | None) -> McpHost:
        settings = self._settings
        log = self._log.getChild("mcp")
        if settings.mcp.browser.enabled:
            self._browser = BrowserWorkload(
                settings.mcp.browser,
                profile_dir=settings.resolved_state_dir() / "browser" / "profile",
                log=self._log.getChild("browser"),
                model_busy=self._model_busy,
            )
            problem = self._browser.launch_problem()
            if problem is not None:
                # Served all the same: each browser call answers this, and installing
                # Chromium needs no restart.
                log.warning("browser.launch_unavailable", extra={"fields": {"why": problem}})
        groups = build_groups(
            settings.mcp,
            admin_socket=settings.admin.socket or default_socket_path(),
            web=web_service,
            browser=self._browser,
        )
        host = McpHost(
            groups=groups,
            settings=settings.mcp,
            tokens=ClientTokens(settings.api.clients),
            listen_hosts=[
                split_listen(address)[0]
                for address in (settings.api.listen, settings.codex.listen)
                if address is not None
            ],
            metrics=self._metrics,
            log=log,
        )
        self._mcp_servers = host.servers
        log.info("mcp.servers", extra={"fields": {"paths": host.paths}})
        return host

    def _model_busy(self) -> bool:
        """Whether model requests are in flight (held for a wake or streaming): what the
        side loads give way to."""
        return self._gate.leases > 0

    def _browser_status(self) -> BrowserStatus | None:
        if self._browser is None:
            return None
        now = self._browser.snapshot()
        return BrowserStatus(
            state=now.state,
            mode=now.mode,
            target=now.target,
            sessions=now.sessions,
            in_flight=now.in_flight,
            idle_in_seconds=now.idle_in_seconds,
            last_start_seconds=now.last_start_seconds,
            last_error=now.last_error,
            gave_way_seconds=now.gave_way_seconds,
        )

    async def _start_metrics(self, gate: ModelGate) -> web.AppRunner:
        assert self._settings.metrics.listen is not None
        metrics = self._metrics

        gpu = self._gpu

        async def render(request: web.Request) -> web.Response:
            # GPU telemetry and the model servers' metrics are read at scrape time: no
            # background polling (a server's read has its own short timeout).
            metrics.set_gpu_readings(await asyncio.to_thread(gpu.read))
            await self._server_metrics.refresh(running_endpoints(gate))
            return web.Response(body=metrics.render(), headers={"Content-Type": CONTENT_TYPE})

        async def healthz(request: web.Request) -> web.Response:
            return web.json_response({"status": "ok"})

        async def readyz(request: web.Request) -> web.Response:
            ready = self._ready and not self._stopping.is_set()
            return web.json_response(
                {"ready": ready, "models": {s.name: s.state.value for s in gate.snapshots()}},
                status=200 if ready else 503,
            )

        app = web.Application()
        app.router.add_get("/metrics", render)
        app.router.add_get("/healthz", healthz)
        app.router.add_get("/readyz", readyz)
        runner = GuardedAppRunner(
            app,
            guard=self._guarded(
                ConnectionGuard(
                    self._settings.connections, listener="metrics", throttle=self._throttle
                )
            ),
            handle_signals=False,
            shutdown_timeout=CLOSE_TIMEOUT,
            access_log=None,
        )
        await runner.setup()
        host, port = split_listen(self._settings.metrics.listen)
        if not is_loopback_host(host):
            # Prometheus on another host is a fair reason to bind wider, so this is said, not
            # refused: what the port tells anyone who reaches it is worth a firewall rule.
            self._log.warning(
                "daemon.metrics_exposed",
                extra={
                    "fields": {
                        "listen": self._settings.metrics.listen,
                        "answers_without_token": "/metrics /healthz /readyz (model names, "
                        "request counts)",
                        "fix": "bind 127.0.0.1, or allow only the scraper's address",
                    }
                },
            )
        site = web.TCPSite(runner, host, port, reuse_address=True)
        await site.start()
        self._listeners["metrics"] = _bound_address(site, host)
        return runner

    async def _start_dropbox(self) -> web.AppRunner:
        settings = self._settings
        try:
            tls = DropboxTls(
                settings.dropbox,
                settings.resolved_state_dir(),
                log=self._log.getChild("dropbox"),
            )
        except CertificateError as exc:
            raise ConfigError([f"dropbox.tls: {exc}"]) from exc
        self._dropbox_tls = tls
        log = self._log.getChild("dropbox")
        state_dir = settings.resolved_state_dir()
        try:
            access = await Access.open(access_file(state_dir), log=log)
            service = await DropboxService.open(
                settings.dropbox,
                state_dir,
                metrics=self._metrics,
                log=log,
                model_busy=self._model_busy,
            )
        except (StateFileError, StoreError, OSError) as exc:
            raise ConfigError([f"dropbox: {exc}"]) from exc
        self._dropbox_access, self._dropbox_service = access, service
        runner = GuardedAppRunner(
            make_dropbox_app(
                service=service,
                gatekeeper=access,
                metrics=self._metrics,
                body_idle_timeout=settings.dropbox.body_idle_timeout,
                log=log,
            ),
            guard=self._guarded(
                ConnectionGuard(
                    settings.connections,
                    listener="dropbox",
                    throttle=self._throttle,
                    headers={"Strict-Transport-Security": HSTS},
                )
            ),
            handle_signals=False,
            shutdown_timeout=CLOSE_TIMEOUT,
            access_log=None,
        )
        await runner.setup()
        host, port = split_listen(settings.dropbox.listen)
        site = TLSSite(
            runner,
            host,
            port,
            ssl_context=tls.context,
            handshake_timeout=settings.connections.header_timeout,
        )
        await site.start()
        self._listeners["dropbox"] = _bound_address(site, host)
        return runner

    def _guarded(self, guard: ConnectionGuard) -> ConnectionGuard:
        self._guards.append(guard)
        return guard

    def _open_connections(self) -> list[tuple[str, str, int]]:
        """(listener, peer, connections) now, the listener named by the port it came in on."""
        by_port = {
            address.rpartition(":")[2]: name
            for name, address in self._listeners.items()
            if name != "admin"
        }
        return sorted(
            (by_port.get(str(port), str(port)), peer, count)
            for guard in self._guards
            for port, peer, count in guard.open_connections()
        )

    async def _start_admin(self, gate: ModelGate) -> web.BaseRunner:
        settings = self._settings
        self._log_tails = LogTails(engine=gate.engine, log=self._log.getChild("watch"))
        control = DaemonControl(
            gate=gate,
            listeners=lambda: dict(self._listeners),
            mcp=lambda: dict(self._mcp_servers),
            hosted_tools=lambda: list(self._hosted_tools),
            dropbox=lambda: self._dropbox_tls,
            dropbox_access=lambda: self._dropbox_access,
            dropbox_service=lambda: self._dropbox_service,
            browser=self._browser_status,
            dropbox_hostnames=lambda: self._settings.dropbox.tls.hostnames,
            reload=self.reload,
            started=self._started,
            requests=self._requests,
            server_metrics=self._server_metrics,
            connections=self._open_connections,
            gpu=self._gpu,
            log_tails=self._log_tails,
        )
        app = make_admin_app(
            control=control, allowed_group=settings.admin.group, log=self._log.getChild("admin")
        )
        path = settings.admin.socket or default_socket_path()
        runner = await serve_unix(
            app, path, group=settings.admin.group, log=self._log.getChild("admin")
        )
        self._listeners["admin"] = str(path)
        return runner

    # ------------------------------------------------------------------------------ signals

    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._request_stop, signum)
        loop.add_signal_handler(signal.SIGHUP, self._spawn, self._reload_on_signal)

    def _request_stop(self, signum: int) -> None:
        self._log.info(
            "daemon.stop_requested", extra={"fields": {"signal": signal.Signals(signum).name}}
        )
        self._stopping.set()

    async def _reload_on_signal(self) -> None:
        await self.reload()

    async def reload(self) -> ReloadResult:
        """Re-read config and recipes; on any problem keep the running configuration."""
        self._notifier.reloading()
        try:
            if self._dropbox_tls is not None:
                # The certificate files are re-read whatever the config says (a renewed
                # certificate is the usual reason for a SIGHUP); a bad pair keeps the old.
                self._dropbox_tls.reload()
            try:
                settings, catalog = self._reload_config()
            except ConfigError as exc:
                self._log.error(
                    "daemon.reload_rejected", extra={"fields": {"problems": exc.messages}}
                )
                return ReloadResult(
                    ok=False, messages=exc.messages, models=[r.name for r in self._catalog]
                )
            messages = self._restart_only_changes(settings)
            for message in messages:
                self._log.warning(
                    "daemon.reload_needs_restart", extra={"fields": {"change": message}}
                )
            await self._gate.update_catalog(catalog)
            self._settings, self._catalog = settings, catalog
            logs.configure(settings.log.level, settings.log.format)
            self._log.info(
                "daemon.reloaded", extra={"fields": {"models": [r.name for r in catalog]}}
            )
            return ReloadResult(ok=True, messages=messages, models=[r.name for r in catalog])
        finally:
            self._notifier.ready(self._status_line(self._gate))

    def _restart_only_changes(self, new: Settings) -> list[str]:
        old = self._settings
        changed = []
        for key in (
            "api",
            "codex",
            "metrics",
            "connections",
            "admin",
            "engine",
            "state_dir",
            "shutdown",
            "drift",
            "mcp",  # the servers and their groups are built once, with the api listener
            "hosted_tools",  # the proxy's tool executors are built once, like the app
            "dropbox",  # its listener and storage are set up once; a reload re-reads the cert
        ):
            if getattr(old, key) != getattr(new, key):
                changed.append(f"{key}: changed; takes effect after a restart")
        return changed

    # ------------------------------------------------------------------------ housekeeping

    def _start_watchdog(self) -> None:
        interval = self._notifier.watchdog_interval()
        if interval is None:
            return

        async def ping() -> None:
            while True:
                self._notifier.watchdog()
                await asyncio.sleep(interval)

        self._spawn(ping)

    def _spawn(self, factory: Callable[[], Awaitable[None]]) -> None:
        async def guarded() -> None:
            name = getattr(factory, "__name__", "task")
            try:
                await factory()
            except asyncio.CancelledError:
                raise
            except Exception:
                self._log.exception("daemon.task_crashed", extra={"fields": {"task": name}})

        task = asyncio.create_task(guarded())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _on_model_change(self, snapshot: Snapshot) -> None:
        # Every lease publishes a snapshot; systemd hears only when the summary line changes.
        if self._ready:
            line = self._status_line(self._gate)
            if line != self._last_status:
                self._last_status = line
                self._notifier.status(line)

    def _status_line(self, gate: ModelGate) -> str:
        """systemctl status' one line: the models' states (not in-flight counts, which change
        with every request)."""
        states = gate.snapshots()
        ready = sum(1 for s in states if s.state is ModelState.READY)
        detail = ", ".join(f"{s.name} {s.state.value}" for s in states)
        return f"{ready}/{len(states)} models ready: {detail}"

    async def _shutdown(
        self, gate: ModelGate, engine: Engine, runners: list[web.BaseRunner]
    ) -> None:
        self._notifier.stopping()
        grace = self._settings.shutdown.grace
        deadline = asyncio.get_running_loop().time() + grace
        self._log.info(
            "daemon.draining",
            extra={
                "fields": {
                    "in_flight": gate.leases,
                    "requests": len(self._inflight),
                    "grace": grace,
                }
            },
        )
        # The api listeners stop accepting first and close their idle connections; requests
        # in progress get the rest of the grace, then are cancelled. Metrics and admin stay up
        # meanwhile so the drain can be watched.
        if runners:
            api = runners[0]
            for site in list(api.sites):
                await site.stop()
            if api.server is not None:
                api.server.pre_shutdown()
            cancelled = await self._inflight.drain(deadline, cancel_wait=CANCEL_WAIT)
            if cancelled:
                self._log.warning(
                    "daemon.requests_cancelled",
                    extra={"fields": {"count": cancelled, "after": grace}},
                )
            await api.cleanup()
        await gate.aclose()
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        try:
            await engine.aclose()
        except Exception:
            self._log.exception("daemon.engine_close_failed")
        self._gpu.close()
        for runner in runners[1:]:
            await runner.cleanup()
        await self._server_metrics.aclose()
        if self._log_tails is not None:
            self._log_tails.close()
        self._log.info("daemon.stopped")


def _bound_address(site: web.TCPSite, host: str) -> str:
    """The address actually bound (port 0 in tests becomes the real port)."""
    server = site._server
    sockets = getattr(server, "sockets", None) or []
    for sock in sockets:
        address = sock.getsockname()
        port = address[1]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return site.name


def _closing(service: WebService) -> Callable[[web.Application], AsyncIterator[None]]:
    """An app cleanup context that closes ``service`` when the app stops."""

    async def close(app: web.Application) -> AsyncIterator[None]:
        yield
        await service.close()

    return close
