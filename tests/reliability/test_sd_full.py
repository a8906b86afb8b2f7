"""Issue 15, defect 5: a full card under the real daemon (a loop-mounted ext4 "SD" that fills up, a
writer at twice the plan's rates).

With old hours on the card, ENOSPC evicts the oldest archived hour of the kind with the most to give and
archiving goes on with nothing dropped. With nothing evictable above the floor, the files stay in RAM up
to the tmpfs high water; only past it are the oldest dropped, just enough, each logged and counted.
Either way the loss counters (evicted, dropped) survive an archiver restart. At the end every file the
writer produced is on the SD byte-identical, or was dropped and logged; nothing else.
"""

import os
import re
import shutil
import time
from zoneinfo import ZoneInfo

import pytest
from harness import Sampler, Writer, account, free_bytes, heartbeat
from record import record, scaled

from hotcold.hours import hour_key

LIMITS = {"captures": 20, "thumbnails": 20, "segments": 5}
RESCAN = 2
UTC = ZoneInfo("UTC")  # the harness's config zone


def dev_state(env, dev="cam1"):
    return ((heartbeat(env) or {}).get("devices") or {}).get(dev, {})


def fill_leaving(sd, leave):
    """A file outside every hour folder that leaves ``leave`` bytes free on the card; returns its path."""
    filler = os.path.join(sd, "filler.bin")
    with open(filler, "wb") as f:
        f.write(b"\0" * max(0, free_bytes(sd) - leave))
        f.flush()
        os.fsync(f.fileno())
    return filler


def old_hours(env, dev, kind, ages, nfiles, size):
    """Archived hour folders ``ages`` hours before now (their day marker from the real clock), each with
    ``nfiles`` files of ``size`` bytes under names the writer never uses. Returns {hour: folder}."""
    out = {}
    for age in ages:
        key = hour_key(time.time() - age * 3600, UTC)
        d = env.archive(dev, kind, key.hour)
        os.makedirs(d)
        with open(os.path.join(d, ".day"), "w") as f:
            f.write(key.day + "\n")
        for i in range(nfiles):
            name = f"segment_{900000 + age * 100 + i}.ts" if kind == "segments" else \
                f"capture_{900000 + age * 100 + i}_thumbnail.jpg"
            with open(os.path.join(d, name), "wb") as f:
                f.write(os.urandom(size))
        out[key.hour] = d
    return out


def restart_keeps(env, daemon, wait_for, names):
    """Start a second archiver, read its first heartbeat's counters ``names``, stop it; return them."""
    d2 = daemon().start(wait_for)
    got = {n: dev_state(env).get(n) for n in names}
    assert d2.stop() == 0, d2.log()[-3000:]
    return got


def check_accounting(env, writer, sampler, d, old_dirs=()):
    """Stop-side checks shared by both cases; return (produced, account, archived, dropped) figures."""
    for p in old_dirs:  # the test's own old hours: not the writer's files
        shutil.rmtree(p, ignore_errors=True)
    produced = writer.snapshot()
    logged = d.dropped_in_log()
    acc = account(env, produced, logged)
    final = re.findall(r"stopped \(cam1: (\d+) archived, (\d+) dropped", d.log())
    assert final, d.log()[-2000:]
    archived, dropped = map(int, final[-1])
    assert writer.errors == [], f"the writer saw errors: {writer.errors[:5]}"
    assert sampler.max_percent < 95.0, sampler.max_percent
    assert acc["lost"] == [], f"lost (not on the SD, not a logged drop): {acc['lost'][:5]}"
    assert acc["torn"] == [] and acc["duplicated"] == [] and acc["unknown"] == [], acc
    assert acc["in_ram"] == 0, "the clean stop left files in RAM"
    assert dropped == len(logged) == acc["dropped"], "every drop is logged and counted once"
    assert archived == acc["on_sd"] and acc["on_sd"] + acc["dropped"] == len(produced)
    return produced, acc, archived, dropped


