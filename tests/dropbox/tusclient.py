"""What the tus protocol tests share: a dropbox daemon with tokens made before it starts,
and an httpx client that trusts exactly the daemon's certificate."""

from __future__ import annotations

import base64
import hashlib
import ssl
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from autosred.dropbox.access import Access, access_file
from autosred.dropbox.storage import Quota
from tests.support.daemon import Daemon, base_config, sim_recipe

TUS = {"Tus-Resumable": "1.0.0"}
STREAM = {"Content-Type": "application/offset+octet-stream"}


def dropbox_config(tmp_path: Path, **dropbox: Any) -> dict[str, Any]:
    return base_config(
        tmp_path,
        [sim_recipe()],
        dropbox={"enabled": True, "listen": "127.0.0.1:0", **dropbox},
    )


@dataclass(frozen=True)
class TokenSpec:
    name: str
    read_only: bool = False
    quota: Quota = field(default_factory=Quota)


async def make_tokens(state_dir: Path, specs: list[TokenSpec]) -> dict[str, str]:
    """Tokens written to the daemon's access file before it starts (name -> secret)."""
    access = await Access.open(access_file(state_dir))
    secrets = {}
    for spec in specs:
        secret, _ = await access.create_token(spec.name, quota=spec.quota, read_only=spec.read_only)
        secrets[spec.name] = secret
    return secrets


def pinned(pem: str) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=pem)
    context.set_alpn_protocols(["http/1.1"])
    return context


def metadata(**pairs: str) -> str:
    return ",".join(
        f"{key} {base64.b64encode(value.encode()).decode()}" if value else key
        for key, value in pairs.items()
    )


def digest(algorithm: str, data: bytes) -> str:
    return f"{algorithm} {base64.b64encode(hashlib.new(algorithm, data).digest()).decode()}"


@dataclass
class Dropbox:
    """The daemon's dropbox as a client sees it."""

    daemon: Daemon
    pem: str
    tokens: dict[str, str]

    @property
    def url(self) -> str:
        return f"https://{self.daemon.listeners['dropbox']}"

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    @asynccontextmanager
    async def client(self, *, source: str | None = None) -> AsyncIterator[httpx.AsyncClient]:
        """A client pinned to the daemon's certificate; `source` binds another loopback
        address (the failed-auth limit counts per address)."""
        transport = httpx.AsyncHTTPTransport(
            verify=pinned(self.pem), local_address=source, retries=0
        )
        async with httpx.AsyncClient(base_url=self.url, transport=transport, timeout=30) as client:
            yield client

    async def create(
        self,
        client: httpx.AsyncClient,
        who: str,
        length: int,
        *,
        name: str = "file.bin",
        body: bytes = b"",
        extra: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        headers = {
            **TUS,
            **self.auth(who),
            "Upload-Length": str(length),
            "Upload-Metadata": metadata(filename=name),
            **(STREAM if body else {}),
            **(extra or {}),
        }
        return await client.post("/files/", headers=headers, content=body)

    async def upload(
        self, client: httpx.AsyncClient, who: str, data: bytes, *, name: str = "file.bin"
    ) -> str:
        """A finished file of `who` (its id)."""
        created = await self.create(client, who, len(data), name=name, body=data)
        assert created.status_code == 201, created.text
        assert created.headers["Upload-Offset"] == str(len(data))
        return created.headers["Location"].rsplit("/", 1)[1]

    async def patch(
        self,
        client: httpx.AsyncClient,
        who: str,
        upload_id: str,
        offset: int,
        body: bytes,
        *,
        extra: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        headers = {**TUS, **STREAM, **self.auth(who), "Upload-Offset": str(offset)}
        headers.update(extra or {})
        return await client.patch(f"/files/{upload_id}", headers=headers, content=body)
