"""``hotcold status``: a compact table per device (<= 100 columns), and the JSON document that
``hotcold status --json`` and ``hotcold health --json`` print (docs/DESIGN.md: "The JSON document")."""

import os
import textwrap
from datetime import datetime

from hotcold import heartbeat, wear
from hotcold.fsutil import disk_usage
from hotcold.healthchecks import _size, card_wear, count_hot, evaluate, expected_hot, health_document
from hotcold.hours import hour_key, read_marker
from hotcold.latest import newest_by_scan, via_link
from hotcold.layout import HOT_KINDS, layouts, number_of


def _archived(kind_dir, kind, only_hour=None, day=None):
    total = 0
    hours = [only_hour] if only_hour is not None else range(24)
    for h in hours:
        d = os.path.join(kind_dir, str(h))
        if day is not None and read_marker(d) not in (None, day):
            continue
        try:
            with os.scandir(d) as it:
                total += sum(1 for e in it if number_of(kind, e.name) is not None)
        except FileNotFoundError:
            pass
    return total


def _ago(seconds):
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def checkpoint_line(beat, now):
    """Given the heartbeat document, what is visible on the SD versus durable (the last checkpoint)."""
    cp = beat.get("checkpoint")
    if not cp:
        return "durable: no checkpoint figures in the heartbeat"
    at = cp.get("at")
    when = "none yet" if at is None else f"{_ago(max(0.0, now - at))} ago"
    line = (f"durable: checkpoint {when}; {cp.get('pending', 0)} file(s) visible on the SD, not yet durable "
            "(a power cut loses the hot files and these)")
    if cp.get("error"):
        line += f"; CHECKPOINT FAILING: {cp['error']}"
    return line


def render(config, now):
    tz = config.tz
    key = hour_key(now, tz)
    beat = heartbeat.read(config.run_dir)
    stamp = datetime.fromtimestamp(now, tz).strftime("%Y-%m-%d %H:%M:%S %Z")
    if beat is None:
        arch = "archiver: no heartbeat"
    else:
        age = now - float(beat.get("time", 0))
        alive = heartbeat.pid_alive(beat.get("pid"))
        state = "running" if alive and age <= config.health.heartbeat_max_age_seconds else "NOT running"
        arch = f"archiver: {state} (pid {beat.get('pid')}, heartbeat {_ago(max(age, 0))} ago)"
    lines = [f"hotcold status  {stamp}  {arch}"]
    if beat is not None:
        lines.append(checkpoint_line(beat, now))
    lines.append("")
    w = max([12] + [len(d) for d in config.devices])
    hdr = f"{'DEVICE':<{w}} {'KIND':<11} {'RAM':>5} {'KEEP':>5} {'HOUR ' + str(key.hour):>8} {'ON SD':>8}"
    lines.append(hdr)
    for dev, lay in layouts(config).items():
        for i, kind in enumerate(HOT_KINDS):
            n = count_hot(lay.hot_dir(kind), kind)
            kdir = lay.kind_dir(kind)
            this_hour = _archived(kdir, kind, key.hour, key.day)
            total = _archived(kdir, kind)
            lines.append(f"{dev if i == 0 else '':<{w}} {kind:<11} {'-' if n is None else n:>5} "
                         f"{expected_hot(config, kind):>5} {this_hour:>8} {total:>8}")
        cdir = lay.hot_dir("captures")
        found = via_link(cdir) or newest_by_scan(cdir)
        cap = _ago(max(0.0, now - found[1])) + " ago" if found else "none"
        usage = disk_usage(lay.hot) if os.path.isdir(lay.hot) else None
        tmpfs = f"{usage[2]:.0f}% of {_size(usage[0])}" if usage else "missing"
        sd = disk_usage(lay.root) if os.path.isdir(lay.root) else None
        sdfree = f"{100.0 * sd[1] / sd[0]:.0f}%" if sd and sd[0] else "-"
        d = (beat or {}).get("devices", {}).get(dev) or {}
        dropped = d.get("dropped", "-")
        extra = "" if d.get("sd_ok", True) else f"  SD FAILING: {d.get('sd_error')}"
        lines.append(f"{'':<{w}} capture {cap} · tmpfs {tmpfs} · SD free {sdfree} · dropped {dropped}"
                     f"{_thinned(d, config)}{extra}")
    if (beat or {}).get("budget"):
        lines += ["", budget_line(beat["budget"])]
    card = card_wear(config, beat, now)
    if card is not None:
        lines += [""] + textwrap.wrap(wear.describe(card), 100, subsequent_indent="  ")
    return "\n".join(lines) + "\n"


def _thinned(d, config):
    """The device line's part for the SD wear budget: ' · thinned <n> (<per kind>)' when the budget is on
    or anything was thinned, else ''."""
    per_kind = {k: d.get(f"thinned_{k}", 0) for k in HOT_KINDS}
    if config.archive.budget.gb_per_day is None and not any(per_kind.values()):
        return ""
    detail = ", ".join(f"{n} {k}" for k, n in per_kind.items() if n)
    return f" · thinned {sum(per_kind.values())}" + (f" ({detail})" if detail else "")


def budget_line(b):
    """Given the heartbeat's budget part, return the status line: today's bytes against the pace."""
    state = "thinning " + ", ".join(b["thinning"]) if b.get("thinning") else "full rate"
    pace = "-" if b.get("pace_bytes") is None else f"{b['pace_bytes'] / 1e9:.3f} GB"
    return (f"SD budget {b.get('gb_per_day'):g} GB/day: {b.get('spent_bytes', 0) / 1e9:.3f} GB archived today "
            f"({b.get('day')}), pace {pace}: {state}")


def document(config, now, evaluated=None):
    """Given the config, the time and optionally evaluate()'s (results, heartbeat doc) for that time,
    return the JSON document: health_document plus, per device and kind, the files in RAM, how many it
    keeps there, and how many are on the SD (this hour, all hours), as the status table counts them."""
    results, doc = evaluated or evaluate(config, now)
    out = health_document(config, results, doc, now)
    key = hour_key(now, config.tz)
    out["hour"] = {"day": key.day, "hour": key.hour}
    # visible versus durable: the archiver's last checkpoint (null without a heartbeat)
    out["checkpoint"] = (doc or {}).get("checkpoint") if isinstance(doc, dict) else None
    lays = layouts(config)
    for r in results:
        lay, ram = lays[r.device], r.metrics.get("hot") or {}
        out["devices"][r.device]["kinds"] = {
            kind: {"ram": ram.get(kind), "keep": expected_hot(config, kind),
                   "archived_this_hour": _archived(lay.kind_dir(kind), kind, key.hour, key.day),
                   "archived": _archived(lay.kind_dir(kind), kind),
                   "thinned": (r.metrics.get("thinned") or {}).get(kind)}
            for kind in HOT_KINDS}
    return out
