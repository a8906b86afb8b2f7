"""Crash states of a recorded run: build one, mount it, recover with empty RAM, check and count every file.

A crash state k is the pristine image, plus every write the recorder logged before its k-th fsync,
plus a random subset of the writes between fsync k and k+1 (what the card had not been told to make
durable may have been written or not, in any combination). States are built in increasing k from one
"prefix" image that is only ever rolled forward, so a state costs one sparse copy and the writes
after the prefix.
"""

import json
import os
import random
import re
import shutil
import signal
import subprocess
import time

import hchelpers
import pc_run
import pc_stack
from harness import KINDS, Daemon

from hotcold.layout import ARCHIVE_PLAYLIST, INDEX_JSON, METADATA_FILE, is_temp, kind_of

COLUMNS = ("written", "archived_intact", "in_ram_at_cut", "dropped", "expired", "lost", "torn", "duplicated")
MEDIA_RE = re.compile(r"(capture_\d+(?:_thumbnail)?\.jpg|segment_\d+\.ts)$")


class Prefix:
    """The pristine image rolled forward to fsync ``at`` of a WriteLog (only forward)."""

    def __init__(self, wl, pristine, path):
        self.wl, self.path, self.at = wl, path, 0
        subprocess.run(["cp", "--sparse=always", pristine, path], check=True)
        self.fd = os.open(path, os.O_RDWR)

    def advance(self, k):
        assert k >= self.at, (k, self.at)
        lo = 0 if self.at == 0 else self.wl.barriers[self.at]
        hi = self.wl.barriers[k] if k > 0 else 0
        self.wl.apply(self.fd, [i for i in range(lo, hi) if self.wl.entries[i][0] == "W" and self.wl.entries[i][4]])
        self.at = k

    def state(self, k, rng, path):
        """Write crash state k to ``path``: prefix at k + a random subset of the writes before k+1.
        Returns (writes after k, how many of them were kept)."""
        self.advance(k)
        subprocess.run(["cp", "--sparse=always", self.path, path], check=True)
        after = self.wl.writes_between(k)
        mode = rng.random()
        if mode < 0.25:
            kept = []
        elif mode < 0.5:
            kept = after
        else:
            kept = [i for i in after if rng.random() < 0.5]
        fd = os.open(path, os.O_RDWR)
        try:
            self.wl.apply(fd, kept)
        finally:
            os.close(fd)
        return len(after), len(kept)

    def close(self):
        os.close(self.fd)


