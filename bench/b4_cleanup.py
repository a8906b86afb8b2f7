"""Benchmark 4: cleanup of an expired hour: 7,200 captures (~100 KB) + 18,000 thumbnails (~6 KB).

Per repeat, on an ext4 "SD" (loop device): fill captures/<h>/ and thumbnails/<h>/ of capture1 with
day markers two days old (so both kinds are past retention), syncfs, drop the page/dentry/inode
caches (an hour-old folder is not cached on a Pi), then delete with one of:

* hotcold, in-process: ``hotcold.retention.cleanup(config, now)`` (rename away, recreate, rmtree);
* hotcold CLI: ``python3 -m hotcold --config F cleanup`` (what cron runs; start-up included);
* plan (TASK 5): ``rm -rf <kind>/<h>; mkdir -p <kind>/<h>`` per kind, as the plan's script.

gone_watch.py (another process, inotify) records when each hour folder left its parent; the hour is
"gone from view" when both have. "Space free" = statvfs shows >= 99% of the filled blocks free again.
"""

import json
import os
import sys
import time
from datetime import datetime, timedelta, timezone

from common import (
    BENCH,
    RES,
    RUNTIME_PATH,
    SYS_PYTHON,
    Section,
    drop_caches,
    fmt,
    fmt_ratio,
    hotcold_cmd,
    log,
    loop_sd,
    median,
    ratio,
    runtime_env,
    spawn,
    workdir,
    write_config,
)
from common import run as run_cmd

NAME = "cleanup"
TITLE = "4. Cleanup of an expired hour"
DEVICE = "capture1"
N_CAPTURES, N_THUMBS = 7200, 18000


def fill(base, hour, day, blob, rnd):
    n_bytes = 0
    start = datetime.fromisoformat(day).replace(hour=hour, tzinfo=timezone.utc).timestamp()
    for kind, n, size, name, step in (("captures", N_CAPTURES, 100_000, "capture_{:09d}.jpg", 0.5),
                                      ("thumbnails", N_THUMBS, 6_000, "capture_{:09d}_thumbnail.jpg", 0.2)):
        d = os.path.join(base, DEVICE, kind, str(hour))
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, ".day"), "w") as f:
            f.write(day + "\n")
        for i in range(n):
            sz = int(size * rnd.uniform(0.9, 1.1))
            p = os.path.join(d, name.format(i))
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.write(fd, blob[:sz])
            os.close(fd)
            t = start + i * step
            os.utime(p, (t, t))
            n_bytes += sz
    return n_bytes


