"""Issue 7, case 3: the writer outruns its normal rate 10x for 30 s (120 s and 2 devices in the
soak). The real daemon keeps up: the tmpfs never reaches its high-water mark, the writer never sees
an error, nothing is dropped, and after a clean stop every file is on the SD once, byte-identical."""

import time

import pytest
from harness import Sampler, Writer, account
from record import record, scaled

HIGH_WATER = 80
LIMITS = {"captures": 100, "thumbnails": 100, "segments": 10}  # the plan's


@pytest.mark.reliability
def test_ten_times_the_rate_stays_under_high_water_and_drops_nothing(env, daemon, wait_for):
    burst_s = scaled(30, 120)
    devices = ["cam1"] if burst_s == 30 else ["cam1", "cam2"]
    env.sd_ext4(size_mb=scaled(1024, 4096))
    for dev in devices:
        env.add_device(dev, size="100M")  # the roles' default hotcold_tmpfs_size
    env.write_config(hot_limits=LIMITS, archive={"rescan_seconds": 5, "batch_seconds": 0.25,
                                                 "high_water_percent": HIGH_WATER})
    d = daemon().start(wait_for)
    writer = Writer(env, devices, factor=1.0)
    sampler = Sampler(env, devices)
    sampler.start()
    writer.start()
    try:
        time.sleep(10)  # steady state at the plan's rate
        writer.set_factor(10.0)
        time.sleep(burst_s)
        writer.set_factor(1.0)
        time.sleep(10)
    finally:
        writer.stop()
        sampler.stop()
    assert d.alive(), d.log()[-3000:]
    assert d.stop() == 0, d.log()[-3000:]
    produced = writer.snapshot()
    acc = account(env, produced, d.dropped_in_log())

    assert writer.errors == [], writer.errors[:5]
    assert sampler.max_percent < HIGH_WATER, f"tmpfs reached {sampler.max_percent:.1f}% (high water {HIGH_WATER}%)"
    assert d.dropped_in_log() == set(), "files dropped although the SD had room"
    assert acc["lost"] == [] and acc["torn"] == [] and acc["duplicated"] == [] and acc["unknown"] == [], acc
    assert acc["in_ram"] == 0 and acc["on_sd"] == len(produced), "the clean stop left files in RAM"
    record("burst", f"writer at 10x the plan's rate for {burst_s} s ({len(devices)} device(s), plan limits, "
           f"100M tmpfs, ext4 SD)", tried=1, produced=len(produced), lost=0, torn=0,
           source="tests/reliability/test_burst.py", dropped=0,
           max_tmpfs_percent=round(sampler.max_percent, 1), high_water_percent=HIGH_WATER,
           max_hot=dict(sampler.max_count), samples=sampler.samples)