@pytest.mark.reliability
def test_a_full_card_evicts_its_oldest_hour_and_drops_nothing(env, daemon, wait_for):
    hold_s = scaled(20, 120)
    # the writer brings ~1.5 MB/s: the old hours hold more than the whole run needs
    sd = env.sd_ext4(size_mb=scaled(128, 512))
    env.add_device("cam1", size="32M")
    # six old hours of segments (8 MB each; 32 MB in the long form) and two older ones of thumbnails
    # (less to give)
    segs = old_hours(env, "cam1", "segments", range(3, 9), scaled(16, 64), 500_000)
    thumbs = old_hours(env, "cam1", "thumbnails", (9, 10), 20, 6_000)
    oldest_seg = hour_key(time.time() - 8 * 3600, UTC).hour
    fill_leaving(sd, 4 * 1024 * 1024)
    env.write_config(hot_limits=LIMITS, archive={"rescan_seconds": RESCAN, "batch_seconds": 0.25})
    d = daemon().start(wait_for)
    writer, sampler = Writer(env, ["cam1"], factor=2.0), Sampler(env, ["cam1"])
    sampler.start()
    writer.start()
    try:
        wait_for(lambda: dev_state(env).get("evicted", 0) > 0, timeout=60, what="the card fills and evicts")
        time.sleep(hold_s)
        st = dev_state(env)
        assert st.get("sd_ok") is True and st.get("dropped") == 0, st
    finally:
        writer.stop()
        sampler.stop()
    assert d.stop() == 0, d.log()[-3000:]
    evictions = re.findall(r"evicted (\w+)/(\d+) of \S+ \((\d+) file", d.log())
    assert evictions[0][:2] == ("segments", str(oldest_seg)), evictions
    assert all(k == "segments" for k, _h, _n in evictions), "the kind with the most to give goes first"
    assert all(sum(n.startswith("capture_") for n in os.listdir(p)) == 20 for p in thumbs.values()), \
        "no thumbnail hour was needed"
    evicted = sum(int(n) for _k, _h, n in evictions)
    produced, acc, archived, dropped = check_accounting(env, writer, sampler, d, list(segs.values()) +
                                                        list(thumbs.values()))
    assert dropped == 0
    kept = restart_keeps(env, daemon, wait_for, ("evicted", "dropped"))
    assert kept == {"evicted": evicted, "dropped": 0}, kept
    record("sd_faults", f"SD ({scaled(128, 512)} MB ext4) full of old hours for {hold_s} s under a 2x writer: "
           "ENOSPC evicts the oldest hour of the kind with the most to give", tried=1, produced=len(produced),
           lost=0, torn=0,
           source="tests/reliability/test_sd_full.py", archived=archived, dropped=dropped,
           evicted_hours=len(evictions), evicted_files=evicted, evicted_after_restart=kept["evicted"],
           writer_errors=0, max_tmpfs_percent=round(sampler.max_percent, 1))


def contiguous(numbers):
    return not numbers or max(numbers) - min(numbers) + 1 == len(numbers)


@pytest.mark.reliability
def test_nothing_to_evict_ram_holds_to_high_water_then_drops_oldest_first(env, daemon, wait_for):
    hold_s = scaled(20, 120)
    high = 50
    sd = env.sd_ext4(size_mb=64)
    env.add_device("cam1", size="32M")
    filler = fill_leaving(sd, 4 * 1024 * 1024)  # nothing in any hour folder: nothing to evict
    env.write_config(hot_limits=LIMITS, archive={"rescan_seconds": RESCAN, "batch_seconds": 0.25,
                                                 "high_water_percent": high})
    d = daemon().start(wait_for)
    writer, sampler = Writer(env, ["cam1"], factor=2.0), Sampler(env, ["cam1"])
    sampler.start()
    writer.start()
    held_max = 0
    try:
        wait_for(lambda: dev_state(env).get("sd_ok") is False, timeout=60, what="the card fills")
        assert "ENOSPC" in dev_state(env).get("sd_error", ""), dev_state(env)
        end = time.monotonic() + hold_s
        while time.monotonic() < end:
            st = dev_state(env)
            held_max = max(held_max, st.get("held", 0))
            if st.get("dropped", 0) == 0:  # nothing dropped yet: the tmpfs is still under the high water
                assert (st.get("tmpfs_percent") or 0) < high + 10, st
            time.sleep(0.2)
        dropped_during = dev_state(env).get("dropped", 0)
        assert dropped_during > 0, "the fault lasted long enough to reach the high water"
        os.unlink(filler)
        wait_for(lambda: dev_state(env).get("sd_ok") is True, timeout=RESCAN + 30, what="archiving resumes")
        time.sleep(3)
    finally:
        writer.stop()
        sampler.stop()
    assert d.stop() == 0, d.log()[-3000:]
    assert held_max > sum(LIMITS.values()), f"RAM held only {held_max} files"
    assert sampler.max_percent < high + 10, sampler.max_percent
    logged = d.dropped_in_log()
    for kind, prefix in (("captures", "capture_"), ("segments", "segment_")):
        nums = sorted(int(n[len(prefix):].split(".")[0]) for _d, n in logged
                      if n.startswith(prefix) and "_thumbnail" not in n)
        assert contiguous(nums), f"{kind}: the dropped are not the oldest in a row: {nums}"
    produced, acc, archived, dropped = check_accounting(env, writer, sampler, d)
    kept = restart_keeps(env, daemon, wait_for, ("dropped",))
    assert kept == {"dropped": dropped}, kept
    record("sd_faults", f"SD (64 MB ext4) full with nothing to evict for {hold_s} s under a 2x writer: RAM holds "
           f"to the {high} % high water, then drops the oldest", tried=1, produced=len(produced), lost=0, torn=0,
           source="tests/reliability/test_sd_full.py", archived=archived, dropped=dropped, held_max=held_max,
           dropped_after_restart=kept["dropped"], writer_errors=0, max_tmpfs_percent=round(sampler.max_percent, 1))
