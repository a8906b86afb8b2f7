"""The capacity preflight's arithmetic (roles/hot_storage/tasks/capacity.yml): what the tmpfs mounts take from
the host's RAM, what the retention takes on the SD, what the hot limits take in each tmpfs. One function per
estimate; capacity_checks() turns them into the preflight's verdicts and messages."""

import math
import re

KIB = 1024
MIB = KIB**2
GIB = KIB**3
# tmpfs (and ext4 on a Pi's card) store a file in whole 4 KiB pages/blocks: a 3 kB thumbnail takes 4 KiB.
PAGE = 4096

# Bytes per file at the plan's encoder settings (JPEG -q:v 3, x264 ultrafast with -b:v = -maxrate 2M, 1 s HLS
# segments), from real FFmpeg 5.1 output of the capture role's command line (templates/hotcold-capture.j2, testsrc2,
# 2026-12-03) at the plan's 1920x1080 (30 fps, thumbnails 320x240) and the tests' 320x180 (10 fps, thumbnails 160x90):
#   captures   1920x1080: 103,944 B, 320x180: 10,150 B mean -> a JPEG is 7,470 B + 0.0465 B per pixel
#   thumbnails   320x240:   8,686 B, 160x90:   4,134 B mean -> 3,084 B + 0.0730 B per pixel
#   segments   1080p: 271,067 B per 1 s segment = 1.084 x bitrate / 8 (x264 fills the bitrate, MPEG-TS adds 8 %);
#              320x180: 105,656 B = 0.42 x: small frames need less than the cap, so the estimate is high there
# A camera's picture is busier than a test pattern (larger JPEGs): hotcold_capacity_file_bytes overrides a kind.
CAPTURE_FIXED = 7470
CAPTURE_PER_PIXEL = 0.0465
THUMBNAIL_FIXED = 3084
THUMBNAIL_PER_PIXEL = 0.0730
SEGMENT_BITRATE_RATIO = 1.09
# One line of metadata/<hour>/archive.jsonl per archived file (docs/DESIGN.md): ~150 B for a JPEG, ~210 B for a
# segment with its duration and program date-time; rounded up.
METADATA_RECORD_BYTES = 256
ARCHIVED_KINDS = ("captures", "thumbnails", "segments")
SIZE_UNITS = {"k": KIB, "m": MIB, "g": GIB}
BITRATE_UNITS = {"k": 1000, "m": 1000**2}


def size_bytes(size, mem_total):
    """Given a tmpfs size= value (100M, 512k, 1G, bytes, or N% of RAM) and MemTotal in bytes, return bytes."""
    text = str(size).strip()
    if text.endswith("%"):
        return mem_total * int(text[:-1]) // 100
    unit = SIZE_UNITS.get(text[-1].lower())
    return int(text[:-1]) * unit if unit else int(text)


def bitrate_bps(rate):
    """Given FFmpeg's -b:v value (2M, 800k, 300000), return bits per second (FFmpeg's prefixes are decimal)."""
    text = str(rate).strip()
    unit = BITRATE_UNITS.get(text[-1].lower())
    return int(text[:-1]) * unit if unit else int(text)


def pixels(size):
    """Given WIDTHxHEIGHT, return the pixel count."""
    width, height = re.fullmatch(r"(\d+)x(\d+)", str(size)).groups()
    return int(width) * int(height)


def on_disk(size, block=PAGE):
    """Given a file's bytes, return what it occupies in whole blocks."""
    return math.ceil(size / block) * block


def file_bytes(capture, overrides=None):
    """Given the capture settings (hotcold_capture), return the estimated bytes of one file of each kind;
    a kind in overrides (hotcold_capacity_file_bytes) replaces its estimate."""
    estimate = {
        "captures": CAPTURE_FIXED + CAPTURE_PER_PIXEL * pixels(capture["video_size"]),
        "thumbnails": THUMBNAIL_FIXED + THUMBNAIL_PER_PIXEL * pixels(capture["thumbnail_size"]),
        "segments": SEGMENT_BITRATE_RATIO * bitrate_bps(capture["video_bitrate"]) / 8 * int(capture["segment_seconds"]),
    }
    estimate.update(overrides or {})
    return {kind: int(math.ceil(float(value))) for kind, value in estimate.items()}


def archived_per_second(capture, every_nth=None):
    """Given the capture settings and the archiver's every_nth, return the files per second of each kind to the SD."""
    nth = {"captures": 1, "thumbnails": 1, **(every_nth or {})}
    return {
        "captures": float(capture["capture_fps"]) / float(nth["captures"]),
        "thumbnails": float(capture["thumbnail_fps"]) / float(nth["thumbnails"]),
        "segments": 1.0 / int(capture["segment_seconds"]),
    }


def ram_need(devices, default_size, mem_total, reserve):
    """Given the devices, the default tmpfs size, MemTotal and the reserve ({os, per_device}), return
    {tmpfs, reserve, need} in bytes: every tmpfs full, plus the OS and one FFmpeg per device."""
    tmpfs = sum(size_bytes(d.get("tmpfs_size") or default_size, mem_total) for d in devices)
    kept = size_bytes(reserve["os"], mem_total) + len(devices) * size_bytes(reserve["per_device"], mem_total)
    return {"tmpfs": tmpfs, "reserve": kept, "need": tmpfs + kept}


