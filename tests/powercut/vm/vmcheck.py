"""The checks after a VM power cut, on the host's copy of the SD card: where every file the guest
wrote is now, and whether the archive's records, playlists and indexes agree with the files.

Ground truth comes from the guest's events (guest/guest.py), never from the SD: ``written`` after
the writer renamed a file into place, ``unlinked`` when the archiver removed it from RAM (it took
responsibility for it then). Every figure is computed here from files and events.
"""

import glob
import hashlib
import json
import os
import re

from content import KINDS, PATTERNS, content, kind_of
from vmharness import sd_files, sha256_file, temp_files

# Files the resume check writes after recovery: numbers from here up are not the guest's.
RESUME_FIRST = 10_000_000
COLUMNS = ("written", "archived", "in_ram_at_cut", "dropped", "expired", "lost", "torn", "duplicated")


def guest_numbers(name):
    """The number in a media file name."""
    return int(re.search(r"(\d+)", name).group(1))


def logged(guest_log):
    """(dropped, expired): sets of (device, name) the archiver's log names as dropped by policy or
    deleted as past retention."""
    dropped = set(re.findall(r"(\S+): dropped \w+/(\S+) \(", guest_log))
    expired = set(re.findall(r"(\S+): (\S+) is from \S+, older than the day", guest_log))
    return dropped, expired


def ground_truth(events):
    """(written, unlinked): sets of (device, name) from the guest's events, and the list of
    problems in the events themselves (a file unlinked twice)."""
    written = {(e["dev"], e["name"]) for e in events if e["ev"] == "written"}
    unlinked, problems = set(), []
    for e in events:
        if e["ev"] == "unlinked":
            key = (e["dev"], e["name"])
            if key in unlinked:
                problems.append(f"{key} unlinked from RAM twice")
            unlinked.add(key)
    return written, unlinked, problems


def where(dev, name, paths, unlinked, dropped, expired, sizes):
    """Given one written file and its SD copies, return its column: archived, torn, duplicated,
    dropped, expired, lost (unlinked from RAM and not on the SD), or in_ram_at_cut."""
    if paths:
        want = hashlib.sha256(content(dev, name, sizes)).hexdigest()
        if any(sha256_file(p) != want for p in paths):
            return "torn"
        return "duplicated" if len(paths) > 1 else "archived"
    if (dev, name) in dropped:
        return "dropped"
    if (dev, name) in expired:
        return "expired"
    return "lost" if (dev, name) in unlinked else "in_ram_at_cut"


def account(base, run, events, guest_log):
    """Count every file the guest wrote into exactly one column. Returns (figures, problems, sd)
    where sd is {device: {name: [paths]}} without the resume check's files."""
    written, unlinked, problems = ground_truth(events)
    dropped, expired = logged(guest_log)
    sd = {}
    for dev in run["devices"]:
        sd[dev] = {n: p for n, p in sd_files(base, dev).items() if guest_numbers(n) < RESUME_FIRST}
    on_sd = {(dev, n) for dev, names in sd.items() for n in names}
    figures = dict.fromkeys(COLUMNS, 0)
    figures["written_event_lost_in_cut"] = len(on_sd - written)
    everything = written | on_sd
    figures["written"] = len(everything)
    for dev, name in sorted(everything):
        col = where(dev, name, sd[dev].get(name, []), unlinked, dropped, expired, run["sizes"])
        figures[col] += 1
        if col in ("lost", "torn", "duplicated"):
            problems.append(f"{dev}/{name}: {col} (SD copies: {sd[dev].get(name, [])})")
    figures["unlinked_reported"] = len(unlinked)
    figures["on_sd_not_reported_unlinked"] = len(on_sd - unlinked)
    assert sum(figures[c] for c in COLUMNS[1:]) == figures["written"], figures
    return figures, problems, sd


def read_records(base, dev):
    """({(kind, name): [(hour, record)]}, problems) from every metadata/<h>/archive.jsonl."""
    out, problems = {}, []
    for path in glob.glob(os.path.join(base, dev, "metadata", "*", "archive.jsonl")):
        hour = os.path.basename(os.path.dirname(path))
        with open(path, "rb") as f:
            raw = f.read()
        if raw and not raw.endswith(b"\n"):
            problems.append(f"{path}: last record not terminated after recovery")
        for n, line in enumerate(raw.splitlines(), 1):
            try:
                rec = json.loads(line)
            except ValueError:
                problems.append(f"{path}:{n}: not JSON: {line[:80]!r}")
                continue
            out.setdefault((rec.get("kind"), rec.get("name")), []).append((hour, rec))
    return out, problems


