"""The dropbox gives way to the model: transfers are held to dropbox.busy_rate while model
requests are in flight, and run unpaced otherwise.

The pacer's schedule is checked on a fake clock; the daemon's, from outside: an upload and a
download beside a model stream held open take at least the time the rate allows (a lower
bound, which no machine can beat), and the same transfers with no model request wait nothing
(the paced-seconds counter, which counts every wait, stays at zero)."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from autosred.dropbox.pacing import TransferPacer
from autosred.metrics import Metrics
from tests.dropbox.test_during_an_upload import box_of
from tests.dropbox.tusclient import Dropbox, TokenSpec, dropbox_config, make_tokens
from tests.support.clock import ManualClock
from tests.support.daemon import Daemon, metric_value, running_daemon
from tests.support.held import model_stream_held_open

MIB = 1 << 20
PACED = "autosred_dropbox_paced_seconds_total"


class FakeTime(ManualClock):
    """A clock that moves only when the pacer sleeps (or the test says so)."""

    def __init__(self) -> None:
        super().__init__()
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def pacer_on(fake: FakeTime, *, rate: int, busy: list[bool]) -> tuple[TransferPacer, Metrics]:
    metrics = Metrics()
    pacer = TransferPacer(
        rate=rate, busy=lambda: busy[0], metrics=metrics, clock=fake, sleep=fake.sleep
    )
    return pacer, metrics


async def test_a_transfer_beside_a_busy_model_goes_at_the_rate() -> None:
    fake = FakeTime()
    pacer, metrics = pacer_on(fake, rate=4 * MIB, busy=[True])
    for _ in range(5):
        await pacer.pace(MIB)
    # The first piece at once, each next one a quarter second after the last.
    assert fake.sleeps == [0.25, 0.25, 0.25, 0.25]
    assert metrics.dropbox_paced_seconds._value.get() == pytest.approx(1.0)


async def test_transfers_share_one_schedule() -> None:
    fake = FakeTime()
    pacer, _ = pacer_on(fake, rate=2 * MIB, busy=[True])
    # Two transfers asking at the same moment (the clock has not moved): the first goes at
    # once, the second waits for the first's share, a third for both.
    await pacer.pace(MIB)
    assert fake.sleeps == []
    await pacer.pace(MIB)
    assert fake.sleeps == [0.5]
    fake.now -= 0.5  # the third asked at that same first instant too
    await pacer.pace(MIB)
    assert fake.sleeps == [0.5, 1.0]


async def test_nothing_waits_while_the_model_is_idle_or_with_no_rate() -> None:
    fake = FakeTime()
    busy = [False]
    pacer, metrics = pacer_on(fake, rate=MIB, busy=busy)
    for _ in range(10):
        await pacer.pace(MIB)
    unlimited, _ = pacer_on(fake, rate=0, busy=[True])
    for _ in range(10):
        await unlimited.pace(MIB)
    assert fake.sleeps == []
    assert metrics.dropbox_paced_seconds._value.get() == 0


async def test_a_quiet_spell_carries_no_debt() -> None:
    fake = FakeTime()
    busy = [True]
    pacer, _ = pacer_on(fake, rate=MIB, busy=busy)
    await pacer.pace(8 * MIB)  # at once; the schedule is now 8 s ahead
    busy[0] = False
    await pacer.pace(8 * MIB)  # the model went idle: unpaced, and it adds nothing owed
    fake.now += 10  # later than the busy schedule reached
    busy[0] = True
    await pacer.pace(MIB)
    assert fake.sleeps == []


async def paced_seconds(daemon: Daemon) -> float:
    return metric_value(await daemon.metrics(), PACED)


async def round_trip(box: Dropbox, data: bytes) -> float:
    """Upload data and download it back; the seconds it took."""
    started = time.monotonic()
    async with box.client() as client:
        file_id = await box.upload(client, "alice", data)
        got = await client.get(f"/files/{file_id}", headers=box.auth("alice"))
    assert got.status_code == 200
    assert hashlib.sha256(got.content).digest() == hashlib.sha256(data).digest()
    return time.monotonic() - started


async def test_the_daemons_transfers_give_way_to_a_model_request_in_flight(
    tmp_path: Path,
) -> None:
    rate = 4 * MIB
    data = os.urandom(4 * MIB)
    tokens = await make_tokens(tmp_path / "state", [TokenSpec("alice")])
    config = dropbox_config(tmp_path, busy_rate=rate)
    async with running_daemon(tmp_path, config) as daemon:
        box = await box_of(daemon, tokens)
        await round_trip(box, data)
        assert await paced_seconds(daemon) == 0  # no model request: nothing waited

        async with model_stream_held_open(daemon):
            seconds = await round_trip(box, data)
        # Each way, every 1 MiB piece after the first goes its share of the rate after the one
        # before. The counter sums only the waits: on a loaded machine the pieces take part of
        # that time arriving, so it may read less than the schedule, never nothing.
        least = 2 * (len(data) - MIB) / rate
        assert seconds >= least * 0.95, seconds
        assert await paced_seconds(daemon) > 0
