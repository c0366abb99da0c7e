"""autosrectl's pinned TLS (autosred/ctl/dropboxtls.py) against the real daemon's dropbox
listener, over httpx as put and get use it: the PEM is the only trust anchor and the peer's
fingerprint is checked in the handshake, before any HTTP is sent.

The daemon serves a certificate a test CA issued, so that a trust anchor can be right while
the fingerprint is wrong (the CA's own) and a leaf that is not self-signed can be the anchor
alone."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
import pytest_asyncio

from autosred.ctl.dropboxtls import (
    FingerprintMismatch,
    mismatch_in,
    pinned_context,
)
from tests.dropbox.certs import colon_hex, make_pair
from tests.support.daemon import Daemon, base_config, running_daemon, sim_recipe

pytestmark = pytest.mark.asyncio(loop_scope="module")


@dataclass(frozen=True)
class Served:
    daemon: Daemon
    url: str
    leaf_pem: str
    leaf_fingerprint: str
    ca_pem: str
    ca_fingerprint: str
    stranger_pem: str


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def served(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Served]:
    tmp_path = tmp_path_factory.mktemp("pinned")
    ca_pair, ca_cert, ca_key = make_pair(tmp_path, "ca", ca=True)
    leaf, _, _ = make_pair(tmp_path, "leaf", issuer=(ca_cert, ca_key))
    stranger, _, _ = make_pair(tmp_path, "stranger")
    config = base_config(
        tmp_path,
        [sim_recipe()],
        dropbox={
            "enabled": True,
            "listen": "127.0.0.1:0",
            "tls": {"cert": str(leaf.cert), "key": str(leaf.key)},
        },
    )
    async with running_daemon(tmp_path, config) as daemon:
        yield Served(
            daemon=daemon,
            url=f"https://{daemon.listeners['dropbox']}",
            leaf_pem=leaf.cert.read_text(),
            leaf_fingerprint=colon_hex(leaf.fingerprint()),
            ca_pem=ca_pair.cert.read_text(),
            ca_fingerprint=colon_hex(ca_pair.fingerprint()),
            stranger_pem=stranger.cert.read_text(),
        )


def healthz(url: str, context: ssl.SSLContext) -> httpx.Response:
    with httpx.Client(verify=context, timeout=10) as client:
        return client.get(f"{url}/healthz")


async def test_the_leaf_alone_as_anchor_with_its_fingerprint_connects(served: Served) -> None:
    context = pinned_context(served.leaf_pem, served.leaf_fingerprint)
    response = healthz(served.url, context)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.extensions["http_version"] == b"HTTP/1.1"


async def test_the_issuing_ca_as_anchor_still_needs_the_leafs_fingerprint(
    served: Served,
) -> None:
    ok = healthz(served.url, pinned_context(served.ca_pem, served.leaf_fingerprint))
    assert ok.status_code == 200
    with pytest.raises(httpx.ConnectError) as refused:
        healthz(served.url, pinned_context(served.ca_pem, served.ca_fingerprint))
    mismatch = mismatch_in(refused.value)
    assert isinstance(mismatch, FingerprintMismatch)
    assert mismatch.expected == served.ca_fingerprint
    assert mismatch.got == served.leaf_fingerprint


async def test_another_certificate_as_anchor_fails_verification_not_the_pin(
    served: Served,
) -> None:
    with pytest.raises(httpx.ConnectError) as refused:
        healthz(served.url, pinned_context(served.stranger_pem, served.leaf_fingerprint))
    assert mismatch_in(refused.value) is None
    assert "CERTIFICATE_VERIFY_FAILED" in str(refused.value)


async def test_the_context_refuses_tls_below_1_2(served: Served) -> None:
    context = pinned_context(served.leaf_pem, served.leaf_fingerprint)
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.verify_mode == ssl.CERT_REQUIRED
