"""The process engine: one child process per recipe, for a host without k3s.

The child is ``recipe.command`` with placeholders filled in (see recipes/render.py). It is
ready when ``GET http://host:port{engine.health_path}`` answers 200. Its output is logged line
by line (``engine.child_output``) and the last lines are kept for error messages.

No orphans, even when the daemon is SIGKILLed:

- each child leads its own session (so its process group is its own): ``stop`` signals the
  whole group, which takes a server's worker processes along, and a Ctrl-C at the daemon's
  terminal does not reach the children behind the daemon's back;
- the child is :mod:`autosred.engines.reaper`, which runs the command in its group and, when
  the command exits or the daemon dies, takes the whole group down with it: a command
  wrapped in a shell leaves no server behind (the death signal below reaches only the
  daemon's direct child, which was the shell);
- each child asks the kernel (``PR_SET_PDEATHSIG``, Linux only) for SIGTERM when its parent
  dies. SIGTERM rather than SIGKILL because it lets a server such as vLLM take down its own
  workers, which hold GPU memory and are not covered by the child's death signal; under systemd
  the service's cgroup is killed as a whole anyway. The kernel sends the signal when the
  *thread* that forked the child exits, not the process: the daemon runs its event loop, and so
  forks, on the main thread, whose end is the process's end. An engine driven from a loop in a
  worker thread would see its children signalled when that thread ends.
- a child whose parent died between fork and ``prctl`` would miss the signal, so it checks its
  parent's pid after arming it and exits if the parent is already gone.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import logging
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from collections import deque
from collections.abc import AsyncGenerator, Callable, Collection
from dataclasses import dataclass, field

import aiohttp
from yarl import URL

from autosred.config import EngineSettings
from autosred.engines import reaper
from autosred.engines.base import Observation, Observed, Ready, WakeFailed, WakeProgress
from autosred.engines.health import DEFAULT_TIMEOUT, HealthChecker, health_url
from autosred.engines.ports import pick_free_port, port_unavailable
from autosred.recipes import Recipe
from autosred.recipes.render import RenderError, render_command

TAIL_LINES = 20
"""Output lines kept per child for the error message when it dies."""

_LOGGED_LINE_CHARS = 8192  # one output "line" can be megabytes (a progress bar without \n)
_TAIL_LINE_CHARS = 500
_DETAIL_CHARS = 200
_DRAIN_TIMEOUT = 2.0  # seconds to read what a dead child left in its pipes
_LINE_BREAK = re.compile(rb"[\r\n]")  # \r too: progress bars redraw a line with it
_PR_SET_PDEATHSIG = 1
_DEATH_SIGNAL = signal.SIGTERM


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        # The C library is already mapped into the process; CDLL(None) just looks it up.
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return prctl


def _child_setup(prctl: Callable[..., int] | None, parent_pid: int) -> Callable[[], None]:
    """The preexec_fn: runs in the forked child before exec.

    Everything it touches is prepared in the parent (no imports, no logging, no locks): the
    forked child holds only the thread that forked, and a lock another thread held at fork time
    would never be released.
    """
    args = (ctypes.c_int(_PR_SET_PDEATHSIG), ctypes.c_ulong(_DEATH_SIGNAL))

    def setup() -> None:
        if prctl is not None:
            prctl(*args)
        if os.getppid() != parent_pid:
            # The daemon died before the death signal was armed: nobody will ever stop us.
            os._exit(1)

    return setup


def _executable(name: str) -> str | None:
    """The path the reaper will exec: ``name`` looked up in PATH like the shell would."""
    return shutil.which(name)


def _not_runnable_reason(name: str) -> str:
    if os.sep in name and os.path.exists(name):
        return os.strerror(errno.EACCES)
    return os.strerror(errno.ENOENT)


def _reaper_argv(executable: str, argv: list[str], stop_timeout: float) -> list[str]:
    # -I -S: the reaper needs the standard library only, and starts in milliseconds so.
    return [
        sys.executable,
        "-I",
        "-S",
        reaper.__file__,
        str(os.getpid()),
        str(stop_timeout),
        executable,
        "--",
        *argv,
    ]


def _exit_text(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with status {returncode}"


def _session_of(pid: int) -> int | None:
    try:
        return os.getsid(pid)
    except OSError:  # gone, or not ours to ask about
        return None


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(eq=False)
class _Child:
    """One running (or dead, not yet stopped) child and the tasks that serve it."""

    recipe: Recipe
    process: asyncio.subprocess.Process
    port: int
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=TAIL_LINES))
    readers: list[asyncio.Task[None]] = field(default_factory=list)
    watcher: asyncio.Task[int] | None = None
    stopping: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def output_tail(self) -> str:
        return "\n".join(self.tail) if self.tail else "(it printed nothing)"


class ProcessEngine:
    """Runs ``recipe.command`` as a child process per recipe."""

    kind = "process"

    def __init__(
        self,
        *,
        settings: EngineSettings,
        log: logging.Logger,
        session: aiohttp.ClientSession | None = None,
        health_timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._settings = settings
        self._log = log
        self._health = HealthChecker(session=session, timeout=health_timeout)
        self._children: dict[str, _Child] = {}
        self._prctl = _load_prctl()

    # -- queries -------------------------------------------------------------------------------

    def endpoint(self, recipe: Recipe) -> URL:
        """``http://host:port`` of the recipe's child; with a picked port, known after start."""
        child = self._children.get(recipe.name)
        port = child.port if child is not None else recipe.port
        if port is None:
            raise RuntimeError(
                f"recipe {recipe.name} has no port yet: the process engine picks one when it "
                "starts the server (set port in the recipe to fix one)"
            )
        return URL.build(scheme="http", host=self._settings.host, port=port)

    def child_pid(self, recipe: Recipe) -> int | None:
        """The pid of the recipe's child while the engine holds one (alive or not yet stopped)."""
        child = self._children.get(recipe.name)
        return child.pid if child is not None else None

    async def server_processes(self, recipe: Recipe, pids: Collection[int]) -> set[int]:
        """The child is a session leader (the reaper): the server and every process it starts
        are in its session, even one that left its process group."""
        child = self._children.get(recipe.name)
        if child is None:
            return set()
        return {pid for pid in pids if _session_of(pid) == child.pid}

    async def log_tail(self, recipe: Recipe, lines: int) -> list[str]:
        """The child's last output lines (stdout and stderr, as they came; the tail kept for
        error messages, TAIL_LINES at most)."""
        child = self._children.get(recipe.name)
        if child is None or lines <= 0:
            return []
        return list(child.tail)[-lines:]

    async def observe(self, recipe: Recipe) -> Observation:
        child = self._children.get(recipe.name)
        if child is None:
            return Observation(Observed.STOPPED, "no process")
        returncode = child.process.returncode
        if returncode is not None:
            if child.stopping is not None:
                return Observation(Observed.STOPPED, f"pid {child.pid} stopped")
            return Observation(
                Observed.FAILED, f"{recipe.name} {_exit_text(returncode)}: {child.output_tail()}"
            )
        prefix = "stopping, " if child.stopping is not None else ""
        base = self.endpoint(recipe)
        url = health_url(base, self._settings.health_path)
        health = await self._health.check(url)
        if health.ok:
            return Observation(
                Observed.RUNNING, f"{prefix}pid {child.pid} answering at {url}", endpoint=base
            )
        return Observation(Observed.STARTING, f"{prefix}pid {child.pid}: {url}: {health.reason}")

    # -- start ---------------------------------------------------------------------------------

    async def start(self, recipe: Recipe) -> AsyncGenerator[WakeProgress, None]:
        """Spawn the child and poll its health: phases ``spawning`` (the command), ``loading``
        (not listening yet; the child's last output line), ``health`` (answering, not 200 yet;
        finally the 200). Raises WakeFailed with the child's last output if it exits first.
        A cancelled start leaves the child running for ``stop``."""
        name = recipe.name
        if name in self._children:
            # Left over from a cancelled start or a failure nobody stopped: never run two.
            self._log.info("engine.child_replaced", extra={"fields": {"model": name}})
            await self.stop(recipe)
        host = self._settings.host
        port = self._choose_port(recipe, host)
        try:
            argv = render_command(recipe, host=host, port=port)
        except RenderError as exc:
            raise WakeFailed(str(exc)) from exc
        yield WakeProgress("spawning", shlex.join(argv))

        child = await self._spawn(recipe, argv, port)
        started = asyncio.get_running_loop().time()
        target = health_url(self.endpoint(recipe), self._settings.health_path)
        last = WakeProgress("loading", f"pid {child.pid}; waiting for {target}")
        yield last
        assert child.watcher is not None
        while True:
            # One interval between polls, cut short when the child exits.
            await asyncio.wait({child.watcher}, timeout=self._settings.health_interval)
            if child.process.returncode is not None:
                raise await self._died_while_starting(child)
            health = await self._health.check(target)
            if child.process.returncode is not None:
                # Whatever answered, it was not our child (which died meanwhile).
                raise await self._died_while_starting(child)
            if health.ok:
                elapsed = asyncio.get_running_loop().time() - started
                self._log.info(
                    "engine.child_ready",
                    extra={
                        "fields": {"model": name, "pid": child.pid, "seconds": round(elapsed, 3)}
                    },
                )
                yield Ready(
                    "health",
                    f"{target} answered 200 after {elapsed:.1f}s",
                    url=self.endpoint(recipe),
                )
                return
            if health.status is None:
                # Not listening yet: the server is loading; its own last words say how far.
                detail = child.tail[-1] if child.tail else f"waiting for {target}: {health.reason}"
                progress = WakeProgress("loading", _clip(detail, _DETAIL_CHARS))
            else:
                progress = WakeProgress("health", f"{target}: {health.reason}")
            if progress != last:
                last = progress
                yield progress

    def _choose_port(self, recipe: Recipe, host: str) -> int:
        if recipe.port is None:
            try:
                return pick_free_port(host)
            except OSError as exc:
                raise WakeFailed(
                    f"{recipe.name}: cannot pick a free port on {host}: {exc.strerror or exc}"
                ) from exc
        # Checked up front: otherwise a stranger on the port would answer our health check
        # while our child fails to bind it.
        why = port_unavailable(host, recipe.port)
        if why is not None:
            raise WakeFailed(
                f"{recipe.name}: port {recipe.port} on {host} is not free ({why}); is another "
                "server running there? Stop it or change the recipe's port"
            )
        return recipe.port

    async def _spawn(self, recipe: Recipe, argv: list[str], port: int) -> _Child:
        executable = _executable(argv[0])
        if executable is None:
            raise WakeFailed(
                f"{recipe.name}: cannot run {argv[0]!r}: {_not_runnable_reason(argv[0])}"
            )
        env = dict(os.environ)
        # Python children (vLLM, the simulator) would otherwise block-buffer a pipe, and their
        # progress would reach the log and the wake's detail only when the buffer fills.
        env.setdefault("PYTHONUNBUFFERED", "1")
        env.update(recipe.env)
        try:
            process = await asyncio.create_subprocess_exec(
                *_reaper_argv(executable, argv, self._settings.stop_timeout),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                start_new_session=True,
                preexec_fn=_child_setup(self._prctl, os.getpid()),
            )
        except OSError as exc:
            raise WakeFailed(
                f"{recipe.name}: cannot run {argv[0]!r}: {exc.strerror or exc}"
            ) from exc
        except subprocess.SubprocessError as exc:
            raise WakeFailed(f"{recipe.name}: cannot start {argv[0]!r}: {exc}") from exc
        child = _Child(recipe=recipe, process=process, port=port)
        self._children[recipe.name] = child
        self._log.info(
            "engine.child_started",
            extra={
                "fields": {"model": recipe.name, "pid": process.pid, "port": port, "argv": argv}
            },
        )
        for stream_name, stream in (("stdout", process.stdout), ("stderr", process.stderr)):
            assert stream is not None
            child.readers.append(
                asyncio.create_task(
                    self._pump(child, stream_name, stream),
                    name=f"engine.output:{recipe.name}:{stream_name}",
                )
            )
        child.watcher = asyncio.create_task(self._watch(child), name=f"engine.watch:{recipe.name}")
        return child

    async def _died_while_starting(self, child: _Child) -> WakeFailed:
        returncode = child.process.returncode
        assert returncode is not None
        # The last lines (a traceback, "address already in use") may still be in the pipes.
        await asyncio.wait(child.readers, timeout=_DRAIN_TIMEOUT)
        reason = f"{child.recipe.name} {_exit_text(returncode)}: {child.output_tail()}"
        self._log.warning(
            "engine.child_start_failed",
            extra={"fields": {"model": child.recipe.name, "pid": child.pid, "status": returncode}},
        )
        return WakeFailed(reason)

    # -- background tasks ----------------------------------------------------------------------

    async def _pump(self, child: _Child, stream_name: str, stream: asyncio.StreamReader) -> None:
        """Log each line the child writes to one stream, keeping the last ones."""
        pending = b""
        try:
            while chunk := await stream.read(65536):
                pending += chunk
                *lines, pending = _LINE_BREAK.split(pending)
                if len(pending) > _LOGGED_LINE_CHARS:
                    lines.append(pending)
                    pending = b""
                for line in lines:
                    self._output(child, stream_name, line)
            if pending:
                self._output(child, stream_name, pending)
        except Exception as exc:  # a reader must not die silently: the output would vanish
            self._log.error(
                "engine.output_reader_failed",
                extra={
                    "fields": {
                        "model": child.recipe.name,
                        "stream": stream_name,
                        "error": repr(exc),
                    }
                },
            )

    def _output(self, child: _Child, stream_name: str, raw: bytes) -> None:
        line = raw.decode("utf-8", errors="replace").rstrip()
        if not line:
            return
        child.tail.append(_clip(line, _TAIL_LINE_CHARS))
        self._log.info(
            "engine.child_output",
            extra={
                "fields": {
                    "model": child.recipe.name,
                    "stream": stream_name,
                    "line": _clip(line, _LOGGED_LINE_CHARS),
                }
            },
        )

    async def _watch(self, child: _Child) -> int:
        """Wait for the child to exit, say so, and take its leftover group members with it."""
        returncode = await child.process.wait()
        expected = child.stopping is not None
        self._log.log(
            logging.INFO if expected else logging.WARNING,
            "engine.child_exited",
            extra={
                "fields": {
                    "model": child.recipe.name,
                    "pid": child.pid,
                    "status": returncode,
                    "expected": expected,
                }
            },
        )
        # Workers the child spawned share its process group and would outlive it holding GPU
        # memory. While any is alive the group id cannot be reused, so signalling it is safe.
        self._signal_group(child, signal.SIGKILL)
        return returncode

    def _signal_group(self, child: _Child, signum: signal.Signals) -> bool:
        """Signal the child's process group (its pgid is its pid: it leads its own session)."""
        try:
            os.killpg(child.pid, signum)
        except ProcessLookupError:
            return False
        except PermissionError:
            # Only if the pid was reused by someone else's process: certainly not ours.
            return False
        return True

    # -- stop ----------------------------------------------------------------------------------

    async def stop(self, recipe: Recipe) -> None:
        """SIGTERM the child's group, SIGKILL after ``engine.stop_timeout``; idempotent.

        Concurrent calls share one stop; cancelling a caller does not abandon the stop.
        """
        child = self._children.get(recipe.name)
        if child is None:
            self._log.debug("engine.stop_nothing", extra={"fields": {"model": recipe.name}})
            return
        if child.stopping is None:
            child.stopping = asyncio.create_task(
                self._terminate(child), name=f"engine.stop:{recipe.name}"
            )
        await asyncio.shield(child.stopping)

    async def _terminate(self, child: _Child) -> None:
        name = child.recipe.name
        assert child.watcher is not None
        timeout = self._settings.stop_timeout
        try:
            if not child.watcher.done() and self._signal_group(child, signal.SIGTERM):
                self._log.info(
                    "engine.child_stopping",
                    extra={"fields": {"model": name, "pid": child.pid, "timeout": timeout}},
                )
                done, _ = await asyncio.wait({child.watcher}, timeout=timeout)
                if not done:
                    self._log.warning(
                        "engine.child_killed",
                        extra={"fields": {"model": name, "pid": child.pid, "after": timeout}},
                    )
                    self._signal_group(child, signal.SIGKILL)
            # Bounded even after SIGKILL: a process stuck in the kernel (a hung GPU driver)
            # cannot be reaped, and shutdown must not hang on it.
            done, _ = await asyncio.wait({child.watcher}, timeout=max(timeout, 1.0))
            if not done:
                self._log.error(
                    "engine.child_unkillable", extra={"fields": {"model": name, "pid": child.pid}}
                )
            await asyncio.wait(child.readers, timeout=_DRAIN_TIMEOUT)
        finally:
            for task in child.readers:
                task.cancel()
            if self._children.get(name) is child:
                del self._children[name]
        self._log.info("engine.child_stopped", extra={"fields": {"model": name, "pid": child.pid}})

    async def aclose(self) -> None:
        """Stop every child (concurrently) and close the health session."""
        children = list(self._children.values())
        results = await asyncio.gather(
            *(self.stop(child.recipe) for child in children), return_exceptions=True
        )
        for child, result in zip(children, results, strict=True):
            if isinstance(result, BaseException):
                self._log.error(
                    "engine.stop_failed",
                    extra={"fields": {"model": child.recipe.name, "error": repr(result)}},
                )
        await self._health.aclose()


__all__ = ["TAIL_LINES", "ProcessEngine"]
