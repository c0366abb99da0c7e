"""autosrectl end to end: a real subprocess against the admin app on a real Unix socket."""

from __future__ import annotations

import asyncio
import json

from autosred.admin.schema import PACKAGE_VERSION, ReloadResult
from tests.admin.fake_control import FakeControl
from tests.admin.support import Served, short_dir

from .run import Ctl, clean_env, run


async def test_status_json_keeps_the_contract(ctl: Ctl) -> None:
    for args in (("status", "--json"), ("--json", "status")):
        result = await ctl(*args)
        assert result.rc == 0, result.err
        body = json.loads(result.out)  # exactly one JSON object, nothing around it
        assert body["version"] == "0.0.0-fake"
        assert [(m["name"], m["state"]) for m in body["models"]] == [
            ("qwen", "stopped"),
            ("small", "ready"),
            ("broken", "stopped"),
        ]


async def test_status_human_view(ctl: Ctl, fake: FakeControl) -> None:
    fake.set("broken", state="failed", last_error="OOMKilled: 48 GiB limit")
    result = await ctl("status")
    assert result.rc == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].startswith("autosred 0.0.0-fake (pid ")
    assert "up 1h 02m, engine process)" in lines[0]
    assert "  api    127.0.0.1:8011" in lines
    header = next(line for line in lines if line.startswith("MODEL"))
    assert header.split() == [
        "MODEL",
        "STATE",
        "IN-FLIGHT",
        "HELD",
        "LAST",
        "WAKE",
        "IDLE",
        "IN",
        "NOTE",
    ]
    rows = {line.split()[0]: line for line in lines[lines.index(header) + 1 :]}
    assert rows["qwen"].split()[:6] == ["qwen", "stopped", "0", "0", "-", "-"]
    assert rows["small"].split()[:7] == ["small", "ready", "2", "1", "41.2s", "4m", "10s"]
    assert rows["broken"].endswith("OOMKilled: 48 GiB limit")


async def test_models(ctl: Ctl) -> None:
    result = await ctl("models")
    assert result.rc == 0, result.err
    rows = [line.split() for line in result.out.splitlines()]
    assert rows[0] == ["NAME", "SERVED", "AS", "STATE", "ALIASES", "ENDPOINT"]
    assert rows[1] == ["qwen", "org/qwen", "stopped", "qwen-alias", "http://127.0.0.1:18000/qwen"]
    as_json = await ctl("models", "--json")
    assert [m["served_model_name"] for m in json.loads(as_json.out)["models"]] == [
        "org/qwen",
        "org/small",
        "org/broken",
    ]


async def test_scale_up_wait_shows_progress_and_exits_0(ctl: Ctl, fake: FakeControl) -> None:
    result = await ctl("scale", "up", "qwen", "--wait")
    assert result.rc == 0, result.err
    assert result.out.splitlines()[:5] == [
        "qwen: starting: requested (eta 30.0s)",
        "qwen: starting: scheduling (eta 30.0s)",
        "qwen: starting: pulling image (3 GiB, eta 20.0s)",
        "qwen: starting: loading weights (eta 10.0s)",
        "qwen: ready",
    ]
    assert result.out.splitlines()[5].startswith("qwen: ready (waited ")
    assert fake.model("qwen").status.state == "ready"
    assert result.err == ""


async def test_scale_up_wait_json_is_ndjson_ending_ok(ctl: Ctl) -> None:
    result = await ctl("--json", "scale", "up", "qwen", "--wait")
    assert result.rc == 0, result.err
    records = [json.loads(line) for line in result.out.splitlines()]
    assert records[0]["state"] == "starting"
    assert records[-1]["ok"] is True
    assert records[-1]["state"] == "ready"


async def test_failed_wake_exits_1_with_the_reason(ctl: Ctl, fake: FakeControl) -> None:
    result = await ctl("scale", "up", "broken", "--wait")
    assert result.rc == 1
    assert result.err == ("autosrectl: ImagePullBackOff: image vllm/vllm-openai:nope not found\n")
    assert "broken: starting: pulling image" in result.out


async def test_unknown_model_exits_1_naming_the_models(ctl: Ctl) -> None:
    result = await ctl("scale", "up", "qwn", "--wait")
    assert result.rc == 1
    assert result.err == "autosrectl: no model named 'qwn' (available: broken, qwen, small)\n"
    assert result.out == ""


async def test_scale_up_without_wait_returns_while_the_wake_goes_on_and_can_be_joined(
    ctl: Ctl, fake: FakeControl
) -> None:
    fake.model("qwen").hold_at = "pulling image"
    result = await ctl("scale", "up", "qwen")
    assert (result.rc, result.out) == (0, "qwen: starting: requested (eta 30.0s)\n")
    status = json.loads((await ctl("status", "--json")).out)
    assert status["models"][0]["state"] == "starting"

    joiner = await ctl.start("scale", "up", "qwen", "--wait")
    assert joiner.stdout is not None
    first = await joiner.stdout.readline()  # it has joined the wake under way
    assert first.decode().startswith("qwen: starting: pulling image")
    fake.model("qwen").release.set()
    rest, err = await joiner.communicate()
    assert joiner.returncode == 0, err
    assert rest.decode().splitlines()[-1].startswith("qwen: ready (waited ")
    assert fake.wakes["qwen"] == 1, "one wake per model, joined rather than started twice"


