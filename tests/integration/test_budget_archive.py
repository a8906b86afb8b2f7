"""The SD wear budget with the real archiver: hot folders on tmpfs, the "SD" a loop-mounted ext4, a simulated
stream (2 captures, 5 thumbnails, 1 segment per second, as the plan's rates) on a FixedClock.

Today's ledger (<run_dir>/budget.json, what an archiver restart reads back) is seeded as after a busy
morning, so the archiver starts just ahead of the pace: captures are thinned to one per 10 s, counted,
really not archived, thumbnails and segments untouched; once the day's pace has caught up the archiver is
back at the full rate; a second seed far ahead thins thumbnails too, never segments (not in the order).
What health's textfile and `hotcold status` show is read from the real CLI.
"""

import json
import os
import re

from hchelpers import produce

from hotcold import budget, heartbeat
from hotcold.archiver import Archiver
from hotcold.clock import FixedClock
from hotcold.layout import number_of

NOON = 1764676800.0  # 2025-12-02 12:00:00 UTC
GB_PER_DAY = 0.432  # 5,000 bytes/s
RATE = GB_PER_DAY * 1e9 / 86400
ALLOWANCE = RATE * budget.ALLOWANCE_SECONDS  # 4.5 MB
SIZES = {"captures": 2000, "thumbnails": 200, "segments": 2500}  # 7,500 bytes/s: more than the budget
PER_SECOND = {"captures": 2, "thumbnails": 5, "segments": 1}


class Stream:
    """A device recorded second by second on the archiver's FixedClock; numbers as FFmpeg's (rate x time)."""

    def __init__(self, env, clock, device="cam1"):
        self.env, self.clock, self.device = env, clock, device
        self.produced = dict.fromkeys(SIZES, 0)

    def run(self, arch, seconds):
        for _ in range(seconds):
            for kind, n in PER_SECOND.items():
                for i in range(n):
                    t = self.clock.now + i / n
                    produce(self.env.hot(self.device, kind), kind, int(t * n), mtime=t, size=SIZES[kind])
                    self.produced[kind] += 1
            self.clock.advance(1.0)
            arch.pass_device(self.device)


def on_sd(env, kind, device="cam1"):
    """The files of a kind in the device's SD archive (every hour folder)."""
    root = env.archive(device, kind)
    return sum(1 for d, _, files in os.walk(root) for f in files if number_of(kind, f) is not None)


def in_ram(env, kind, device="cam1"):
    return sum(1 for f in os.listdir(env.hot(device, kind)) if number_of(kind, f) is not None)


def seed_ledger(env, clock, ahead):
    """Write today's ledger as an earlier run of this boot left it: ``ahead`` bytes beyond the pace now."""
    pace = budget.pace(GB_PER_DAY * 1e9, (clock.now % 86400) / 86400)
    led = budget.Ledger(day="2025-12-02", spent=int(pace + ahead), wall=clock.now, boot_id=clock.boot_id(),
                        boot=clock.boottime())
    budget.save(env.run_dir, led)
    return led.spent


def setup(env, clock, ahead, **budget_over):
    env.sd_ext4(64)
    env.add_device("cam1")
    env.seeded = seed_ledger(env, clock, ahead)
    over = {"archive": {"rescan_seconds": 1, "batch_seconds": 0.05,
                        "budget": {"gb_per_day": GB_PER_DAY, **budget_over}}}
    env.write_config(**over)
    return Archiver(env.config(**over), clock)


def conserved(env, arch, stream):
    """Every file produced is in RAM, on the SD or counted as thinned: none lost, none archived twice."""
    c = arch.states["cam1"].counters
    for kind in SIZES:
        assert stream.produced[kind] == in_ram(env, kind) + on_sd(env, kind) + c[f"thinned_{kind}"], kind


