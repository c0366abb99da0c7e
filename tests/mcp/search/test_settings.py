"""mcp.search's own keys: the proxy URL and the CA file are checked when the config loads."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from autosred.config import SearchSettings


@pytest.mark.parametrize(
    "proxy",
    ["http://127.0.0.1:3128", "https://user:pass@proxy.example:443/", "socks5h://127.0.0.1:9050"],
)
def test_proxy_urls_accepted(proxy: str) -> None:
    assert SearchSettings(proxy=proxy).proxy == proxy


@pytest.mark.parametrize("proxy", ["127.0.0.1:3128", "ftp://proxy:21", "http://", "http://a b"])
def test_bad_proxy_named(proxy: str) -> None:
    with pytest.raises(ValidationError, match="expected a proxy URL"):
        SearchSettings(proxy=proxy)


def test_ca_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="is not a file"):
        SearchSettings.model_validate({"ca_file": str(tmp_path / "missing.pem")})
    pem = tmp_path / "ca.pem"
    pem.write_text("-----BEGIN CERTIFICATE-----\n")
    assert SearchSettings.model_validate({"ca_file": str(pem)}).ca_file == pem


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8888", "https://search.example/searxng/", "http://[::1]:8080"]
)
def test_searxng_base_urls_accepted(url: str) -> None:
    assert SearchSettings(backend="searxng", searxng_url=url).searxng_url == url


@pytest.mark.parametrize(
    "url", ["127.0.0.1:8888", "ftp://search.example", "http://", "http://h/search?q=x"]
)
def test_bad_searxng_url_named(url: str) -> None:
    with pytest.raises(ValidationError, match="expected the instance's base URL"):
        SearchSettings(backend="searxng", searxng_url=url)
