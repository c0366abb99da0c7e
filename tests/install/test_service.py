"""The installed package under a booted systemd (issue 12, item 2): `apt-get install` of the
built .deb in a minimal Debian 12 booted with systemd-nspawn, then the unit as systemd runs it,
checked from outside the container (real clients on its listeners, the host's /proc) and with
the container's own tools (systemctl, journalctl, autosrectl, systemd-analyze).

One container for the module (`box`); the checks run in file order and each first makes sure
the unit runs (`Installed.ensure_running`), so one that stops or freezes the daemon leaves no
trace for the next. The container's setup is in conftest.py, installed.py and nspawn.py.

Times on this project's machine (2 cores; `pytest -p no:cacheprovider tests/install`, all
modules, the .deb already built): warm (cached root, the dependencies' .debs downloaded)
138 s on a quiet machine, 256-275 s beside other test runs: per container a 1-3 s boot and a
17-45 s `apt-get install`, then the checks (the watchdog's alone is 30 s + 5 s + the start);
cold (no root, no downloaded .debs: debootstrap first) 212 s quiet, the root's build alone
77-264 s depending on the load.
The figures per step of the last run are in build/install-test/timings.log.
Other releases (`make install-test SUITE=trixie`, `noble`: by hand) and their times:
packaging/README.md, "Each release, installed and run".
"""

from __future__ import annotations

import concurrent.futures
import json
import re
import time

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.install.installed import UNIT, UNIT_STARTED, Installed
from tests.packaging.test_systemd_unit import (
    MAX_EXPOSURE_BY_SYSTEMD_VERSION,
    MAX_EXPOSURE_OTHER_VERSIONS,
)

pytestmark = [pytest.mark.xdist_group("install"), pytest.mark.timeout(900)]

# The unit's own values (systemd/autosred.service), read back from the booted unit below.
STREAM_CHUNKS = 30
STREAM_RATE = 10.0  # chunks a second: a 3 s stream, well inside shutdown.grace (30 s)


@pytest.fixture
def running(box: Installed) -> Installed:
    box.ensure_running()
    return box


def client(box: Installed) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{box.api}/v1", api_key="unused", max_retries=0, timeout=60)


def installed_model(box: Installed) -> str:
    """The model the installed configuration serves (its first one)."""
    models = box.models()
    assert models, "the installed config serves no model"
    return models[0]


def chat(box: Installed, text: str) -> str:
    reply = client(box).chat.completions.create(
        model=installed_model(box), messages=[{"role": "user", "content": text}]
    )
    content = reply.choices[0].message.content
    assert content, reply
    return content


def long_stream(box: Installed, started: concurrent.futures.Future[None]) -> list[str]:
    """A streamed chat completion of STREAM_CHUNKS paced chunks: the text pieces, in order.
    ``started`` is set once the first one has arrived."""
    directive = json.dumps({"chunks": STREAM_CHUNKS, "tokens_per_second": STREAM_RATE, "text": "x"})
    stream = client(box).chat.completions.create(
        model=installed_model(box),
        messages=[{"role": "user", "content": f"a long answer\n#sim {directive}"}],
        stream=True,
    )
    pieces: list[str] = []
    finish = None
    for chunk in stream:
        for choice in chunk.choices:
            if choice.delta.content:
                pieces.append(choice.delta.content)
                if not started.done():
                    started.set_result(None)
            finish = choice.finish_reason or finish
    assert finish == "stop", (finish, pieces)
    return pieces


# ---- started: Type=notify ----------------------------------------------------------------


def test_active_only_once_the_listeners_answer(running: Installed) -> None:
    """`systemctl restart` returns once systemd has READY=1; at that instant, with no retry,
    every listener answers. (The journal cannot order the two: the daemon's ready line comes
    through its stdout stream, systemd's "Started" straight from PID 1.)"""
    box = running
    assert box.show("Type", "NotifyAccess") == {"Type": "notify", "NotifyAccess": "main"}
    before = box.cursor()
    box.systemctl("restart", UNIT).check()
    # No polling: the first request after the start job returns must succeed.
    assert httpx.get(f"{box.api}/health", timeout=5).status_code == 200
    assert httpx.get(f"{box.codex}/health", timeout=5).status_code == 200
    assert httpx.get(f"{box.metrics}/healthz", timeout=5).status_code == 200
    assert box.container.run(["test", "-S", "/run/autosred/admin.sock"]).returncode == 0
    assert box.show("ActiveState", "SubState") == {"ActiveState": "active", "SubState": "running"}

    # The ready line names the listeners it bound: the ports the drop-in gave.
    ready = box.wait_for_event("daemon.ready", after=before)
    assert box.api.rsplit(":", 1)[1] in json.dumps(ready), ready
    started = [
        entry
        for entry in box.journal("-u", UNIT, after=before)
        if entry.get("MESSAGE_ID") == UNIT_STARTED and entry.get("UNIT") == UNIT
    ]
    assert len(started) == 1, started


