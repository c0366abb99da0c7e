"""The dropbox's TLS listener in the real daemon, reached with the ssl module over real
sockets: the pinned certificate, refused protocols, mTLS, restarts and SIGHUP reloads."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import ssl
import stat
from pathlib import Path
from typing import Any

import pytest

from autosred.config import split_listen
from tests.dropbox.certs import colon_hex, der_fingerprint, make_pair
from tests.support.ctl import autosrectl
from tests.support.daemon import Daemon, base_config, running_daemon, sim_recipe


def dropbox_config(tmp_path: Path, **dropbox: Any) -> dict[str, Any]:
    return base_config(
        tmp_path,
        [sim_recipe()],
        dropbox={"enabled": True, "listen": "127.0.0.1:0", **dropbox},
    )


async def cert_of(daemon: Daemon, *options: str) -> str:
    code, out, err = await autosrectl(
        "--socket", str(daemon.admin_socket), "dropbox", "cert", *options
    )
    assert code == 0, err
    return out


def pinned(pem: str) -> ssl.SSLContext:
    """A client that trusts exactly this certificate (and checks it names 127.0.0.1)."""
    context = ssl.create_default_context(cadata=pem)
    context.set_alpn_protocols(["http/1.1"])
    return context


async def exchange(
    daemon: Daemon, context: ssl.SSLContext, request: bytes = b""
) -> tuple[bytes, str | None, bytes]:
    """TLS to the dropbox listener: the server certificate (DER), the ALPN protocol chosen and
    the whole answer to ``request`` (read to the end: the request says Connection: close)."""
    host, port = split_listen(daemon.listeners["dropbox"])
    reader, writer = await asyncio.open_connection(host, port, ssl=context)
    try:
        tls = writer.get_extra_info("ssl_object")
        der = tls.getpeercert(binary_form=True)
        alpn = tls.selected_alpn_protocol()
        answer = b""
        if request:
            writer.write(request)
            await writer.drain()
            answer = await asyncio.wait_for(reader.read(), 10)
        return der, alpn, answer
    finally:
        writer.close()
        with contextlib.suppress(ssl.SSLError, ConnectionError, TimeoutError):
            await asyncio.wait_for(writer.wait_closed(), 5)


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()


async def test_a_client_pinning_the_certificate_gets_tls_alpn_and_hsts(tmp_path: Path) -> None:
    async with running_daemon(tmp_path, dropbox_config(tmp_path)) as daemon:
        assert "dropbox" in (await daemon.status())["listeners"]
        fingerprint = (await cert_of(daemon)).strip()
        pem = await cert_of(daemon, "--pem")
        der, alpn, answer = await exchange(daemon, pinned(pem), get("/healthz"))
        assert fingerprint == colon_hex(der_fingerprint(der))
        assert (await cert_of(daemon)) == fingerprint + "\n"  # alone on its line
        assert alpn == "http/1.1"
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ")
        assert b"\r\nStrict-Transport-Security: max-age=31536000" in head
        assert b'"ok"' in body
        # An error answer carries HSTS too.
        _, _, missing = await exchange(daemon, pinned(pem), get("/no-such-page"))
        assert missing.startswith(b"HTTP/1.1 404 ")
        assert b"\r\nStrict-Transport-Security: max-age=31536000" in missing
    key = tmp_path / "state" / "dropbox" / "tls" / "key.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1.* is deprecated:DeprecationWarning")
async def test_old_tls_versions_and_plaintext_http_are_refused(tmp_path: Path) -> None:
    async with running_daemon(tmp_path, dropbox_config(tmp_path)) as daemon:
        pem = await cert_of(daemon, "--pem")
        for version in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
            old = pinned(pem)
            # The client side allows the old protocol (OpenSSL's defaults would refuse it
            # before the server is asked): what is left to refuse it is the daemon.
            old.set_ciphers("ALL:@SECLEVEL=0")
            old.minimum_version = version
            old.maximum_version = version
            # The daemon's OpenSSL answers a TLS 1.0/1.1 ClientHello with an alert or a reset.
            with pytest.raises((ssl.SSLError, ConnectionResetError)):
                await exchange(daemon, old, get("/healthz"))
        # The same client on TLS 1.2 is served: the refusals above are the version's.
        modern = pinned(pem)
        modern.maximum_version = ssl.TLSVersion.TLSv1_2
        _, _, answer = await exchange(daemon, modern, get("/healthz"))
        assert answer.startswith(b"HTTP/1.1 200 ")

        host, port = split_listen(daemon.listeners["dropbox"])
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(get("/healthz"))
        await writer.drain()
        plain = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        assert b"HTTP/" not in plain and b"ok" not in plain


async def test_mtls_refuses_a_client_without_a_certificate_and_serves_one_with(
    tmp_path: Path,
) -> None:
    _, ca_cert, ca_key = make_pair(tmp_path, "client-ca", ca=True)
    client, _, _ = make_pair(tmp_path, "client", issuer=(ca_cert, ca_key), client=True)
    stranger, _, _ = make_pair(tmp_path, "stranger", client=True)  # signed by no CA we trust
    config = dropbox_config(tmp_path, tls={"client_ca": str(tmp_path / "client-ca.pem")})
    async with running_daemon(tmp_path, config) as daemon:
        pem = await cert_of(daemon, "--pem")
        for who in (None, stranger):
            context = pinned(pem)
            if who is not None:
                context.load_cert_chain(who.cert, who.key)
            # TLS 1.3 finishes the client's side of the handshake before the server checks
            # it: the refusal arrives as an alert instead of the answer.
            try:
                _, _, answer = await exchange(daemon, context, get("/healthz"))
            except (ssl.SSLError, ConnectionError):
                answer = b""
            assert b"HTTP/" not in answer
        context = pinned(pem)
        context.load_cert_chain(client.cert, client.key)
        _, _, answer = await exchange(daemon, context, get("/healthz"))
        assert answer.startswith(b"HTTP/1.1 200 ")


async def test_the_self_signed_certificate_survives_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "state"
    fingerprints = []
    for run in ("first", "second"):
        directory = tmp_path / run
        directory.mkdir()
        config = dropbox_config(directory)
        config["state_dir"] = str(state)
        async with running_daemon(directory, config) as daemon:
            fingerprint = (await cert_of(daemon)).strip()
            der, _, _ = await exchange(daemon, pinned(await cert_of(daemon, "--pem")))
            assert colon_hex(der_fingerprint(der)) == fingerprint
            fingerprints.append(fingerprint)
            daemon.signal(signal.SIGTERM)
            assert await daemon.wait_exit() == 0
    assert fingerprints[0] == fingerprints[1]
    assert len(fingerprints[0]) == 95  # 32 bytes: 64 hex digits and 31 colons


async def test_sighup_swaps_in_a_new_certificate_and_keeps_it_over_a_broken_one(
    tmp_path: Path,
) -> None:
    pair, _, _ = make_pair(tmp_path, "server")
    config = dropbox_config(tmp_path, tls={"cert": str(pair.cert), "key": str(pair.key)})
    async with running_daemon(tmp_path, config) as daemon:
        first = pair.fingerprint()
        der, _, _ = await exchange(daemon, pinned(pair.cert.read_text()))
        assert der_fingerprint(der) == first

        make_pair(tmp_path, "server")  # a new key and certificate in the same files
        second = pair.fingerprint()
        assert second != first
        await reload_by_sighup(daemon)
        der, alpn, answer = await exchange(daemon, pinned(pair.cert.read_text()), get("/healthz"))
        assert der_fingerprint(der) == second
        assert alpn == "http/1.1"
        assert answer.startswith(b"HTTP/1.1 200 ")
        assert (await cert_of(daemon)).strip() == colon_hex(second)
        served = pair.cert.read_text()

        pair.key.write_text("-----BEGIN PRIVATE KEY-----\nbroken\n-----END PRIVATE KEY-----\n")
        await reload_by_sighup(daemon)
        rejected = daemon.events_named("dropbox.certificate_rejected")
        assert rejected, daemon.log_path.read_text()
        assert rejected[-1]["kept"] == colon_hex(second)
        der, _, answer = await exchange(daemon, pinned(served), get("/healthz"))
        assert der_fingerprint(der) == second
        assert answer.startswith(b"HTTP/1.1 200 ")
        assert (await cert_of(daemon)).strip() == colon_hex(second)


async def reload_by_sighup(daemon: Daemon) -> None:
    seen = len(daemon.notify.lines())
    daemon.signal(signal.SIGHUP)
    seen = await daemon.notify.wait_for("RELOADING=1", after=seen)
    await daemon.notify.wait_for("READY=1", after=seen)


async def test_the_connection_guard_holds_on_the_dropbox_listener(tmp_path: Path) -> None:
    config = dropbox_config(tmp_path)
    config["connections"] = {"header_timeout": 0.5, "max_per_peer": 2}
    async with running_daemon(tmp_path, config) as daemon:
        pem = await cert_of(daemon, "--pem")
        host, port = split_listen(daemon.listeners["dropbox"])
        # A head that never ends: 408 at the header deadline, then the connection closes.
        reader, writer = await asyncio.open_connection(host, port, ssl=pinned(pem))
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
        assert answer.startswith(b"HTTP/1.1 408 ")
        assert b"\r\nStrict-Transport-Security: max-age=31536000\r\n" in answer
        writer.close()
        # A request aiohttp cannot parse: the guard's 400, with HSTS too.
        _, _, bad = await exchange(
            daemon, pinned(pem), b"GET /healthz HTTP/1.1\r\nBad Header\r\n\r\n"
        )
        assert bad.split(b" ", 2)[1] == b"400"  # aiohttp answers an unparsed request as 1.0
        assert b"\r\nStrict-Transport-Security: max-age=31536000\r\n" in bad
        # A connection that never starts its handshake is closed at the same deadline.
        reader, writer = await asyncio.open_connection(host, port)
        assert await asyncio.wait_for(reader.read(), 10) == b""
        writer.close()
        # Two connections held open from one address; the third is closed once its handshake
        # is done (the guard sees a TLS connection when it starts carrying HTTP).
        held = [await asyncio.open_connection(host, port, ssl=pinned(pem)) for _ in range(2)]
        reader, writer = await asyncio.open_connection(host, port, ssl=pinned(pem))
        try:
            closed = await asyncio.wait_for(reader.read(), 10)
        except (ssl.SSLError, ConnectionError):
            closed = b""
        assert closed == b""
        writer.close()
        for _, other in held:
            other.close()
        events = daemon.events_named("http.peer_limit")
        assert any(event.get("listener") == "dropbox" for event in events)


async def test_dropbox_cert_when_the_dropbox_is_off(tmp_path: Path) -> None:
    async with running_daemon(tmp_path, base_config(tmp_path, [sim_recipe()])) as daemon:
        assert "dropbox" not in (await daemon.status())["listeners"]
        code, out, err = await autosrectl("--socket", str(daemon.admin_socket), "dropbox", "cert")
        assert code == 1 and out == ""
        assert "dropbox is not enabled" in err


async def test_curl_with_the_pem_as_its_only_ca_gets_http_1_1_and_hsts(tmp_path: Path) -> None:
    curl = shutil.which("curl")
    assert curl is not None, "curl is needed: apt-get install curl"
    async with running_daemon(tmp_path, dropbox_config(tmp_path)) as daemon:
        pem = tmp_path / "dropbox.pem"
        pem.write_text(await cert_of(daemon, "--pem"))
        url = f"https://{daemon.listeners['dropbox']}/healthz"
        # curl offers h2 and http/1.1 by ALPN; the dropbox chooses http/1.1.
        process = await asyncio.create_subprocess_exec(
            curl, "--silent", "--show-error", "--http2", "--cacert", str(pem),
            "--dump-header", "-", url,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(process.communicate(), 30)
        assert process.returncode == 0, err.decode()
        assert out.startswith(b"HTTP/1.1 200")
        assert b"\r\nstrict-transport-security: max-age=31536000\r\n" in out.lower()
        # Without the pinned certificate curl refuses the self-signed one (exit 60).
        process = await asyncio.create_subprocess_exec(
            curl, "--silent", url,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        await asyncio.wait_for(process.communicate(), 30)
        assert process.returncode == 60
