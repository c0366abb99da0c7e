"""Which addresses the fetch tool may connect to: the SSRF guard's policy, pure.

A model told to fetch ``http://169.254.169.254/`` (cloud metadata) or
``http://127.0.0.1:9464/`` (this daemon's metrics) must not get it, so every address a
host name resolves to is checked here before a connection is made. Refused by default:
everything that is not globally reachable unicast. IPv6 forms that carry an IPv4 address
(IPv4-mapped, NAT64's well-known prefix, 6to4, Teredo) are judged by the IPv4 address they
carry, so ``::ffff:127.0.0.1`` is loopback. The lists are explicit rather than
``ipaddress``'s ``is_global``, whose answer has changed between Python releases.

``allow`` (``mcp.fetch.allow``) opens CIDRs and host names: a host name entry admits that
name whatever it resolves to (``*.example.internal`` admits its sub-domains).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _v4(*pairs: tuple[str, str]) -> tuple[tuple[ipaddress.IPv4Network, str], ...]:
    return tuple((ipaddress.IPv4Network(cidr), why) for cidr, why in pairs)


def _v6(*pairs: tuple[str, str]) -> tuple[tuple[ipaddress.IPv6Network, str], ...]:
    return tuple((ipaddress.IPv6Network(cidr), why) for cidr, why in pairs)


# IANA's special-purpose IPv4 registry, less the ranges that are globally reachable.
REFUSED_V4 = _v4(
    ("0.0.0.0/8", "unspecified"),
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "shared (carrier-grade NAT)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local (cloud metadata lives here)"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "reserved (IETF protocol assignments)"),
    ("192.0.2.0/24", "reserved (documentation)"),
    ("192.88.99.0/24", "reserved (6to4 relay anycast)"),
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "reserved (benchmarking)"),
    ("198.51.100.0/24", "reserved (documentation)"),
    ("203.0.113.0/24", "reserved (documentation)"),
    ("224.0.0.0/4", "multicast"),
    ("255.255.255.255/32", "broadcast"),
    ("240.0.0.0/4", "reserved"),
)

# IPv6 unicast that is globally reachable lives in 2000::/3; everything outside it (::1, ::,
# fe80::/10, fc00::/7, ff00::/8, 100::/64, …) is refused, except the embeddings below.
GLOBAL_UNICAST_V6 = ipaddress.IPv6Network("2000::/3")
REFUSED_V6 = _v6(
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("fe80::/10", "link-local"),
    ("fc00::/7", "private (unique local)"),
    ("ff00::/8", "multicast"),
    # RFC 8215: the local-use NAT64 prefix is an operator's own, like private space; its
    # embedding may sit at any of RFC 6052's offsets, so it is refused whole.
    ("64:ff9b:1::/48", "private (local-use NAT64)"),
    ("2001:db8::/32", "reserved (documentation)"),
    ("3fff::/20", "reserved (documentation)"),
    ("2001:2::/48", "reserved (benchmarking)"),
    ("2001:10::/28", "reserved (ORCHID)"),
    ("2001:20::/28", "reserved (ORCHIDv2)"),
)
NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")


@dataclass(frozen=True)
class Refusal:
    """Why an address is refused, in words the model can read."""

    address: str
    reason: str

    def sentence(self) -> str:
        return f"{self.address} is {self.reason}"


def embedded_v4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries, where the form means the packets reach
    that IPv4 host: IPv4-mapped, NAT64's well-known prefix, 6to4, Teredo's server."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in NAT64_WELL_KNOWN:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    return None


def teredo_v4(address: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, ...]:
    teredo = address.teredo
    return () if teredo is None else teredo


@dataclass(frozen=True)
class AddressPolicy:
    """The guard's verdicts. ``allow_networks`` are opened; ``allow_hosts`` are names opened
    whatever they resolve to (exact, or ``*.suffix`` for sub-domains)."""

    allow_networks: tuple[Network, ...] = ()
    allow_hosts: tuple[str, ...] = ()

    @classmethod
    def from_allow(cls, entries: Iterable[str]) -> AddressPolicy:
        """``mcp.fetch.allow``: each entry a CIDR, an address, or a host name."""
        networks: list[Network] = []
        hosts: list[str] = []
        for entry in entries:
            text = entry.strip()
            try:
                networks.append(ipaddress.ip_network(text, strict=False))
            except ValueError:
                hosts.append(text.lower().rstrip("."))
        return cls(tuple(networks), tuple(hosts))

    def host_allowed(self, host: str) -> bool:
        """Whether a host name is opened by name (checked before its addresses)."""
        name = host.lower().rstrip(".")
        for entry in self.allow_hosts:
            if entry.startswith("*."):
                if name.endswith(entry[1:]) and len(name) > len(entry) - 1:
                    return True
            elif name == entry:
                return True
        return False

    def check(self, address: Address) -> Refusal | None:
        """None when a connection to ``address`` is allowed, else why not."""
        if self._opened(address):
            return None
        if isinstance(address, ipaddress.IPv4Address):
            return self._check_v4(address, shown=str(address))
        return self._check_v6(address)

    def _opened(self, address: Address) -> bool:
        return any(
            address.version == network.version and address in network
            for network in self.allow_networks
        )

    def _check_v4(self, address: ipaddress.IPv4Address, *, shown: str) -> Refusal | None:
        for network, why in REFUSED_V4:
            if address in network:
                return Refusal(shown, why)
        return None

    def _check_v6(self, address: ipaddress.IPv6Address) -> Refusal | None:
        shown = str(address)
        if address.scope_id is not None:
            return Refusal(shown, "a scoped (zone) address, which only has meaning on a link")
        inner = embedded_v4(address)
        if inner is not None:
            if self._opened(inner):
                return None
            refusal = self._check_v4(inner, shown=shown)
            if refusal is not None:
                return Refusal(shown, f"{refusal.reason} (it carries {inner})")
            if address.ipv4_mapped is not None or address in NAT64_WELL_KNOWN:
                return None
        for network, why in REFUSED_V6:
            if address in network:
                return Refusal(shown, why)
        if address not in GLOBAL_UNICAST_V6:
            return Refusal(shown, "reserved (not global unicast)")
        for inner in teredo_v4(address):
            refusal = self._check_v4(inner, shown=shown)
            if refusal is not None and not self._opened(inner):
                return Refusal(shown, f"{refusal.reason} (Teredo, it carries {inner})")
        return None
