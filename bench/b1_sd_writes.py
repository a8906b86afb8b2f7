"""Benchmark 1: how fast each way of recording 4 devices wears the SD card (issue 13 point 4).

Sizes come from one real FFmpeg run: the capture role's command shape (testsrc2 1080p30, 2 Mbit/s
H.264 in 1 s HLS segments, 2 fps captures at q 3, 5 fps 320x240 thumbnails) records SIZE_SECONDS into a
tmpfs, and the sizes of its files, per kind and in order, drive the synthetic writer (synth_writer.py:
FFmpeg's names, rates and rename-into-place). Every mode runs at the same time, 4 devices each, on its own
ext4 loop-device "SD", from the same writer sizes:

  (a) direct   the writer's tree straight on the SD (FFmpeg with no RAM tier)
  (b) plan     tmpfs + the plan's own archiver (baseline_archiver.py: shutil.move every 5 s, no fsync)
  (c) hotcold  tmpfs + hotcold's defaults
  (d) saver    tmpfs + the SD saver preset, read from inventory/presets/sd-saver.yml (README.md)
  (e) limit    the bytes (c) archived, written once as one file in the largest I/O the device takes
               (buffered in max_sectors_kb pieces, then one fsync: the kernel's write-back issues the largest
               requests the device takes, ~1.1 MB here; O_DIRECT pieces split to ~420 kB), the physical limit

Each "SD" is a loop device with the mq-deadline I/O scheduler: the kernel's default for a single-queue
disk such as an SD card (mmcblk), where loop devices default to none, which merges far less.

Counters: /sys/block/loopN/stat through hotcold.wear (write I/Os, sectors written, flush requests) over
the steady state: from after the prefill and a sync to one checkpoint interval (+5 s) after the writers
ended, then a sync, so what the page cache still held is counted too; the archivers still run and the
hot sets stay in RAM, as on a host. The stop (SIGTERM: hotcold moves its hot sets and open hours' indexes
to the SD, the plan's archiver just stops) is measured after that, on its own: a host stops rarely, and
in a short run its one-off cost would swamp the hourly figures.
"""

import json
import os
import re
import subprocess
import sys
import time

from common import (
    BENCH,
    RES,
    RUNTIME_PATH,
    SYS_PYTHON,
    Section,
    fmt,
    fmt_ratio,
    hotcold_cmd,
    log,
    loop_sd,
    mount_tmpfs,
    ratio,
    runtime_env,
    runtime_problem,
    spawn,
    stop_process,
    wait_heartbeat,
    workdir,
    write_config,
)

sys.path.insert(0, RUNTIME_PATH)
from hotcold import checkpoint, wear  # noqa: E402  (the runtime's own wear arithmetic, not a copy)
from hotcold.config import load_data  # noqa: E402
from hotcold.fsutil import write_all  # noqa: E402
from hotcold.layout import DeviceLayout  # noqa: E402

NAME = "sd_writes"
TITLE = "1. SD-card writes of 4 devices (the headline)"
DEVICES = ["capture1", "capture2", "capture3", "capture4"]
NUMBER_EPOCH = 1704067200  # as the capture role (_capture_number_epoch)
SIZE_SECONDS = 12
CARD_BYTES = 64e9
RATED_CYCLES = wear.DEFAULT_RATED_CYCLES
PRESET = os.path.join(os.path.dirname(BENCH), "inventory", "presets", "sd-saver.yml")  # mode (d)
MODES = ["direct", "plan", "hotcold", "saver"]
SCHEDULER = "mq-deadline"
CHECKPOINT_DEFAULT = load_data({"base_path": "/b", "devices": ["d"]}).archive.checkpoint_seconds
LABELS = {"direct": "(a) direct: writer -> SD", "plan": "(b) plan's archiver: tmpfs, shutil.move every 5 s",
          "hotcold": "(c) hotcold defaults", "saver": "(d) SD saver preset", "limit": "(e) physical limit"}
MEDIA = {"captures": re.compile(r"^capture_\d+\.jpg$"), "thumbnails": re.compile(r"^capture_\d+_thumbnail\.jpg$"),
         "segments": re.compile(r"^segment_\d+\.ts$")}


