"""The writer the crash test kills: uploads deterministic contents in random pieces, printing
one JSON line after each step the store reported durable (`python -m tests.dropbox.crashwriter
ROOT SEED`)."""

from __future__ import annotations

import asyncio
import json
import random
import sys

from autosred.dropbox.storage import Store
from tests.dropbox.support import body

OWNER = "crash"
UPLOADS = 4
PIECE = 64 << 10


def content(seed: int, number: int, length: int) -> bytes:
    return random.Random(f"{seed}-{number}").randbytes(length)


def length_of(seed: int, number: int) -> int:
    return random.Random(f"{seed}-{number}-length").randrange(0, 3 << 20)


async def write(root: str, seed: int) -> None:
    rng = random.Random(seed)
    store = await Store.open(root, max_size=64 << 20, min_free=0)
    for number in range(UPLOADS):
        length = length_of(seed, number)
        data = content(seed, number, length)
        entry = await store.create(
            OWNER, length, {"filename": f"f{number}".encode(), "n": str(number).encode()}
        )
        print(json.dumps({"id": entry.id, "n": number, "offset": entry.offset}), flush=True)
        while not entry.complete:
            piece = data[entry.offset : entry.offset + rng.randrange(1, 768 << 10)]
            pieces = [piece[start : start + PIECE] for start in range(0, len(piece), PIECE)]
            entry = await store.append(OWNER, entry.id, entry.offset, body(*pieces))
            print(json.dumps({"id": entry.id, "n": number, "offset": entry.offset}), flush=True)
    await store.close()
    print(json.dumps({"done": True}), flush=True)


if __name__ == "__main__":
    asyncio.run(write(sys.argv[1], int(sys.argv[2])))
