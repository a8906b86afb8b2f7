"""Card wear: what the block device under the archive has written, and how long the card lasts at that pace.

SD cards report no wear of their own (no SMART), so hotcold measures it where the kernel counts it:
``/sys/block/<disk>/stat`` (field 5 write I/Os, field 7 sectors written, field 16 flush requests,
counted since boot in 512-byte sectors whatever the device's block size). The disk is found from the
archive's file system: its ``st_dev`` names ``/sys/dev/block/<major>:<minor>``, and a partition
(``mmcblk0p2``) is followed to its whole disk (``mmcblk0``), because flash wears per card, not per
partition. eMMC (not SD) does report its own wear; where the kernel exposes it, it is shown too.

A card's life is its size times its rated program/erase cycles, divided by what is written per day.
"""

import os
import time
from dataclasses import dataclass

from hotcold.clock import read_boot_id

SECTOR = 512  # /sys/block/*/stat counts 512-byte sectors on every device
DAY = 86400.0
YEAR_DAYS = 365.25
# Consumer TLC flash is rated about 1,000 program/erase cycles; "high endurance" cards more. An operator
# who knows the card sets hotcold_sd_card.rated_cycles (the config schema holds the default).
DEFAULT_RATED_CYCLES = 1000
# A pace taken over less than an hour of archiving says little (start-up, a burst): no verdict before it.
MIN_SPAN = 3600.0


@dataclass(frozen=True)
class DiskCounters:
    """Since-boot write counters of one block device."""

    write_ios: int
    bytes_written: int
    flushes: int | None  # None where the kernel has no flush field (before Linux 5.5)


@dataclass(frozen=True)
class Projection:
    bytes_per_day: float
    full_card_writes_per_day: float
    life_years: float | None  # None when nothing is written


def disk_of(path, sys_root="/sys"):
    """Given a path, return the name of the whole disk (``mmcblk0``, ``sda``, ``loop3``) holding its file
    system, or None where it lives on no block device (tmpfs, overlay, NFS)."""
    dev = os.stat(path).st_dev
    link = os.path.join(sys_root, "dev", "block", f"{os.major(dev)}:{os.minor(dev)}")
    try:
        real = os.path.realpath(link, strict=True)
    except OSError:
        return None
    if os.path.exists(os.path.join(real, "partition")):
        real = os.path.dirname(real)
    return os.path.basename(real)


def read_counters(disk, sys_root="/sys"):
    """Given a disk name, return its DiskCounters from ``/sys/block/<disk>/stat``."""
    with open(os.path.join(sys_root, "block", disk, "stat")) as f:
        fields = [int(v) for v in f.read().split()]
    flushes = fields[15] if len(fields) >= 17 else None
    return DiskCounters(write_ios=fields[4], bytes_written=fields[6] * SECTOR, flushes=flushes)


def disk_size(disk, sys_root="/sys"):
    """Given a disk name, return its size in bytes (``/sys/block/<disk>/size`` counts 512-byte sectors)."""
    with open(os.path.join(sys_root, "block", disk, "size")) as f:
        return int(f.read()) * SECTOR


def emmc_life(disk, sys_root="/sys"):
    """Given a disk name, return the eMMC's own wear report, or None for a card that has none (every SD).

    The kernel's mmc driver exposes EXT_CSD's DEVICE_LIFE_TIME_EST_TYP_A/B as ``life_time`` ("0x01 0x02":
    each step is 10 % of the rated life used) and PRE_EOL_INFO as ``pre_eol_info`` (1 normal, 2 warning:
    80 % of the reserve blocks used, 3 urgent)."""
    device = os.path.join(sys_root, "block", disk, "device")
    try:
        with open(os.path.join(device, "life_time")) as f:
            type_a, type_b = (int(v, 16) for v in f.read().split()[:2])
        with open(os.path.join(device, "pre_eol_info")) as f:
            pre_eol = int(f.read().strip(), 16)
    except (OSError, ValueError):
        return None
    return {"life_used_percent_at_least": {"a": _life_step(type_a), "b": _life_step(type_b)},
            "pre_eol": {1: "normal", 2: "warning", 3: "urgent"}.get(pre_eol, "undefined")}


def _life_step(value):
    """EXT_CSD life estimate 0x01..0x0B -> the least percent of the rated life used (None: not defined)."""
    return (min(value, 11) - 1) * 10 if value else None


