#!/usr/bin/env python3
"""Synthetic FFmpeg for benchmarks 1 and 2: testsupport's writer (the tests' writer) as a process of its own,
per device at the plan's rates, through rename-into-place.

Per device and second: one ``segment_<N>.ts`` (~500 KB, then ``output.m3u8`` rewritten via a temp
name, 10 entries with program-date-times, like FFmpeg's hls ``temp_file``), two ``capture_<N>.jpg``
(~100 KB) and five ``capture_<N>_thumbnail.jpg`` (~6 KB), each written as ``<name>.tmp`` and renamed
(``-atomic_writing``). Sizes vary +-10 %, or follow a measured list (config "sizes", benchmark 1). Devices
are phase-shifted; a late writer catches up (every file due is written). Before the live phase the hot
folders are pre-filled with a back-dated history (100 captures, 100 thumbnails, 12 segments), so the
archiver is in steady state from the first second.

    synth_writer.py CONFIG.json   {"base", "devices", "seconds", "out", "phase": "prefill"|"live", "state",
                                   "sizes" (optional)}

Writes {"placed": {dev: {kind: [[number, time], ...]}}, "late_max": s, "late_p99": s} to ``out`` (lateness:
how long after its due time each write started).
"""
import json
import os
import random
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from testsupport.writer import PLAN_RATES, Writer  # noqa: E402  (the repo root, just added)

SIZES = {"segments": 500_000, "captures": 100_000, "thumbnails": 6_000}
PREFILL = {"segments": 12, "captures": 100, "thumbnails": 100}
LIST_SIZE = 10


def bench_content(devices, sizes, rnd):
    """Return content(device, kind, number, name): a slice of one random blob, of a measured size (benchmark 1:
    in FFmpeg's order, each device from its own offset) or SIZES +-10 %."""
    blob = os.urandom(max([*SIZES.values(), *(max(v) for v in (sizes or {}).values())]) * 2)

    def content(dev, kind, number, _name):
        if sizes:
            seq = sizes[kind]
            size = seq[(number + devices.index(dev) * 7) % len(seq)]
        else:
            size = int(SIZES[kind] * rnd.uniform(0.9, 1.1))
        off = rnd.randrange(0, len(blob) - size)
        return blob[off:off + size]

    return content


def placed(writer, devices):
    """{device: {kind: [[number, time], ...]}} of every file the writer placed, in order."""
    out = {d: {k: [] for k in SIZES} for d in devices}
    for (dev, _name), (kind, number, t) in writer.snapshot().items():
        out[dev][kind].append((number, t))
    return out


def main():
    with open(sys.argv[1]) as f:
        cfg = json.load(f)
    base, devices, seconds = cfg["base"], cfg["devices"], cfg["seconds"]
    rnd = random.Random(42)
    t0 = time.time()
    first = {"segments": int(t0), "captures": int(t0) * 2, "thumbnails": int(t0) * 5}
    if cfg["phase"] == "live":
        with open(cfg["state"]) as f:
            state = json.load(f)
        first = state["first"]
    writer = Writer(lambda dev, kind: os.path.join(base, dev, "hot", kind), devices,
                    bench_content(devices, cfg.get("sizes"), rnd), first=first, live=LIST_SIZE, pdt=True,
                    stamp=time.time, record=lambda kind, n, _data, t: (kind, n, t), catch_up=None,
                    phases={d: rnd.random() for d in devices})
    signal.signal(signal.SIGTERM, lambda *a: writer.stop_flag.set())

    if cfg["phase"] == "prefill":
        # back-dated history: the hot folders as a running FFmpeg leaves them
        for dev in devices:
            for kind, n in PREFILL.items():
                for i in range(n):
                    writer.write(dev, kind, first[kind] - n + i, t0 - (n - i) / PLAN_RATES[kind])
        with open(cfg["state"], "w") as f:
            json.dump({"first": first, "live": writer.entries}, f)
        doc = {"placed": placed(writer, devices), "late_max": 0.0, "late_p99": 0.0, "start": t0, "end": t0}
    else:
        writer.entries.update({d: [tuple(e) for e in v] for d, v in state["live"].items()})
        start = time.time()
        writer.run_until(time.monotonic() + seconds)
        late = sorted(writer.late)
        doc = {"placed": placed(writer, devices), "late_max": late[-1] if late else 0.0,
               "late_p99": late[int(len(late) * 0.99)] if late else 0.0, "start": start, "end": time.time()}
    if writer.errors:
        sys.exit(f"synth_writer: {len(writer.errors)} write error(s), first: {writer.errors[0]}")
    tmp = cfg["out"] + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f)
    os.rename(tmp, cfg["out"])


if __name__ == "__main__":
    main()
