"""Health checks per device (``hotcold health``) and the Prometheus textfile.

Checks, each OK / WARN / CRIT:
  hot mount   ``hot/`` is a mount point of type tmpfs (/proc/self/mountinfo)       else CRIT
  archiver    heartbeat ``<run_dir>/archiver.json`` younger than heartbeat_max_age  else CRIT;
              the archiver reports the SD as failing                                 CRIT;
              files visible on the SD but not durable for longer than checkpoint_seconds
              + CHECKPOINT_SLACK (the last checkpoint failed or is overdue)          WARN
  hot counts  per kind vs its limit (+ segment_margin for segments, which stay in RAM
              until they have left the live playlist): the archiver holds them at 100 %;
              WARN when the files it should already have moved (beyond the limit and older
              than batch_seconds + 2 s, the archiver's write window) are more than
              (100 - warn_percent) % of the limit (archiver behind). Files inside the window
              are not late: with a 10 s window (the SD saver) RAM normally holds 10 s more.
  tmpfs       use % >= tmpfs_warn_percent WARN, >= 95 % CRIT (FFmpeg is about to fail)
  capture     newest capture age > max_capture_age_seconds WARN, > 10x or none CRIT
  sd          free % < sd_min_free_percent WARN, < half of it CRIT
  sd wear     the card's projected life (hotcold.wear: its disk's write pace since the archiver
              started, the card's size and rated cycles) below sd_min_life_years WARN, once the
              pace covers an hour; the SD is shared, so every device shows the same line
"""

import os
import platform
from dataclasses import dataclass, field

from hotcold import __version__, heartbeat, wear
from hotcold.fsutil import atomic_write, disk_usage
from hotcold.latest import newest_by_scan, via_link
from hotcold.layout import HOT_KINDS, layouts, number_of
from hotcold.mounts import fstype_of_mount, mount_table
from hotcold.policy import held, overdue

OK, WARN, CRIT = 0, 1, 2
STATE_NAMES = {OK: "OK", WARN: "WARN", CRIT: "CRIT"}
TMPFS_CRIT_PERCENT = 95.0
# A checkpoint is late when the files waiting for it have waited this long beyond checkpoint_seconds (a
# pass, a slow flush and the heartbeat's own period fit in it)
CHECKPOINT_SLACK = 10.0


@dataclass
class Check:
    device: str
    name: str  # as the table shows it ("hot mount", "captures")
    state: int
    detail: str
    key: str = ""  # the `check` label and JSON key: snake_case of the name, hot counts "hot_<kind>"

    def __post_init__(self):
        self.key = self.key or self.name.replace(" ", "_")


@dataclass
class DeviceHealth:
    device: str
    checks: list = field(default_factory=list)
    metrics: dict = field(default_factory=dict)

    @property
    def state(self):
        return max((c.state for c in self.checks), default=OK)


def count_hot(d, kind):
    mtimes = hot_mtimes(d, kind)
    return None if mtimes is None else len(mtimes)


def hot_mtimes(d, kind):
    """mtimes of a kind's media files in RAM, newest first; None if d is missing."""
    mtimes = []
    try:
        with os.scandir(d) as it:
            for e in it:
                if number_of(kind, e.name) is not None:
                    try:
                        mtimes.append(e.stat(follow_symlinks=False).st_mtime)
                    except FileNotFoundError:  # archived while we looked
                        continue
    except FileNotFoundError:
        return None
    return sorted(mtimes, reverse=True)


def expected_hot(config, kind):
    """Given the config and a kind, return how many files of it the archiver holds in RAM (policy.held)."""
    return held(kind, config.hot_limits, config.archive.segment_margin)


@dataclass(frozen=True)
class Beat:
    doc: dict  # the archiver's heartbeat document, or None
    age: float  # seconds since it was written, or None
    alive: bool  # its pid is running


def read_beat(config, now):
    """Given the config and the time, return the archiver's heartbeat as a Beat."""
    doc = heartbeat.read(config.run_dir)
    if not doc:
        return Beat(doc, None, False)
    return Beat(doc, now - float(doc.get("time", 0)), heartbeat.pid_alive(doc.get("pid")))


