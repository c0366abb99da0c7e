"""Ports for child model servers: pick a free one, or check that a fixed one is free.

Picking binds port 0, reads the port the kernel chose and closes the socket before the child
binds it. Between the close and the child's bind another process may take the port. That race
is accepted: the window is milliseconds, the kernel hands out ephemeral ports in rotation (so
the same number is unlikely to be chosen again at once), and losing it is not silent: the child
fails to bind and exits, its "address already in use" is the wake's error, and the next wake
picks another port. Passing the bound socket to the child instead would need every server
(vLLM included) to accept an inherited file descriptor, which they do not.
"""

from __future__ import annotations

import socket


def _address(host: str, port: int) -> tuple[socket.AddressFamily, tuple[str, int]]:
    # getaddrinfo gives the right family for "127.0.0.1", "::1" and "localhost" alike.
    family, _, _, _, sockaddr = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    return family, (str(sockaddr[0]), int(sockaddr[1]))


def pick_free_port(host: str) -> int:
    """A port on ``host`` that nothing listens on now (see the module doc for the race)."""
    family, address = _address(host, 0)
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind(address)
        return int(sock.getsockname()[1])


def port_unavailable(host: str, port: int) -> str | None:
    """Why ``port`` on ``host`` cannot be bound now (e.g. another server holds it), or None."""
    try:
        family, address = _address(host, port)
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            # SO_REUSEADDR as servers set it: a port left in TIME_WAIT by our own previous
            # child is free for them, but a live listener still makes the bind fail.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
    except OSError as exc:
        return exc.strerror or str(exc)
    return None