def test_ahead_of_the_pace_captures_thin_and_the_full_rate_returns_under_it(env):
    clock = FixedClock(NOON)
    arch = setup(env, clock, ahead=ALLOWANCE / 4)  # ahead by a quarter allowance: captures only
    stream = Stream(env, clock)
    c = arch.states["cam1"].counters
    stream.run(arch, 60)
    assert arch.budget.thinning == ("captures",)
    # 120 captures in 60 s, 5 stay in RAM: of the 115 that left, one per 10 s of capture time reached the SD
    assert on_sd(env, "captures") in (6, 7), on_sd(env, "captures")
    assert c["thinned_captures"] == 115 - on_sd(env, "captures")
    # thumbnails and segments untouched: everything beyond the hot limits is on the SD, nothing thinned
    assert on_sd(env, "thumbnails") == 300 - 5 and c["thinned_thumbnails"] == 0
    assert on_sd(env, "segments") == 60 - 3 and c["thinned_segments"] == 0
    conserved(env, arch, stream)

    # health's textfile and `hotcold status`, from the heartbeat the daemon would write now
    heartbeat.write(env.run_dir, arch.heartbeat_doc(NOON))
    env.cli("health", now=clock.now)
    with open(env.prom) as f:
        prom = f.read()
    assert f'hotcold_thinned_total{{device="cam1",kind="captures"}} {c["thinned_captures"]}\n' in prom
    assert 'hotcold_thinned_total{device="cam1",kind="thumbnails"} 0\n' in prom
    assert "hotcold_budget_thinned_kinds 1\n" in prom
    doc = json.loads(env.cli("health", "--json", now=clock.now).stdout)
    assert doc["devices"]["cam1"]["kinds"]["captures"]["thinned"] == c["thinned_captures"]
    assert doc["devices"]["cam1"]["kinds"]["segments"]["thinned"] == 0
    assert doc["budget"]["thinning"] == ["captures"] and doc["budget"]["gb_per_day"] == GB_PER_DAY
    status = env.cli("status", now=clock.now).stdout
    assert f"thinned {c['thinned_captures']} ({c['thinned_captures']} captures)" in status, status
    assert re.search(r"SD budget 0.432 GB/day: 0.2\d\d GB archived today \(2025-12-02\), pace 0.2\d\d GB: "
                     r"thinning captures", status), status

    # 20 quiet minutes later the day's pace has caught up (6 MB more): the full rate, from the next pass
    clock.advance(1200)
    thinned = c["thinned_captures"]
    before = on_sd(env, "captures")
    stream.run(arch, 30)
    assert arch.budget.thinning == ()
    assert c["thinned_captures"] == thinned
    assert on_sd(env, "captures") - before == 60  # all 60 new captures left RAM for the SD (5 still wait)
    conserved(env, arch, stream)

    # a clean stop (the flush moves what is in RAM); the thinned counts and today's bytes survive the restart
    assert arch.flush()
    again = Archiver(env.config(archive={"budget": {"gb_per_day": GB_PER_DAY}}), clock)
    assert again.states["cam1"].counters["thinned_captures"] == thinned
    assert again.budget.ledger.spent == arch.budget.ledger.spent
    # today's bytes = the morning's + exactly what this run archived
    assert arch.budget.ledger.spent == env.seeded + c["archived_bytes"]
    conserved(env, arch, stream)


def test_far_ahead_thumbnails_thin_too_and_segments_never(env):
    clock = FixedClock(NOON)
    arch = setup(env, clock, ahead=ALLOWANCE * 3)  # three allowances ahead: every kind of the order
    stream = Stream(env, clock)
    c = arch.states["cam1"].counters
    stream.run(arch, 40)
    assert arch.budget.thinning == ("captures", "thumbnails")
    assert on_sd(env, "captures") in (4, 5)
    # thumbnails: one per second of capture time instead of five
    assert on_sd(env, "thumbnails") in range(38, 42), on_sd(env, "thumbnails")
    assert c["thinned_thumbnails"] == 200 - 5 - on_sd(env, "thumbnails")
    assert on_sd(env, "segments") == 40 - 3 and c["thinned_segments"] == 0
    conserved(env, arch, stream)