def evaluate(config, now):
    """Given the config and the time, run every check on every device; return (list of DeviceHealth,
    heartbeat doc or None)."""
    beat = read_beat(config, now)
    table = mount_table()
    card = card_wear(config, beat.doc, now)
    out = []
    for dev, lay in layouts(config).items():
        dh = DeviceHealth(dev)
        m = dh.metrics
        dh.checks.append(check_hot_mount(dev, lay, table, m))
        dh.checks.append(check_archiver(config, dev, beat, m))
        dh.checks.extend(check_hot_counts(config, dev, lay, now, m))
        dh.checks.extend(check_tmpfs(config, dev, lay, m))
        dh.checks.append(check_capture(config, dev, lay, now, m))
        dh.checks.append(check_sd_free(config, dev, lay, m))
        dh.checks.extend(check_sd_wear(config, dev, card, m))
        out.append(dh)
    return out, beat.doc


def check_hot_mount(dev, lay, table, m):
    """``hot/`` is a tmpfs mount point, else CRIT (the device's capture unit stops with its tmpfs)."""
    fstype = fstype_of_mount(lay.hot, table)
    m["hot_mounted"] = 1 if fstype == "tmpfs" else 0
    if fstype == "tmpfs":
        return Check(dev, "hot mount", OK, "tmpfs")
    if fstype is None:
        if not os.path.isdir(lay.hot):
            return Check(dev, "hot mount", CRIT, f"{lay.hot} is missing")
        return Check(dev, "hot mount", CRIT, f"{lay.hot} is not a mount point: its tmpfs is missing (no capture, "
                     "nothing archived until it is mounted again)")
    return Check(dev, "hot mount", CRIT, f"mounted as {fstype}, not tmpfs")


def check_archiver(config, dev, beat, m):
    """The archiver's heartbeat is fresh, its pid runs, it serves this device and its SD takes files,
    else CRIT. Also records its counters as metrics."""
    h = config.health
    dstate = beat.doc.get("devices", {}).get(dev) if beat.doc else None
    m["heartbeat_age"] = beat.age
    m["sd_ok"] = None if dstate is None else (1 if dstate.get("sd_ok", True) else 0)
    for c in ("archived", "archived_bytes", "dropped", "skipped", "expired", "errors", "collisions", "unsynced",
              "evicted"):
        m[c] = None if dstate is None else dstate.get(c, 0)
    m["thinned"] = None if dstate is None else {k: dstate.get(f"thinned_{k}", 0) for k in HOT_KINDS}
    m["budget"] = beat.doc.get("budget") if beat.doc else None
    if beat.doc is None:
        return Check(dev, "archiver", CRIT, f"no heartbeat in {heartbeat.path(config.run_dir)}")
    if beat.age > h.heartbeat_max_age_seconds or not beat.alive:
        why = (f"heartbeat {beat.age:.0f}s old (limit {h.heartbeat_max_age_seconds:g}s)" if beat.alive
               else f"pid {beat.doc.get('pid')} is not running (last heartbeat {max(beat.age, 0):.0f}s ago)")
        return Check(dev, "archiver", CRIT, why)
    if dstate is None:
        return Check(dev, "archiver", CRIT, "the running archiver does not serve this device")
    if not dstate.get("sd_ok", True):
        return Check(dev, "archiver", CRIT, f"SD not writable: {dstate.get('sd_error')}; "
                     f"{dstate.get('dropped', 0)} file(s) dropped")
    late = checkpoint_late(config, beat)
    if late:
        return Check(dev, "archiver", WARN, late)
    return Check(dev, "archiver", OK, f"heartbeat {max(beat.age, 0):.0f}s ago, "
                 f"{dstate.get('archived', 0)} archived, {dstate.get('dropped', 0)} dropped")


def checkpoint_late(config, beat):
    """Given the heartbeat, why the files visible on the SD are not durable in time (the checkpoint failed
    or is overdue while files wait for it), or None."""
    cp = beat.doc.get("checkpoint") if beat.doc else None
    if not cp or not cp.get("pending"):
        return None
    limit = config.archive.checkpoint_seconds + CHECKPOINT_SLACK
    age = cp.get("age_seconds")
    age = None if age is None else age + max(beat.age, 0)
    if cp.get("error") or age is None or age > limit:
        return (f"{cp['pending']} file(s) visible on the SD but not durable: last checkpoint "
                f"{'never' if age is None else f'{age:.0f}s ago'} (limit {limit:g}s)"
                + (f", failing: {cp['error']}" if cp.get("error") else ""))
    return None


