"""The dropbox's certificate settings and the self-signed certificate's contents."""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path

import pytest
from cryptography import x509

from autosred.config import ConfigError, DropboxSettings, load_settings
from autosred.dropbox.cert import DropboxTls


def test_cert_without_key_is_refused_with_the_key_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path / "x.yaml", data={"dropbox": {"tls": {"cert": "/x.pem"}}})
    assert "dropbox.tls" in caught.value.messages[0]
    assert "both cert and key" in caught.value.messages[0]


def test_the_self_signed_certificate_names_the_configured_hosts(tmp_path: Path) -> None:
    settings = DropboxSettings.model_validate(
        {"enabled": True, "tls": {"hostnames": ["dropbox.example", "10.1.2.3", "::1"]}}
    )
    tls = DropboxTls(settings, tmp_path, log=logging.getLogger("test"))
    cert = x509.load_pem_x509_certificate(tls.pem.encode())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["dropbox.example"]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("10.1.2.3"),
        ipaddress.ip_address("::1"),
    ]
    assert cert.public_key().curve.name == "secp256r1"  # type: ignore[union-attr]
    # Made once: a second start reads the same files.
    again = DropboxTls(settings, tmp_path, log=logging.getLogger("test"))
    assert again.fingerprint == tls.fingerprint
