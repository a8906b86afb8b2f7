"""Benchmark 1: SD writes per device-hour, FFmpeg straight to the SD vs FFmpeg to RAM + hotcold.

ONE FFmpeg (the capture role's command: roles/capture/templates/hotcold-capture.j2, testsrc2 input
at the plan's rates: 1080p30, 2M H.264 in 1 s HLS segments, 2 fps captures, 5 fps 320x240
thumbnails) encodes once and writes every output through the ``tee`` muxer to three trees, each on
its own ext4 "SD card" (loop device), so all three get byte-identical input at the same time:

  (a) direct   FFmpeg writes segments, live playlist and JPEGs straight onto the SD file system
  (b) hotcold  FFmpeg writes into a 100M tmpfs, ``python3 -m hotcold archive`` moves files to the SD
  (c) saver    as (b) with the SD saver: archive.every_nth {captures: 2, thumbnails: 5}
  (d) batch1   as (b) with archive.batch_seconds 1 (default 0.25)
  (e) window10 as (b) with a 10 s write window: archive.batch_seconds 10 and rescan_seconds 10
  (f) saver10  the documented "SD saver" preset: (c)'s every_nth + (e)'s 10 s window

Counters: /sys/block/loopN/stat (field 5 write I/Os, field 7 sectors) from before the archivers
start to after the archivers stopped (SIGTERM = flush of everything still in RAM) and a syncfs, so
every file FFmpeg produced ends on the SD in (a) and (b). Files created: inotify IN_CREATE on the SD.
"""

import json
import os
import re
import time