def check_hot_counts(config, dev, lay, now, m):
    """Per kind, the files in RAM against what the archiver holds (policy.held): WARN when those it
    should already have moved are more than (100 - warn_percent) % of it, or the folder is missing."""
    over = (100 - config.health.warn_percent) / 100.0
    grace = config.archive.batch_seconds + 2.0  # the archiver's write window: files inside it are not late
    checks = []
    counts = {}
    for kind in HOT_KINDS:
        mtimes = hot_mtimes(lay.hot_dir(kind), kind)
        n = None if mtimes is None else len(mtimes)  # (count_hot, without a second scan)
        counts[kind] = n
        exp = expected_hot(config, kind)
        if n is None:
            checks.append(Check(dev, kind, WARN, f"{lay.hot_dir(kind)} is missing", f"hot_{kind}"))
            continue
        pct = 100.0 * n / exp
        late = overdue(mtimes, exp, now, grace)
        state = WARN if late > exp * over else OK
        detail = f"{n}/{exp} in RAM ({pct:.0f}%)"
        if late:
            detail += f", {late} older than {grace:g}s not archived"
        checks.append(Check(dev, kind, state, detail, f"hot_{kind}"))
    m["hot"] = counts
    return checks


def check_tmpfs(config, dev, lay, m):
    """The tmpfs use: WARN from tmpfs_warn_percent, CRIT from 95 % (FFmpeg is about to fail). No check
    when the hot folder is missing (the hot mount check reports it)."""
    usage = disk_usage(lay.hot) if os.path.isdir(lay.hot) else None
    if not usage:
        return []
    total, _, pct = usage
    state = CRIT if pct >= TMPFS_CRIT_PERCENT else WARN if pct >= config.health.tmpfs_warn_percent else OK
    m["tmpfs_used_ratio"] = pct / 100.0
    m["tmpfs_size"] = total
    return [Check(dev, "tmpfs use", state, f"{pct:.0f}% of {_size(total)}")]


def check_capture(config, dev, lay, now, m):
    """The newest capture's age: WARN beyond max_capture_age_seconds, CRIT beyond 10x or none."""
    mx = config.health.max_capture_age_seconds
    cdir = lay.hot_dir("captures")
    found = via_link(cdir)
    if found is None or now - found[1] > mx:  # the link may lag: look at the folder itself
        scanned = newest_by_scan(cdir)
        if scanned and (found is None or scanned[1] > found[1]):
            found = scanned
    if found is None:
        m["capture_age"] = None
        return Check(dev, "capture", CRIT, "no capture in RAM")
    age = max(0.0, now - found[1])
    m["capture_age"] = age
    state = CRIT if age > 10 * mx else WARN if age > mx else OK
    return Check(dev, "capture", state, f"newest {age:.1f}s old (limit {mx:g}s)")


def check_sd_free(config, dev, lay, m):
    """The SD's free space: WARN below sd_min_free_percent, CRIT below half of it or no SD folder."""
    sd = disk_usage(lay.root) if os.path.isdir(lay.root) else disk_usage(config.base_path)
    if not sd:
        return Check(dev, "sd free", CRIT, f"{config.base_path} is missing")
    total, free, _ = sd
    fpct = 100.0 * free / total if total else 0.0
    mn = config.health.sd_min_free_percent
    state = CRIT if fpct < mn / 2 else WARN if fpct < mn else OK
    m["sd_free_ratio"] = fpct / 100.0
    return Check(dev, "sd free", state, f"{fpct:.0f}% free of {_size(total)} (min {mn}%)")


def card_wear(config, doc, now):
    """Given the config, the archiver's heartbeat document (or None) and the time, return the card's
    CardWear paced from the archiver's baseline, or None (no block device, or /sys unreadable)."""
    doc = doc or {}
    archived = sum(int(d.get("archived_bytes") or 0) for d in (doc.get("devices") or {}).values())
    try:
        return wear.card_wear(config.base_path, config.sd_card, doc.get("sd_disk"), archived, now)
    except OSError:
        return None


def check_sd_wear(config, dev, card, m):
    """The card's projected life: WARN below sd_min_life_years (0: no check) once the pace covers an hour."""
    if card is None:
        return []
    m["wear"] = card
    floor = config.health.sd_min_life_years
    life = card.projection.life_years
    short = floor > 0 and card.judged and life is not None and life < floor
    detail = wear.describe(card) + (f" (min {floor:g} years)" if short else "")
    return [Check(dev, "sd wear", WARN if short else OK, detail)]


