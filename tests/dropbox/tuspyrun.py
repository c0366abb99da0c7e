"""Upload a file with tuspy (the tus project's Python client), as another machine would:
`python -m tests.dropbox.tuspyrun URL TOKEN FILE [--algorithm A] [--chunk N] [--stop-at N]
[--resume UPLOAD_URL]`. TLS trusts what REQUESTS_CA_BUNDLE names (the dropbox's PEM). Prints
the upload's URL and the offset it reached."""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

from tusclient.client import TusClient
from tusclient.uploader.uploader import Uploader


def uploader_class(algorithm: str) -> type[Uploader]:
    """tuspy's uploader with the Upload-Checksum algorithm asked for (its extension point:
    the class's CHECKSUM_ALGORITHM_PAIR)."""

    class Checksummed(Uploader):
        CHECKSUM_ALGORITHM_PAIR = (algorithm, getattr(hashlib, algorithm))

    return Checksummed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("token")
    parser.add_argument("file", type=Path)
    parser.add_argument("--algorithm", default="sha1")
    parser.add_argument("--chunk", type=int, default=1 << 20)
    parser.add_argument("--stop-at", type=int, default=None)
    parser.add_argument("--resume", default=None)
    args = parser.parse_args()
    client = TusClient(args.url, headers={"Authorization": f"Bearer {args.token}"})
    uploader = uploader_class(args.algorithm)(
        file_path=str(args.file),
        client=client,
        url=args.resume,
        chunk_size=args.chunk,
        metadata={"filename": args.file.name},
        upload_checksum=True,
    )
    uploader.upload(stop_at=args.stop_at)
    print(uploader.url, uploader.offset)


if __name__ == "__main__":
    main()