def choose_states(wl, run, n, rng, window=None):
    """``n`` fsync numbers k (ascending, repeats allowed) spread over the whole run (or the part of it
    between the monotonic times ``window``), at least a few of them inside the mid-run cleanup and a
    third of them at the counts where the archiver released RAM copies (a cut right after a release,
    before the next flush: where a release that came too early shows)."""
    lo, hi = window or (float("-inf"), run.run_end)
    last = max(k for k in range(1, wl.flushes + 1) if wl.flush_time(k) <= hi)
    first = min((k for k in range(1, last + 1) if wl.flush_time(k) >= lo), default=last) if window else 0
    ks = [rng.randint(first, last) for _ in range(n)]
    released = sorted({ev[0] for ev in run.unlinks.values() if first <= ev[0] <= last})
    if released:
        for i in range(n - n // 3, n):
            ks[i] = rng.choice(released)
    c0, c1 = run.cleanup
    # a cut between fsync k and k+1 is mid-cleanup when that interval overlaps the cleanup
    in_cleanup = [k for k in range(1, last) if wl.flush_time(k) <= c1 and wl.flush_time(k + 1) >= c0]
    for i in range(min(len(in_cleanup), max(3, n // 50))):
        ks[i] = rng.choice(in_cleanup)
    return sorted(ks), in_cleanup


def cut_time(wl, run, k):
    """The moment state k stands for: just before fsync k+1 (or the run's end)."""
    return wl.flush_time(k + 1) if k + 1 <= wl.flushes else run.run_end


def recover(state_img, sdir, files_dir):
    """Mount a crash state, start the archiver with empty RAM, see it ready and archiving, stop it.
    Returns (mount point, seconds from mount to ready, problems). The image stays mounted: the
    caller's Mounts is returned too and must be closed."""
    mounts = pc_stack.Mounts()
    problems = []
    base = os.path.join(sdir, "base")
    t0 = time.monotonic()
    mounts.mount_loop(state_img, base)
    env = pc_run.PcEnv(sdir, mounts.tmpfs, base, files_dir)
    env.setup(pc_run.DEVICES, ram="16M")
    daemon = Daemon(env)
    ready_s = None
    try:
        daemon.start(wait_for=hchelpers.wait_until)
        ready_s = time.monotonic() - t0
        problems += probe_resume(env, daemon)
        rc = daemon.stop(timeout=60)
        if rc != 0:
            problems.append(f"archiver exited {rc} on SIGTERM")
    except AssertionError as e:
        problems.append(f"archiver not ready after recovery: {e}")
    finally:
        if daemon.alive():
            daemon.proc.send_signal(signal.SIGKILL)
            daemon.proc.wait(timeout=30)
    return env, mounts, ready_s, problems, daemon


def probe_resume(env, daemon):
    """Write more captures than RAM keeps on the first device; the oldest must reach the SD."""
    dev = pc_run.DEVICES[0]
    n = pc_run.HOT_LIMITS["captures"] + 2
    for i in range(n):
        name = hchelpers.name_for("captures", pc_run.PROBE_NUMBER + i)
        hchelpers.produce(env.hot(dev, "captures"), "captures", pc_run.PROBE_NUMBER + i,
                          data=pc_run.content(dev, name))
    first = hchelpers.name_for("captures", pc_run.PROBE_NUMBER)
    end = time.monotonic() + 30
    while time.monotonic() < end:
        if first in sd_files(env.base, dev):
            return []
        time.sleep(0.05)
    return [f"archiving did not resume: {first} not on the SD 30 s after ready\n{daemon.log()[-2000:]}"]


def sd_files(base, dev):
    """{name: [(kind, hour, path), ...]} of the media files under final names in a device's archive."""
    out = {}
    for kind in KINDS:
        kd = os.path.join(base, dev, kind)
        for h in _hours(kd):
            hd = os.path.join(kd, h)
            for n in os.listdir(hd):
                if kind_of(n)[0] is not None:
                    out.setdefault(n, []).append((kind, int(h), os.path.join(hd, n)))
    return out


def _hours(kind_dir):
    try:
        return [h for h in os.listdir(kind_dir) if h.isdigit() and os.path.isdir(os.path.join(kind_dir, h))]
    except FileNotFoundError:
        return []


def check_state(run, base, k, cut, wl):
    """Given a recovered state (SD mounted at ``base``, archiver stopped), return (counts, problems)."""
    counts = dict.fromkeys(COLUMNS, 0)
    problems = []
    for dev in pc_run.DEVICES:
        on_sd = sd_files(base, dev)
        problems += _temp_files(base, dev)
        problems += _misfiled(dev, on_sd)
        problems += check_metadata(base, dev, on_sd, run, k)
        problems += check_indexes(base, dev)
        written = {n for (d, n), (t, _m) in run.produced.items() if d == dev and t < cut}
        written |= {n for (d, n) in run.seeded if d == dev}
        probe = {n for n in on_sd if (kind_of(n)[1] or 0) >= pc_run.PROBE_NUMBER}
        for n in sorted(set(on_sd) - written - probe):
            problems.append(f"{dev}: {n} on the SD was never written before the cut (foreign)")
        for n in sorted(probe):
            if len(on_sd[n]) != 1 or not _intact(dev, n, on_sd[n][0][2]):
                problems.append(f"{dev}: resume probe {n} torn or duplicated")
        for n in written:
            col = classify(run, dev, n, on_sd.get(n, []), k, cut)
            counts[col] += 1
            if col in ("lost", "torn", "duplicated"):
                problems.append(f"{dev}: {n} {col} (unlinked from RAM at fsync "
                                f"{run.unlinks.get((dev, n), ('-',))[0]}, state k={k})")
        counts["written"] += len(written)
    total = sum(counts[c] for c in COLUMNS[1:])
    if total != counts["written"]:
        problems.append(f"accounting does not close: {total} classified != {counts['written']} written")
    return counts, problems


def classify(run, dev, name, places, k, cut):
    """Which column a file written before the cut falls in, on this state."""
    if any(not _intact(dev, name, p) for _kind, _h, p in places):
        return "torn"
    if len(places) > 1:
        return "duplicated"
    if places:
        return "archived_intact"
    if (dev, name) in run.seeded:
        return "expired"  # the mid-run cleanup deleted it (its folder was past retention)
    ev = run.unlinks.get((dev, name))
    if ev is None:
        return "in_ram_at_cut"
    # dropped or expired on purpose (the archiver logged it): before the cut it counts as such, after the cut
    # it was in RAM at the cut. Its time decides, not the flush count: after the last flush of a run (the
    # card read-only) files are dropped while the count stands still
    for col, names in (("dropped", run.dropped), ("expired", run.expired)):
        if (dev, name) in names:
            return col if ev[1] < cut else "in_ram_at_cut"
    if ev[0] <= k:
        return "lost"  # the archiver took it out of RAM after fsync k was done: it had to be durable
    return "in_ram_at_cut"


def _intact(dev, name, path):
    try:
        with open(path, "rb") as f:
            return f.read() == pc_run.content(dev, name)
    except OSError:
        return False


def _temp_files(base, dev):
    out = []
    for root, _dirs, files in os.walk(os.path.join(base, dev)):
        out += [f"temp file left after recovery: {os.path.join(root, f)}" for f in files if is_temp(f)]
    return out


def _misfiled(dev, on_sd):
    """A file in the wrong kind or hour folder (the hour of its mtime, UTC)."""
    out = []
    for n, places in on_sd.items():
        for kind, h, p in places:
            if kind_of(n)[0] != kind:
                out.append(f"{dev}: {n} in the {kind} folder")
            elif time.gmtime(os.stat(p).st_mtime).tm_hour != h:
                out.append(f"{dev}: {n} in hour folder {h} but its mtime is hour "
                           f"{time.gmtime(os.stat(p).st_mtime).tm_hour}")
    return out


def check_metadata(base, dev, on_sd, run, k):
    """Records and files agree: every record line parses, names a file of that size in that hour and
    appears once; every file the archiver took out of RAM by fsync k has its record."""
    out = []
    recorded = set()
    mdir = os.path.join(base, dev, "metadata")
    for h in _hours(mdir):
        path = os.path.join(mdir, h, METADATA_FILE)
        if not os.path.exists(path):
            continue
        with open(path, "rb") as f:
            data = f.read()
        if data and not data.endswith(b"\n"):
            out.append(f"{path}: torn last line after recovery")
        seen = set()
        for ln in data.splitlines():
            try:
                rec = json.loads(ln)
                kind, name, size = rec["kind"], rec["name"], rec["size"]
            except (ValueError, KeyError, TypeError):
                out.append(f"{path}: bad record {ln[:80]!r}")
                continue
            if (kind, name) in seen:
                out.append(f"{path}: {name} recorded twice")
            seen.add((kind, name))
            recorded.add(name)
            fp = os.path.join(base, dev, kind, h, name)
            if not os.path.exists(fp):
                if (dev, name) not in run.seeded:
                    out.append(f"{path}: record of {kind}/{h}/{name}, which is not there")
            elif os.path.getsize(fp) != size:
                out.append(f"{path}: {name} recorded as {size} bytes, the file has {os.path.getsize(fp)}")
    for n in on_sd:
        ev = run.unlinks.get((dev, n))
        if n not in recorded and ev is not None and ev[0] <= k and (dev, n) not in run.seeded:
            out.append(f"{dev}: {n} archived (out of RAM at fsync {ev[0]} <= {k}) without a metadata record")
    return out


def check_indexes(base, dev):
    """Every per-hour playlist and index parses and names only files that exist."""
    out = []
    for kind in ("segments", "thumbnails"):
        kd = os.path.join(base, dev, kind)
        for h in _hours(kd):
            hd = os.path.join(kd, h)
            pl = os.path.join(hd, ARCHIVE_PLAYLIST)
            if kind == "segments" and os.path.exists(pl):
                with open(pl, encoding="utf-8", errors="replace") as f:
                    lines = f.read().splitlines()
                if not lines or lines[0] != "#EXTM3U":
                    out.append(f"{pl}: not a playlist (first line {lines[:1]})")
                for u in (ln for ln in lines if ln and not ln.startswith("#")):
                    if not os.path.exists(os.path.join(hd, os.path.basename(u))):
                        out.append(f"{pl}: names {u}, which is not there")
            ix = os.path.join(hd, INDEX_JSON)
            if os.path.exists(ix):
                try:
                    with open(ix, encoding="utf-8") as f:
                        doc = json.load(f)
                except ValueError as e:
                    out.append(f"{ix}: does not parse: {e}")
                    continue
                for s in _strings(doc):
                    m = MEDIA_RE.search(s)
                    if m and not os.path.exists(os.path.join(kd, "..", kind_of(m.group(1))[0], h, m.group(1))):
                        out.append(f"{ix}: names {m.group(1)}, which is not there")
    return out


def _strings(doc):
    if isinstance(doc, str):
        yield doc
    elif isinstance(doc, dict):
        for v in doc.values():
            yield from _strings(v)
    elif isinstance(doc, list):
        for v in doc:
            yield from _strings(v)


def crash_states(run, n, seed, files_dir=hchelpers.FILES, keep_failed=2, window=None):
    """Build, recover and check ``n`` crash states of ``run``. Returns a summary dict: per-column totals,
    recovery times, problems (the first few states' worth), and how the states were spread."""
    from pc_recfs import WriteLog

    rng = random.Random(seed)
    wl = WriteLog(run.log)
    ks, in_cleanup = choose_states(wl, run, n, rng, window)
    prefix = Prefix(wl, run.pristine, os.path.join(run.workdir, "prefix.img"))
    totals = dict.fromkeys(COLUMNS, 0)
    ready, problems, bad_states, kept_total = [], [], 0, 0
    try:
        for i, k in enumerate(ks):
            sdir = os.path.join(run.workdir, f"state-{i}")
            os.makedirs(sdir)
            img = os.path.join(sdir, "sd.img")
            _after, kept = prefix.state(k, rng, img)
            kept_total += kept
            cut = cut_time(wl, run, k)
            env, mounts, ready_s, probs, daemon = recover(img, sdir, files_dir)
            try:
                if ready_s is not None:
                    ready.append(ready_s)
                counts, more = check_state(run, env.base, k, cut, wl)
                probs += more
            finally:
                mounts.close()
            for c in COLUMNS:
                totals[c] += counts[c]
            if probs:
                bad_states += 1
                problems.append({"state": i, "k": k, "kept_writes": kept, "problems": probs[:20],
                                 "daemon_log": daemon.log()[-1500:]})
            if not probs or bad_states > keep_failed:
                shutil.rmtree(sdir, ignore_errors=True)
    finally:
        prefix.close()
    return {"states": len(ks), "flushes": wl.flushes, "writes": sum(1 for e in wl.entries if e[0] == "W"),
            "totals": totals, "ready": ready, "bad_states": bad_states, "problems": problems,
            "k_min": ks[0], "k_max": ks[-1], "unflushed_writes_kept": kept_total,
            "states_in_cleanup": sum(1 for k in ks if k in set(in_cleanup))}
