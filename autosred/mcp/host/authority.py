"""Which ``Host`` and ``Origin`` an MCP request may carry (the DNS-rebinding guard).

A web page the user opens can make the browser send requests to a loopback port under the
page's own host name (DNS rebinding), or send them cross-origin; neither can make the browser
name this listener in ``Host`` or ``Origin``. So a request is served only when its ``Host``
names this listener: the address the connection arrived on (its IP and port), on loopback
also ``localhost``, ``127.0.0.1`` and ``[::1]`` with that port, the host in the listener's
configured address, and the names in ``mcp.allowed_hosts``. An ``Origin``, when sent, must
name the same (a page served by this listener); command-line clients send none. Pure: the
caller gives the headers and the connection's local address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
_WILDCARDS = frozenset({"", "0.0.0.0", "::"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Authority:
    """A host (lower case, IPv6 without brackets, IPs normalised) and a port."""

    host: str
    port: int


def parse_host(value: str, *, default_port: int = 80) -> Authority | None:
    """A ``Host`` header's value (``name``, ``name:port``, ``[v6]:port``), or None when it
    is not one."""
    value = value.strip()
    if not value or any(c in value for c in "/?#@ \t\\"):
        return None
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        host, rest = value[1:end], value[end + 1 :]
        if rest and not rest.startswith(":"):
            return None
        port_text = rest[1:] if rest else ""
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return None
    else:
        host, colon, port_text = value.partition(":")
        if colon and not port_text:
            return None
        if ":" in port_text:
            return None  # an IPv6 address without brackets is no Host
    if not host:
        return None
    if port_text:
        if not port_text.isascii() or not port_text.isdigit() or len(port_text) > 5:
            return None
        port = int(port_text)
        if not 0 < port < 65536:
            return None
    else:
        port = default_port
    return Authority(normalise_host(host), port)


def parse_origin(value: str) -> Authority | None:
    """An ``Origin`` header's value (``scheme://host[:port]``), or None for anything else
    (``null``, other schemes, a path)."""
    scheme, sep, rest = value.strip().partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in _DEFAULT_PORTS:
        return None
    return parse_host(rest, default_port=_DEFAULT_PORTS[scheme])


def normalise_host(host: str) -> str:
    """Lower case, IPs in their canonical text (an IPv4-mapped IPv6 address as IPv4)."""
    host = host.lower().rstrip(".") or host  # "localhost." is "localhost"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


class HostPolicy:
    """The names a listener answers to, beyond the address a connection arrived on.

    ``listen_hosts``: the hosts of the listeners' configured addresses (wildcards are
    ignored: a client reaches them under the interface's address). ``allowed``:
    ``mcp.allowed_hosts``, each ``name`` (with the listener's port) or ``name:port`` (another
    port, e.g. one an SSH tunnel forwards)."""

    def __init__(self, *, listen_hosts: Iterable[str], allowed: Iterable[str]) -> None:
        self._names = {
            normalise_host(host) for host in listen_hosts if host.strip("[]") not in _WILDCARDS
        }
        self._exact: set[Authority] = set()
        for entry in allowed:
            with_port = parse_host(entry, default_port=0)
            if with_port is None:
                raise ValueError(f"not a host name or host:port: {entry!r}")
            if with_port.port == 0:
                self._names.add(with_port.host)
            else:
                self._exact.add(with_port)

    def allows(self, authority: Authority, *, local: Authority) -> bool:
        """Whether ``authority`` (from Host or Origin) names the listener whose connection
        has the local address ``local``."""
        if authority in self._exact:
            return True
        if authority.port != local.port:
            return False
        if authority.host == local.host or authority.host in self._names:
            return True
        return authority.host in _LOOPBACK_NAMES and _is_loopback(local.host)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
