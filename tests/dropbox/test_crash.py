"""A writer killed with SIGKILL at random moments: once the store reopens, every upload is
either complete and equal to what was sent, or resumable at (at least) the last offset the
store reported durable, and resuming it gives an equal file. Nothing torn is ever complete."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autosred.dropbox.storage import Store
from tests.dropbox.crashwriter import OWNER, content, length_of
from tests.dropbox.support import body

REPO = Path(__file__).resolve().parents[2]


def run_and_kill(root: Path, seed: int, kill_after: int, delay: float) -> dict[str, int]:
    """Run the writer, SIGKILL it `delay` seconds after it printed kill_after lines (the delay
    places the kill inside the next step, not a wait for anything); the durable offsets seen."""
    writer = subprocess.Popen(
        [sys.executable, "-m", "tests.dropbox.crashwriter", str(root), str(seed)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None
    durable: dict[str, int] = {}
    for seen, line in enumerate(writer.stdout, start=1):
        report = json.loads(line)
        if "id" in report:
            durable[report["id"]] = report["offset"]
        if seen >= kill_after:
            time.sleep(delay)
            writer.send_signal(signal.SIGKILL)
            break
    writer.stdout.close()
    writer.wait()
    return durable


async def check_reopened(root: Path, seed: int, durable: dict[str, int]) -> None:
    store = await Store.open(root, max_size=64 << 20, min_free=0)
    try:
        entries = {entry.id: entry for entry in await store.entries(OWNER)}
        assert set(durable) <= set(entries), "an upload the store reported was lost"
        for entry in entries.values():
            number = int(entry.metadata["n"])
            data = content(seed, number, length_of(seed, number))
            assert entry.length == len(data)
            assert entry.offset >= durable.get(entry.id, 0), "a reported durable offset went back"
            if not entry.complete:
                on_disk = (root / "partial" / entry.id / "data").read_bytes()
                assert on_disk == data[: entry.offset]
                entry = await store.append(
                    OWNER, entry.id, entry.offset, body(data[entry.offset :])
                )
            assert entry.complete and entry.sha256 == hashlib.sha256(data).hexdigest()
            async with await store.open_file(OWNER, entry.id) as stored:
                assert await stored.read(0, stored.size + 1) == data
        assert not [name for name in os.listdir(root / "partial") if name.startswith(".")]
    finally:
        await store.close()


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32), kill_after=st.integers(1, 40), delay=st.floats(0.0, 0.004))
def test_sigkill_at_random_moments_leaves_complete_or_resumable_uploads(
    seed: int, kill_after: int, delay: float
) -> None:
    with tempfile.TemporaryDirectory() as place:
        root = Path(place) / "dropbox"
        durable = run_and_kill(root, seed, kill_after, delay)
        asyncio.run(check_reopened(root, seed, durable))