def _size(n):
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}".replace(".0 ", " ")
        n /= 1024.0
    return str(n)


def overall(results):
    return max((r.state for r in results), default=OK)


def render_table(results, now, tz):
    from datetime import datetime

    stamp = datetime.fromtimestamp(now, tz).strftime("%Y-%m-%d %H:%M:%S %Z")
    lines = [f"hotcold health  {stamp}", f"{'DEVICE':<12} {'CHECK':<11} {'STATE':<5}  DETAIL"]
    for r in results:
        for c in r.checks:
            lines.append(f"{c.device:<12} {c.name:<11} {STATE_NAMES[c.state]:<5}  {c.detail}")
    lines.append(f"overall: {STATE_NAMES[overall(results)]}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- Prometheus textfile

_METRICS = [
    # name, type, help, extractor
    ("hotcold_health_status", "gauge", "Device health: 0 OK, 1 WARN, 2 CRIT.", lambda r, m: r.state),
    ("hotcold_hot_mounted", "gauge", "1 if the device's hot folder is a tmpfs mount point.",
     lambda r, m: m.get("hot_mounted")),
    ("hotcold_tmpfs_used_ratio", "gauge", "Used fraction of the device's tmpfs.",
     lambda r, m: m.get("tmpfs_used_ratio")),
    ("hotcold_tmpfs_size_bytes", "gauge", "Size of the device's tmpfs.", lambda r, m: m.get("tmpfs_size")),
    ("hotcold_capture_age_seconds", "gauge", "Age of the newest capture in RAM.", lambda r, m: m.get("capture_age")),
    ("hotcold_sd_free_ratio", "gauge", "Free fraction of the SD file system holding the archive.",
     lambda r, m: m.get("sd_free_ratio")),
    ("hotcold_sd_ok", "gauge", "1 if the archiver can write to the SD card.", lambda r, m: m.get("sd_ok")),
    ("hotcold_archiver_heartbeat_age_seconds", "gauge", "Age of the archiver heartbeat.",
     lambda r, m: m.get("heartbeat_age")),
    ("hotcold_archived_files_total", "counter", "Files archived to the SD since the archiver started.",
     lambda r, m: m.get("archived")),
    ("hotcold_dropped_files_total", "counter", "Files dropped from RAM because the SD could not take them.",
     lambda r, m: m.get("dropped")),
    ("hotcold_skipped_files_total", "counter", "Files deleted by the every_nth SD saver.",
     lambda r, m: m.get("skipped")),
    ("hotcold_expired_files_total", "counter", "Files deleted as older than their hour folder's day.",
     lambda r, m: m.get("expired")),
    ("hotcold_errors_total", "counter", "Archiver errors.", lambda r, m: m.get("errors")),
    ("hotcold_archived_bytes_total", "counter", "Bytes of footage archived to the SD since the archiver started.",
     lambda r, m: m.get("archived_bytes")),
    ("hotcold_collisions_total", "counter",
     "Files archived beside another recording of the same name (kept as <name>~<k>).",
     lambda r, m: m.get("collisions")),
    ("hotcold_unsynced_files_total", "counter",
     "Files set aside to <kind>/unsynced-<day>-<HH>/ after a clock step (kept for their retention, not deleted).",
     lambda r, m: m.get("unsynced")),
    ("hotcold_evicted_files_total", "counter",
     "Archived files deleted before their retention to make room on a full SD (kept across archiver restarts).",
     lambda r, m: m.get("evicted")),
]


def _fmt(v):
    if isinstance(v, bool):
        v = int(v)
    if isinstance(v, float):
        return repr(round(v, 6))
    return str(v)


def render_textfile(results, now, config=None):
    """Given the checks' results, the time and the config, return hotcold.prom's text: per device the
    _METRICS, a series per check (hotcold_check_state), the files in RAM per kind, the card's wear once
    per host, hotcold_build_info and when this ran."""
    lines = []
    for name, typ, help_, get in _METRICS:
        samples = [(r.device, get(r, r.metrics)) for r in results]
        samples = [(d, v) for d, v in samples if v is not None]
        if not samples:
            continue
        lines.append(f"# HELP {name} {help_}")
        lines.append(f"# TYPE {name} {typ}")
        lines.extend(f'{name}{{device="{d}"}} {_fmt(v)}' for d, v in samples)
    lines.extend(_check_lines(results))
    name = "hotcold_hot_files"
    lines.append(f"# HELP {name} Files in RAM per kind.")
    lines.append(f"# TYPE {name} gauge")
    for r in results:
        for kind, n in (r.metrics.get("hot") or {}).items():
            if n is not None:
                lines.append(f'{name}{{device="{r.device}",kind="{kind}"}} {n}')
    if config is not None:
        name = "hotcold_hot_limit_files"
        lines.append(f"# HELP {name} Files the archiver keeps in RAM per kind (limit, + margin for segments).")
        lines.append(f"# TYPE {name} gauge")
        for r in results:
            for kind in HOT_KINDS:
                lines.append(f'{name}{{device="{r.device}",kind="{kind}"}} {expected_hot(config, kind)}')
    lines.extend(_thinned_lines(results))
    lines.extend(_budget_lines(results))
    lines.extend(_wear_lines(results, config))
    lines.extend(_build_info_lines())
    lines.append("# HELP hotcold_health_check_timestamp_seconds When hotcold health last ran.")
    lines.append("# TYPE hotcold_health_check_timestamp_seconds gauge")
    lines.append(f"hotcold_health_check_timestamp_seconds {_fmt(round(now, 3))}")
    return "\n".join(lines) + "\n"


def _check_lines(results):
    """One series per check and device, the state as its value (the worst is hotcold_health_status): an
    alert on it names the failing check."""
    name = "hotcold_check_state"
    lines = [f"# HELP {name} State of one health check of the device (label check): 0 OK, 1 WARN, 2 CRIT.",
             f"# TYPE {name} gauge"]
    for r in results:
        lines.extend(f'{name}{{device="{c.device}",check="{c.key}"}} {c.state}' for c in r.checks)
    return lines


def _thinned_lines(results):
    """hotcold_thinned_total{device,kind}: files the SD wear budget deleted instead of archiving."""
    name = "hotcold_thinned_total"
    lines = [f"# HELP {name} Files deleted instead of archived to keep the SD wear budget's pace "
             "(kept across archiver restarts).", f"# TYPE {name} counter"]
    samples = [f'{name}{{device="{r.device}",kind="{k}"}} {n}' for r in results
               for k, n in (r.metrics.get("thinned") or {}).items()]
    return lines + samples if samples else []


def _budget_lines(results):
    """The SD wear budget's state, once per host (the devices share the card): today's archived bytes, the
    pace, the budget and how many kinds are thinned now. Nothing when the budget is off."""
    b = next((r.metrics["budget"] for r in results if r.metrics.get("budget")), None)
    if b is None:
        return []
    metrics = [
        ("hotcold_budget_spent_bytes", "Bytes archived today (local day), for the SD wear budget.",
         b.get("spent_bytes")),
        ("hotcold_budget_pace_bytes", "Bytes the SD wear budget allows by now (budget x elapsed day + 15 min).",
         b.get("pace_bytes")),
        ("hotcold_budget_bytes_per_day", "The SD wear budget (archive.budget.gb_per_day) in bytes.",
         None if b.get("gb_per_day") is None else b["gb_per_day"] * 1e9),
        ("hotcold_budget_thinned_kinds", "Kinds the archiver thins now to keep the budget's pace (0: full rate).",
         len(b.get("thinning") or [])),
    ]
    lines = []
    for name, help_, value in metrics:
        if value is not None:
            lines += [f"# HELP {name} {help_}", f"# TYPE {name} gauge", f"{name} {_fmt(value)}"]
    return lines


def _build_info_lines():
    """hotcold_build_info: constant 1, the version of hotcold and of the Python running it as labels."""
    name = "hotcold_build_info"
    return [f"# HELP {name} hotcold's version and the Python version running it (value always 1).",
            f"# TYPE {name} gauge",
            f'{name}{{version="{__version__}",python="{platform.python_version()}"}} 1']


def _wear_lines(results, config):
    """The card's wear, once per host (the SD is shared by the devices), labelled with its disk."""
    card = next((r.metrics["wear"] for r in results if r.metrics.get("wear") is not None), None)
    if card is None:
        return []
    label = f'{{disk="{card.disk}"}}'
    metrics = [
        ("hotcold_sd_written_bytes_total", "counter", "Bytes the SD's disk took since boot (/sys/block/*/stat).",
         card.counters.bytes_written),
        ("hotcold_sd_flushes_total", "counter", "Flush requests the SD's disk took since boot.", card.counters.flushes),
        ("hotcold_sd_full_card_writes_per_day", "gauge", "The card's size written per day at the present pace.",
         card.projection.full_card_writes_per_day),
        ("hotcold_sd_projected_life_years", "gauge", "Years until the card has taken its rated cycles at this pace.",
         card.projection.life_years),
        ("hotcold_sd_min_life_years", "gauge", "The projected life below which health warns (0: never).",
         config.health.sd_min_life_years if config is not None else None),
    ]
    lines = []
    for name, typ, help_, value in metrics:
        if value is not None:
            lines += [f"# HELP {name} {help_}", f"# TYPE {name} {typ}", f"{name}{label} {_fmt(value)}"]
    return lines


# ---------------------------------------------------------------- JSON (docs/DESIGN.md: "The JSON document")

JSON_FORMAT = 1  # raised when a key changes meaning or goes away; new keys may appear without it


def health_document(config, results, doc, now):
    """Given the config, the checks' results, the archiver's heartbeat document (or None) and the time,
    return the JSON-ready health part of `hotcold status --json` / `hotcold health --json`: the archiver,
    per device its state, checks, gauges and counters, and the card's wear."""
    card = next((r.metrics["wear"] for r in results if r.metrics.get("wear") is not None), None)
    return {
        "format": JSON_FORMAT,
        "time": round(now, 3),
        "version": __version__,
        "overall": STATE_NAMES[overall(results)],
        "archiver": _archiver_json(config, doc, now),
        "devices": {r.device: _device_json(r) for r in results},
        "sd_wear": None if card is None else _wear_json(card, config.health.sd_min_life_years),
        "budget": None if doc is None else doc.get("budget"),
    }


def _archiver_json(config, doc, now):
    """The heartbeat's pid, age and whether the archiver counts as running (as `hotcold status` says)."""
    if doc is None:
        return None
    age = now - float(doc.get("time", 0))
    alive = heartbeat.pid_alive(doc.get("pid"))
    return {"pid": doc.get("pid"), "heartbeat_age_seconds": round(max(age, 0.0), 3),
            "running": bool(alive and age <= config.health.heartbeat_max_age_seconds)}


def _device_json(r):
    """One device: its worst state, every check by its key, the gauges and the archiver's counters (keyed
    as the textfile's counters without hotcold_ and _total; null without a heartbeat entry)."""
    m = r.metrics
    counters = {name[len("hotcold_"):-len("_total")]: get(r, m) for name, typ, _, get in _METRICS
                if typ == "counter"}
    return {
        "state": STATE_NAMES[r.state],
        "checks": {c.key: {"name": c.name, "state": STATE_NAMES[c.state], "value": c.state, "detail": c.detail}
                   for c in r.checks},
        "hot_mounted": None if m.get("hot_mounted") is None else bool(m["hot_mounted"]),
        "capture_age_seconds": _round(m.get("capture_age")),
        "tmpfs_used_ratio": _round(m.get("tmpfs_used_ratio")),
        "tmpfs_size_bytes": m.get("tmpfs_size"),
        "sd_free_ratio": _round(m.get("sd_free_ratio")),
        "sd_ok": None if m.get("sd_ok") is None else bool(m["sd_ok"]),
        "counters": None if all(v is None for v in counters.values()) else counters,
    }


def _wear_json(card, floor):
    """The card's wear figures (hotcold.wear.CardWear) as plain numbers."""
    p = card.projection
    return {
        "disk": card.disk, "card_bytes": card.card_bytes, "rated_cycles": card.rated_cycles,
        "span_seconds": _round(card.span), "judged": card.judged,
        "written_bytes_since_boot": card.counters.bytes_written, "write_ios_since_boot": card.counters.write_ios,
        "flushes_since_boot": card.counters.flushes, "archived_bytes": card.archived_bytes,
        "bytes_per_day": _round(p.bytes_per_day), "full_card_writes_per_day": _round(p.full_card_writes_per_day),
        "projected_life_years": _round(p.life_years), "min_life_years": floor,
        "hotcold_share": _round(card.hotcold_share), "amplification": _round(card.amplification),
        "emmc": card.emmc,
    }


def _round(v):
    return None if v is None else round(float(v), 6)


def write_textfile(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    # node_exporter reads only *.prom: the temp name (.hotcold.prom.<pid>.hctmp) is never half read
    atomic_write(path, text)


__all__ = ["evaluate", "render_table", "render_textfile", "write_textfile", "overall", "health_document"]
