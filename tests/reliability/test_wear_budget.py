"""Issue 13, point 3: the SD wear budget under the real daemon (2 devices at the plan's rates, small
synthetic files, hot folders on tmpfs, the "SD" a loop-mounted ext4).

Today's ledger (``<run_dir>/budget.json``) is seeded as an earlier archiver of this boot leaves it after a
busy day: just under the pace of a 2 GB/day budget, with the real clock, boot id and boottime. The writer
brings ~140 KB/s, six times the budget's 23 KB/s, so the archive runs ahead of the pace within seconds and
stays less than one allowance (15 min of the budget, 20.8 MB) ahead: only captures are thinned.

What a user notices, checked by file name: captures thin to one per ``min_interval_seconds`` window of
capture time (none skipped), every thinned file is counted the same in counters.json, the heartbeat, the
Prometheus textfile and `hotcold status`; thumbnails and segments are untouched; every produced file is
on the SD, in RAM or counted as thinned. Then the operator raises the budget and restarts the archiver (as
`systemctl restart` does; the writer never stops): the full rate returns at once, every capture from then
on reaches the SD and the thinned counters stop growing.
"""

import json
import os
import re
import time
from zoneinfo import ZoneInfo

import pytest
from harness import Writer, account, heartbeat, hot_media
from record import record, scaled

from hotcold import budget
from hotcold.clock import Clock

DEVICES = ("cam1", "cam2")
KINDS = ("captures", "thumbnails", "segments")
LIMITS = {"captures": 10, "thumbnails": 10, "segments": 3}
SIZES = {"captures": 20_000, "thumbnails": 2_000, "segments": 20_000}  # 0.5..1.5 x: ~140 KB/s for 2 devices
GB_PER_DAY = 2.0  # 23 KB/s: the writer runs ahead; thinned captures still leave ~70 KB/s, 3x the budget
RAISED_GB_PER_DAY = 1000.0  # the operator's new budget: far above what the day has archived
CAPTURE_EVERY = 5.0  # min_interval_seconds of captures: one kept per 5 s of capture time
MARGIN = 500_000  # the seeded ledger is this far under the pace: the run overshoots it within seconds


def kind_of(name):
    """Given a media file name, return its kind."""
    if name.startswith("segment_"):
        return "segments"
    return "thumbnails" if name.endswith("_thumbnail.jpg") else "captures"


def number_of(name):
    return int(re.match(r"(?:capture|segment)_(\d+)", name).group(1))


def zone_for(run_s):
    """The config's time zone: UTC, unless a local midnight (which starts today's bytes at 0) could fall in
    the run; then UTC+12, where it is about noon (Etc/GMT-12: POSIX signs are inverted)."""
    to_midnight = 86400 - time.time() % 86400
    return "UTC" if to_midnight > run_s + 120 else "Etc/GMT-12"


def seed_ledger(env, tz):
    """Write today's ledger as an earlier archiver of this boot left it: MARGIN bytes under the pace now.
    Returns the bytes seeded."""
    clock = Clock()
    now = clock.time()
    day, start, end = budget.day_span(now, ZoneInfo(tz))
    spent = int(budget.pace(GB_PER_DAY * 1e9, (now - start) / (end - start))) - MARGIN
    budget.save(env.run_dir, budget.Ledger(day=day, spent=spent, wall=now, boot_id=clock.boot_id(),
                                           boot=clock.boottime()))
    return spent


def write_config(env, gb_per_day, tz):
    env.write_config(timezone=tz, hot_limits=LIMITS,
                     archive={"rescan_seconds": 1, "batch_seconds": 0.25,
                              "budget": {"gb_per_day": gb_per_day,
                                         "min_interval_seconds": {"captures": CAPTURE_EVERY}}})


