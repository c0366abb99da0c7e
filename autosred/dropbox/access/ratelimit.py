"""The failed-authentication limit: a token bucket per client address, in bounded memory.

Each address may fail `burst` times at once, then once every `1 / refill` seconds; while its
bucket is empty every attempt from it is refused, right or wrong, so guessing tokens or share
links from one address is slow whatever it guesses. IPv6 clients are counted per /64 (what
one host is usually given: counting single addresses would hand it 2^64 buckets), IPv4 per
address. At most `max_peers` buckets are kept; the least recently touched goes first, which a
client with many addresses could use to reset its own buckets, never another's.
"""

from __future__ import annotations

import ipaddress
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class FailureLimiter:
    def __init__(
        self,
        *,
        burst: int = 10,
        refill: float = 0.1,
        max_peers: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if burst < 1 or refill <= 0 or max_peers < 1:
            raise ValueError("burst, refill and max_peers must be positive")
        self._burst = float(burst)
        self._refill = refill
        self._max_peers = max_peers
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def blocked(self, peer: str) -> bool:
        """True while `peer` has used up its failures."""
        bucket = self._current(peer_key(peer), create=False)
        return bucket is not None and bucket.tokens < 1.0

    def failed(self, peer: str) -> None:
        """Count one failed attempt of `peer`."""
        bucket = self._current(peer_key(peer), create=True)
        assert bucket is not None
        bucket.tokens = max(0.0, bucket.tokens - 1.0)

    def __len__(self) -> int:
        return len(self._buckets)

    def _current(self, key: str, *, create: bool) -> _Bucket | None:
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if not create:
                return None
            bucket = _Bucket(tokens=self._burst, updated=now)
            self._buckets[key] = bucket
            while len(self._buckets) > self._max_peers:
                self._buckets.popitem(last=False)
        else:
            elapsed = max(0.0, now - bucket.updated)
            bucket.tokens = min(self._burst, bucket.tokens + elapsed * self._refill)
            bucket.updated = now
            self._buckets.move_to_end(key)
            if bucket.tokens >= self._burst and not create:
                del self._buckets[key]  # full again: nothing worth remembering
        return bucket


def peer_key(peer: str) -> str:
    """The bucket an address counts in: IPv4 as is (an IPv4-mapped IPv6 address too), IPv6
    by its /64; anything else (a Unix socket's empty peer) by its text."""
    try:
        address = ipaddress.ip_address(peer.split("%", 1)[0])
    except ValueError:
        return peer
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)