def project(bytes_written, seconds, card_bytes, rated_cycles=DEFAULT_RATED_CYCLES):
    """Given what a card took in ``seconds``, return the pace per day and the years until the card has
    been written ``rated_cycles`` times over."""
    per_day = bytes_written * DAY / seconds if seconds > 0 else 0.0
    full = per_day / card_bytes if card_bytes else 0.0
    years = rated_cycles / full / YEAR_DAYS if full > 0 else None
    return Projection(bytes_per_day=per_day, full_card_writes_per_day=full, life_years=years)


def uptime_seconds():
    """Seconds since boot (CLOCK_BOOTTIME; /proc may be hidden from the archiver): the span over which
    /sys/block counters were counted."""
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def boot_id():
    """The kernel's id of this boot: /sys counters restart from zero with a new one."""
    return read_boot_id()


def snapshot(path, now, sys_root="/sys"):
    """Given the archive path and the time, return the counters of its disk as a dict for the heartbeat
    (the baseline the pace is measured from), or None where it is on no block device."""
    disk = disk_of(path, sys_root)
    if disk is None:
        return None
    c = read_counters(disk, sys_root)
    return {"disk": disk, "boot_id": boot_id(), "time": round(now, 3), "bytes_written": c.bytes_written,
            "write_ios": c.write_ios, "flushes": c.flushes}


@dataclass(frozen=True)
class CardWear:
    """The card's wear as `hotcold status`, health and the textfile show it."""

    disk: str
    card_bytes: int
    rated_cycles: int
    counters: DiskCounters  # since boot
    span: float  # seconds the pace is taken over: since the archiver started, else since boot
    archived_bytes: int | None  # what hotcold archived in that span (None: the span is since boot)
    projection: Projection
    emmc: dict | None

    @property
    def hotcold_share(self):
        """The part of what the card took that was footage hotcold archived."""
        written = self.projection.bytes_per_day * self.span / DAY
        return min(1.0, self.archived_bytes / written) if self.archived_bytes is not None and written else None

    @property
    def amplification(self):
        """Bytes the card took per byte of footage archived (1.0: nothing but the footage)."""
        written = self.projection.bytes_per_day * self.span / DAY
        return written / self.archived_bytes if self.archived_bytes else None

    @property
    def judged(self):
        """True once the pace covers MIN_SPAN: before that the projection is no verdict."""
        return self.span >= MIN_SPAN


def card_wear(base_path, card, baseline, archived_bytes, now, sys_root="/sys"):
    """Given the archive path, the config's sd_card, the archiver's baseline snapshot (or None), what it
    archived since, and the time, return the card's CardWear, or None where it is on no block device."""
    disk = disk_of(base_path, sys_root)
    if disk is None:
        return None
    c = read_counters(disk, sys_root)
    size = int(card.size_gb * 1e9) if card.size_gb else disk_size(disk, sys_root)
    same_boot = (baseline is not None and baseline.get("disk") == disk
                 and baseline.get("boot_id") == boot_id())
    if same_boot:
        span, written = now - baseline["time"], c.bytes_written - baseline["bytes_written"]
    else:
        span, written, archived_bytes = uptime_seconds(), c.bytes_written, None
    return CardWear(disk=disk, card_bytes=size, rated_cycles=card.rated_cycles, counters=c, span=span,
                    archived_bytes=archived_bytes, projection=project(written, span, size, card.rated_cycles),
                    emmc=emmc_life(disk, sys_root))


def describe(w):
    """One line: "SD mmcblk0: 11.2 GB/day written, 96 % of it hotcold's, amplification 1.03, 0.17 full-card
    writes/day, about 16 years at 1,000 cycles"."""
    p = w.projection
    pace = f"{p.bytes_per_day / 1e9:.1f} GB" if p.bytes_per_day >= 1e9 else f"{p.bytes_per_day / 1e6:.1f} MB"
    parts = [f"SD {w.disk}: {pace}/day written"]
    if w.hotcold_share is not None:
        parts.append(f"{w.hotcold_share:.0%} of it hotcold's")
    if w.amplification is not None:
        parts.append(f"amplification {w.amplification:.2f}")
    parts.append(f"{p.full_card_writes_per_day:.2f} full-card writes/day")
    years = "no end in sight" if p.life_years is None else f"about {p.life_years:,.1f} years"
    parts.append(f"{years} at {w.rated_cycles:,} cycles"
                 + ("" if w.judged else f" (pace over {w.span / 60:.0f} min only)"))
    if w.emmc:
        life = w.emmc["life_used_percent_at_least"]
        parts.append(f"eMMC reports >= {life['a']}%/{life['b']}% of its life used, pre-EOL {w.emmc['pre_eol']}")
    return ", ".join(parts)