def check_records(base, run, sd, unlinked):
    """Metadata records and files agree: one record per archived file (a file the guest reported
    unlinked must have one; a file whose unlink was cut may lack it), each naming an existing file
    in its hour folder with its size. Returns (figures, problems)."""
    problems, without = [], 0
    for dev in run["devices"]:
        recs, p = read_records(base, dev)
        problems += p
        for (kind, name), lst in recs.items():
            if name is None or kind not in KINDS or not PATTERNS[kind].match(name):
                problems.append(f"{dev}: record of an unknown file {kind}/{name}")
                continue
            if guest_numbers(name) >= RESUME_FIRST:
                continue
            if len(lst) > 1:
                problems.append(f"{dev}/{name}: {len(lst)} metadata records")
            for hour, rec in lst:
                path = os.path.join(base, dev, kind, hour, name)
                if not os.path.exists(path):
                    problems.append(f"{dev}/{name}: record in metadata/{hour} but no {kind}/{hour}/{name}")
                elif os.path.getsize(path) != rec.get("size"):
                    problems.append(f"{dev}/{name}: record size {rec.get('size')} != file size")
        for name in sd[dev]:
            if (kind_of(name), name) not in recs:
                if (dev, name) in unlinked:
                    problems.append(f"{dev}/{name}: unlinked from RAM but no metadata record")
                else:
                    without += 1
    return {"archived_without_record": without}, problems


def m3u8_uris(text):
    """The URIs of a playlist, or None if it is not one."""
    if not text.startswith("#EXTM3U"):
        return None
    return [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


def check_playlist(path, folder, problems):
    """A playlist parses and names only files in ``folder``."""
    with open(path, errors="replace") as f:
        uris = m3u8_uris(f.read())
    if uris is None:
        problems.append(f"{path}: not a playlist")
        return
    problems += [f"{path}: names missing {u}" for u in uris if not os.path.exists(os.path.join(folder, u))]


def check_thumb_index(path, folder, problems):
    """A thumbnail index parses, its count matches, and it names only files in ``folder``."""
    try:
        with open(path) as f:
            doc = json.load(f)
    except ValueError as e:
        problems.append(f"{path}: not JSON ({e})")
        return
    urls = doc.get("thumbnails", [])
    if doc.get("count") != len(urls):
        problems.append(f"{path}: count {doc.get('count')} != {len(urls)} entries")
    problems += [f"{path}: names missing {u}" for u in urls
                 if not os.path.exists(os.path.join(folder, u.rsplit("/", 1)[-1]))]


def check_json(path, problems):
    try:
        with open(path) as f:
            json.load(f)
    except ValueError as e:
        problems.append(f"{path}: not JSON ({e})")


def check_indexes(base, run):
    """Every per-hour playlist and index on the SD and in RAM (hot/index) parses and names only
    existing files. Returns (number checked, problems)."""
    problems, n = [], 0
    for dev in run["devices"]:
        d = os.path.join(base, dev)
        for p in glob.glob(os.path.join(d, "segments", "*", "archive.m3u8")):
            check_playlist(p, os.path.dirname(p), problems)
            n += 1
        for p in glob.glob(os.path.join(d, "segments", "*", "index.json")):
            check_json(p, problems)
            n += 1
        for p in glob.glob(os.path.join(d, "thumbnails", "*", "index.json")):
            check_thumb_index(p, os.path.dirname(p), problems)
            n += 1
        for p in glob.glob(os.path.join(d, "hot", "index", "*")):
            m = re.match(r"^(thumbnails|segments)_\d{4}-\d{2}-\d{2}_(\d+)\.(json|m3u8)$", os.path.basename(p))
            if not m:
                continue
            folder = os.path.join(d, m.group(1), m.group(2))
            if m.group(3) == "m3u8":
                check_playlist(p, folder, problems)
            elif m.group(1) == "thumbnails":
                check_thumb_index(p, folder, problems)
            else:
                check_json(p, problems)
            n += 1
    return n, problems


def check_temps(base, run, when):
    """No hotcold temp file in any device's SD archive. Returns (count, problems)."""
    temps = [t for dev in run["devices"] for t in temp_files(base, dev)]
    return len(temps), [f"temp file left {when}: {t}" for t in temps[:10]]
