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
* Hot count: largest number of media files of one kind in one device's hot folder (inotify).
"""

import json
import os
import time

from common import (BENCH, RES, SYS_PYTHON, LoopSD, Section, fmt, fmt_ratio, hotcold_cmd, log, median,
                    mount_tmpfs, pct, proc_cpu, proc_status, ratio, runtime_env, runtime_problem, spawn,
                    stop_process, wait_heartbeat, workdir, write_config)

NAME = "archiver"
TITLE = "2. Archiver cost and scale"
KINDS = ("captures", "thumbnails", "segments")
LIMITS = {"captures": 100, "thumbnails": 100, "segments": 10}
KEEP = {"plan": {"captures": 100, "thumbnails": 100, "segments": 10},
        "hotcold": {"captures": 100, "thumbnails": 100, "segments": 12}}
DRAIN = 6.0  # after the writer stops: the plan's loop needs up to 5 s


def _wait_file(path, proc, timeout=20):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if os.path.exists(path):
            return
        if proc.poll() is not None:
            raise RuntimeError(f"process {proc.args[:3]} exited with {proc.returncode}")
        time.sleep(0.02)
    raise RuntimeError(f"{path} did not appear")


def one_run(which, ndev, seconds, window):
    mark = RES.mark()
    try:
        return _one_run(which, ndev, seconds, window)
    finally:
        RES.unwind_to(mark)


def _one_run(which, ndev, seconds, window):
    wd = workdir()
    size_mb = int(ndev * 0.75 * (seconds + DRAIN + 80) * 1.3) + 300
    sd = LoopSD(wd, size_mb)
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

    pre = spawn(writer("prefill"), "writer prefill")
    if pre.wait(120) != 0:
        raise RuntimeError("synthetic writer prefill failed")
    mon_out = os.path.join(wd, "monitor.json")
    ready = os.path.join(wd, "monitor.ready")
    mon = spawn([SYS_PYTHON, os.path.join(BENCH, "monitor.py"), mon_out, ready, base], "monitor")
    _wait_file(ready, mon)

    err = open(os.path.join(logs, f"{which}.log"), "w")
    if which == "hotcold":
        run_dir = os.path.join(wd, "run")
        cfg = write_config(os.path.join(wd, "hotcold.json"), base, devices, run_dir)
        arch = spawn(hotcold_cmd(cfg, "archive"), "hotcold archiver", env=runtime_env(), stderr=err)
        wait_heartbeat(run_dir, arch)
    else:
        arch = spawn([SYS_PYTHON, os.path.join(BENCH, "baseline_archiver.py"), base,
                      os.path.join(logs, "plan-archiver.log"), *devices], "plan archiver",
                     stderr=err, env=runtime_env())
        time.sleep(0.5)
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
    for (ta, ca), (tb, cb) in zip(samples, samples[1:]):
        n = sum(1 for t in arr_times if ta < t <= tb)
        if n > 0 and ca is not None and cb is not None:
            per_win.append((cb - ca) / n * 10000)
    n_total = sum(1 for t in arr_times if t_start < t <= t_final)
    cpu_total = (samples[-1][1] - samples[0][1]) if samples[-1][1] is not None else None
    delays = []
    missing = 0
    keep = KEEP[which]
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
        "writer_late_p99": late[0], "writer_late_max": late[1], "alive": alive,
        "overflows": mon_doc["overflows"],
    }


def run(quick, args):
    sec = Section(NAME, TITLE)
    seconds, window = (20, 10) if quick else (60, 20)
    counts = (4, 16, 32)
    sec.setup.append(f"Live phase {seconds} s per run after a back-dated pre-fill (100 captures, 100 thumbnails, "
                     f"12 segments per device); CPU median over {window} s windows; {DRAIN:g} s drain after the "
                     f"writer stops. One run per (archiver, device count)" + (" (--quick: shorter)." if quick else "."))
    problem = runtime_problem()
    results = {}
    for n in counts:
        for which in ("plan", "hotcold"):
            if which == "hotcold" and problem:
                continue
            log(f"archiver: {which}, {n} devices, {seconds} s")
            results[(which, n)] = one_run(which, n, seconds, window)
            r = results[(which, n)]
            log(f"  -> {fmt(r['cpu_per_10k'])} CPU s/10k files, p99 {fmt(r['p99'], 3)} s, RSS {fmt(r['rss_mb'], 1)} MB, "
                f"hot max {r['hot_max']}, missing {r['missing']}")
    sec.headers = ["archiver", "devices", "files archived", "CPU s / 10k files", "vs plan", "CPU % of a core",
                   "peak RSS MB", "delay p50 s", "delay p99 s", "vs plan (p99)", "not on SD at end",
                   "max hot captures / thumbnails / segments"]
    for n in counts:
        base = results.get(("plan", n))
        for which in ("plan", "hotcold"):
            r = results.get((which, n))
            if r is None:
                sec.rows.append([which, n, "not run", "", "", "", "", "", "", "", "", problem or ""])
                continue
            hm = r["hot_max"]
            sec.rows.append([
                "hotcold" if which == "hotcold" else "plan (5 s loop)", n, fmt(r["files"]), fmt(r["cpu_per_10k"]),
                fmt_ratio(ratio(r["cpu_per_10k"], base["cpu_per_10k"])) if which == "hotcold" else "1x",
                fmt(r["cpu_percent"], 1), fmt(r["rss_mb"], 1), fmt(r["p50"], 3), fmt(r["p99"], 3),
                fmt_ratio(ratio(r["p99"], base["p99"])) if which == "hotcold" else "1x",
                f"{r['missing']} of {r['eligible']}", f"{hm['captures']} / {hm['thumbnails']} / {hm['segments']}"])
    sec.notes.append("Writer lateness (how far the synthetic writer fell behind its schedule, p99 / max): " + "; ".join(
        f"{w} {n} dev {fmt(r['writer_late_p99'], 3)} / {fmt(r['writer_late_max'], 3)} s"
        for (w, n), r in sorted(results.items())))
    if any(r["overflows"] for r in results.values()):
        sec.notes.append("WARNING: the monitor's inotify queue overflowed; delays may be incomplete.")
    hc = {n: results.get(("hotcold", n)) for n in counts}
    if problem or not all(hc.values()):
        sec.check("hotcold archiver runs", problem or "a run failed", None)
        return sec, {f"{w}-{n}": r for (w, n), r in results.items()}
    worst_cpu_ratio = max(ratio(hc[n]["cpu_per_10k"], results[("plan", n)]["cpu_per_10k"]) for n in counts)
    sec.check("CPU per file <= 50% of the plan's loop (worst of 4/16/32 devices)", fmt_ratio(worst_cpu_ratio),
              worst_cpu_ratio <= 0.5)
    worst_p99 = max(hc[n]["p99"] for n in counts)
    sec.check("delay eligible -> on SD p99 <= 1 s (worst of 4/16/32)",
              f"{fmt(worst_p99, 3)} s (plan: {fmt(max(results[('plan', n)]['p99'] for n in counts), 3)} s)",
              worst_p99 <= 1.0)
    over = {k: max(hc[n]["hot_max"][k] for n in counts) for k in KINDS}
    sec.check("hot count never above limit + 2 (captures 102, thumbnails 102, segments 12)",
              ", ".join(f"{k} {over[k]}" for k in KINDS), all(over[k] <= LIMITS[k] + 2 for k in KINDS))
    sec.check("peak RSS <= 40 MB at 32 devices", f"{fmt(hc[32]['rss_mb'], 1)} MB", hc[32]["rss_mb"] <= 40)
    flat = ratio(hc[32]["cpu_per_10k"], hc[4]["cpu_per_10k"])
    sec.check("CPU per file flat within 20% from 4 to 32 devices", f"32 dev / 4 dev = {fmt_ratio(flat)}",
              0.8 <= flat <= 1.2)
    missing = sum(hc[n]["missing"] for n in counts)
    sec.check("every eligible file reached the SD", f"{missing} missing", missing == 0)
    return sec, {f"{w}-{n}": r for (w, n), r in results.items()}