def test_chat_completion_through_the_installed_model_and_metrics(running: Installed) -> None:
    box = running
    model = installed_model(box)
    assert "Simulated reply to: hello from the install test" in chat(
        box, "hello from the install test"
    )
    metrics = httpx.get(f"{box.metrics}/metrics", timeout=10)
    assert metrics.status_code == 200
    answered = [
        sample.value
        for family in text_string_to_metric_families(metrics.text)
        for sample in family.samples
        if sample.name == "autosred_requests_total"
        and sample.labels.get("model") == model
        and sample.labels.get("status") == "200"
    ]
    assert sum(answered) >= 1, metrics.text[-2000:]


def test_model_server_child_runs_in_the_units_sandbox(running: Installed) -> None:
    """The process engine's child (autosred-sim, woken by a request) is in the unit's cgroup,
    as the unit's user, with its sandbox: no new privileges, no capabilities, the seccomp
    filter, the unit's own mount namespace (ProtectSystem=, PrivateTmp=, ...)."""
    box = running
    chat(box, "wake the model server")
    main = box.container.host_pid(box.main_pid())
    unit = box.unit_processes()
    daemon = next(p for p in unit if p.host_pid == main)
    # The engine's reaper (engines/reaper.py) and, under it, the model server it runs.
    children = [p for p in unit if p.host_pid != main]
    assert any("autosred.sim" in p.command and "reaper" not in p.command for p in children), [
        p.command for p in unit
    ]
    init = next(p for p in box.container.processes() if p.pid == 1)
    autosre = int(box.container.run(["id", "-u", "autosre"]).check().stdout)
    assert daemon.uid == autosre
    for child in children:
        assert child.uid == autosre, child.command
        assert child.status["NoNewPrivs"] == "1", child.command
        assert child.status["Seccomp"] == "2", child.command
        assert int(child.status["CapBnd"], 16) == 0, child.command
        assert int(child.status["CapEff"], 16) == 0, child.command
        assert child.mount_namespace == daemon.mount_namespace != init.mount_namespace


# ---- autosrectl ----------------------------------------------------------------------------


def test_autosrectl_status_for_root_and_group_members_only(running: Installed) -> None:
    box = running
    container = box.container
    container.run(["useradd", "--create-home", "--groups", "autosre", "member"])
    container.run(["useradd", "--create-home", "outsider"])
    model = installed_model(box)

    for user in (None, "member"):
        result = container.run(["autosrectl", "status", "--json"], user=user).check()
        status = json.loads(result.stdout)
        assert status["pid"] == box.main_pid(), (user, status)
        assert any(model in json.dumps(entry) for entry in status["models"]), (user, status)
        assert container.run(["autosrectl", "status"], user=user).check().stdout.strip()

    refused = container.run(["autosrectl", "status"], user="outsider")
    assert refused.returncode != 0
    assert "Traceback" not in refused.stderr, refused.stderr
    # autosrectl: cannot reach autosred at /run/autosred/admin.sock: Permission denied (only
    # root, the daemon's user and its admin group may connect)
    assert "/run/autosred/admin.sock" in refused.stderr, refused.stderr
    assert "Permission denied" in refused.stderr, refused.stderr
    assert "admin group may connect" in refused.stderr, refused.stderr


# ---- reload --------------------------------------------------------------------------------


def test_reload_with_a_broken_config_keeps_serving_then_a_fixed_one_applies(
    running: Installed,
) -> None:
    box = running
    config = box.container.host_path("/etc/autosred/autosred.yaml")
    recipe = box.container.host_path("/etc/autosred/recipes.d/install-test.yaml")
    original = config.read_text()
    pid = box.main_pid()
    try:
        before = box.cursor()
        config.write_text(original + "\nnot_a_setting: 1\n")
        box.systemctl("reload", UNIT).check()
        rejected = box.wait_for_event("daemon.reload_rejected", after=before)
        assert "not_a_setting" in json.dumps(rejected), rejected
        assert box.main_pid() == pid
        assert box.show("ActiveState")["ActiveState"] == "active"
        assert "Simulated reply to: still serving" in chat(box, "still serving")
        status = box.systemctl("status", UNIT, "--lines=20", "--full").stdout
        assert "daemon.reload_rejected" in status and "not_a_setting" in status, status

        # Fixed: the original file back, and a change that shows: a second model.
        before = box.cursor()
        config.write_text(original)
        recipe.write_text(
            "name: second\n"
            "served_model_name: second-sim\n"
            'command: "{python} -m autosred.sim --port {port} --host {host} --model '
            '{served_model_name}"\n'
        )
        box.systemctl("reload", UNIT).check()
        box.wait_for_event("daemon.reloaded", after=before)
        assert "second" in box.models() or "second-sim" in box.models(), box.models()
        assert box.main_pid() == pid
    finally:
        config.write_text(original)
        recipe.unlink(missing_ok=True)
        box.systemctl("reload", UNIT)


