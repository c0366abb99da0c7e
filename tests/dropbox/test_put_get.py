"""`autosrectl dropbox put` and `get` as a user runs them, against the real daemon's dropbox
over TLS: ids printed alone, the bytes back sha256-equal, resumes that really resume (a put
killed mid-way keeps its upload; a get appends to its .part with Range), quiet output off a
terminal and a progress bar on one, clear errors with autosrectl's exit codes."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import pty
import re
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.dropbox.certs import make_pair
from tests.dropbox.transfer import (
    Dropbox,
    ctl,
    ctl_process,
    dropbox_of,
    polled,
    read_terminal,
    resume_urls,
    sha256_file,
    wait_for,
)
from tests.support.daemon import Daemon, base_config, running_daemon, sim_recipe

pytestmark = pytest.mark.asyncio(loop_scope="module")


@dataclass(frozen=True)
class Setup:
    daemon: Daemon
    dropbox: Dropbox
    env: dict[str, str]
    work: Path


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def setup(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Setup]:
    tmp_path = tmp_path_factory.mktemp("putget")
    config = base_config(
        tmp_path,
        [sim_recipe()],
        dropbox={"enabled": True, "listen": "127.0.0.1:0", "max_size": 256 << 20},
    )
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    async with running_daemon(tmp_path, config) as daemon:
        work = tmp_path / "work"
        work.mkdir()
        yield Setup(daemon=daemon, dropbox=await dropbox_of(daemon), env=env, work=work)


async def put(setup: Setup, *args: str) -> tuple[int, str, str]:
    return await ctl(setup.daemon, setup.env, "dropbox", "put", *args, cwd=setup.work)


async def get(setup: Setup, *args: str) -> tuple[int, str, str]:
    return await ctl(setup.daemon, setup.env, "dropbox", "get", *args, cwd=setup.work)


async def test_put_prints_each_id_alone_and_get_brings_the_same_bytes_back(setup: Setup) -> None:
    empty, one, big = setup.work / "empty", setup.work / "one.txt", setup.work / "big.bin"
    empty.write_bytes(b"")
    one.write_bytes(b"x")
    big.write_bytes(os.urandom((3 << 20) + 17))  # four chunks of 1M, the last one short
    code, out, err = await put(setup, str(empty), str(one), str(big), "--chunk-size", "1M")
    assert code == 0, err
    assert err == "", "off a terminal a put is quiet"
    ids = out.splitlines()
    assert len(ids) == 3 and len(set(ids)) == 3
    listed = {f["id"]: f for f in await setup.dropbox.files()}
    for file_id, path in zip(ids, (empty, one, big), strict=True):
        assert listed[file_id]["name"] == path.name
        assert listed[file_id]["size"] == path.stat().st_size
        assert listed[file_id]["sha256"] == sha256_file(path)
        assert listed[file_id]["complete"] is True
        target = setup.work / f"back-{path.name}"
        code, out, err = await get(setup, file_id, "-o", str(target))
        assert (code, out, err) == (0, f"{target}\n", "")
        assert target.read_bytes() == path.read_bytes()
        assert not target.with_name(target.name + ".part").exists()
    assert resume_urls(setup.env) == [], "a finished put leaves no resume state"


async def test_get_by_name_writes_under_the_name_and_never_replaces_a_file(setup: Setup) -> None:
    source = setup.work / "named-source.bin"
    source.write_bytes(os.urandom(5000))
    code, out, err = await put(setup, str(source), "--name", "report.csv")
    assert code == 0, err
    file_id = out.strip()
    into = setup.work / "into"
    into.mkdir()
    code, out, err = await get(setup, "report.csv", "-o", str(into))
    assert (code, err) == (0, "")
    assert (into / "report.csv").read_bytes() == source.read_bytes()
    # Without -o, the name is used in the current directory, and an existing file is kept.
    (setup.work / "report.csv").write_bytes(b"mine")
    code, out, err = await get(setup, file_id)
    assert code == 1
    assert "report.csv exists" in err and "-o PATH" in err
    assert (setup.work / "report.csv").read_bytes() == b"mine"


async def test_get_resumes_its_part_with_a_range(setup: Setup) -> None:
    data = os.urandom(300_000)
    source = setup.work / "resumed.bin"
    source.write_bytes(data)
    code, out, err = await put(setup, str(source))
    assert code == 0, err
    file_id = out.strip()
    target = setup.work / "resumed-back.bin"
    part = target.with_name(target.name + ".part")
    # A .part holding the first half: only the rest is asked for, and the file is whole.
    part.write_bytes(data[:150_000])
    code, _, err = await get(setup, file_id, "-o", str(target))
    assert code == 0, err
    assert target.read_bytes() == data and not part.exists()
    # A .part whose first half is wrong proves the first half was not fetched again: the
    # result fails its sha256, is refused, and the part is removed so the next get is clean.
    target.unlink()
    part.write_bytes(b"\0" * 150_000)
    code, _, err = await get(setup, file_id, "-o", str(target))
    assert code == 1
    assert "sha256" in err and "get it again" in err
    assert not target.exists() and not part.exists()
    code, _, err = await get(setup, file_id, "-o", str(target))
    assert code == 0, err
    assert target.read_bytes() == data


async def test_a_put_killed_midway_resumes_its_upload(setup: Setup) -> None:
    data = os.urandom(8 << 20)
    source = setup.work / "killed.bin"
    source.write_bytes(data)
    # 64 KiB chunks: 128 requests, each fsynced by the dropbox, so the put is still sending
    # when the test has seen its first bytes arrive.
    process = await ctl_process(
        setup.daemon, setup.env, "dropbox", "put", str(source), "--chunk-size", "64K"
    )
    try:
        urls = await wait_for(
            polled(lambda: resume_urls(setup.env) or None), "the put's upload URL"
        )
        (upload,) = urls

        async def arrived() -> int | None:
            offset = await setup.dropbox.offset_now(upload)
            return offset if offset > 0 else None

        offset = await wait_for(arrived, "the first bytes to arrive")
        process.send_signal(signal.SIGKILL)
        await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    held = await setup.dropbox.offset(upload)
    assert offset <= held < len(data), "killed mid-way"
    code, out, err = await put(setup, str(source))
    assert code == 0, err
    assert out.strip() == upload.rstrip("/").rsplit("/", 1)[-1], "the same upload, resumed"
    listed = {f["id"]: f for f in await setup.dropbox.files()}
    assert listed[out.strip()]["sha256"] == hashlib.sha256(data).hexdigest()


async def test_on_a_terminal_a_put_shows_a_bar_with_rate_and_eta(setup: Setup) -> None:
    source = setup.work / "shown.bin"
    source.write_bytes(os.urandom(2 << 20))
    master, slave = pty.openpty()
    try:
        process = await ctl_process(
            setup.daemon,
            {**setup.env, "TERM": "xterm-256color", "COLUMNS": "120"},
            "dropbox",
            "put",
            str(source),
            stderr=slave,
        )
        os.close(slave)
        slave = -1
        screen = await asyncio.get_running_loop().run_in_executor(None, read_terminal, master)
        out, _ = await process.communicate()
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)
    assert process.returncode == 0
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.decode(errors="replace"))
    assert "shown.bin" in text
    assert re.search(r"[0-9.]+ [kMG]?B/s", text), text  # the rate
    assert re.search(r"\d+:\d\d:\d\d|-:--:--", text), text  # the ETA column
    assert re.fullmatch(r"[A-Za-z0-9_-]+\n", out.decode()), "the id alone on stdout"


async def test_clear_errors_with_autosrectls_exit_codes(setup: Setup) -> None:
    a, b = setup.work / "a", setup.work / "b"
    a.write_bytes(b"a")
    b.write_bytes(b"b")
    code, _, err = await put(setup, str(a), str(b), "--name", "both")
    assert code == 2 and "--name names one file" in err
    code, _, err = await put(setup, str(setup.work / "missing"))
    assert code == 1 and "missing: not a regular file" in err
    code, _, err = await put(setup, str(setup.work))
    assert code == 1 and "not a regular file" in err
    code, _, err = await put(setup, str(a), "--chunk-size", "0x10")
    assert code == 2 and "not a size" in err
    code, _, err = await get(setup, "no-such-file")
    assert code == 1 and "no finished file with id or name 'no-such-file'" in err
    code, _, err = await ctl(
        setup.daemon, setup.env, "--socket", str(setup.work / "nobody.sock"), "dropbox", "get", "x"
    )
    assert code == 3


async def test_two_files_of_one_name_need_an_id(setup: Setup) -> None:
    one, two = setup.work / "twin1", setup.work / "twin2"
    one.write_bytes(b"1")
    two.write_bytes(b"2")
    ids = []
    for path in (one, two):
        code, out, err = await put(setup, str(path), "--name", "twin.txt")
        assert code == 0, err
        ids.append(out.strip())
    code, _, err = await get(setup, "twin.txt", "-o", str(setup.work / "twin-out"))
    assert code == 1
    assert "2 files are named 'twin.txt'" in err
    assert all(file_id in err for file_id in ids)


async def test_put_json_lists_what_was_sent(setup: Setup) -> None:
    source = setup.work / "json.bin"
    source.write_bytes(b"{}" * 100)
    code, out, err = await put(setup, str(source), "--json")
    assert code == 0, err
    (sent,) = json.loads(out)["files"]
    assert sent["name"] == "json.bin" and sent["size"] == 200
    assert sent["sha256"] == sha256_file(source)


async def test_a_put_resumes_after_the_daemon_is_killed_mid_upload(tmp_path: Path) -> None:
    """kill -9 of the daemon while a put sends: the put fails saying so, the daemon comes back
    (on another port: the upload is found by its path on the dropbox with the same
    certificate), and the same put resumes the same upload to a sha256-equal file."""
    state = tmp_path / "state"
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    data = os.urandom(6 << 20)
    source = tmp_path / "payload.bin"
    source.write_bytes(data)

    def config(run: Path) -> dict[str, Any]:
        run.mkdir()
        settings = base_config(
            run, [sim_recipe()], dropbox={"enabled": True, "listen": "127.0.0.1:0"}
        )
        settings["state_dir"] = str(state)
        return settings

    first = tmp_path / "first"
    async with running_daemon(first, config(first)) as daemon:
        dropbox = await dropbox_of(daemon)
        put = await ctl_process(daemon, env, "dropbox", "put", str(source), "--chunk-size", "64K")
        (upload,) = await wait_for(polled(lambda: resume_urls(env) or None), "the put's upload URL")

        async def arrived() -> int | None:
            offset = await dropbox.offset_now(upload)
            return offset if offset > 0 else None

        await wait_for(arrived, "the first bytes to arrive")
        os.killpg(daemon.process.pid, signal.SIGKILL)
        assert await daemon.wait_exit() == -signal.SIGKILL
        _, failed = await asyncio.wait_for(put.communicate(), 60)
        assert put.returncode == 3, failed
        assert b"cannot reach the dropbox" in failed
    second = tmp_path / "second"
    async with running_daemon(second, config(second)) as daemon:
        held = await (await dropbox_of(daemon)).offset(upload)
        assert 0 < held < len(data)
        code, out, err = await ctl(daemon, env, "dropbox", "put", str(source))
        assert code == 0, err
        assert out.strip() == upload.rstrip("/").rsplit("/", 1)[-1], "the same upload"
        back = tmp_path / "back.bin"
        code, _, err = await ctl(daemon, env, "dropbox", "get", out.strip(), "-o", str(back))
        assert code == 0, err
        assert hashlib.sha256(back.read_bytes()).digest() == hashlib.sha256(data).digest()


async def test_a_dropbox_that_wants_a_client_certificate_gets_one_from_put_and_get(
    tmp_path: Path,
) -> None:
    _, ca_cert, ca_key = make_pair(tmp_path, "client-ca", ca=True)
    client, _, _ = make_pair(tmp_path, "client", issuer=(ca_cert, ca_key), client=True)
    config = base_config(
        tmp_path,
        [sim_recipe()],
        dropbox={
            "enabled": True,
            "listen": "127.0.0.1:0",
            "tls": {"client_ca": str(tmp_path / "client-ca.pem")},
        },
    )
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    source = tmp_path / "mtls.bin"
    source.write_bytes(os.urandom(100_000))
    async with running_daemon(tmp_path, config) as daemon:
        code, _, err = await ctl(daemon, env, "dropbox", "put", str(source))
        assert code == 3, err
        assert "client certificate" in err and "--client-cert" in err
        with_cert = ("--client-cert", str(client.cert), "--client-key", str(client.key))
        code, out, err = await ctl(daemon, env, "dropbox", "put", str(source), *with_cert)
        assert code == 0, err
        back = tmp_path / "back.bin"
        code, _, err = await ctl(
            daemon, env, "dropbox", "get", out.strip(), "-o", str(back), *with_cert
        )
        assert code == 0, err
        assert back.read_bytes() == source.read_bytes()
        code, _, err = await ctl(
            daemon, env, "dropbox", "get", out.strip(), "--client-key", str(client.key)
        )
        assert code == 1 and "give both" in err
