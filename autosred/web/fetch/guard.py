"""The SSRF guard on one hop: resolve the host once, check every address, pin the checked
addresses for curl (``CURLOPT_RESOLVE``), so no second lookup that DNS rebinding could
change happens between the check and the connection."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from autosred.web.fetch.addresses import Address, AddressPolicy
from autosred.web.fetch.failure import FetchFailure, FetchFailureKind
from autosred.web.fetch.urls import Target

Resolver = Callable[[str, int], Awaitable[Sequence[Address]]]


class Refused(FetchFailure):
    """The guard refuses a hop; the message is a sentence for the model. ``url_not_allowed``,
    or ``url_not_accessible`` for a name that does not resolve."""

    def __init__(
        self, message: str, *, kind: FetchFailureKind = FetchFailureKind.URL_NOT_ALLOWED
    ) -> None:
        super().__init__(message, kind=kind)


@dataclass(frozen=True)
class Admitted:
    """A hop the guard let through, and the addresses curl must connect to."""

    target: Target
    addresses: tuple[Address, ...]

    @property
    def pin(self) -> list[str]:
        """``CURLOPT_RESOLVE`` entries (``host:port:addr,…``): curl uses these addresses
        for the name instead of resolving it again; TLS SNI and Host stay the name."""
        if self.target.address is not None:
            return []
        shown = ",".join(f"[{a}]" if a.version == 6 else str(a) for a in self.addresses)
        return [f"{self.target.host}:{self.target.port}:{shown}"]


async def system_resolver(host: str, port: int) -> Sequence[Address]:
    """The addresses of ``host`` from the system resolver (getaddrinfo in the loop's
    executor, never on the loop itself)."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[Address] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


@dataclass(frozen=True)
class Guard:
    policy: AddressPolicy
    resolver: Resolver = system_resolver
    tool: str = "fetch tool"
    """Who is refused, in the refusal's sentence (the browser shares this guard)."""
    allow_key: str = "mcp.fetch.allow"
    """The setting that opens more, named in the refusal's sentence."""

    async def admit(self, target: Target) -> Admitted:
        """The hop's checked addresses, or :class:`Refused` saying why not."""
        if target.address is not None:
            self._check(target, [target.address])
            return Admitted(target, (target.address,))
        try:
            addresses = tuple(await self.resolver(target.host, target.port))
        except (OSError, UnicodeError) as exc:
            raise Refused(
                f"The host {target.host} could not be resolved ({_why(exc)}); check the "
                "spelling of the URL.",
                kind=FetchFailureKind.URL_NOT_ACCESSIBLE,
            ) from None
        if not addresses:
            raise Refused(
                f"The host {target.host} has no address; check the URL.",
                kind=FetchFailureKind.URL_NOT_ACCESSIBLE,
            )
        if not self.policy.host_allowed(target.host):
            self._check(target, addresses)
        return Admitted(target, addresses)

    def _check(self, target: Target, addresses: Sequence[Address]) -> None:
        for address in addresses:
            refusal = self.policy.check(address)
            if refusal is not None:
                named = "" if target.address is not None else f"{target.host} resolves to "
                raise Refused(
                    f"Refused to fetch {target.url}: {named}{refusal.sentence()}, which the "
                    f"{self.tool} does not reach (it fetches public internet addresses only; "
                    f"an administrator can open more with {self.allow_key}). Use a public URL "
                    "instead."
                )


def _why(exc: BaseException) -> str:
    if isinstance(exc, socket.gaierror) and exc.args[1:]:
        return str(exc.args[1])
    return str(exc) or type(exc).__name__