def sd_need(device_count, retention_hours, per_second, sizes, block):
    """Given the device count, retention hours per kind, files per second and bytes per file of each kind and the
    file system's block size, return {kind: bytes} the retention keeps on the SD, and its total under "total"."""
    need = {
        kind: device_count * int(retention_hours[kind]) * 3600 * per_second[kind] * on_disk(sizes[kind], block)
        for kind in ARCHIVED_KINDS
    }
    records = sum(per_second.values()) * METADATA_RECORD_BYTES
    need["metadata"] = device_count * int(retention_hours["metadata"]) * 3600 * records
    need = {kind: int(value) for kind, value in need.items()}
    need["total"] = sum(need.values())
    return need


def hot_need(hot_limits, sizes):
    """Given the hot limits and bytes per file, return the bytes the newest N files of every kind take in a tmpfs."""
    return sum(int(hot_limits[kind]) * on_disk(sizes[kind]) for kind in ARCHIVED_KINDS)


def human(size):
    """Given bytes, return them in GiB from 1 GiB up, else in MiB, with one decimal."""
    return f"{size / GIB:,.1f} GiB" if size >= GIB else f"{size / MIB:,.1f} MiB"


def per_kind(values, kinds=ARCHIVED_KINDS, show=str):
    return " ".join(f"{kind}={show(values[kind])}" for kind in kinds)


def ram_check(host, facts, config):
    need = ram_need(config["devices"], config["tmpfs_size"], facts["mem_total"], config["ram_reserve"])
    return {
        "rule": "ram",
        "ok": need["need"] <= facts["mem_total"],
        "msg": (
            f"{host}: the tmpfs mounts of {len(config['devices'])} device(s) and the reserve need {human(need['need'])}"
            f" of RAM, the host has {human(facts['mem_total'])} (MemTotal): tmpfs {human(need['tmpfs'])}"
            " (hot_storage_tmpfs_size (hotcold_tmpfs_size) and each device's tmpfs_size in hot_storage_devices"
            f" (hotcold_devices)) + reserve {human(need['reserve'])} for the OS and one FFmpeg per device"
            " (hot_storage_capacity_ram_reserve (hotcold_capacity_ram_reserve)). Make the tmpfs mounts smaller."
        ),
    }


def sd_check(host, facts, config, sizes):
    per_second = archived_per_second(config["capture"], config["every_nth"])
    need = sd_need(len(config["devices"]), config["retention_hours"], per_second, sizes, facts["fs_block"])
    kinds = (*ARCHIVED_KINDS, "metadata")
    return {
        "rule": "sd",
        "ok": need["total"] <= facts["fs_size"],
        "msg": (
            f"{host}: the retention of {len(config['devices'])} device(s) needs {human(need['total'])} on the SD"
            f" ({per_kind(need, kinds, human)}), the file system holding {config['base_path']} (at"
            f" {facts['fs_path']}) is {human(facts['fs_size'])}: archiver_retention_hours"
            f" (hotcold_retention_hours) {per_kind(config['retention_hours'], kinds)} at the rates and sizes of"
            " capture_settings (hotcold_capture: capture_fps, thumbnail_fps, video_size, thumbnail_size,"
            f" video_bitrate {config['capture']['video_bitrate']}), bytes per file {per_kind(sizes)}"
            " (hot_storage_capacity_file_bytes (hotcold_capacity_file_bytes) overrides them). Keep fewer hours,"
            " lower the rates or the bitrate, archive every Nth file (archiver_archive.every_nth), or use a larger"
            " card."
        ),
    }


def hot_checks(host, facts, config, sizes):
    need = hot_need(config["hot_limits"], sizes)
    checks = []
    for device in config["devices"]:
        size = size_bytes(device.get("tmpfs_size") or config["tmpfs_size"], facts["mem_total"])
        checks.append({
            "rule": f"hot {device['name']}",
            "ok": need <= size,
            "msg": (
                f"{host}: the tmpfs of device {device['name']} ({human(size)}) cannot hold its hot limits, which"
                f" need {human(need)}: archiver_hot_limits (hotcold_hot_limits)"
                f" {per_kind(config['hot_limits'])} at bytes per file {per_kind(sizes)}. Raise its tmpfs_size"
                " (hotcold_devices) or hot_storage_tmpfs_size (hotcold_tmpfs_size), or lower the hot limits."
            ),
        })
    return checks


def capacity_checks(config, host, facts):
    """Given the configuration (devices, tmpfs_size, ram_reserve, capture, retention_hours, hot_limits, every_nth,
    file_bytes, base_path), the host's name and facts (mem_total, fs_size, fs_block, fs_path), return one
    {rule, ok, msg} per rule: RAM, SD, and the hot limits of each device's tmpfs."""
    facts = {**facts, **{key: int(facts[key]) for key in ("mem_total", "fs_size", "fs_block")}}
    sizes = file_bytes(config["capture"], config["file_bytes"])
    return [ram_check(host, facts, config), sd_check(host, facts, config, sizes),
            *hot_checks(host, facts, config, sizes)]


class FilterModule:
    def filters(self):
        return {"hotcold_capacity_checks": capacity_checks}