def run(quick, args):
    import random
    sec = Section(NAME, TITLE)
    repeats = 1 if quick else 3
    if RUNTIME_PATH not in sys.path:
        sys.path.insert(0, RUNTIME_PATH)
    try:
        from hotcold.config import load_config
        from hotcold.retention import cleanup as hc_cleanup
        problem = None
    except Exception as e:
        problem = f"cannot import hotcold.retention: {e}"
    methods = ["plan"] + ([] if problem else ["hotcold", "hotcold-cli"])
    results = {m: [] for m in methods}
    rnd = random.Random(1)
    blob = os.urandom(120_000)
    mark = RES.mark()
    try:
        wd = workdir()
        sd = loop_sd(wd, 2048)
        base = sd.mnt
        now = time.time()
        hour = datetime.fromtimestamp(now, timezone.utc).hour
        day = (datetime.fromtimestamp(now, timezone.utc) - timedelta(days=2)).date().isoformat()
        cfg_path = write_config(os.path.join(wd, "hotcold.json"), base, [DEVICE], os.path.join(wd, "run"))
        config = load_config(cfg_path) if not problem else None
        for rep in range(repeats):
            for m in methods:
                sd.sync()
                free0 = sd.free_bytes()
                n_bytes = fill(base, hour, day, blob, rnd)
                sd.sync()
                free1 = sd.free_bytes()
                drop_caches()
                target = free1 + int(0.99 * (free0 - free1))
                out, ready = os.path.join(wd, "gone.json"), os.path.join(wd, "gone.ready")
                for p in (out, ready):
                    if os.path.exists(p):
                        os.unlink(p)
                dirs = [os.path.join(base, DEVICE, k, str(hour)) for k in ("captures", "thumbnails")]
                w = spawn([SYS_PYTHON, os.path.join(BENCH, "gone_watch.py"), out, ready, base, str(target), *dirs],
                          "gone_watch")
                while not os.path.exists(ready):
                    time.sleep(0.01)
                t0 = time.time()
                if m == "hotcold":
                    expired, _ = hc_cleanup(config, time.time())
                    ok = sum(e.files for e in expired if e.removed) >= N_CAPTURES + N_THUMBS
                elif m == "hotcold-cli":
                    r = run_cmd(hotcold_cmd(cfg_path, "cleanup"), check=False, env=runtime_env())
                    ok = r.returncode == 0
                else:
                    script = "; ".join(f'rm -rf "{d}"; mkdir -p "{d}"' for d in dirs)
                    ok = run_cmd(["bash", "-c", script], check=False).returncode == 0
                t_ret = time.time()
                if w.wait(600) != 0:
                    raise RuntimeError("gone_watch failed")
                with open(out) as f:
                    doc = json.load(f)
                gone = list(doc["gone"].values())
                res = {"ok": ok, "bytes": n_bytes, "returned_s": t_ret - t0,
                       "gone_s": (max(gone) - t0) if None not in gone else None,
                       "first_gone_s": (min(g for g in gone if g) - t0) if any(gone) else None,
                       "free_s": (doc["free_at"] - t0) if doc["free_at"] else None}
                results[m].append(res)
                log(f"cleanup {m} #{rep + 1}: gone {fmt(res['gone_s'], 4)} s, free {fmt(res['free_s'], 3)} s, "
                    f"returned {fmt(res['returned_s'], 3)} s, ok {ok}")
    finally:
        RES.unwind_to(mark)
    sec.setup.append(f"{N_CAPTURES:,} captures + {N_THUMBS:,} thumbnails "
                     f"({results['plan'][0]['bytes'] / 1e6:.0f} MB) per repeat, caches dropped before each delete; "
                     f"{repeats} repeat(s) per method, medians shown.")
    sec.headers = ["method", "hour gone from view s", "vs plan", "first folder gone s", "space free s", "vs plan",
                   "command returned s", "all deleted"]
    labels = {"hotcold": "hotcold: retention.cleanup() in-process (rename, recreate, rmtree)",
              "hotcold-cli": "hotcold CLI: `hotcold cleanup` (cron; process start-up included)",
              "plan": "plan: rm -rf + mkdir -p per kind (TASK 5)"}
    med = {m: {k: median([r[k] for r in rs]) for k in ("gone_s", "first_gone_s", "free_s", "returned_s")}
           for m, rs in results.items()}
    for m in ["hotcold", "hotcold-cli", "plan"]:
        if m not in med:
            sec.rows.append([labels[m], "not run: " + problem] + [""] * 6)
            continue
        v = med[m]
        sec.rows.append([labels[m], fmt(v["gone_s"], 4), fmt_ratio(ratio(v["gone_s"], med["plan"]["gone_s"])),
                         fmt(v["first_gone_s"], 4), fmt(v["free_s"], 3),
                         fmt_ratio(ratio(v["free_s"], med["plan"]["free_s"])), fmt(v["returned_s"], 3),
                         "yes" if all(r["ok"] for r in results[m]) else "NO"])
    if problem:
        sec.check("hour gone from view <= 50 ms", problem, None)
        return sec, results
    g = med["hotcold"]["gone_s"]
    sec.check("hour gone from view <= 50 ms (hotcold in-process; both folders)", f"{g * 1000:.1f} ms", g <= 0.05)
    if med["hotcold"]["first_gone_s"] is not None and g > 2 * med["hotcold"]["first_gone_s"] + 0.01:
        sec.notes.append(
            f"hotcold retires the hour's folders one after the other and each rmtree runs before the next rename: "
            f"the first folder (captures) leaves view after {med['hotcold']['first_gone_s'] * 1000:.1f} ms, the "
            f"second only after the first one's files are deleted ({g * 1000:.0f} ms). Renaming every expired "
            f"folder away first and deleting afterwards would make the whole hour vanish at once.")
    return sec, results
