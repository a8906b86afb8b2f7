#!/usr/bin/env python3
"""Synthetic FFmpeg for benchmarks 1 and 2: per device, at the plan's rates, through rename-into-place.

Per device and second: one ``segment_<N>.ts`` (~500 KB, then ``output.m3u8`` rewritten via a temp
name, 10 entries, like FFmpeg's hls ``temp_file``), two ``capture_<N>.jpg`` (~100 KB) and five
``capture_<N>_thumbnail.jpg`` (~6 KB), each written as ``<name>.tmp`` and renamed (``-atomic_writing``).
Sizes vary +-10 %, or follow a measured list (config "sizes", benchmark 1). Devices are phase-shifted.
Before the live phase the hot folders are pre-filled with a back-dated history (100 captures, 100
thumbnails, 12 segments), so the archiver is in steady state from the first second.

    synth_writer.py CONFIG.json   {"base", "devices", "seconds", "out", "phase": "prefill"|"live", "state",
                                   "sizes" (optional)}

Writes {"placed": {dev: {kind: [[number, time], ...]}}, "late_max": s, "late_p99": s} to ``out``.
"""
import heapq
import json
import os
import random
import signal
import sys
import time

SIZES = {"segments": 500_000, "captures": 100_000, "thumbnails": 6_000}
PERIOD = {"segments": 1.0, "captures": 0.5, "thumbnails": 0.2}
NAME = {"segments": "segment_{:09d}.ts", "captures": "capture_{:09d}.jpg",
        "thumbnails": "capture_{:09d}_thumbnail.jpg"}
PREFILL = {"segments": 12, "captures": 100, "thumbnails": 100}
LIST_SIZE = 10


def main():
    with open(sys.argv[1]) as f:
        cfg = json.load(f)
    base, devices, seconds = cfg["base"], cfg["devices"], cfg["seconds"]
    sizes = cfg.get("sizes")  # {kind: [bytes, ...]} measured from FFmpeg, or None for SIZES +-10 %
    rnd = random.Random(42)
    blob = os.urandom(max([*SIZES.values(), *(max(v) for v in (sizes or {}).values())]) * 2)
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))

    t0 = time.time()
    first = {"segments": int(t0), "captures": int(t0) * 2, "thumbnails": int(t0) * 5}
    placed = {d: {k: [] for k in SIZES} for d in devices}
    live = {d: [] for d in devices}  # (number, pdt) of the playlist entries

    def write(dev, kind, number, when=None):
        d = os.path.join(base, dev, "hot", kind)
        name = NAME[kind].format(number)
        if sizes:  # measured sizes (benchmark 1): in FFmpeg's order, each device from its own offset
            seq = sizes[kind]
            size = seq[(number + devices.index(dev) * 7) % len(seq)]
        else:
            size = int(SIZES[kind] * rnd.uniform(0.9, 1.1))
        off = rnd.randrange(0, len(blob) - size)
        tmp = os.path.join(d, name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(blob[off:off + size])
        if when is not None:
            os.utime(tmp, (when, when))
        os.rename(tmp, os.path.join(d, name))
        t = when if when is not None else time.time()
        placed[dev][kind].append((number, t))
        if kind == "segments":
            live[dev].append((number, t - 1.0))
            del live[dev][:-LIST_SIZE]
            write_playlist(dev)

    def write_playlist(dev):
        ents = live[dev]
        lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:1", f"#EXT-X-MEDIA-SEQUENCE:{ents[0][0]}"]
        for n, start in ents:
            pdt = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(start)) + f".{int(start % 1 * 1000):03d}+0000"
            lines += ["#EXTINF:1.000000,", f"#EXT-X-PROGRAM-DATE-TIME:{pdt}", NAME["segments"].format(n)]
        p = os.path.join(base, dev, "hot", "segments", "output.m3u8")
        with open(p + ".tmp", "w") as f:
            f.write("\n".join(lines) + "\n")
        os.rename(p + ".tmp", p)

    state_path = cfg["state"]
    if cfg["phase"] == "prefill":
        # back-dated history: the hot folders as a running FFmpeg leaves them
        for dev in devices:
            for kind, n in PREFILL.items():
                for i in range(n):
                    write(dev, kind, first[kind] - n + i, t0 - (n - i) * PERIOD[kind])
        with open(state_path, "w") as f:
            json.dump({"first": first, "live": live}, f)
        doc = {"placed": placed, "late_max": 0.0, "late_p99": 0.0, "start": t0, "end": t0}
    else:
        with open(state_path) as f:
            state = json.load(f)
        first = state["first"]
        live.update({d: [tuple(e) for e in v] for d, v in state["live"].items()})
        start = time.time()
        end = start + seconds
        heap = []
        for di, dev in enumerate(devices):
            phase = rnd.random()
            for kind, per in PERIOD.items():
                heapq.heappush(heap, (start + phase * per + 0.001 * di, dev, kind))
        nxt = {(d, k): first[k] for d in devices for k in SIZES}
        late = []
        while heap and not stop:
            due, dev, kind = heapq.heappop(heap)
            if due >= end:
                break
            delay = due - time.time()
            if delay > 0:
                time.sleep(delay)
            else:
                late.append(-delay)
            write(dev, kind, nxt[(dev, kind)])
            nxt[(dev, kind)] += 1
            heapq.heappush(heap, (due + PERIOD[kind], dev, kind))
        late.sort()
        doc = {"placed": placed, "late_max": late[-1] if late else 0.0,
               "late_p99": late[int(len(late) * 0.99)] if late else 0.0, "start": start, "end": time.time()}
    tmp = cfg["out"] + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f)
    os.rename(tmp, cfg["out"])


if __name__ == "__main__":
    main()