def where(env, produced):
    """Given the produced files (taken before this call, the daemon stopped), return {(device, kind):
    {"sd": names, "ram": names, "gone": names}}: "gone" is produced, neither on the SD nor in RAM."""
    out = {(d, k): {"sd": set(), "ram": set(), "gone": set()} for d in DEVICES for k in KINDS}
    for dev in DEVICES:
        sd, ram = env.archived_files(dev), hot_media(env, dev)
        for (d, name) in produced:
            if d == dev:
                place = "sd" if name in sd else "ram" if name in ram else "gone"
                out[(dev, kind_of(name))][place].add(name)
    return out


def kept_counters(env):
    with open(os.path.join(env.run_dir, "counters.json")) as f:
        return json.load(f)["devices"]


def check_accounted(env, produced, places):
    """Every file produced is on the SD (byte-identical, once), in RAM or counted as thinned: the
    thinned counters of counters.json equal the files gone, per device and kind; nothing else is gone."""
    kept = kept_counters(env)
    for (dev, kind), p in places.items():
        assert len(p["gone"]) == kept[dev][f"thinned_{kind}"], (dev, kind, len(p["gone"]), kept[dev])
    gone = {(dev, n) for (dev, _k), p in places.items() for n in p["gone"]}
    acc = account(env, produced, gone)
    assert acc["lost"] == [] and acc["torn"] == [] and acc["duplicated"] == [] and acc["unknown"] == [], acc
    return kept


