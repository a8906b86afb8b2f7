"""Issue 7, case 5 (process level; the reboot ordering is checked by the molecule `faults`
scenario): the daemon is stopped with SIGTERM mid-load, as systemd stops it after the capture
units on shutdown, over and over. Each time it exits 0 and has flushed RAM: every file the writer
produced is on the SD exactly once, byte-identical, and nothing media is left in the tmpfs."""

import random
import time

import pytest
from harness import Writer, account
from record import record, scaled


@pytest.mark.reliability
def test_sigterm_mid_load_flushes_everything_every_time(env, daemon, wait_for):
    rounds = scaled(3, 20)
    devices = ["cam1", "cam2"]
    env.sd_ext4(size_mb=scaled(512, 2048))
    for dev in devices:
        env.add_device(dev, size="100M")
    env.write_config(hot_limits={"captures": 100, "thumbnails": 100, "segments": 10},
                     archive={"rescan_seconds": 5, "batch_seconds": 0.25})
    rng = random.Random(5)
    produced = {}
    flushed = []
    stop_seconds = []
    first = 1
    for rnd in range(rounds):
        d = daemon().start(wait_for)
        writer = Writer(env, devices, factor=4.0, first=first, seed=rnd)
        writer.start()
        time.sleep(rng.uniform(3.0, 8.0))
        # systemd stops the capture units first (Before=/After= ordering), then the archiver at once
        writer.stop()
        ram = sum(1 for _ in _ram_media(env, devices))
        t0 = time.monotonic()
        assert d.stop() == 0, f"round {rnd}:\n" + d.log()[-3000:]
        stop_seconds.append(time.monotonic() - t0)
        flushed.append(ram)
        assert writer.errors == [], writer.errors[:5]
        produced.update(writer.snapshot())
        first = max(writer.numbers.values()) + 1
        acc = account(env, produced)
        assert acc["in_ram"] == 0, f"round {rnd}: {acc['in_ram']} file(s) left in RAM after the stop"
        assert acc["lost"] == [] and acc["torn"] == [] and acc["duplicated"] == [] and acc["unknown"] == [], acc
        assert acc["on_sd"] == len(produced)
    record("clean_stop", "SIGTERM to the daemon mid-load (2 devices at 4x the plan's rate; the plan's limits "
           "keep up to 210 files per device in RAM), restart, again", tried=rounds, produced=len(produced), lost=0,
           torn=0, source="tests/reliability/test_clean_stop.py", files_in_ram_at_stop_max=max(flushed),
           stop_seconds_max=round(max(stop_seconds), 2), exit_code=0)


def _ram_media(env, devices):
    from harness import hot_media

    for dev in devices:
        yield from hot_media(env, dev)