from common import (
    BENCH,
    RES,
    SYS_PYTHON,
    LoopSD,
    Section,
    fmt,
    fmt_ratio,
    hotcold_cmd,
    log,
    median,
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

NAME = "sd_writes"
TITLE = "1. SD-card writes (the headline)"
DEVICE = "capture1"
NUMBER_EPOCH = 1704067200  # as the capture role (_capture_number_epoch)
SAVER = {"captures": 2, "thumbnails": 5}
WINDOW = {"batch_seconds": 10.0, "rescan_seconds": 10.0}
EXTRA_ARCHIVE = {"batch1": {"batch_seconds": 1.0}, "window10": WINDOW, "saver10": WINDOW}
ALL_MODES = ["direct", "hotcold", "saver", "batch1", "window10", "saver10"]
MEDIA = {"captures": re.compile(r"^capture_\d+\.jpg$"), "thumbnails": re.compile(r"^capture_\d+_thumbnail\.jpg$"),
         "segments": re.compile(r"^segment_\d+\.ts$")}
TEMPLATE = os.path.join(os.path.dirname(BENCH), "roles", "capture", "templates", "hotcold-capture.j2")


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


def media_on(root, skip_dev=None):
    """(count, bytes) of media files under root, not descending into another file system."""
    n = size = 0
    for dirpath, dirnames, files in os.walk(root):
        if skip_dev is not None:
            dirnames[:] = [d for d in dirnames if os.stat(os.path.join(dirpath, d)).st_dev == skip_dev]
        for f in files:
            if any(p.match(f) for p in MEDIA.values()):
                n += 1
                size += os.stat(os.path.join(dirpath, f)).st_size
    return n, size


def count_batches(meta_root):
    """Durable archive batches = distinct ``archived_at`` values in the metadata records."""
    stamps = set()
    for dirpath, _, files in os.walk(meta_root):
        for f in files:
            if f == "archive.jsonl":
                with open(os.path.join(dirpath, f)) as fh:
                    for line in fh:
                        try:
                            stamps.add(json.loads(line).get("archived_at"))
                        except ValueError:
                            pass
    return len(stamps)


def run(quick, args):
    sec = Section(NAME, TITLE)
    seconds = 60 if quick else 300
    minute = 20 if quick else 60
    problem = runtime_problem()
    modes = ["direct"] + ([] if problem else ["hotcold", "saver", "batch1", "window10", "saver10"])
    shape = "roles/capture/templates/hotcold-capture.j2" if os.path.exists(TEMPLATE) else "field notes section 2"
    sec.setup.append(f"{seconds} s of recording{' (--quick; the full run records 300 s)' if quick else ''}, "
                     f"one FFmpeg with the command shape of {shape}, outputs tee'd to every mode at once "
                     f"(byte-identical input). Per device-hour = measured x 3600 / recorded seconds "
                     f"(= 1 s segments FFmpeg produced). "
                     f"Median column: median of the per-{minute} s write I/O counts, x 3600 / {minute}.")
    mark = RES.mark()
    try:
        raw = _measure(modes, seconds, minute)
    finally:
        RES.unwind_to(mark)
    res = {k: v for k, v in raw.items() if isinstance(v, dict)}
    a = res["direct"]
    # Normalise by what FFmpeg recorded (1 s segments), not by wall time: under load FFmpeg can fall
    # behind -re and record less than `seconds`.
    recorded = a["segments"] or seconds
    per_h = 3600.0 / recorded
    sec.headers = ["mode", "write I/Os / dev-h", "median per-window write I/Os / dev-h", "vs direct",
                   "MB written / dev-h", "vs direct", "files created / dev-h", "media files on SD / dev-h",
                   "MB of media archived / dev-h", "write amplification", "archive batches / dev-h",
                   "write I/Os per batch"]
    labels = {"direct": "(a) direct: FFmpeg -> SD", "hotcold": "(b) hotcold: FFmpeg -> tmpfs -> archiver -> SD",
              "saver": f"(c) hotcold + SD saver every_nth {SAVER}",
              "batch1": "(d) hotcold, archive.batch_seconds 1",
              "window10": "(e) hotcold, 10 s write window (batch_seconds 10, rescan_seconds 10)",
              "saver10": f"(f) SD saver preset: every_nth {SAVER} + 10 s window"}
    for m in ALL_MODES:
        r = res.get(m)
        if r is None:
            sec.rows.append([labels[m], "not run: " + (problem or "?")] + [""] * 10)
            continue
        sec.rows.append([labels[m], fmt(round(r["ios"] * per_h)), fmt(round(r["ios_median"])),
                         "1x" if m == "direct" else fmt_ratio(ratio(r["ios"], a["ios"])),
                         fmt(r["bytes"] * per_h / 1e6, 1),
                         "1x" if m == "direct" else fmt_ratio(ratio(r["bytes"], a["bytes"])),
                         fmt(round(r["created_total"] * per_h)), fmt(round(r["media_n"] * per_h)),
                         fmt(r["media_bytes"] * per_h / 1e6, 1), fmt(r["amp"], 3),
                         fmt(round(r["batches"] * per_h)) if r.get("batches") else "-",
                         fmt(r["ios"] / r["batches"], 1) if r.get("batches") else "-"])
    crow = []
    classes = sorted({c for r in res.values() for c in r["created"]})
    for c in classes:
        crow.append([c] + [fmt(round(res[m]["created"].get(c, 0) * per_h)) if m in res else "n/a"
                           for m in ALL_MODES])
    sec.tables.append(("Files created on the SD per device-hour, by kind of name (inotify IN_CREATE):",
                       ["created name", "(a) direct", "(b) hotcold", "(c) saver", "(d) batch 1 s", "(e) window 10 s",
                        "(f) saver preset"], crow))
    for m, r in res.items():
        if r.get("archiver_rc") not in (None, 0):
            sec.notes.append(f"{m}: the archiver exited with {r['archiver_rc']} on SIGTERM (flush incomplete?)")
        if r.get("left_in_ram"):
            sec.notes.append(f"{m}: {r['left_in_ram']} media file(s) still in RAM after the archiver's flush")
    sec.notes.append(f"FFmpeg produced {res['direct']['media_n']} media files "
                     f"({res['direct']['media_bytes'] / 1e6:.1f} MB) and {recorded} segments "
                     f"in {seconds} s of wall time; "
                     f"its exit code {raw['ffmpeg_rc']}.")
    if "hotcold" not in res:
        sec.check("hotcold runs", problem, None)
        return sec, raw
    b = res["hotcold"]
    junk = sum(v for k, v in b["created"].items() if "ffmpeg" in k or "live playlist" in k)
    sec.check("(b) writes nothing to the SD that it does not archive (live playlist, FFmpeg temp files)",
              f"{junk} such files created on the SD", junk == 0)
    sec.check("(b) write amplification <= 1.05 (bytes written / bytes of archived files)", fmt(b["amp"], 3),
              b["amp"] <= 1.05)
    r_ios = ratio(b["ios"], a["ios"])
    sec.check("(b) write I/Os <= 20% of (a)",
              f"{fmt(round(b['ios'] * per_h))} vs {fmt(round(a['ios'] * per_h))} per device-hour = {r_ios:.1%}",
              r_ios <= 0.20)
    d = res["batch1"]
    sec.notes.append(f"archive.batch_seconds 1 instead of 0.25: {fmt_ratio(ratio(d['ios'], b['ios']))} the write I/Os "
                     f"and amplification {fmt(d['amp'], 3)} instead of {fmt(b['amp'], 3)}.")
    for m, what in (("window10", "a 10 s write window"), ("saver10", "the SD saver preset")):
        e = res[m]
        r_e = ratio(e["ios"], a["ios"])
        sec.check(f"({'e' if m == 'window10' else 'f'}) {what}: write I/Os <= 20% of (a)",
                  f"{fmt(round(e['ios'] * per_h))} per device-hour = {r_e:.1%} of (a)", r_e <= 0.20)
        sec.check(f"({'e' if m == 'window10' else 'f'}) {what}: write amplification <= 1.05", fmt(e["amp"], 3),
                  e["amp"] <= 1.05)
    c = res["saver"]
    sec.notes.append(f"SD saver (every_nth captures {SAVER['captures']}, thumbnails {SAVER['thumbnails']}: keeps 1 "
                     f"capture and 1 thumbnail per second): {fmt(c['bytes'] * per_h / 1e6, 1)} MB and "
                     f"{fmt(round(c['ios'] * per_h))} write I/Os per device-hour, "
                     f"{fmt_ratio(ratio(c['bytes'], b['bytes']))} the bytes and {fmt_ratio(ratio(c['ios'], b['ios']))} "
                     f"the I/Os of (b).")
    return sec, raw


def _measure(modes, seconds, minute):
    wd = workdir()
    sds, hots, archivers = {}, {}, {}
    size_mb = int(seconds * 1.2 * 2) + 400
    for m in modes:
        sd = LoopSD(wd, size_mb, name=f"sd-{m}")
        hot = os.path.join(sd.mnt, DEVICE, "hot")
        if m == "direct":
            os.makedirs(hot)
        else:
            mount_tmpfs(hot, "100M")
        for k in ("segments", "captures", "thumbnails"):
            os.makedirs(os.path.join(hot, k))
        sds[m], hots[m] = sd, hot
    mon_out, ready = os.path.join(wd, "monitor.json"), os.path.join(wd, "monitor.ready")
    mon = spawn([SYS_PYTHON, os.path.join(BENCH, "monitor.py"), mon_out, ready] + [sds[m].mnt for m in modes],
                "monitor")
    while not os.path.exists(ready):
        if mon.poll() is not None:
            raise RuntimeError("monitor failed")
        time.sleep(0.05)
    for sd in sds.values():
        sd.sync()
    before = {m: sds[m].stat() for m in modes}
    for m in modes:
        if m == "direct":
            continue
        run_dir = os.path.join(wd, f"run-{m}")
        cfg = write_config(os.path.join(wd, f"hotcold-{m}.json"), sds[m].mnt, [DEVICE], run_dir,
                           every_nth=SAVER if m in ("saver", "saver10") else None,
                           extra_archive=EXTRA_ARCHIVE.get(m))
        err = open(os.path.join(wd, f"archiver-{m}.log"), "w")
        archivers[m] = (spawn(hotcold_cmd(cfg, "archive"), f"hotcold archiver ({m})", env=runtime_env(), stderr=err),
                        run_dir, err)
        wait_heartbeat(run_dir, archivers[m][0])
    log(f"sd_writes: recording {seconds} s into {', '.join(modes)}")
    ferr = open(os.path.join(wd, "ffmpeg.log"), "w")
    ff = spawn(ffmpeg_cmd([hots[m] for m in modes], seconds), "ffmpeg", env=runtime_env(), stderr=ferr)
    windows = {m: [before[m]] for m in modes}
    t_next = time.monotonic() + minute
    deadline = time.monotonic() + seconds + 60
    while ff.poll() is None and time.monotonic() < deadline:
        time.sleep(0.5)
        if time.monotonic() >= t_next:
            for m in modes:
                windows[m].append(sds[m].stat())
            t_next += minute
    ffmpeg_rc = stop_process(ff, timeout=10)
    ferr.close()
    time.sleep(2.0)
    out = {"ffmpeg_rc": ffmpeg_rc}
    for m in modes:
        r = {}
        if m in archivers:
            p, run_dir, err = archivers[m]
            r["archiver_rc"] = stop_process(p, timeout=60)
            err.close()
        sds[m].sync()
        after = sds[m].stat()
        r["ios"] = after[0] - before[m][0]
        r["bytes"] = (after[1] - before[m][1]) * 512
        w = windows[m]
        r["ios_median"] = median([b[0] - a[0] for a, b in zip(w, w[1:], strict=False)]) if len(w) > 1 else None
        if r["ios_median"] is not None:
            r["ios_median"] *= 3600.0 / minute
        sd_dev = os.stat(sds[m].mnt).st_dev
        r["media_n"], r["media_bytes"] = media_on(os.path.join(sds[m].mnt, DEVICE), skip_dev=sd_dev)
        if m == "direct":
            r["segments"] = sum(1 for f in os.listdir(os.path.join(hots[m], "segments")) if MEDIA["segments"].match(f))
        if m != "direct":
            r["left_in_ram"] = media_on(hots[m])[0]
        r["amp"] = r["bytes"] / r["media_bytes"] if r["media_bytes"] else None
        r["batches"] = count_batches(os.path.join(sds[m].mnt, DEVICE, "metadata"))
        out[m] = r
    stop_process(mon)
    with open(mon_out) as f:
        mon_doc = json.load(f)
    for i, m in enumerate(modes):
        out[m]["created"] = mon_doc["created"][i]
        out[m]["created_total"] = sum(mon_doc["created"][i].values())
    if ffmpeg_rc not in (0, 255):
        with open(os.path.join(wd, "ffmpeg.log")) as f:
            raise RuntimeError(f"ffmpeg exited {ffmpeg_rc}: {f.read()[-500:]}")
    return out