# ---- the journal ---------------------------------------------------------------------------


def test_journal_has_one_structured_line_per_event(running: Installed) -> None:
    """Every line the daemon wrote to the journal is one JSON object with ts, level and a
    stable dotted event name (a traceback, if any, inside its line, never lines of its own)."""
    box = running
    entries = box.daemon_entries()
    assert entries
    events = []
    for entry in entries:
        line = json.loads(entry["MESSAGE"])
        assert isinstance(line, dict), entry
        assert {"ts", "level", "event"} <= line.keys(), line
        assert re.fullmatch(r"[a-z_]+(\.[a-z_]+)+", line["event"]), line
        events.append(line["event"])
    assert "daemon.ready" in events
    # journald itself: the unit's identifier, and the priority it parsed from nothing.
    assert {entry.get("SYSLOG_IDENTIFIER") for entry in entries} == {"autosred"}


# ---- the sandbox, measured on the booted unit ----------------------------------------------


def test_systemd_analyze_security_on_the_booted_unit(running: Installed) -> None:
    box = running
    report = box.container.run(["systemd-analyze", "security", "--no-pager", UNIT]).check()
    match = re.search(r"Overall exposure level for autosred\.service: (\d+\.\d)", report.stdout)
    assert match, report.stdout[-1000:]
    version = int(
        re.match(r"systemd (\d+)", box.container.run(["systemctl", "--version"]).stdout)[1]  # type: ignore[index]
    )
    limit = MAX_EXPOSURE_BY_SYSTEMD_VERSION.get(version, MAX_EXPOSURE_OTHER_VERSIONS)
    assert float(match[1]) <= limit, report.stdout


# ---- stop with open streams ----------------------------------------------------------------


def test_stop_lets_open_streams_finish_and_leaves_no_process(running: Installed) -> None:
    box = running
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        started = [concurrent.futures.Future[None]() for _ in range(3)]
        streams = [pool.submit(long_stream, box, event) for event in started]
        concurrent.futures.wait(started, timeout=60)
        assert all(event.done() for event in started), [s.exception() for s in streams if s.done()]
        assert any(p for p in box.unit_processes() if "autosred.sim" in p.command)

        stop = box.systemctl("stop", UNIT)
        for stream in streams:
            assert len(stream.result(timeout=60)) == STREAM_CHUNKS
    stop.check()
    state = box.show("ActiveState", "Result", "ExecMainStatus", "ControlGroup")
    assert state == {
        "ActiveState": "inactive",
        "Result": "success",
        "ExecMainStatus": "0",
        "ControlGroup": "",
    }, state
    assert box.unit_processes() == []
    autosre = int(box.container.run(["id", "-u", "autosre"]).check().stdout)
    assert [p.command for p in box.container.processes() if p.uid == autosre] == []


# ---- watchdog ------------------------------------------------------------------------------


def test_watchdog_restarts_a_frozen_daemon(running: Installed) -> None:
    box = running
    settings = box.show("WatchdogUSec", "RestartUSec", "NRestarts")
    watchdog = _seconds(settings["WatchdogUSec"])
    restart = _seconds(settings["RestartUSec"])
    restarts = int(settings["NRestarts"])
    chat(box, "a model server the freeze must not leave behind")
    frozen = box.main_pid()
    before = box.cursor()
    # The daemon's loop frozen: no WATCHDOG=1 any more, as a loop wedged by blocking code.
    box.systemctl("kill", "--kill-whom=main", "--signal=SIGSTOP", UNIT).check()
    # Aborted after WatchdogSec, restarted RestartSec later, then it starts (the daemon's own
    # start-up, bounded here by a generous 30 s): poll until then.
    deadline = time.monotonic() + watchdog + restart + 30
    while True:
        state = box.show("ActiveState", "SubState", "MainPID", "NRestarts")
        if (
            state["ActiveState"] == "active"
            and state["SubState"] == "running"
            and int(state["MainPID"]) not in (0, frozen)
        ):
            break
        assert time.monotonic() < deadline, state
        time.sleep(0.5)
    assert int(state["NRestarts"]) == restarts + 1
    messages = [str(entry.get("MESSAGE")) for entry in box.journal("-u", UNIT, after=before)]
    assert any("Watchdog timeout" in message for message in messages), messages
    assert "Simulated reply to: after the watchdog" in chat(box, "after the watchdog")
    assert not any(p.pid == frozen for p in box.unit_processes())


def _seconds(value: str) -> float:
    """A systemd time span as `systemctl show` prints it ("30s", "5s", "1min 30s", "500ms")."""
    units = {"ms": 0.001, "s": 1.0, "min": 60.0, "h": 3600.0}
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|s|min|h)", value):
        total += float(number) * units[unit]
    assert total > 0, value
    return total