def saver_config(path=PRESET):
    """Given the SD saver preset (inventory variables), return the archiver config it renders: the
    ``archive`` section with the wear budget, as roles/archiver writes it."""
    import yaml

    with open(path, encoding="utf-8") as f:
        p = yaml.safe_load(f)
    budget = {"gb_per_day": p["hotcold_sd_budget_gb_per_day"], "order": p["hotcold_sd_budget_order"],
              "min_interval_seconds": p["hotcold_sd_budget_min_interval"]}
    archive = {k: v for k, v in p["archiver_archive"].items() if k != "every_nth"}
    return {"every_nth": p["archiver_archive"]["every_nth"], "archive": {**archive, "budget": budget}}


def ffmpeg_cmd(hots, seconds):
    """The capture role's FFmpeg command, its three outputs tee'd to every tree in ``hots``."""
    el = int(time.time()) - NUMBER_EPOCH
    hls = ("f=hls:hls_time=1:hls_list_size=10:hls_flags=temp_file+program_date_time+omit_endlist:"
           "hls_start_number_source=epoch:hls_segment_filename={h}/segments/segment_%09d.ts")
    tee_seg = "|".join(f"[{hls.format(h=h)}]{h}/segments/output.m3u8" for h in hots)
    tee_cap = "|".join(f"[f=image2:atomic_writing=1:start_number={el * 2}]{h}/captures/capture_%09d.jpg" for h in hots)
    tee_thu = "|".join(f"[f=image2:atomic_writing=1:start_number={el * 5}]{h}/thumbnails/capture_%09d_thumbnail.jpg"
                       for h in hots)
    return ["ffmpeg", "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error",
            "-re", "-t", str(seconds), "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30",
            "-filter_complex_threads", "1",
            "-filter_complex",
            "[0:v]split=3[main][cap][thumb];[cap]fps=2[cap_out];[thumb]fps=5,scale=320:240[thumb_out]",
            "-map", "[main]", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
            "-threads", "2", "-b:v", "2M", "-maxrate", "2M", "-bufsize", "4M", "-g", "30",
            "-force_key_frames", "expr:gte(t,n_forced*1)", "-sc_threshold", "0", "-f", "tee", tee_seg,
            "-map", "[cap_out]", "-c:v", "mjpeg", "-q:v", "3", "-threads", "1", "-f", "tee", tee_cap,
            "-map", "[thumb_out]", "-c:v", "mjpeg", "-q:v", "3", "-threads", "1", "-f", "tee", tee_thu]


def measure_sizes(wd):
    """Given a work dir, record SIZE_SECONDS of 1080p with FFmpeg into a tmpfs; return {kind: [sizes in order]}."""
    hot = os.path.join(wd, "sizes", "hot")
    mount_tmpfs(hot, "200M")
    for kind in MEDIA:
        os.makedirs(os.path.join(hot, kind))
    subprocess.run(ffmpeg_cmd([hot], SIZE_SECONDS), check=True, env=runtime_env())
    sizes = {}
    for kind, pattern in MEDIA.items():
        names = sorted(n for n in os.listdir(os.path.join(hot, kind)) if pattern.match(n))
        sizes[kind] = [os.path.getsize(os.path.join(hot, kind, n)) for n in names]
        if not sizes[kind]:
            raise RuntimeError(f"FFmpeg wrote no {kind} in {SIZE_SECONDS} s")
    return sizes


def media_on(root, skip_dev=None):
    """Given a tree, return (count, bytes) of its media files, not descending into another file system."""
    n = size = 0
    for dirpath, dirnames, files in os.walk(root):
        if skip_dev is not None:
            dirnames[:] = [d for d in dirnames if os.stat(os.path.join(dirpath, d)).st_dev == skip_dev]
        for f in files:
            if any(p.match(f) for p in MEDIA.values()):
                n += 1
                size += os.stat(os.path.join(dirpath, f)).st_size
    return n, size


def counters(sd):
    return wear.read_counters(sd.name)


def delta(after, before):
    return {"ios": after.write_ios - before.write_ios, "bytes": after.bytes_written - before.bytes_written,
            "flushes": (after.flushes - before.flushes) if after.flushes is not None else None}


