"""Disk faults during a recorded run: the SD goes read-only and comes back, then the recording layer
fails file-data writes with EIO at random, then all of them, then heals; last, it fails flushes.

Each phase's observations go into the run's ``info``: what ``hotcold health`` said, whether and how
fast the archiver took files again (heartbeat: every device ``sd_ok`` and its ``archived`` counter
moving), whether the ext4 mount itself still takes writes afterwards, and what the kernel logged
about the loop device (ext4 reacts to I/O errors itself: journal abort, read-only).
"""

import json
import os
import subprocess
import time

import pc_run
from harness import heartbeat
from record import scaled

# `make test` runs each spell for a few seconds; `make soak` for 30 minutes in all (6 min read-only, 10 min
# random and 10 min persistent data EIO, 4 min failing flushes)
RO_SECONDS = scaled(6, 360)
RANDOM_SECONDS = scaled(5, 600)
PERSISTENT_SECONDS = scaled(7, 600)
# failing flushes are seen at the archiver's next checkpoint (files become visible without a flush), so the
# bounded spell lasts one checkpoint interval and a little
FLUSH_EIO_SECONDS = scaled(pc_run.CHECKPOINT_SECONDS + 2, 240)
RESUME_TIMEOUT = 20
DATA_MIN_LEN = 16384  # writes shorter than this are spared (metadata blocks; file data comes in larger runs)
# the longest the scenario takes (the waits for resumption end early when it resumes)
MAX_SECONDS = 4 + RO_SECONDS + RESUME_TIMEOUT + RANDOM_SECONDS + PERSISTENT_SECONDS + RESUME_TIMEOUT + \
    FLUSH_EIO_SECONDS + 1


def set_faults(path, faults):
    """Atomically replace the recorder's FAULTS file (None: no faults)."""
    if faults is None:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        return
    with open(path + ".tmp", "w") as f:
        json.dump(faults, f)
    os.replace(path + ".tmp", path)


def remount(path, opts, timeout=10.0):
    """Remount ``path`` with ``opts``, retrying while it is busy (the archiver has files open for a
    moment); returns None or the last error."""
    end = time.monotonic() + timeout
    while True:
        r = subprocess.run(["mount", "-o", f"remount,{opts}", path], capture_output=True, text=True)
        if r.returncode == 0:
            return None
        if time.monotonic() > end:
            return r.stderr.strip()
        time.sleep(0.05)


def health(env):
    """(exit code, the lines of ``hotcold health`` that are not OK; its stderr's end when it printed none)."""
    r = env.cli("health", "--no-textfile")
    lines = [ln for ln in r.stdout.splitlines() if "CRIT" in ln or "WARN" in ln][:6]
    return r.returncode, lines or ([r.stderr.strip()[-600:]] if r.returncode else [])


def archived_counts(env):
    doc = heartbeat(env) or {}
    return {d: (v.get("archived", 0), v.get("sd_ok")) for d, v in (doc.get("devices") or {}).items()}


def wait_resumed(env, timeout):
    """Seconds until every device reports ``sd_ok`` and has archived more files than now; None if not
    within ``timeout`` (no restart of the archiver in between)."""
    t0 = time.monotonic()
    before = archived_counts(env)
    while time.monotonic() - t0 < timeout:
        now = archived_counts(env)
        if now and all(ok and n > before.get(d, (0, None))[0] for d, (n, ok) in now.items()):
            return round(time.monotonic() - t0, 2)
        time.sleep(0.2)
    return None


def writable(path):
    """None if a file can be created on the file system at ``path``, else the error."""
    p = os.path.join(path, ".pc-probe")
    try:
        with open(p, "w") as f:
            f.write("x")
        os.unlink(p)
        return None
    except OSError as e:
        return f"{type(e).__name__}: {e.strerror}"


def kernel_lines(base, since):
    """The kernel's error lines about the loop device under ``base`` since ``since`` (dmesg seconds)."""
    with open("/proc/mounts") as f:
        dev = next((ln.split()[0] for ln in f if ln.split()[1] == base), "")
    name = os.path.basename(dev)
    out = subprocess.run(["dmesg"], capture_output=True, text=True).stdout.splitlines()
    lines = []
    for ln in out:
        try:
            t = float(ln[1:ln.index("]")])
        except ValueError:
            continue
        if t >= since and name and name in ln and any(w in ln.lower() for w in ("error", "abort", "read-only")):
            lines.append(ln[ln.index("]") + 2:])
    return lines


def uptime():
    with open("/proc/uptime") as f:
        return float(f.read().split()[0])


def data_faults(ctx, **how):
    """The FAULTS of a data-write failure: the journal and short (metadata) writes are spared."""
    return {"protect": [ctx.journal], "min_len": DATA_MIN_LEN, **how}


def disk_faults(ctx):
    """The scenario (pc_run.record_run): read-only and back; file-data writes failing with EIO at
    random, then all of them, then healed; finally flushes failing (ext4 aborts its journal: only
    observed, the checked cuts end before it, see test_dir_fsync_eio.py)."""
    env, info, since = ctx.env, {}, uptime()
    spells = []  # (start, end) of each fault spell, monotonic
    ctx.sleep_until(4)
    t = time.monotonic()
    info["ro_remount_error"] = remount(env.base, "ro")
    time.sleep(RO_SECONDS)
    info["health_ro"] = health(env)
    info["rw_remount_error"] = remount(env.base, "rw")
    spells.append((t, time.monotonic()))
    info["resumed_after_ro_s"] = wait_resumed(env, RESUME_TIMEOUT)
    info["eio_start"] = time.monotonic()
    set_faults(ctx.faults, data_faults(ctx, write_eio_p=0.3))
    time.sleep(RANDOM_SECONDS)
    info["health_random_eio"] = health(env)
    set_faults(ctx.faults, data_faults(ctx, write_eio=True))
    time.sleep(PERSISTENT_SECONDS)
    info["health_persistent_eio"] = health(env)
    set_faults(ctx.faults, None)
    spells.append((info["eio_start"], time.monotonic()))
    info["fs_writable_after_data_eio"] = writable(env.base)
    info["resumed_after_eio_s"] = wait_resumed(env, RESUME_TIMEOUT)
    info["kernel_data_eio"] = kernel_lines(env.base, since)
    info["cut_until"] = time.monotonic()
    since = uptime()
    t = time.monotonic()
    set_faults(ctx.faults, {"fsync_eio": True})
    time.sleep(FLUSH_EIO_SECONDS)
    info["health_flush_eio"] = health(env)
    set_faults(ctx.faults, None)
    spells.append((t, time.monotonic()))
    info["fault_seconds"] = round(sum(b - a for a, b in spells), 1)
    time.sleep(1)
    info["fs_writable_after_flush_eio"] = writable(env.base)
    info["kernel_flush_eio"] = kernel_lines(env.base, since)
    return info
