"""Benchmark 2: archiver cost and scale (4, 16, 32 devices), hotcold vs the plan's 5 s loop.

Per run: a fresh ext4 "SD" on a loop device, one 100M tmpfs per device at <sd>/<dev>/hot, the
synthetic writer (synth_writer.py, FFmpeg's names, sizes, rates and rename-into-place), the monitor
(monitor.py, inotify) and ONE archiver: ``python3 -m hotcold archive`` or baseline_archiver.py.

* CPU: utime+stime of the archiver process (/proc/<pid>/stat), sampled every window; CPU s per
  10,000 files = CPU in the window / files that arrived on the SD in it; median over the windows.
* RSS: VmHWM of the archiver at the end of the live phase.
* Delay: a file becomes eligible when the writer places the file that pushes it out of the set the
  policy keeps (captures/thumbnails: the 101st newer file; segments: plan 10 newer, hotcold 12 newer =
  10 in the live playlist + segment_margin 2); it is on the SD when it is renamed into place there
  (IN_MOVED_TO) or closed after writing (IN_CLOSE_WRITE, shutil.move). p50/p99 pooled over the run.
* Durable (hotcold): a file is durable when a checkpoint made it so and released its RAM copy from the
  outbox (IN_DELETE there); after the drain the run waits one checkpoint interval + 2 s for the last ones.
  CPU stays measured up to the end of the drain.
* Hot count: largest number of media files of one kind in one device's hot folder (inotify).
"""

import json
import os
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
    median,
    mount_tmpfs,
    pct,
    proc_cpu,
    proc_status,
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
from hotcold.checkpoint import ensure_outbox  # noqa: E402
from hotcold.config import load_data  # noqa: E402  (the runtime's own defaults, not a copy)
from hotcold.layout import DeviceLayout  # noqa: E402
from hotcold.policy import held  # noqa: E402  (the runtime's own keep rule)

NAME = "archiver"
TITLE = "2. Archiver cost and scale"
KINDS = ("captures", "thumbnails", "segments")
LIMITS = {"captures": 100, "thumbnails": 100, "segments": 10}
SEGMENT_MARGIN = 2  # the schema's default: write_config sets none


def keep_counts(which):
    """Given "plan" or "hotcold", return per kind how many newest files its archiver keeps in RAM: the
    plan's loop keeps the limits; hotcold keeps what its policy holds (hotcold.policy.held)."""
    if which == "plan":
        return dict(LIMITS)
    return {k: held(k, LIMITS, SEGMENT_MARGIN) for k in KINDS}
DRAIN = 6.0  # after the writer stops: the plan's loop needs up to 5 s
CHECKPOINT_SECONDS = load_data({"base_path": "/b", "devices": ["d"]}).archive.checkpoint_seconds  # the default


def _wait_file(path, proc, timeout=20):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if os.path.exists(path):
            return
        if proc.poll() is not None:
            raise RuntimeError(f"process {proc.args[:3]} exited with {proc.returncode}")
        time.sleep(0.02)
    raise RuntimeError(f"{path} did not appear")


def one_run(which, ndev, seconds, window, late=False):
    mark = RES.mark()
    try:
        return _one_run(which, ndev, seconds, window, late)
    finally:
        RES.unwind_to(mark)


LATE_THUMBS, LATE_SEGMENTS = 17_000, 3_400  # ~57 minutes into the hour at 5 fps / 1 s