def write_limit(sd, nbytes):
    """Given an SD and a byte count, write that many bytes once as one file (buffered, max_sectors_kb at a
    time) and fsync it: the write-back sends the largest requests the device takes. Returns the piece size."""
    with open(f"/sys/block/{sd.name}/queue/max_sectors_kb") as f:
        chunk = int(f.read()) * 1024
    piece = os.urandom(chunk)
    fd = os.open(os.path.join(sd.mnt, "limit.bin"), os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        for _ in range(-(-nbytes // chunk)):
            write_all(fd, piece)
        os.fsync(fd)
    finally:
        os.close(fd)
    return chunk


def checkpoint_seq(base):
    """Given an SD, the newest checkpoint sequence number hotcold recorded on it (one syncfs each)."""
    rec = checkpoint.read_newest(DeviceLayout(base, DEVICES[0]))
    return rec["seq"] if rec else 0


def checkpoint_seconds(mode):
    """The checkpoint interval of a hotcold mode: the preset's, else the runtime's default."""
    extra = saver_config()["archive"] if mode == "saver" else {}
    return extra.get("checkpoint_seconds", CHECKPOINT_DEFAULT)


def _writer_cmd(wd, mode, base, sizes, phase, seconds):
    path = os.path.join(wd, f"writer-{mode}-{phase}.json")
    with open(path, "w") as f:
        json.dump({"base": base, "devices": DEVICES, "seconds": seconds, "phase": phase, "sizes": sizes,
                   "state": os.path.join(wd, f"writer-{mode}-state.json"),
                   "out": os.path.join(wd, f"placed-{mode}-{phase}.json")}, f)
    return [SYS_PYTHON, os.path.join(BENCH, "synth_writer.py"), path]


def _start_archiver(wd, mode, base):
    """Given a mode, start its archiver on ``base``; return (process, log file) or None for (a)."""
    err = open(os.path.join(wd, f"archiver-{mode}.log"), "w")
    if mode == "plan":
        proc = spawn([SYS_PYTHON, os.path.join(BENCH, "baseline_archiver.py"), base,
                      os.path.join(wd, "plan-archiver.log"), *DEVICES], "plan archiver", stderr=err,
                     env=runtime_env())
        return proc, err
    run_dir = os.path.join(wd, f"run-{mode}")
    extra = saver_config() if mode == "saver" else {}
    cfg = write_config(os.path.join(wd, f"hotcold-{mode}.json"), base, DEVICES, run_dir,
                       every_nth=extra.get("every_nth"), extra_archive=extra.get("archive"))
    proc = spawn(hotcold_cmd(cfg, "archive"), f"hotcold archiver ({mode})", env=runtime_env(), stderr=err)
    wait_heartbeat(run_dir, proc, timeout=120)
    return proc, err


def _measure(seconds):
    wd = workdir()
    sizes = measure_sizes(wd)
    sd_mb = int(seconds * len(DEVICES) * 1.5) + 600
    sds = {m: loop_sd(wd, sd_mb, name=f"sd-{m}") for m in MODES + ["limit"]}
    for sd in sds.values():
        with open(f"/sys/block/{sd.name}/queue/scheduler", "w") as f:
            f.write(SCHEDULER)
    for m in MODES:
        for dev in DEVICES:
            hot = os.path.join(sds[m].mnt, dev, "hot")
            if m == "direct":
                os.makedirs(hot)
            else:
                mount_tmpfs(hot, "100M")
            for kind in MEDIA:
                os.makedirs(os.path.join(hot, kind))
            if m == "plan":  # the plan's setup script (TASK 2) creates the 0..23 hour folders
                for kind in ("captures", "thumbnails", "metadata", "segments"):
                    for hour in range(24):
                        os.makedirs(os.path.join(sds[m].mnt, dev, kind, str(hour)))
    for m in MODES:
        pre = spawn(_writer_cmd(wd, m, sds[m].mnt, sizes, "prefill", seconds), f"writer prefill ({m})")
        if pre.wait(120) != 0:
            raise RuntimeError(f"writer prefill ({m}) failed")
    archivers = {m: _start_archiver(wd, m, sds[m].mnt) for m in MODES if m != "direct"}
    time.sleep(6.0)  # the plan's archiver moves the prefill's excess on its first 5 s pass
    for sd in sds.values():
        sd.sync()
    before = {m: counters(sds[m]) for m in sds}
    started = time.monotonic()
    seq_before = {m: checkpoint_seq(sds[m].mnt) for m in ("hotcold", "saver")}
    # media already on the SD (the prefill in (a), the first moves in (b)-(d)) is not part of the measurement
    media_before = {m: media_on(sds[m].mnt, skip_dev=os.stat(sds[m].mnt).st_dev) for m in MODES}
    log(f"sd_writes: recording {seconds} s, {len(DEVICES)} devices, into {', '.join(MODES)}")
    writers = {m: spawn(_writer_cmd(wd, m, sds[m].mnt, sizes, "live", seconds), f"writer ({m})") for m in MODES}
    for m, w in writers.items():
        if w.wait(seconds + 120) != 0:
            raise RuntimeError(f"writer ({m}) failed")
    tail = max(checkpoint_seconds(m) for m in ("hotcold", "saver")) + 5.0
    log(f"sd_writes: writers done; {tail:.0f} s for the last checkpoint, then the counters")
    time.sleep(tail)
    out = {"sizes": {k: {"files": len(v), "mean": sum(v) / len(v)} for k, v in sizes.items()}, "seconds": seconds,
           "tail_seconds": tail, "window_seconds": time.monotonic() - started, "scheduler": SCHEDULER}
    for m in MODES:
        sds[m].sync()
        out[m] = _window(wd, m, sds[m], before[m], media_before[m], seq_before.get(m))
    for m, (proc, err) in archivers.items():
        at_end = counters(sds[m])
        out[m]["archiver_rc"] = stop_process(proc, timeout=120)
        err.close()
        sds[m].sync()
        out[m]["stop"] = delta(counters(sds[m]), at_end)
    chunk = write_limit(sds["limit"], out["hotcold"]["media_bytes"])
    sds["limit"].sync()
    out["limit"] = {**delta(counters(sds["limit"]), before["limit"]), "media_bytes": out["hotcold"]["media_bytes"],
                    "chunk": chunk, "written_seconds": out["hotcold"]["written_seconds"]}
    return out


def _window(wd, mode, sd, before, media_before, seq_before):
    """Given a mode and its SD at the end of the steady-state window (synced), return its figures: the
    counters' delta, the media that reached the SD, what is still in RAM, the writer's seconds and, for
    hotcold, the checkpoints made."""
    r = delta(counters(sd), before)
    n, size = media_on(sd.mnt, skip_dev=os.stat(sd.mnt).st_dev)
    r["media_n"], r["media_bytes"] = n - media_before[0], size - media_before[1]
    r["left_in_ram"] = 0 if mode == "direct" else sum(media_on(os.path.join(sd.mnt, d, "hot"))[0] for d in DEVICES)
    with open(os.path.join(wd, f"placed-{mode}-live.json")) as f:
        doc = json.load(f)
    r["written_seconds"] = doc["end"] - doc["start"]
    if seq_before is not None:
        r["checkpoints"] = checkpoint_seq(sd.mnt) - seq_before
    return r


def _derived(r):
    """Given a mode's raw figures, add amplification, average write size and the card-life projection."""
    r["amp"] = r["bytes"] / r["media_bytes"] if r.get("media_bytes") else None
    r["avg_write_kb"] = r["bytes"] / r["ios"] / 1024 if r["ios"] else None
    p = wear.project(r["bytes"], r["written_seconds"], CARD_BYTES, RATED_CYCLES)
    r["full_card_writes_per_day"] = p.full_card_writes_per_day
    r["life_years"] = p.life_years
    return r


def run(quick, args):
    sec = Section(NAME, TITLE)
    seconds = 60 if quick else 300
    problem = runtime_problem()
    if problem:
        sec.check("hotcold runs", problem, None)
        return sec, {"problem": problem}
    mark = RES.mark()
    try:
        raw = _measure(seconds)
    finally:
        RES.unwind_to(mark)
    res = {m: _derived(raw[m]) for m in MODES + ["limit"]}
    sizes = raw["sizes"]
    sec.setup.append(
        f"{seconds} s{' (--quick; the full run records 300 s)' if quick else ''}, {len(DEVICES)} devices per mode, "
        f"all modes at once. File sizes from {SIZE_SECONDS} s of real 1080p FFmpeg output: "
        + ", ".join(f"{k} {v['mean'] / 1e3:.0f} kB mean ({v['files']} files)" for k, v in sizes.items())
        + f". Card: {CARD_BYTES / 1e9:.0f} GB, {RATED_CYCLES} rated cycles; per day = measured x 86400 / "
        f"the writer's seconds. Each SD is a loop device with the {raw['scheduler']} scheduler (an SD card's "
        f"default). Steady state: counted until {raw['tail_seconds']:.0f} s after the writers ended (one "
        "checkpoint interval + 5 s) with the archivers running; their stop is counted apart (notes).")
    sec.headers = ["mode (4 devices)", "write I/Os / h", "vs (a)", "vs (b)", "flushes / h", "MB written / h",
                   "MB archived / h",
                   "amplification", "avg write kB", "full-card writes / day (64 GB)",
                   f"card life at {RATED_CYCLES} cycles, years"]
    a, b = res["direct"], res["plan"]
    for m in MODES + ["limit"]:
        r = res[m]
        per_h = 3600.0 / r["written_seconds"]
        sec.rows.append([LABELS[m], fmt(round(r["ios"] * per_h)), fmt_ratio(ratio(r["ios"], a["ios"])),
                         fmt_ratio(ratio(r["ios"], b["ios"])),
                         fmt(round(r["flushes"] * per_h)) if r["flushes"] is not None else "n/a",
                         fmt(r["bytes"] * per_h / 1e6, 1), fmt(r["media_bytes"] * per_h / 1e6, 1),
                         fmt(r["amp"], 3), fmt(r["avg_write_kb"], 1), fmt(r["full_card_writes_per_day"], 3),
                         fmt(r["life_years"], 1)])
    c, d = res["hotcold"], res["saver"]
    sec.check("(c) write I/Os <= 1.5x (b), the plan's archiver", fmt_ratio(ratio(c["ios"], b["ios"])),
              ratio(c["ios"], b["ios"]) <= 1.5)
    sec.check("(c) write I/Os <= 0.4x (a), FFmpeg straight to the SD", fmt_ratio(ratio(c["ios"], a["ios"])),
              ratio(c["ios"], a["ios"]) <= 0.4)
    sec.check("(c) amplification <= 1.05 (bytes written / bytes archived)", fmt(c["amp"], 3), c["amp"] <= 1.05)
    window, interval = raw["window_seconds"], checkpoint_seconds("hotcold")
    sec.check(f"(c) at most one flush per checkpoint ({interval:.0f} s) for the whole card, whatever the device count",
              f"{c['checkpoints']} checkpoints (one syncfs each, all {len(DEVICES)} devices) in {window:.0f} s; "
              f"block flush requests / h {fmt(round(c['flushes'] * 3600.0 / c['written_seconds']))} vs "
              f"{fmt(round(b['flushes'] * 3600.0 / b['written_seconds']))} for (b), whose are the ext4 journal's "
              "own 5 s commits", c["checkpoints"] <= window / interval + 1)
    sec.check("(d) <= 0.3 full-card writes per day (4 devices, 64 GB card)", fmt(d["full_card_writes_per_day"], 3),
              d["full_card_writes_per_day"] <= 0.3)
    for m in ("plan", "hotcold", "saver"):
        if res[m].get("archiver_rc") not in (None, 0):
            sec.notes.append(f"{LABELS[m]}: the archiver exited with {res[m]['archiver_rc']} on SIGTERM")
        if res[m]["left_in_ram"]:
            sec.notes.append(f"{LABELS[m]}: {res[m]['left_in_ram']} media file(s) in RAM at the end of the "
                             "window (the hot sets, as on a running host)")
        if "stop" in res[m]:
            st = res[m]["stop"]
            sec.notes.append(f"{LABELS[m]}, its stop (not in the table): {fmt(st['ios'])} write I/Os, "
                             f"{fmt(st['flushes'])} flush requests, {fmt(st['bytes'] / 1e6, 1)} MB"
                             + (" (the hot sets and open hours' indexes go to the SD)" if m != "plan"
                                else " (it just stops: its RAM is lost)"))
    sec.notes.append(f"(e) writes {fmt(res['limit']['media_bytes'] / 1e6, 1)} MB (what (c) archived) in "
                     f"{res['limit']['chunk'] // 1024} kB buffered writes and one fsync.")
    return sec, raw
