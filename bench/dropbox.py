"""The ``dropbox`` part of ``python -m bench.run``: file transfer over loopback TLS.

- Upload and download MB/s of one file (1 GiB; 256 MiB with ``--quick``) through the
  daemon's dropbox and through nginx (the Debian package, started here with a generated
  config: TLS with the same certificate and key, WebDAV PUT via ``dav_methods``), in turns in
  the same run, so that a busy machine weighs on both alike. The client is curl for both:
  ``curl -T`` (tus creation, then one PATCH of the whole file, for the daemon; a PUT for
  nginx) and ``curl -o /dev/null``; its ``%{time_total}`` (TLS handshake included) gives
  the rate. The daemon fsyncs an upload before it answers; nginx does not.
- ``autosrectl dropbox put`` and ``get`` on the same file (8 MiB chunks, each with its
  sha256, and the whole file hashed at both ends), for what a user of the CLI sees.
- Model streams: the daemon's /v1/messages streams (16 clients, closed loop, the load
  generator of ``relay``) with and without a transfer running (``bench.dropboxload``: an
  httpx client uploading the file with one tus PATCH, downloading it and removing it, back to
  back), in turns; the daemon holds the transfer to its default ``dropbox.busy_rate`` while
  the streams run. The transfer client stands for another machine, so it runs at nice 10, as
  the fetch load of ``mcp`` does; the daemon runs as it would in production.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from autosred import config
from bench import scenarios
from bench.beside import paired_ratio, ratios_text, streams_beside
from bench.daemon import StartError, free_port, running_daemon, running_sim, stop_process

ROOT = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024
STREAMS = 16
UPLOAD_TARGET = 0.7
STREAMS_TARGET = 0.9


@dataclass(frozen=True)
class DropboxSettings:
    size: int = 1024 * MIB
    rounds: int = 3
    window: float = 4.0
    stream_rounds: int = 7


FULL = DropboxSettings()
QUICK = DropboxSettings(size=256 * MIB, rounds=1, window=1.5, stream_rounds=1)


@dataclass
class DropboxFigures:
    settings: DropboxSettings
    mbps: dict[str, list[float]] = field(default_factory=dict)
    """MB/s (10^6 bytes) per row, one value per round."""
    without: list[float] = field(default_factory=list)
    with_transfer: list[float] = field(default_factory=list)
    transfer_mbps: list[float] = field(default_factory=list)
    nginx_version: str = ""
    commands: dict[str, str] = field(default_factory=dict)
    elapsed: float = 0.0


NGINX_UP, NGINX_DOWN = "nginx, WebDAV PUT (curl -T)", "nginx, GET (curl)"
DAEMON_UP, DAEMON_DOWN = "autosred, tus PATCH (curl -T)", "autosred, GET (curl)"
CTL_UP, CTL_DOWN = "autosrectl dropbox put", "autosrectl dropbox get"


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A P-256 certificate for 127.0.0.1, as the daemon makes for itself: both servers get it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "tls.pem", directory / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


def _payload(path: Path, size: int) -> None:
    block = os.urandom(16 * MIB)  # incompressible; one block repeated is enough for TLS
    with path.open("wb") as out:
        left = size
        while left > 0:
            out.write(block[: min(left, len(block))])
            left -= min(left, len(block))


NGINX_CONF = """\
worker_processes auto;
error_log {dir}/error.log warn;
pid {dir}/nginx.pid;
events {{ worker_connections 256; }}
http {{
    access_log off;
    sendfile on;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        client_max_body_size 0;
        location / {{
            root {dir}/www;
            dav_methods PUT DELETE;
            create_full_put_path on;
        }}
    }}
}}
"""


@contextmanager
def running_nginx(workdir: Path, cert: Path, key: Path) -> Iterator[tuple[int, list[str]]]:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        raise StartError("nginx is not installed (apt-get install nginx-light)")
    directory = workdir / "nginx"
    for sub in ("www", "body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (directory / sub).mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = directory / "nginx.conf"
    text = NGINX_CONF.format(dir=directory, port=port, cert=cert, key=key)
    if os.geteuid() == 0:
        # The workers would otherwise be www-data, who cannot enter the run's 0700 directory.
        text = "user root;\n" + text
    conf.write_text(text)
    command = [nginx, "-e", str(directory / "error.log"), "-c", str(conf), "-g", "daemon off;"]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 10
        while not (directory / "nginx.pid").exists():
            if process.poll() is not None or time.monotonic() > deadline:
                assert process.stderr is not None
                raise StartError(f"nginx did not start: {process.stderr.read().decode()[-2000:]}")
            time.sleep(0.05)
        yield port, command
    finally:
        stop_process(process)


def _curl(args: list[str]) -> float:
    """Run curl; its time_total in seconds. A status other than 2xx fails the run."""
    result = subprocess.run(
        ["curl", "-sS", "--fail-with-body", "-w", "%{time_total}", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"curl {' '.join(args)} failed: {result.stderr}{result.stdout[-500:]}")
    return float(result.stdout.strip())


@dataclass(frozen=True)
class Dropbox:
    url: str
    token: str
    pem: Path

    def create(self, size: int, name: str) -> str:
        """A tus upload (creation); its id."""
        metadata = "filename " + base64.b64encode(name.encode()).decode()
        result = subprocess.run(
            [
                "curl", "-sS", "--fail-with-body", "--cacert", str(self.pem), "-X", "POST",
                "-o", "/dev/null", "-D", "-",
                "-H", f"Authorization: Bearer {self.token}", "-H", "Tus-Resumable: 1.0.0",
                "-H", f"Upload-Length: {size}", "-H", f"Upload-Metadata: {metadata}",
                f"{self.url}/files/",
            ],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        for line in result.stdout.splitlines():
            if line.lower().startswith("location:"):
                return line.split(":", 1)[1].strip().rstrip("/").rsplit("/", 1)[-1]
        raise RuntimeError(f"no Location in the creation answer: {result.stdout}")

    def upload_args(self, file_id: str, payload: Path) -> list[str]:
        return [
            "--cacert", str(self.pem), "-T", str(payload), "-X", "PATCH", "-o", "/dev/null",
            "-H", f"Authorization: Bearer {self.token}", "-H", "Tus-Resumable: 1.0.0",
            "-H", "Content-Type: application/offset+octet-stream", "-H", "Upload-Offset: 0",
            f"{self.url}/files/{file_id}",
        ]  # fmt: skip

    def download_args(self, file_id: str) -> list[str]:
        return [
            "--cacert", str(self.pem), "-o", "/dev/null",
            "-H", f"Authorization: Bearer {self.token}", f"{self.url}/files/{file_id}",
        ]  # fmt: skip

    def delete(self, file_id: str) -> None:
        _curl([
            "--cacert", str(self.pem), "-X", "DELETE", "-o", "/dev/null",
            "-H", f"Authorization: Bearer {self.token}", "-H", "Tus-Resumable: 1.0.0",
            f"{self.url}/files/{file_id}",
        ])  # fmt: skip


def _mbps(size: int, seconds: float) -> float:
    return size / seconds / 1e6


def transfers(
    *,
    settings: DropboxSettings,
    figures: DropboxFigures,
    dropbox: Dropbox,
    nginx_url: str,
    payload: Path,
    ctl: Callable[[list[str]], None],
    workdir: Path,
) -> None:
    size = settings.size
    for row in (NGINX_UP, DAEMON_UP, NGINX_DOWN, DAEMON_DOWN, CTL_UP, CTL_DOWN):
        figures.mbps.setdefault(row, [])
    for _ in range(settings.rounds):
        seconds = _curl(["--cacert", str(dropbox.pem), "-T", str(payload), "-o", "/dev/null",
                         f"{nginx_url}/payload"])  # fmt: skip
        figures.mbps[NGINX_UP].append(_mbps(size, seconds))
        file_id = dropbox.create(size, "payload")
        figures.mbps[DAEMON_UP].append(_mbps(size, _curl(dropbox.upload_args(file_id, payload))))
        seconds = _curl(["--cacert", str(dropbox.pem), "-o", "/dev/null", f"{nginx_url}/payload"])
        figures.mbps[NGINX_DOWN].append(_mbps(size, seconds))
        figures.mbps[DAEMON_DOWN].append(_mbps(size, _curl(dropbox.download_args(file_id))))
        dropbox.delete(file_id)
    started = time.perf_counter()
    ctl(["put", str(payload), "--name", "payload-ctl"])
    figures.mbps[CTL_UP].append(_mbps(size, time.perf_counter() - started))
    target = workdir / "got.bin"
    started = time.perf_counter()
    ctl(["get", "payload-ctl", "-o", str(target)])
    figures.mbps[CTL_DOWN].append(_mbps(size, time.perf_counter() - started))
    target.unlink()


def streams(
    settings: DropboxSettings, figures: DropboxFigures, spec: dict[str, Any], load: list[str]
) -> None:
    beside = streams_beside(spec, load, turns=settings.stream_rounds, what="transfer")
    figures.without += beside.without
    figures.with_transfer += beside.with_load
    figures.transfer_mbps += [t["bytes"] / t["seconds"] / 1e6 for t in beside.totals]


def measure(
    workdir: Path, *, quick: bool = False, progress: Callable[[str], None] = print
) -> DropboxFigures:
    settings = QUICK if quick else FULL
    figures = DropboxFigures(settings=settings)
    started = time.monotonic()
    workdir.mkdir(parents=True, exist_ok=True)
    cert, key = _self_signed(workdir)
    payload = workdir / "payload.bin"
    progress(f"dropbox: writing a {settings.size // MIB} MiB file")
    _payload(payload, settings.size)
    version = subprocess.run(["nginx", "-v"], capture_output=True, text=True, check=False)
    figures.nginx_version = version.stderr.strip().removeprefix("nginx version: ")
    port = free_port()
    sections = {
        "dropbox": {
            "enabled": True,
            "listen": f"127.0.0.1:{port}",
            "max_size": 2 * settings.size + MIB,
            "tls": {"cert": str(cert), "key": str(key)},
        },
        "mcp": {"search": {"enabled": False}, "capabilities": {"enabled": False}},
    }
    env = {**os.environ, "XDG_CACHE_HOME": str(workdir / "cache")}
    with (
        running_nginx(workdir, cert, key) as (nginx_port, nginx_command),
        running_sim(workdir) as sim,
        running_daemon(workdir, sim, sections=sections) as daemon,
    ):

        def ctl(args: list[str]) -> None:
            command = [sys.executable, "-m", "autosred.ctl", "--socket", str(daemon.admin_socket)]
            subprocess.run([*command, "dropbox", *args], check=True, env=env, capture_output=True)

        token = subprocess.run(
            [sys.executable, "-m", "autosred.ctl", "--socket", str(daemon.admin_socket),
             "dropbox", "token", "create", "bench"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        dropbox = Dropbox(url=f"https://127.0.0.1:{port}", token=token, pem=cert)
        nginx_url = f"https://127.0.0.1:{nginx_port}"
        progress(f"dropbox: {settings.rounds} rounds of upload and download, daemon and nginx")
        transfers(
            settings=settings,
            figures=figures,
            dropbox=dropbox,
            nginx_url=nginx_url,
            payload=payload,
            ctl=ctl,
            workdir=workdir,
        )

        (route,) = scenarios.build_routes(
            ["anthropic"], sim, daemon, {}, scenarios.stream_reply(200)
        )
        events = scenarios.expected_events([route])[route.key]
        spec = {
            "mode": "throughput",
            **route.spec(),
            "concurrency": STREAMS,
            "warmup": 0.5,
            "duration": settings.window,
            "expect_events": events,
        }
        load = [
            "nice", "-n", "10", sys.executable, "-m", "bench.dropboxload",
            dropbox.url, str(cert), str(payload),
        ]  # fmt: skip
        progress("dropbox: model streams with and without a transfer")
        streams(settings, figures, spec, [*load, token])
        figures.commands = {
            "nginx": " ".join(["nginx", *nginx_command[1:]]).replace(str(workdir), "$BENCH_DIR"),
            "upload through the daemon": "curl --cacert $BENCH_DIR/tls.pem -T payload.bin "
            "-X PATCH -H 'Authorization: Bearer TOKEN' -H 'Tus-Resumable: 1.0.0' "
            "-H 'Content-Type: application/offset+octet-stream' -H 'Upload-Offset: 0' "
            f"{dropbox.url}/files/ID (after a POST creating ID)",
            "upload to nginx": "curl --cacert $BENCH_DIR/tls.pem -T payload.bin "
            f"{nginx_url}/payload",
            "model streams": f"python -m bench.loadgen '{json.dumps(spec)}'",
            "transfer load": "nice -n 10 python -m bench.dropboxload "
            f"{dropbox.url} $BENCH_DIR/tls.pem $BENCH_DIR/payload.bin TOKEN",
        }
    figures.elapsed = time.monotonic() - started
    return figures


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def section(figures: DropboxFigures | None) -> list[str]:
    if figures is None:
        return []
    s = figures.settings
    up = _median(figures.mbps[DAEMON_UP]) / _median(figures.mbps[NGINX_UP])
    down = _median(figures.mbps[DAEMON_DOWN]) / _median(figures.mbps[NGINX_DOWN])
    ratio = paired_ratio(figures.without, figures.with_transfer)

    def verdict(value: float, target: float) -> str:
        return "met" if value >= target else "**missed**"

    lines = [
        "#### 10. Dropbox: uploads and downloads over loopback TLS, model streams meanwhile",
        "",
        f"Part: {figures.elapsed:.0f} s. One {s.size // MIB} MiB file of random bytes, "
        f"{s.rounds} rounds, daemon and nginx {figures.nginx_version} in turns; the same "
        "P-256 certificate; curl's `time_total` (TLS handshake included). MB/s = 10^6 bytes/s.",
        "",
        "| transfer | MB/s, median | rounds |",
        "| --- | --- | --- |",
        *(
            f"| {row} | {_median(values):,.0f} | {', '.join(f'{v:,.0f}' for v in values)} |"
            for row, values in figures.mbps.items()
        ),
        "",
        f"Daemon vs nginx (target >= {UPLOAD_TARGET:g}x): upload **{up:.2f}x** "
        f"({verdict(up, UPLOAD_TARGET)}), download **{down:.2f}x** "
        f"({verdict(down, UPLOAD_TARGET)}). The daemon fsyncs an upload before answering; "
        "nginx does not. autosrectl's rows time the whole command (start-up, admin session, "
        "8 MiB chunks each with a sha256, the file hashed at both ends).",
        "",
        f"Model streams (/v1/messages, {STREAMS} clients, 200-chunk answers) with a transfer "
        f"running (an httpx client uploading and downloading the file back to back, nice 10), "
        f"in turns of {s.window:g} s "
        f"({len(figures.without)} each) (target >= {STREAMS_TARGET:g}x): **{ratio:.2f}x**, the "
        f"median of the turns' ratios {ratios_text(figures.without, figures.with_transfer)} "
        f"({verdict(ratio, STREAMS_TARGET)}); events/s without "
        f"{', '.join(f'{v:,.0f}' for v in figures.without)}; with "
        f"{', '.join(f'{v:,.0f}' for v in figures.with_transfer)}; transfer MB/s meanwhile "
        f"{', '.join(f'{v:,.0f}' for v in figures.transfer_mbps)} (the client's count from its "
        "first byte: the streams' start-up, when the model is idle, included). The daemon runs "
        "its default `dropbox.busy_rate`: transfers held to "
        f"{config.DropboxSettings().busy_rate / MIB:g} MiB/s while model requests are in "
        "flight, at full speed otherwise (the rows above).",
        "",
        "Commands:",
        "",
        *(f"- {name}: `{command}`" for name, command in figures.commands.items()),
        "",
    ]
    return lines


def main() -> int:
    """``python -m bench.dropbox [--quick]``: this part alone, its section on stdout."""
    with tempfile.TemporaryDirectory(prefix="autosred-bench-dropbox-") as tmp:
        figures = measure(
            Path(tmp), quick="--quick" in sys.argv, progress=lambda m: print(m, file=sys.stderr)
        )
    print("\n".join(section(figures)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