def seed_late_hour(base, dev, now):
    """The SD's current hour as it looks ~57 min in: 17,000 thumbnails and 3,400 segments (empty files:
    the indexes only use names and metadata records) plus their metadata records."""
    import datetime as _dt
    t = _dt.datetime.fromtimestamp(now, _dt.timezone.utc)
    hour, day = t.hour, t.date().isoformat()
    hour_start = t.replace(minute=0, second=0, microsecond=0).timestamp()
    recs = []
    for kind, n, fmt_name in (("thumbnails", LATE_THUMBS, "capture_{:09d}_thumbnail.jpg"),
                              ("segments", LATE_SEGMENTS, "segment_{:09d}.ts"),
                              ("metadata", 0, None)):
        d = os.path.join(base, dev, kind, str(hour))
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, ".day"), "w") as f:
            f.write(day + "\n")
        for i in range(n):
            name = fmt_name.format(100_000_000 + i)
            open(os.path.join(d, name), "wb").close()
            if kind == "segments":
                start = hour_start + i
                pdt = _dt.datetime.fromtimestamp(start, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
                recs.append(json.dumps({"name": name, "kind": "segments", "size": 500000, "mtime": start + 1,
                                        "archived_at": start + 14, "duration": 1.0, "program_date_time": pdt}))
    with open(os.path.join(base, dev, "metadata", str(hour), "archive.jsonl"), "w") as f:
        f.write("\n".join(recs) + "\n")


def _one_run(which, ndev, seconds, window, late):
    wd = workdir()
    size_mb = int(ndev * 0.75 * (seconds + DRAIN + 80) * 1.3) + 300
    if late:
        size_mb += ndev * 100
    sd = loop_sd(wd, size_mb, inodes=(ndev * (LATE_THUMBS + LATE_SEGMENTS + 2000) + 100_000) if late else None)
    base = sd.mnt
    devices = [f"cam{i:02d}" for i in range(ndev)]
    for dev in devices:
        hot = os.path.join(base, dev, "hot")
        mount_tmpfs(hot, "100M")
        for k in KINDS:
            os.makedirs(os.path.join(hot, k))
        if which == "plan":  # the plan's setup script (TASK 2) creates the 0..23 hour folders
            for k in ("captures", "thumbnails", "metadata", "segments"):
                for h in range(24):
                    os.makedirs(os.path.join(base, dev, k, str(h)))
    logs = os.path.join(wd, "logs")
    os.makedirs(logs, exist_ok=True)

    def writer(phase):
        cfgp = os.path.join(wd, f"writer-{phase}.json")
        with open(cfgp, "w") as f:
            json.dump({"base": base, "devices": devices, "seconds": seconds, "phase": phase,
                       "state": os.path.join(wd, "writer-state.json"),
                       "out": os.path.join(wd, f"placed-{phase}.json")}, f)
        return [SYS_PYTHON, os.path.join(BENCH, "synth_writer.py"), cfgp]

    if late:
        for dev in devices:
            seed_late_hour(base, dev, time.time())
        sd.sync()
    pre = spawn(writer("prefill"), "writer prefill")
    if pre.wait(120) != 0:
        raise RuntimeError("synthetic writer prefill failed")
    if which == "hotcold":  # watched by the monitor from its start (the archiver keeps them)
        for dev in devices:
            ensure_outbox(DeviceLayout(base, dev))
    mon_out = os.path.join(wd, "monitor.json")
    ready = os.path.join(wd, "monitor.ready")
    mon = spawn([SYS_PYTHON, os.path.join(BENCH, "monitor.py"), mon_out, ready, base], "monitor")
    _wait_file(ready, mon)

    err = open(os.path.join(logs, f"{which}.log"), "w")
    if which == "hotcold":
        run_dir = os.path.join(wd, "run")
        cfg = write_config(os.path.join(wd, "hotcold.json"), base, devices, run_dir)
        t_spawn = time.monotonic()
        arch = spawn(hotcold_cmd(cfg, "archive"), "hotcold archiver", env=runtime_env(), stderr=err)
        wait_heartbeat(run_dir, arch, timeout=120)
        startup = time.monotonic() - t_spawn
    else:
        arch = spawn([SYS_PYTHON, os.path.join(BENCH, "baseline_archiver.py"), base,
                      os.path.join(logs, "plan-archiver.log"), *devices], "plan archiver",
                     stderr=err, env=runtime_env())
        time.sleep(0.5)
        startup = None
    if arch.poll() is not None:
        raise RuntimeError(f"{which} archiver exited with {arch.returncode} (see its log)")

    live = spawn(writer("live"), "writer live")
    samples = [(time.time(), proc_cpu(arch.pid))]
    t_start = samples[0][0]
    next_t = t_start + window
    while live.poll() is None:
        time.sleep(min(0.2, max(0.0, next_t - time.time())))
        if time.time() >= next_t:
            samples.append((time.time(), proc_cpu(arch.pid)))
            next_t += window
    if live.returncode != 0:
        raise RuntimeError("synthetic writer failed")
    t_writer_end = time.time()
    time.sleep(max(0.0, t_writer_end + DRAIN - time.time()))
    samples.append((time.time(), proc_cpu(arch.pid)))
    t_final = samples[-1][0]
    hwm = proc_status(arch.pid, "VmHWM")
    alive = arch.poll() is None
    if which == "hotcold":
        time.sleep(CHECKPOINT_SECONDS + 2.0)  # the last files' checkpoint
    stop_process(arch)
    stop_process(mon)
    err.close()
    with open(mon_out) as f:
        mon_doc = json.load(f)
    placed = {}
    for phase in ("prefill", "live"):
        with open(os.path.join(wd, f"placed-{phase}.json")) as f:
            doc = json.load(f)
        if phase == "live":
            late = (doc["late_p99"], doc["late_max"])
        for dev, kinds in doc["placed"].items():
            for k, lst in kinds.items():
                placed.setdefault((dev, k), []).extend(lst)

    arrived = mon_doc["arrived"]
    arr_times = sorted(t for t in arrived.values())
    # CPU per 10k files per window (arrivals before the final sample only)
    per_win = []
    for (ta, ca), (tb, cb) in zip(samples, samples[1:], strict=False):
        n = sum(1 for t in arr_times if ta < t <= tb)
        if n > 0 and ca is not None and cb is not None:
            per_win.append((cb - ca) / n * 10000)
    n_total = sum(1 for t in arr_times if t_start < t <= t_final)
    cpu_total = (samples[-1][1] - samples[0][1]) if samples[-1][1] is not None else None
    delays, durable = [], []
    missing = not_durable = 0
    released = mon_doc.get("released", {})
    keep = keep_counts(which)
    for (dev, k), lst in placed.items():
        lst.sort()
        for j in range(len(lst) - keep[k]):
            number = lst[j][0]
            t_elig = lst[j + keep[k]][1]
            if t_elig > t_writer_end:
                continue
            t_arr = arrived.get(f"{dev}/{k}/{number}")
            if t_arr is None or t_arr > t_final:
                missing += 1
                continue
            delays.append(max(0.0, t_arr - t_elig))
            if which == "hotcold":
                t_rel = released.get(f"{dev}/{k}/{number}")
                if t_rel is None:
                    not_durable += 1
                else:
                    durable.append(max(0.0, t_rel - t_elig))
    hot_max = {k: 0 for k in KINDS}
    for key, v in mon_doc["hot_max"].items():
        k = key.rsplit("/", 1)[1]
        hot_max[k] = max(hot_max[k], v)
    return {
        "which": which, "ndev": ndev, "seconds": seconds,
        "cpu_per_10k": median(per_win), "cpu_per_10k_windows": per_win,
        "cpu_total": cpu_total, "files": n_total,
        "cpu_percent": (cpu_total / (t_final - t_start) * 100) if cpu_total is not None else None,
        "rss_mb": hwm, "p50": pct(delays, 50), "p99": pct(delays, 99), "max": max(delays) if delays else None,
        "eligible": len(delays) + missing, "missing": missing, "hot_max": hot_max,
        "durable_p50": pct(durable, 50), "durable_p99": pct(durable, 99), "not_durable": not_durable,
        "writer_late_p99": late[0], "writer_late_max": late[1], "alive": alive,
        "overflows": mon_doc["overflows"], "startup_s": startup, "late": late,
    }


def run(quick, args):
    sec = Section(NAME, TITLE)
    seconds, window = (10, 5) if quick else (60, 20)
    counts = (4, 32) if quick else (4, 16, 32)
    late_counts = () if quick else (4, 32)
    sec.setup.append(
        f"Live phase {seconds} s per run after a back-dated pre-fill (100 captures, 100 thumbnails, 12 segments per "
        f"device); CPU median over {window} s windows; {DRAIN:g} s drain after the writer stops. One run per "
        f"(archiver, device count)" + (" (--quick: 10 s runs, 4 and 32 devices only, no late-hour rows)."
                                       if quick else "."))
    sec.setup.append(
        f"\"late in the hour\" rows: the SD's current hour is seeded with {LATE_THUMBS:,} thumbnails and "
        f"{LATE_SEGMENTS:,} segments per device (+ metadata), as ~57 minutes into an hour; hotcold rebuilds its "
        f"current-hour indexes from them at start and keeps rewriting them. The plan's loop has no index, so its "
        f"row at the same device count is the baseline.")
    problem = runtime_problem()
    plan = [("plan", n, False) for n in counts]
    hcs = [] if problem else [("hotcold", n, False) for n in counts] + [("hotcold", n, True) for n in late_counts]
    results = {}
    for which, n, late in plan + hcs:
        log(f"archiver: {which}, {n} devices, {seconds} s{' (late in the hour)' if late else ''}")
        try:
            r = results[(which, n, late)] = one_run(which, n, seconds, window, late)
        except Exception as e:  # keep the other runs' figures
            log(f"  -> failed: {type(e).__name__}: {e}")
            sec.notes.append(f"Run {which} {n} devices{' late' if late else ''} failed: {type(e).__name__}: {e}")
            if which == "plan" or not late:
                raise
            continue
        log(f"  -> {fmt(r['cpu_per_10k'])} CPU s/10k files, p99 {fmt(r['p99'], 3)} s, RSS {fmt(r['rss_mb'], 1)} MB, "
            f"hot max {r['hot_max']}, missing {r['missing']}")
    sec.headers = ["archiver", "devices", "files archived", "CPU s / 10k files", "vs plan", "CPU % of a core",
                   "peak RSS MB", "delay p50 s", "delay p99 s", "p99 vs plan", "durable p50 / p99 s",
                   "eligible files not on SD at end",
                   "max hot captures / thumbnails / segments", "start-up s"]
    label = {("plan", False): "plan (5 s loop)", ("hotcold", False): "hotcold",
             ("hotcold", True): "hotcold, late in the hour"}
    for n in counts:
        base = results[("plan", n, False)]
        for key in (("plan", n, False), ("hotcold", n, False), ("hotcold", n, True)):
            r = results.get(key)
            if r is None:
                if key[0] == "hotcold" and problem and not key[2]:
                    sec.rows.append(["hotcold", n, "not run: " + problem] + [""] * 11)
                continue
            hm = r["hot_max"]
            is_base = key[0] == "plan"
            sec.rows.append([
                label[(key[0], key[2])], n, fmt(r["files"]), fmt(r["cpu_per_10k"]),
                "1x" if is_base else fmt_ratio(ratio(r["cpu_per_10k"], base["cpu_per_10k"])),
                fmt(r["cpu_percent"], 1), fmt(r["rss_mb"], 1), fmt(r["p50"], 3), fmt(r["p99"], 3),
                "1x" if is_base else fmt_ratio(ratio(r["p99"], base["p99"])),
                "-" if is_base else f"{fmt(r['durable_p50'], 2)} / {fmt(r['durable_p99'], 2)}",
                f"{r['missing']} of {r['eligible']}", f"{hm['captures']} / {hm['thumbnails']} / {hm['segments']}",
                fmt(r["startup_s"], 2) if r["startup_s"] is not None else "-"])
    sec.notes.append("Writer lateness (how far the synthetic writer fell behind its schedule, p99 / max): " + "; ".join(
        f"{label[(w, lt)]} {n} dev {fmt(r['writer_late_p99'], 3)} / {fmt(r['writer_late_max'], 3)} s"
        for (w, n, lt), r in sorted(results.items())))
    if any(r["overflows"] for r in results.values()):
        sec.notes.append("WARNING: the monitor's inotify queue overflowed; delays may be incomplete.")
    raw = {f"{w}-{n}{'-late' if lt else ''}": r for (w, n, lt), r in results.items()}
    if problem:
        sec.check("hotcold archiver runs", problem, None)
        return sec, raw
    hc = [k for k in results if k[0] == "hotcold"]

    def worst(metric, keys):
        k = max(keys, key=lambda k: metric(k))
        return metric(k), k

    cpu_r = lambda k: ratio(results[k]["cpu_per_10k"], results[("plan", k[1], False)]["cpu_per_10k"])  # noqa: E731
    v, k = worst(cpu_r, hc)
    early = max(cpu_r(k2) for k2 in hc if not k2[2])
    sec.check("CPU per file <= 50% of the plan's loop (worst run)",
              f"{fmt_ratio(v)} ({label[(k[0], k[2])]}, {k[1]} dev); early in the hour worst {fmt_ratio(early)}",
              v <= 0.5)
    v, k = worst(lambda k: results[k]["p99"], hc)
    sec.check("delay eligible -> on SD p99 <= 1 s (worst run)",
              f"{fmt(v, 3)} s ({label[(k[0], k[2])]}, {k[1]} dev); plan worst "
              f"{fmt(max(results[('plan', n, False)]['p99'] for n in counts), 3)} s", v <= 1.0)
    over = {kd: max(results[k]["hot_max"][kd] for k in hc) for kd in KINDS}
    sec.check("hot count never above limit + 2 (captures 102, thumbnails 102, segments 12)",
              ", ".join(f"{kd} {over[kd]}" for kd in KINDS), all(over[kd] <= LIMITS[kd] + 2 for kd in KINDS))
    big = max(counts)
    rss = max(results[k]["rss_mb"] for k in hc if k[1] == big)
    sec.check(f"peak RSS <= 40 MB at {big} devices", f"{fmt(rss, 1)} MB", rss <= 40)
    flat = ratio(results[("hotcold", big, False)]["cpu_per_10k"],
                 results[("hotcold", min(counts), False)]["cpu_per_10k"])
    sec.check(f"CPU per file flat within 20% from {min(counts)} to {big} devices",
              f"{big} dev / {min(counts)} dev = {fmt_ratio(flat)}", 0.8 <= flat <= 1.2)
    small = min(counts)
    v = cpu_r(("hotcold", small, False))
    sec.check(f"(issue 13) CPU per archived file <= 1.0x the plan's loop at {small} devices", fmt_ratio(v), v <= 1.0)
    v, k = worst(lambda k: results[k]["p99"], hc)
    sec.check("(issue 13) p99 eligible -> visible on the SD <= 2 s (worst run)", f"{fmt(v, 3)} s", v <= 2.0)
    v, k = worst(lambda k: results[k]["durable_p99"], hc)
    lost = sum(results[k]["not_durable"] for k in hc)
    sec.check(f"(issue 13) p99 eligible -> durable <= the checkpoint interval + 1 s ({CHECKPOINT_SECONDS + 1:g} s; "
              "worst run)", f"{fmt(v, 2)} s ({label[(k[0], k[2])]}, {k[1]} dev); {lost} file(s) never released",
              v <= CHECKPOINT_SECONDS + 1 and lost == 0)
    missing = sum(results[k]["missing"] for k in hc)
    sec.check("every eligible file reached the SD before the end of the drain", f"{missing} missing", missing == 0)
    return sec, raw
