"""An hour's SD indexes ride in the checkpoint (issue 13: "index work rides in the same checkpoint").

They are written under temp names with no flush of their own and renamed into place after the next
checkpoint's flush, so: closing hours and stopping cost the card no flush per device and file; until
the checkpoint, nginx keeps serving the RAM copy; a crash before it leaves no torn or half-placed
index, and the start-up repair writes the missing one."""

import json
import os

from hchelpers import produce, write_live

from hotcold import wear
from hotcold.archiver import Archiver
from hotcold.clock import FixedClock
from hotcold.layout import is_temp, number_of

DEVICES = ["cam1", "cam2", "cam3", "cam4"]
T0 = 1709287500.0  # 2024-03-01 10:05:00 UTC


def record(env, clock, a, devices, seconds, first=1000):
    """``seconds`` of FFmpeg-like output on each device (4 thumbnails and 1 segment a second), one daemon
    turn (pass, RAM indexes, checkpoint when due) after each second."""
    for s in range(seconds):
        for dev in devices:
            th, seg = env.hot(dev, "thumbnails"), env.hot(dev, "segments")
            for i in range(4):
                produce(th, "thumbnails", first * 5 + s * 4 + i, mtime=clock.now + i * 0.25)
            produce(seg, "segments", first + s, mtime=clock.now + 1.0)
            write_live(seg, [first + s])
            a.pass_device(dev)
        a.write_ram_indexes()
        clock.advance(1.0)


def flushes(base):
    return wear.snapshot(base, 0)["flushes"]


def sd_index(env, dev, hour):
    """(thumbnail names in the SD index.json, whether archive.m3u8 ends, temp files in the two folders),
    or None where the index.json is not in place."""
    tdir, sdir = env.archive(dev, "thumbnails", hour), env.archive(dev, "segments", hour)
    temps = sorted(n for d in (tdir, sdir) for n in os.listdir(d) if is_temp(n))
    try:
        with open(os.path.join(tdir, "index.json")) as f:
            names = [u.rsplit("/", 1)[1] for u in json.load(f)["thumbnails"]]
        with open(os.path.join(sdir, "archive.m3u8")) as f:
            ended = "#EXT-X-ENDLIST" in f.read()
    except FileNotFoundError:
        return None, temps
    return (sorted(names), ended), temps


def thumbnails_on_sd(env, dev, hour):
    d = env.archive(dev, "thumbnails", hour)
    return sorted(n for n in os.listdir(d) if number_of("thumbnails", n) is not None)


def setup(env, devices):
    env.sd_ext4(size_mb=64)
    for dev in devices:
        env.add_device(dev)
    clock = FixedClock(T0)
    cfg = env.config(devices=devices, hot_limits={"thumbnails": 4, "segments": 2}, archive={"segment_margin": 0})
    a = Archiver(cfg, clock)
    a.recover()
    return clock, cfg, a


def test_a_stop_of_four_devices_costs_the_card_a_few_flushes_not_several_per_device(env):
    """The stop writes every open hour's SD indexes (EVENT) and makes everything durable: with the
    indexes in the checkpoint, its block-layer flush requests do not grow with the devices (the old
    path: a checkpoint plus 6 fsyncs per device, 67 flush requests for 4 devices in benchmark 1)."""
    clock, cfg, a = setup(env, DEVICES)
    record(env, clock, a, DEVICES, 10)
    a.checkpoint()
    os.sync()
    before = flushes(env.base)
    assert a.flush()
    spent = flushes(env.base) - before
    placed = [sd_index(env, dev, 10)[0] is not None for dev in DEVICES]
    assert (placed, spent <= 8) == ([True] * 4, True), f"{spent} flush requests for the stop of 4 devices"
    print(f"stop of 4 devices: {spent} flush requests")


def test_a_closed_hours_sd_index_goes_into_place_with_the_checkpoint_and_ram_serves_until_then(env):
    clock, cfg, a = setup(env, ["cam1"])
    record(env, clock, a, ["cam1"], 20)
    a.checkpoint()
    clock.advance(3600)  # hour 11; hour 10's last files leave RAM with the new hour's first ones
    record(env, clock, a, ["cam1"], 3, first=5000)
    ram = sorted(os.listdir(os.path.join(env.hot("cam1"), "index")))
    before = sd_index(env, "cam1", 10)
    a.checkpoint()
    after = sd_index(env, "cam1", 10)
    assert (before[0], len(before[1]), "thumbnails_2024-03-01_10.json" in ram) == (None, 3, True)
    assert after == ((thumbnails_on_sd(env, "cam1", 10), True), [])
    assert "thumbnails_2024-03-01_10.json" not in os.listdir(os.path.join(env.hot("cam1"), "index"))


def test_a_crash_before_the_checkpoint_leaves_no_torn_index_and_the_restart_writes_it(env):
    clock, cfg, a = setup(env, ["cam1"])
    record(env, clock, a, ["cam1"], 20)
    a.checkpoint()
    clock.advance(3600)
    record(env, clock, a, ["cam1"], 3, first=5000)
    staged = sd_index(env, "cam1", 10)
    del a  # killed before its checkpoint: the hour's indexes exist only under temp names
    b = Archiver(cfg, clock)
    b.recover()
    assert (staged[0], len(staged[1])) == (None, 3)
    assert sd_index(env, "cam1", 10) == ((thumbnails_on_sd(env, "cam1", 10), True), [])
