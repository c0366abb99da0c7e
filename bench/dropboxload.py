"""Transfer load, run in its own process: ``python -m bench.dropboxload URL PEM FILE TOKEN``.

Uploads FILE to the dropbox at URL (tus: a creation, then one PATCH streaming the file),
downloads it back, removes it, and again, until a line arrives on stdin. It prints
``{"event": "running"}`` once the first upload's bytes flow, then, after the stdin line,
``{"event": "result", "bytes": …, "seconds": …, "errors": […]}``: the bytes moved either way
meanwhile, counted as they go (a transfer cut by the stop counts for what it moved).
"""

from __future__ import annotations

import base64
import json
import ssl
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

PIECE = 1024 * 1024


def emit(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


class Counter:
    def __init__(self) -> None:
        self.bytes = 0
        self.running = threading.Event()
        self.stop = threading.Event()


def _file(path: Path, counter: Counter) -> Iterator[bytes]:
    with path.open("rb") as source:
        while not counter.stop.is_set() and (piece := source.read(PIECE)):
            counter.running.set()
            counter.bytes += len(piece)
            yield piece


def transfer(url: str, pem: str, path: Path, token: str, counter: Counter) -> list[str]:
    context = ssl.create_default_context(cadata=Path(pem).read_text())
    size = path.stat().st_size
    auth = {"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"}
    errors: list[str] = []
    with httpx.Client(base_url=url, verify=context, headers=auth, timeout=120) as client:
        while not counter.stop.is_set():
            created = client.post(
                "/files/",
                headers={
                    "Upload-Length": str(size),
                    "Upload-Metadata": "filename " + base64.b64encode(b"load").decode(),
                },
            )
            if created.status_code != 201:
                errors.append(f"creation: {created.status_code} {created.text[:200]}")
                break
            upload = created.headers["Location"]
            try:
                sent = client.patch(
                    upload,
                    headers={
                        "Content-Type": "application/offset+octet-stream",
                        "Upload-Offset": "0",
                        "Content-Length": str(size),
                    },
                    content=_file(path, counter),
                )
            except Exception:
                # The stop cuts the body short (h11 says so in its own words): expected then.
                if counter.stop.is_set():
                    break
                raise
            if counter.stop.is_set():
                break
            if sent.status_code != 204:
                errors.append(f"patch: {sent.status_code} {sent.text[:200]}")
                break
            with client.stream("GET", upload) as got:
                for data in got.iter_bytes(PIECE):
                    counter.bytes += len(data)
                    if counter.stop.is_set():
                        break
            client.delete(upload)
    return errors


def main(argv: list[str]) -> int:
    url, pem, file, token = argv
    counter = Counter()
    outcome: dict[str, list[str]] = {"errors": []}

    def run() -> None:
        try:
            outcome["errors"] = transfer(url, pem, Path(file), token, counter)
        except Exception as exc:
            outcome["errors"] = [f"{type(exc).__name__}: {exc}"]
        finally:
            counter.running.set()

    worker = threading.Thread(target=run, name="transfer", daemon=True)
    worker.start()
    counter.running.wait()
    started, before = time.perf_counter(), counter.bytes
    emit("running")
    sys.stdin.readline()
    moved, seconds = counter.bytes - before, time.perf_counter() - started
    counter.stop.set()
    worker.join(timeout=30)
    emit("result", bytes=moved, seconds=seconds, errors=outcome["errors"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
