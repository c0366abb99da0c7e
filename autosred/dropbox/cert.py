"""The dropbox's TLS certificate: the configured one, or a self-signed P-256 one kept under
state_dir, and the server ssl context serving it.

The self-signed certificate is made once and kept (clients pin its fingerprint, so a new one
at every start would break them). :class:`DropboxTls` owns the live ``SSLContext``; a reload
checks the new files in a context of their own first, so a broken certificate never reaches
the one that serves.
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
import os
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from autosred.config import DropboxSettings, split_listen

SELF_SIGNED_DAYS = 3650
"""Ten years: a pinned certificate is trusted by its fingerprint, not its dates, and renewing
it would break every pin."""

# Forward-secret AEAD suites only for TLS 1.2 (TLS 1.3's are all modern and not set here).
_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"


class CertificateError(Exception):
    """The certificate or key cannot be used; the message says which file and why."""


@dataclass(frozen=True)
class CertificateFiles:
    cert: Path
    key: Path
    self_signed: bool


def fingerprint(pem: bytes) -> str:
    """The SHA-256 fingerprint of a PEM certificate's DER form: ``AB:CD:…`` (95 characters)."""
    der = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
    digest = hashes.Hash(hashes.SHA256())
    digest.update(der)
    return digest.finalize().hex(":").upper()


def default_hostnames(listen: str) -> list[str]:
    """The host's name and the listen address: what a client on the LAN or the host uses."""
    host, _ = split_listen(listen)
    names = [socket.gethostname(), host]
    return list(dict.fromkeys(name for name in names if name))


def _san(names: list[str]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name.strip("[]"))))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


def make_self_signed(cert_path: Path, key_path: Path, hostnames: list[str]) -> None:
    """A new P-256 key (written 0600 from its creation) and a certificate for ``hostnames``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0][:64])])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=SELF_SIGNED_DAYS))
        .add_extension(_san(hostnames), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    cert_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # The key is written to a temporary name and renamed, cert last: a crash between leaves
    # no certificate, so the next start makes a new pair instead of a mismatched one.
    key_tmp = key_path.with_name(key_path.name + ".tmp")
    fd = os.open(key_tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key_pem)
        out.flush()
        os.fsync(out.fileno())
    os.replace(key_tmp, key_path)
    cert_tmp = cert_path.with_name(cert_path.name + ".tmp")
    cert_tmp.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    os.replace(cert_tmp, cert_path)


def certificate_files(settings: DropboxSettings, state_dir: Path) -> CertificateFiles:
    """The configured pair, or the self-signed one under state_dir (made when missing)."""
    tls = settings.tls
    if tls.cert is not None and tls.key is not None:
        return CertificateFiles(cert=tls.cert, key=tls.key, self_signed=False)
    directory = state_dir / "dropbox" / "tls"
    files = CertificateFiles(
        cert=directory / "cert.pem", key=directory / "key.pem", self_signed=True
    )
    if not files.cert.exists():
        make_self_signed(files.cert, files.key, tls.hostnames or default_hostnames(settings.listen))
    return files


def _server_context(
    files: CertificateFiles, client_ca: Path | None
) -> tuple[ssl.SSLContext, bytes]:
    """A fresh server context serving ``files``, and the certificate's PEM."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(_CIPHERS)
    context.set_alpn_protocols(["http/1.1"])
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    _load_chain(context, files)
    if client_ca is not None:
        try:
            context.load_verify_locations(cafile=str(client_ca))
        except (OSError, ssl.SSLError) as exc:
            raise CertificateError(f"{client_ca}: cannot load the client CA: {exc}") from exc
        context.verify_mode = ssl.CERT_REQUIRED
    try:
        pem = files.cert.read_bytes()
        fingerprint(pem)
    except (OSError, ValueError) as exc:
        raise CertificateError(f"{files.cert}: cannot read the certificate: {exc}") from exc
    return context, pem


def _load_chain(context: ssl.SSLContext, files: CertificateFiles) -> None:
    try:
        context.load_cert_chain(str(files.cert), str(files.key))
    except (OSError, ssl.SSLError) as exc:
        raise CertificateError(
            f"{files.cert} / {files.key}: cannot load the certificate and key: {exc}"
        ) from exc


class DropboxTls:
    """The listener's ssl context and the certificate it serves.

    The listening socket keeps the context it was given; a reload builds a whole new context
    and the first one's SNI callback (called for every ClientHello, with or without a name)
    hands each new handshake to it. Connections already open keep their certificate.
    """

    def __init__(self, settings: DropboxSettings, state_dir: Path, *, log: logging.Logger) -> None:
        self._files = certificate_files(settings, state_dir)
        self._client_ca = settings.tls.client_ca
        self._log = log
        self.context, self._pem = _server_context(self._files, self._client_ca)
        self._current = self.context
        self.context.sni_callback = self._choose_context
        self._fingerprint = fingerprint(self._pem)
        log.info(
            "dropbox.certificate",
            extra={
                "fields": {
                    "fingerprint": self._fingerprint,
                    "cert": str(self._files.cert),
                    "self_signed": self._files.self_signed,
                }
            },
        )

    def _choose_context(
        self, connection: ssl.SSLObject | ssl.SSLSocket, name: str | None, context: ssl.SSLContext
    ) -> None:
        if self._current is not context:
            connection.context = self._current

    @property
    def pem(self) -> str:
        return self._pem.decode("ascii")

    @property
    def fingerprint(self) -> str:
        return self._fingerprint

    def reload(self) -> bool:
        """Re-read the certificate files; a pair that does not load keeps the one in use."""
        try:
            context, pem = _server_context(self._files, self._client_ca)
        except CertificateError as exc:
            self._log.error(
                "dropbox.certificate_rejected",
                extra={"fields": {"problem": str(exc), "kept": self._fingerprint}},
            )
            return False
        self._current, self._pem = context, pem
        self._fingerprint = fingerprint(pem)
        self._log.info(
            "dropbox.certificate_reloaded", extra={"fields": {"fingerprint": self._fingerprint}}
        )
        return True