async def test_scale_down_waits_for_requests_in_flight(ctl: Ctl, fake: FakeControl) -> None:
    stopper = await ctl.start("scale", "down", "small", "--wait")
    assert stopper.stdout is not None
    first = await stopper.stdout.readline()
    assert first.decode() == "small: stopping: draining\n"
    assert fake.model("small").status.state == "stopping"
    fake.finish_requests("small")
    rest, err = await stopper.communicate()
    assert stopper.returncode == 0, err
    assert rest.decode().splitlines() == [
        "small: stopping",
        "small: stopped",
        rest.decode().splitlines()[-1],
    ]
    assert rest.decode().splitlines()[-1].startswith("small: stopped (waited ")


async def test_scale_conflict_is_reported(ctl: Ctl, fake: FakeControl) -> None:
    fake.set("qwen", state="starting")
    result = await ctl("scale", "down", "qwen")
    assert result.rc == 1
    assert result.err == "autosrectl: qwen is starting; try again when it is ready\n"


async def test_reload_ok_and_rejected(ctl: Ctl, fake: FakeControl) -> None:
    result = await ctl("reload")
    assert (result.rc, result.out) == (0, "config ok\nreloaded; models: qwen, small, broken\n")
    fake.reload_result = ReloadResult(
        ok=False, messages=["recipes.d/qwen.yaml: image: field required"]
    )
    rejected = await ctl("reload")
    assert rejected.rc == 1
    assert rejected.err == (
        "autosrectl: the new config was rejected, the old one stays in force: "
        "recipes.d/qwen.yaml: image: field required\n"
    )
    as_json = await ctl("reload", "--json")
    assert as_json.rc == 1
    assert json.loads(as_json.out)["ok"] is False


async def test_version_shows_client_and_daemon(ctl: Ctl) -> None:
    result = await ctl("version")
    assert result.rc == 0, result.err
    assert result.out == f"autosrectl {PACKAGE_VERSION}\nautosred {PACKAGE_VERSION} (admin API 1)\n"
    as_json = await ctl("version", "--json")
    assert json.loads(as_json.out) == {"client": PACKAGE_VERSION, "daemon": PACKAGE_VERSION}


async def test_socket_from_the_environment(served: Served) -> None:
    result = await run("status", "--json", env=clean_env(AUTOSRED_ADMIN_SOCKET=str(served.path)))
    assert result.rc == 0, result.err
    assert json.loads(result.out)["version"] == "0.0.0-fake"


async def test_no_daemon_exits_3_with_one_line() -> None:
    async with short_dir() as directory:
        missing = directory / "admin.sock"
        for command in ("status", "version", "reload"):
            result = await run("--socket", str(missing), command)
            assert result.rc == 3
            assert result.err == (
                f"autosrectl: cannot reach autosred at {missing}: No such file or directory "
                "(is the daemon running?)\n"
            )
        # The client knows its own version even without a daemon.
        assert result.out == "" and (await run("--socket", str(missing), "version")).out == (
            f"autosrectl {PACKAGE_VERSION}\n"
        )


async def test_a_stale_socket_is_connection_refused_exit_3() -> None:
    import socket

    async with short_dir() as directory:
        path = directory / "admin.sock"
        dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        dead.bind(str(path))
        dead.close()
        result = await run("--socket", str(path), "status")
        assert result.rc == 3
        assert result.err == (
            f"autosrectl: cannot reach autosred at {path}: Connection refused "
            "(is the daemon running?)\n"
        )


async def test_usage_errors_exit_2() -> None:
    for args in ((), ("scale", "sideways", "qwen"), ("scale", "up"), ("frobnicate",)):
        result = await run(*args)
        assert result.rc == 2, args
        assert "usage: autosrectl" in result.err


async def test_help_lists_the_commands() -> None:
    result = await run("--help")
    assert result.rc == 0
    for command in ("status", "models", "scale", "reload", "version"):
        assert f"    {command} " in result.out


async def test_a_daemon_stopping_during_a_wait_ends_it_with_the_reason(
    ctl: Ctl, served: Served, fake: FakeControl
) -> None:
    fake.model("qwen").hold_at = "loading weights"
    waiter = await ctl.start("scale", "up", "qwen", "--wait")
    assert waiter.stdout is not None
    async for line in waiter.stdout:  # ends (and the test fails below) if the client dies
        if line.startswith(b"qwen: starting: loading weights"):
            break
    # The daemon stops while the client waits; the stream must not hold the shutdown up.
    await asyncio.wait_for(served.runner.cleanup(), 3)
    _, err = await waiter.communicate()
    assert waiter.returncode == 1
    assert err.decode() == "autosrectl: autosred is shutting down\n"
    assert fake.watchers("qwen") == 0, "the progress iterator was closed"


async def test_a_connection_lost_mid_wait_is_exit_3() -> None:
    """A daemon killed mid-stream: headers and one line, then the socket closes."""

    async def half_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(h.split(b":")[1])
            for h in head.split(b"\r\n")
            if h.lower().startswith(b"content-length")
        )
        await reader.readexactly(length)
        line = b'{"model":"qwen","state":"starting","phase":"scheduling"}\n'
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" + f"{len(line):x}\r\n".encode() + line + b"\r\n"
        )
        await writer.drain()
        writer.close()

    async with short_dir() as directory:
        path = directory / "admin.sock"
        server = await asyncio.start_unix_server(half_answer, path=str(path))
        async with server:
            result = await run("--socket", str(path), "scale", "up", "qwen", "--wait")
    assert result.rc == 3
    assert result.out == "qwen: starting: scheduling\n"
    assert result.err.startswith(f"autosrectl: lost connection to autosred at {path}")
