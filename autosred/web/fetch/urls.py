"""The URL a model asked for, parsed once and rebuilt, so that what the guard checks is
exactly what curl connects to. Pure.

Two parsers reading one URL differently is how SSRF guards are bypassed
(``http://allowed@127.0.0.1``, ``http://2130706433/``, ``http://0x7f.1/``), so the URL is
split here, each part validated, and a canonical URL rebuilt from the parts: curl only ever
sees a host that is a dotted IPv4 address, a bracketed IPv6 address, or a lower-case ASCII
name. Host names that end in a number are read as IPv4 the way the WHATWG URL standard
(and so curl and browsers) reads them: ``2130706433``, ``0177.1`` and ``0x7f.0.0.1`` are
127.0.0.1.

URLs with credentials (``user:pass@``) are refused: the userinfo part is the classic way to
make a URL read as one host and go to another, a model has no credentials to give, and a
page that needs them is not one an unattended tool should open.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import quote, urljoin, urlsplit

from autosred.web.fetch.addresses import Address
from autosred.web.fetch.failure import FetchFailure, FetchFailureKind

SCHEMES = {"http": 80, "https": 443}
MAX_URL = 8192
"""Longer URLs are refused (browsers and servers commonly stop near 8 KB)."""
_NAME_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")
# What stays unescaped in a request target: RFC 3986's pchar plus "/" (and "?" in the query).
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?"


class BadUrl(FetchFailure, ValueError):
    """A URL that will not be fetched; the message is a sentence for the model. Its kind is
    ``invalid_url`` unless the URL reads well and is refused (scheme, credentials)."""

    def __init__(
        self, message: str, *, kind: FetchFailureKind = FetchFailureKind.INVALID_URL
    ) -> None:
        super().__init__(message, kind=kind)


@dataclass(frozen=True)
class Target:
    """One URL to request: its parts as checked, and the URL rebuilt from them."""

    scheme: str
    host: str
    """Lower-case ASCII name, dotted IPv4, or IPv6 text without brackets."""
    port: int
    address: Address | None
    """The address when the URL names one; None for a host name (resolved by the guard)."""
    path: str
    """Path and query, as sent in the request line (at least ``/``)."""

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if SCHEMES[self.scheme] == self.port else f"{host}:{self.port}"

    @property
    def origin(self) -> str:
        return f"{self.scheme}://{self.netloc}"

    @property
    def url(self) -> str:
        return f"{self.origin}{self.path}"


def parse_target(url: str) -> Target:
    """``url`` as a :class:`Target`, or :class:`BadUrl` saying what is wrong with it."""
    if len(url) > MAX_URL:
        raise BadUrl(f"The URL is {len(url):,} characters long, over {MAX_URL:,}; shorten it.")
    if any(ord(char) < 0x20 or char == "\x7f" for char in url):
        raise BadUrl("The URL contains control characters; send a plain http(s) URL.")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise BadUrl(f"The URL could not be parsed ({exc}); send a full http(s) URL.") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        shown = f"'{scheme}'" if scheme else "no scheme"
        raise BadUrl(
            f"The URL has {shown}; only http and https URLs can be fetched "
            "(write the full URL, e.g. https://example.com/page).",
            kind=FetchFailureKind.URL_NOT_ALLOWED,
        )
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise BadUrl(
            "URLs with credentials (user:password@host) are refused; fetch the page without them.",
            kind=FetchFailureKind.URL_NOT_ALLOWED,
        )
    raw_host = parts.hostname
    if not raw_host:
        raise BadUrl("The URL has no host; send a full URL such as https://example.com/.")
    if port == 0:
        raise BadUrl("Port 0 cannot be connected to; fix the URL's port.")
    host, address = _parse_host(raw_host, bracketed=parts.netloc.split("@")[-1].startswith("["))
    path = quote(parts.path or "/", safe=_PATH_SAFE)
    if not path.startswith("/"):
        path = "/" + path
    if parts.query:
        path += "?" + quote(parts.query, safe=_QUERY_SAFE)
    return Target(
        scheme=scheme,
        host=host,
        port=SCHEMES[scheme] if port is None else port,
        address=address,
        path=path,
    )


def resolve_location(base: Target, location: str) -> Target:
    """The target of a redirect's ``Location`` (relative to the page that sent it)."""
    return parse_target(urljoin(base.url, location.strip()))


def _parse_host(raw: str, *, bracketed: bool) -> tuple[str, Address | None]:
    if bracketed:
        try:
            v6 = ipaddress.IPv6Address(raw)
        except ValueError:
            raise BadUrl(f"[{raw}] is not a valid IPv6 address; fix the URL's host.") from None
        return str(v6), v6
    name = raw.lower()
    v4 = parse_ipv4(name)
    if v4 is not None:
        return str(v4), v4
    return _ascii_name(name), None


def parse_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address a host that ends in a number stands for (WHATWG's IPv4 parser:
    1-4 parts, each decimal, 0-octal or 0x-hex, the last filling the remaining bytes);
    None for a host name; :class:`BadUrl` for a number that is no address."""
    labels = host.split(".")
    if labels and labels[-1] == "" and len(labels) > 1:
        labels = labels[:-1]
    last_label = labels[-1]
    if not (last_label.isascii() and last_label.isdigit()) and _number(last_label) is None:
        return None
    numbers = [_number(label) for label in labels]
    if len(labels) > 4 or any(number is None for number in numbers):
        raise BadUrl(f"{host} ends in a number but is not a valid IPv4 address; fix the host.")
    values = [number for number in numbers if number is not None]
    *front, last = values
    if any(value > 255 for value in front) or last >= 256 ** (5 - len(values)):
        raise BadUrl(f"{host} is out of range for an IPv4 address; fix the host.")
    total = last
    for index, value in enumerate(front):
        total += value << (8 * (3 - index))
    return ipaddress.IPv4Address(total)


def _number(label: str) -> int | None:
    try:
        if label[:2] in ("0x", "0X"):
            return int(label[2:], 16) if label[2:] else 0
        if len(label) > 1 and label.startswith("0"):
            return int(label[1:], 8)
        return int(label, 10) if label.isascii() and label.isdigit() else None
    except ValueError:
        return None


def _ascii_name(name: str) -> str:
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            raise BadUrl(f"{name!r} is not a valid host name; fix the URL's host.") from None
    bare = name[:-1] if name.endswith(".") else name
    labels = bare.split(".")
    if len(bare) > 253 or not all(_NAME_LABEL.match(label) for label in labels):
        raise BadUrl(f"{name!r} is not a valid host name; fix the URL's host.")
    return bare