def check_windows(env, places):
    """While captures were thinned each CAPTURE_EVERY window of capture time kept exactly one: the archived
    captures numbered between the first and the last thinned one fall in distinct, consecutive windows."""
    spans = {}
    for dev in DEVICES:
        p = places[(dev, "captures")]
        lo, hi = min(map(number_of, p["gone"])), max(map(number_of, p["gone"]))
        sd = env.archived_files(dev)
        windows = [int(os.stat(sd[n]).st_mtime // CAPTURE_EVERY) for n in sorted(p["sd"], key=number_of)
                   if lo < number_of(n) < hi]
        assert len(set(windows)) == len(windows), f"{dev}: a window kept two captures: {windows}"
        assert windows == list(range(windows[0], windows[0] + len(windows))), f"{dev}: a window kept none: {windows}"
        spans[dev] = len(windows)
    return spans


def check_surfaces(env, kept):
    """The thinned counts as the heartbeat, the Prometheus textfile and `hotcold status` show them equal the
    kept counters (the daemon stopped: nothing moves)."""
    beat = heartbeat(env)
    env.cli("health")  # writes the textfile (its verdict on a stopped archiver does not matter here)
    with open(env.prom) as f:
        prom = f.read()
    status = env.cli("status").stdout
    for dev in DEVICES:
        for kind in KINDS:
            n = kept[dev][f"thinned_{kind}"]
            assert beat["devices"][dev][f"thinned_{kind}"] == n, (dev, kind, beat["devices"][dev])
            assert f'hotcold_thinned_total{{device="{dev}",kind="{kind}"}} {n}\n' in prom, (dev, kind)
        n = kept[dev]["thinned_captures"]
        assert f"thinned {n} ({n} captures)" in status, status


def hold(env, seconds, pid):
    """Poll the heartbeat of archiver ``pid`` for ``seconds``; return the set of thinning states it showed."""
    seen = set()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        b = heartbeat(env) or {}
        if b.get("pid") == pid and b.get("budget"):
            seen.add(tuple(b["budget"]["thinning"]))
        time.sleep(0.5)
    return seen


@pytest.mark.reliability
def test_a_small_budget_thins_captures_counts_them_and_a_raised_one_restores_the_full_rate(env, daemon, wait_for):
    thin_s, full_s = scaled(30, 300), scaled(20, 120)
    tz = zone_for(thin_s + full_s + 60)
    env.sd_ext4(size_mb=scaled(128, 512))
    for dev in DEVICES:
        env.add_device(dev, size="32M")
    seeded = seed_ledger(env, tz)
    write_config(env, GB_PER_DAY, tz)
    d1 = daemon().start(wait_for)
    writer = Writer(env, DEVICES, sizes=SIZES)
    writer.start()
    try:
        t0 = time.monotonic()
        wait_for(lambda: ((heartbeat(env) or {}).get("budget") or {}).get("thinning"), timeout=60,
                 what="the archive overshoots the pace and thins")
        overshoot_s = time.monotonic() - t0
        seen = hold(env, thin_s, d1.proc.pid)
        assert seen == {("captures",)}, f"thinning states while ahead by less than one allowance: {seen}"
        status = env.cli("status").stdout
        assert re.search(rf"SD budget {GB_PER_DAY:g} GB/day: [\d.]+ GB archived today \(\S+\), pace [\d.]+ GB: "
                         r"thinning captures\n", status), status
        assert d1.stop() == 0, d1.log()[-3000:]  # `systemctl restart`, first half: the writer goes on
        produced1 = writer.snapshot()
        places1 = where(env, produced1)
        kept1 = check_accounted(env, produced1, places1)
        check_surfaces(env, kept1)

        write_config(env, RAISED_GB_PER_DAY, tz)  # the operator raises the budget and restarts
        t1 = time.monotonic()
        d2 = daemon().start(wait_for)
        recover_s = time.monotonic() - t1
        b = heartbeat(env)["budget"]
        assert b["thinning"] == [] and b["gb_per_day"] == RAISED_GB_PER_DAY, b
        seen2 = hold(env, full_s, d2.proc.pid)
        assert seen2 == {()}, f"thinning after the budget was raised: {seen2}"
    finally:
        writer.stop()
    assert d2.stop() == 0, d2.log()[-3000:]
    assert writer.errors == [], f"the writer saw errors: {writer.errors[:5]}"
    produced = writer.snapshot()
    places = where(env, produced)
    kept = check_accounted(env, produced, places)
    assert kept == kept1, f"the thinned counters grew after the budget was raised: {kept1} -> {kept}"
    for key, p in places.items():
        assert p["gone"] == places1[key]["gone"], f"{key}: files thinned after the budget was raised"
        assert p["ram"] == set(), f"{key}: the clean stop left files in RAM"
    windows = check_windows(env, places1)
    new_captures = {(dev, n) for (dev, n) in produced if (dev, n) not in produced1 and kind_of(n) == "captures"}
    assert new_captures and all(n in places[(dev, "captures")]["sd"] for dev, n in new_captures), \
        "a capture produced after the restart did not reach the SD"
    figures = {kind: {"produced": sum(len(places[(dev, kind)][x]) for dev in DEVICES for x in ("sd", "ram", "gone")),
                      "archived": sum(len(places[(dev, kind)]["sd"]) for dev in DEVICES),
                      "thinned": sum(kept[dev][f"thinned_{kind}"] for dev in DEVICES)} for kind in KINDS}
    for kind in ("thumbnails", "segments"):
        assert figures[kind]["thinned"] == 0, (kind, figures[kind])
    assert figures["captures"]["thinned"] > 0 and figures["captures"]["archived"] < figures["captures"]["produced"]
    print(f"\nbudget case: {figures}; overshoot after {overshoot_s:.1f} s; thinned windows kept {windows}; "
          f"recovered {recover_s:.1f} s after the restart; {len(new_captures)} captures after it, all archived; "
          f"seeded {seeded} bytes, zone {tz}")
    record("budget", f"SD budget {GB_PER_DAY:g} GB/day overshot by the writer ({len(DEVICES)} devices, plan rates, "
           f"small files, ext4 SD), thinning for {thin_s} s, then raised to {RAISED_GB_PER_DAY:g} and the archiver "
           "restarted",
           tried=1, produced=len(produced), lost=0, torn=0, source="tests/reliability/test_wear_budget.py",
           per_kind=figures, overshoot_s=round(overshoot_s, 1), capture_windows_kept=windows,
           recover_s=round(recover_s, 1), captures_after_restart=len(new_captures),
           captures_after_restart_archived=len(new_captures))
