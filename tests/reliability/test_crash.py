"""kill -9 at random instants: nothing lost, nothing torn, nothing duplicated.

A writer produces files the way FFmpeg does (``x.tmp``, then rename into place; the live playlist
too) while the archiver daemon (``python3 -m hotcold archive``) is SIGKILLed at random moments and
restarted. After every kill, while no archiver runs: every file produced so far is in RAM or on the
SD, and every file visible on the SD is byte-identical to what was produced. After the last round
one more start (``archive --once``) must leave every file in exactly one place, byte-identical,
with exactly one metadata record per archived file and no temp file anywhere.

Rounds: ``--kill-rounds N`` or ``HOTCOLD_KILL_ROUNDS``; default 200 (`make test`), 1,000 with
HOTCOLD_SOAK=1 (`make soak`). Issue 7, case 1.
"""

import hashlib
import json
import os
import random
import signal
import subprocess
import time

import pytest
from harness import KINDS
from record import record

from hotcold import checkpoint
from hotcold.layout import DeviceLayout
from testsupport.writer import Writer, random_content

# 120 files/s in all (7 captures : 4 thumbnails : 4 segments) of 8-25 KB: many small batches to be killed in.
RATES = {"captures": 56.0, "thumbnails": 32.0, "segments": 32.0}
SIZES = {k: 16_500 for k in KINDS}


def make_writer(env, dev):
    """testsupport's writer on one device at RATES, the live playlist listing the newest 3 segments. The
    daemons are killed before they can drain much (an overloaded machine starts Python slowly): past 300
    files in RAM it waits rather than piles up a backlog; RAM filling up is not what this test is about
    (test_archive covers high water and drops)."""
    return Writer(env.hot, [dev], random_content(SIZES, 1234), rates=RATES, first=1_000_000, live=3,
                  max_backlog=300)


def by_name(writer):
    """{name: sha256} of what the (one-device) writer produced so far."""
    return {name: h for (_dev, name), h in writer.snapshot().items()}


def listing(env, dev):
    hot = {}
    for kind in KINDS:
        for n in os.listdir(env.hot(dev, kind)):
            if n.startswith(("capture_", "segment_")) and not n.endswith(".tmp"):
                hot[n] = os.path.join(env.hot(dev, kind), n)
    return hot, env.archived_files(dev)


def outbox_names(env, dev):
    """Media names whose RAM copy waits in the device's outbox (hot/.outbox/<kind>/<hour folder>@<name>)."""
    names = set()
    for kind in KINDS:
        folder = os.path.join(checkpoint.outbox_dir(DeviceLayout(env.base, dev)), kind)
        if os.path.isdir(folder):
            names |= {n.split(checkpoint.SEP, 1)[1] for n in os.listdir(folder) if checkpoint.SEP in n}
    return names


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


@pytest.mark.slow
@pytest.mark.reliability
def test_kill_9_at_random_instants_loses_and_tears_nothing(env, kill_rounds):
    dev = "cam1"
    env.add_device(dev, size="64M")
    env.write_config(hot_limits={"captures": 4, "thumbnails": 4, "segments": 2},
                     archive={"rescan_seconds": 0.5, "batch_seconds": 0.02, "segment_margin": 1})
    rng = random.Random(int(os.environ.get("HOTCOLD_KILL_SEED", "42")))
    writer = make_writer(env, dev)
    writer.start()
    verified = {}  # SD path -> sha256 already checked
    lock = os.path.join(env.run_dir, "archiver.lock")
    beat = os.path.join(env.run_dir, "archiver.json")
    killed_busy = 0
    t_start = time.monotonic()
    try:
        for rnd in range(kill_rounds):
            p = env.popen("archive", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            # Python's start-up (imports) takes long and varies with the machine's load, so the kill
            # instant is drawn relative to the daemon's progress: half of the rounds after it took
            # the archiver lock (recovery, first pass), half after it reported ready (main loop,
            # event-driven batches). The daemon writes its lock, then its heartbeat just before READY.
            marker, want = (lock, str(p.pid)) if rng.random() < 0.5 else (beat, f'"pid": {p.pid},')
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and p.poll() is None:
                try:
                    with open(marker) as f:
                        if want in f.read():
                            break
                except FileNotFoundError:
                    pass
                time.sleep(0.005)
            time.sleep(rng.uniform(0.0, 0.3))
            p.send_signal(signal.SIGKILL)
            p.wait(timeout=10)
            assert p.returncode == -signal.SIGKILL, f"round {rnd}: the archiver exited by itself ({p.returncode})"
            # no archiver runs now: check the invariants at this instant
            produced = by_name(writer)
            hot, sd = listing(env, dev)
            # the outbox is RAM too: a copy waiting there for its checkpoint, or put back there by a recovery
            # that was killed before it returned it to the hot folder, is archived by the next start
            lost = set(produced) - set(hot) - set(sd) - outbox_names(env, dev)
            assert not lost, f"round {rnd}: lost {sorted(lost)[:5]}"
            temps = [t for t in env.temp_files(dev) if "/hot/" not in t]
            if temps or set(hot) & set(sd):
                killed_busy += 1  # killed in the middle of a batch: the interesting case
            for name, path in sd.items():
                if verified.get(path) is None:
                    assert name in produced, f"round {rnd}: unknown file {path}"
                    assert sha(path) == produced[name], f"round {rnd}: torn/different file on the SD: {path}"
                    verified[path] = produced[name]
    finally:
        writer.stop()
    kill_seconds = time.monotonic() - t_start
    archived_by_killed = len(verified)

    r = env.cli("archive", "--once", timeout=120)
    assert r.returncode == 0, r.stderr
    produced = by_name(writer)
    hot, sd = listing(env, dev)
    assert not set(hot) & set(sd), f"duplicates: {sorted(set(hot) & set(sd))[:5]}"
    assert set(hot) | set(sd) == set(produced), "files lost or invented"
    for name, path in {**hot, **sd}.items():
        assert sha(path) == produced[name], f"{path} differs from what was produced"
    assert env.temp_files(dev) == []
    # limits held after the final pass (segments: limit + the playlist/margin rule may keep more)
    assert len([n for n in hot if n.startswith("capture_") and not n.endswith("_thumbnail.jpg")]) == 4
    assert len([n for n in hot if n.endswith("_thumbnail.jpg")]) == 4
    # exactly one metadata record per archived file
    records = {}
    mroot = env.archive(dev, "metadata")
    for h in os.listdir(mroot):
        path = os.path.join(mroot, h, "archive.jsonl")
        if os.path.exists(path):
            with open(path, "rb") as f:
                raw = f.read()
            assert raw.endswith(b"\n")
            for line in raw.splitlines():
                rec = json.loads(line)
                records[rec["name"]] = records.get(rec["name"], 0) + 1
    assert {n: c for n, c in records.items() if c != 1} == {}, "duplicate metadata records"
    assert set(records) == set(sd), "every archived file has its record"
    record("crash", "SIGKILL of the archiver daemon at random moments, then restart", tried=kill_rounds,
           produced=len(produced), lost=0, torn=0, source="tests/reliability/test_crash.py",
           duplicated=0, temp_files_left=0, kills_mid_batch=killed_busy, archived=len(sd),
           archived_by_killed_daemons=archived_by_killed, seconds=round(kill_seconds, 1))
    print(f"\nkill -9 test: {kill_rounds} rounds in {kill_seconds:.1f}s, {len(produced)} files produced, "
          f"{archived_by_killed} archived by the killed daemons, {len(sd)} in the end, {killed_busy} kills hit a "
          "batch mid-way (temp files on the SD or a file in both places)")
