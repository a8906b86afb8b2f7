"""Checkpoints: what is visible on the SD becomes durable, for the whole card, with ONE flush.

The mover makes a file *visible* at once (copied and renamed to its final name, no flush) and parks its
RAM copy in the device's outbox (``hot/.outbox/<kind>/<hour folder>@<name>``, same tmpfs, a rename; hidden,
never scanned as hot, so the hot folders hold exactly the newest N).
Every ``archive.checkpoint_seconds`` a checkpoint:

  1. writes one record per device, ``<device>/.checkpoint/<seq % 2>.json`` (temp + rename, no fsync):
     its sequence number, the metadata files' lengths that the previous flush made durable
     (``covered``) and the folders files may be renamed into until the next checkpoint
     (``announced``: the current and next hour of every kind, and any folder a batch asks for);
  2. ONE syncfs of the SD file system (through the archiver's ErrorWatch): the records, the copies,
     the renames, the day markers and the metadata appends of all devices become durable together;
  3. only then unlinks the outbox RAM copies it covered, and renames into place the documents staged
     since the last one (an hour's SD indexes, written under temp names with no flush of their own): their
     content is durable now, and so is every file they name, so a power cut leaves the old document or
     none (the start-up repair rebuilds a missing one), never a torn one or one naming a lost file.

A failed flush (EIO: the card did not take some write) is reported once, by that flush. Until a later
flush succeeds nothing is released; then every file that waited through the failure and every metadata
region written since the last good flush is read back from the card (its cached pages dropped) and
compared with what was written: a file that differs is rewritten from its RAM copy, a region from the
record bytes the checkpoint kept, and no RAM copy is released before the flush after that (a record shares
its block with records of files released long ago: a lost block would make recovery remove intact files).
While a device has a rewritten file, its records keep the covered lengths of before (and keep announcing
its folders): the flush made the file's record durable, not its data, so recovery must check the file
against its record, not trust it (if the rewrite's write fails too, the card holds zeros under its name).

A record is written before its flush, so it only states facts that were durable before it (the lengths of
the previous flush); its announcement is safe to land early (it only widens what recovery checks). A
batch never renames into a folder that the last *flushed* record did not announce: it asks for a
checkpoint first. Two slots: a torn newest record (crc mismatch) falls back to the other, which covered
every rename made before the torn one's flush.

Recovery after a power cut (``recover_device``) trusts a file of an announced folder only if its
metadata record lies inside the covered length; any other file there is visible but was not
checkpointed: it is kept if its size and CRC32 match its record (or its RAM copy is still in the outbox,
a process crash), else removed, as Moonfire NVR drops never-committed recordings. The metadata tail
after the covered length is rewritten to the records of the files kept. So after a power cut the loss
is at most what was in RAM: the hot limit plus one checkpoint interval of outbox.
"""

import errno
import json
import logging
import os
import shutil
import zlib
from dataclasses import dataclass

from hotcold.fsutil import atomic_write, rename_noreplace, same_content, syncfs, unlink_quiet
from hotcold.hours import hour_key
from hotcold.layout import HOT_KINDS, is_temp, kind_of, temp_name

log = logging.getLogger("hotcold.checkpoint")

RECORD_DIR = ".checkpoint"
OUTBOX = ".outbox"
SEP = "@"
FORMAT = 1


def crc32_file(path):
    """The CRC32 of a file's bytes (read in 1 MiB pieces)."""
    crc = 0
    with open(path, "rb", buffering=0) as f:
        while chunk := f.read(1 << 20):
            crc = zlib.crc32(chunk, crc)
    return crc


def outbox_dir(layout):
    return os.path.join(layout.hot, OUTBOX)


def outbox_path(layout, kind, dst_dir, name):
    """Where the RAM copy of ``dst_dir/name`` waits for its checkpoint: ``<hour folder>@<name>`` (no hour
    folder name and no media name holds an @), so recovery can find the SD copy again."""
    return os.path.join(outbox_dir(layout), kind, f"{os.path.basename(dst_dir)}{SEP}{name}")


def ensure_outbox(layout):
    """Create the device's outbox folders (they stay: watchers may rely on them)."""
    for kind in HOT_KINDS:
        os.makedirs(os.path.join(outbox_dir(layout), kind), exist_ok=True)


@dataclass
class Pending:
    """One file visible on the SD, not yet durable; its RAM copy waits at ``outbox``."""
    device: str
    outbox: str
    sd_path: str
    suspect: bool = False  # a flush failed while it waited: read it back before releasing it


@dataclass
class Staged:
    """An SD document written under a temp name, put in place after the next good flush."""
    tmp: str
    then: object  # what to run once it is in place (or None)
    data: bytes  # what was written: read at staging, while its pages are still dirty in the cache
    suspect: bool = False  # a flush failed while it waited: read it back before putting it in place


@dataclass
class Appended:
    """Bytes appended to an SD metadata file, kept until a flush is known to have made them durable."""
    ino: int
    offset: int
    data: bytearray


# ---------------------------------------------------------------- records


def encode_record(doc):
    body = json.dumps(doc, sort_keys=True, separators=(",", ":"))
    return json.dumps({"body": doc, "crc": zlib.crc32(body.encode())}, sort_keys=True) + "\n"


def decode_record(text):
    """The record's body if ``text`` is a whole, well-formed record, else None (torn, foreign)."""
    try:
        doc = json.loads(text)
        body = doc["body"]
        ok = zlib.crc32(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()) == doc["crc"]
    except (ValueError, KeyError, TypeError):
        return None
    if not ok or not isinstance(body, dict) or body.get("format") != FORMAT:
        return None
    return body


def read_newest(layout):
    """The newest valid checkpoint record of a device (its body), or None."""
    best = None
    for slot in (0, 1):
        try:
            with open(os.path.join(layout.root, RECORD_DIR, f"{slot}.json"), encoding="utf-8") as f:
                body = decode_record(f.read())
        except (OSError, UnicodeDecodeError):
            continue
        if body is not None and (best is None or body["seq"] > best["seq"]):
            best = body
    return best


def _rel(layout, path):
    return None if path is None else os.path.relpath(path, layout.root)


# ---------------------------------------------------------------- the running checkpoint


class Checkpoint:
    """The checkpoint state of every device on one SD: what is pending, what the last flushed record
    announced and covered. ``sync`` is the syncfs to use (the archiver's ErrorWatch)."""

    def __init__(self, base_path, layouts, tz, sync=None, ram_present=None):
        self.base_path = base_path
        self.layouts = layouts
        self.tz = tz
        self.sync = sync or syncfs
        # device -> True if its tmpfs is mounted: an outbox path under an unmounted one is the SD card
        self.ram_present = ram_present or (lambda device: True)
        self.seq = 0
        self.pending = []
        self.staged = {}  # final path -> Staged: SD documents that go into place after the flush
        self.urgent = False  # a staged document is wanted now (nginx has no other copy): flush at once
        self.dirty = False  # something written to the SD since the last flush (recovery, markers)
        self.covered = {d: {} for d in layouts}  # device -> {metadata rel path: durable length}
        self.announced = {d: set() for d in layouts}  # device -> {(dir rel, meta rel)} of the last flushed record
        self.used = {d: set() for d in layouts}  # folders renamed into since the last flush
        self.last_time = None  # wall time of the last successful checkpoint
        self.last_seq_ok = 0
        self.error = None
        self.failures = 0
        # metadata path -> [Appended]: the records written since the last flush that succeeded with none
        # failing before it. A failed flush may have lost some of them (their block shared with records of
        # files already released), so they are read back before anything is released again.
        self.appended = {}
        self.flush_failed = False

    # ------------------------------------------------------------ while archiving
    def allowed(self, device, pairs):
        """Given a device and (dst dir, meta path) pairs, True if the last flushed record announced
        them all (renames into them are checked by recovery)."""
        lay = self.layouts[device]
        return {(_rel(lay, d), _rel(lay, m)) for d, m in pairs} <= self.announced[device]

    def hold(self, device, kind, sd_path):
        """Given the device, kind and final SD path of a file just made visible, the outbox path its RAM
        copy must be moved to; registers it as pending."""
        lay = self.layouts[device]
        ob = outbox_path(lay, kind, os.path.dirname(sd_path), os.path.basename(sd_path))
        self.pending.append(Pending(device, ob, sd_path))
        return ob

    def note_batch(self, device, res):
        """Given a device and a mover.BatchResult: the folders it renamed into and the records it appended
        wait for the next checkpoint."""
        self.note_used(device, [(it.dst_dir, it.meta_path) for it in res.moved])
        for path, ino, offset, data in res.appended:
            kept = self.appended.setdefault(path, [])
            if kept and kept[-1].ino == ino and kept[-1].offset + len(kept[-1].data) == offset:
                kept[-1].data += data
            else:
                kept.append(Appended(ino, offset, bytearray(data)))

    def note_used(self, device, pairs):
        """Given a device and the (dst dir, meta path) pairs a batch renamed into: the next records
        announce them again (a file there waits for its checkpoint)."""
        if pairs:
            lay = self.layouts[device]
            self.used[device] |= {(_rel(lay, d), _rel(lay, m)) for d, m in pairs}
            self.dirty = True

    def stage(self, tmp, dest, then=None, urgent=False):
        """Given a document written under a temp name on the SD, its final path and what to run once it is
        in place: rename it after the next flush (step 3). A newer version of the same document replaces
        the staged one (its temp name is the same: layout.temp_name). ``urgent``: the archiver flushes at
        once instead of at the interval."""
        with open(tmp, "rb") as f:
            self.staged[dest] = Staged(tmp, then, f.read())
        self.dirty = True
        self.urgent = self.urgent or urgent

    def due(self):
        """True if a checkpoint has something to make durable."""
        return bool(self.pending) or self.dirty

    def run(self, now, want=None):
        """Given the time and extra (dst dir, meta path) pairs per device to announce, write the records,
        flush ONCE, release the outbox copies. Return None, or the OSError that failed it (nothing released)."""
        want = want or {}
        pending = list(self.pending)
        lengths = {}
        announce = {}
        self.seq += 1  # one number per checkpoint: every device's record of it goes to slot seq % 2
        try:
            for dev, lay in self.layouts.items():
                announce[dev] = self._announce(dev, now, want.get(dev, ()))
                lengths[dev] = _lengths(lay, announce[dev] | self.announced[dev])
                self._write_record(dev, now, announce[dev])
            self.sync(self.base_path)
        except OSError as e:
            for p in pending:  # a write-back error is reported once: whatever waited now is checked
                p.suspect = True
            for st in self.staged.values():
                st.suspect = True
            self.flush_failed = True
            self.error = f"{errno.errorcode.get(e.errno, e.errno)}: {e.strerror or e}"
            self.failures += 1
            log.error("checkpoint %d failed: %s; %d RAM copies kept until a checkpoint succeeds",
                      self.seq, e, len(pending))
            return e
        self._succeeded(now, pending, lengths, announce)
        return None

    def _announce(self, dev, now, extra):
        """The (dir rel, meta rel) pairs the device's next record announces."""
        lay = self.layouts[dev]
        pairs = set(self.used[dev]) | {(_rel(lay, d), _rel(lay, m)) for d, m in extra}
        for t in (now, now + 3600):
            h = hour_key(t, self.tz).hour
            meta = _rel(lay, lay.metadata_file(h))
            pairs |= {(_rel(lay, lay.hour_dir(k, h)), meta) for k in HOT_KINDS}
        return pairs

    def _write_record(self, dev, now, announce):
        lay = self.layouts[dev]
        doc = {"format": FORMAT, "seq": self.seq, "device": dev, "time": round(now, 3),
               "covered": self.covered[dev], "announced": sorted([d, m] for d, m in announce)}
        folder = os.path.join(lay.root, RECORD_DIR)
        os.makedirs(folder, exist_ok=True)
        atomic_write(os.path.join(folder, f"{self.seq % 2}.json"), encode_record(doc))

    def _succeeded(self, now, pending, lengths, announce):
        """After the flush: what the records announced is now the rule, the lengths measured before the
        flush are covered (unless a file of the device read back wrong), the outbox copies of the pending
        files are released."""
        present = {d: self.ram_present(d) for d in self.layouts}
        files_ok, rewritten = [], set()
        for p in pending:
            if not present[p.device] or not p.suspect or _read_back_ok(p):
                files_ok.append(p)
            else:
                rewritten.add(p.device)
        for dev in self.layouts:
            self.announced[dev] = announce[dev]
            # the flush made the records of a rewritten file durable, not its data: the next record must not
            # call them covered, or recovery after a cut would trust what the card holds under the file's
            # name (zeros) instead of checking it against the record. The device keeps its covered lengths
            # until a flush after which every file reads back right, and keeps announcing the folders renamed
            # into since (recovery checks announced folders only).
            if dev not in rewritten:
                self.covered[dev] = {m: v for m, v in lengths[dev].items() if v[1]}
                self.used[dev] = set()
        released = files_ok if self._records_durable() else []
        for p in released:
            # a RAM copy whose tmpfs went away (umount -l) went with it: its SD copy is durable now, and nothing
            # under the bare mount point (the SD card) is touched
            if present[p.device]:
                unlink_quiet(p.outbox)
        done = {id(p) for p in released}
        self.pending = [p for p in self.pending if id(p) not in done]
        self._place_staged()
        self.dirty = bool(self.pending) or bool(self.appended) or bool(self.staged)
        self.urgent = False
        self.last_time = now
        self.last_seq_ok = self.seq
        self.error = None

    def _records_durable(self):
        """After a successful flush: True if every metadata record written since the last good one is on the
        card. After a failed flush they are read back, and rewritten where they differ (True only when
        none had to be); with no failure the flush made them durable."""
        if self.flush_failed:
            bad = sum(not _reads_back(path, a.data, a.offset, a.ino) for path, kept in self.appended.items()
                      for a in kept)
            if bad:
                log.warning("%d metadata region(s) read back from the SD differ from what was written (a failed "
                            "write): rewritten, no RAM copy released until the next checkpoint", bad)
                return False
        self.appended = {}
        self.flush_failed = False
        return True

    def _place_staged(self):
        """After a flush: rename the staged documents into place, then run what waited for them (once
        each). Their renames become durable at the next flush or journal commit. One that waited through a
        failed flush and does not read back right is rewritten and waits for the next flush."""
        staged, self.staged = self.staged, {}
        thens = []
        for dest, st in staged.items():
            if st.suspect and not _reads_back(st.tmp, st.data):
                self.staged[dest] = st
                continue
            try:
                os.rename(st.tmp, dest)
            except OSError as e:  # its folder went (cleanup, a clock step): the start-up repair rebuilds it
                log.warning("cannot put %s in place: %s", dest, e)
                unlink_quiet(st.tmp)
                continue
            if st.then is not None and st.then not in thens:
                thens.append(st.then)
        for then in thens:
            then()

    def summary(self, now):
        """The checkpoint's part of the heartbeat document."""
        return {"seq": self.last_seq_ok, "at": self.last_time,
                "age_seconds": None if self.last_time is None else round(max(0.0, now - self.last_time), 1),
                "pending": len(self.pending), "error": self.error, "failures": self.failures}

    # ------------------------------------------------------------ at start
    def recover_device(self, device, now=None, ram=True):
        """After a crash, given a device: check every visible but uncheckpointed file (see the module
        doc), put back or keep the outbox copies (unless ``ram`` is False: its tmpfs is not mounted, its
        outbox went with it), and adopt the newest record's state. Returns (files kept after verification,
        files removed)."""
        lay = self.layouts[device]
        if ram and os.path.isdir(lay.hot):
            ensure_outbox(lay)
        for f in _names(os.path.join(lay.root, RECORD_DIR)):
            if is_temp(f):
                unlink_quiet(os.path.join(lay.root, RECORD_DIR, f))
        rec = read_newest(lay)
        kept = removed = 0
        if rec is not None:
            self.seq = max(self.seq, rec["seq"])
            covered = rec["covered"] if isinstance(rec.get("covered"), dict) else {}
            self.covered[device] = dict(covered)
            by_meta = {}
            for d, m in rec.get("announced", []):
                by_meta.setdefault(m, []).append(d)
                # what recovery checked and changed is durable only after the next flush: until then the
                # next record must announce it again, or a second crash would skip the check
                self.used[device].add((d, m))
            for meta_rel, dirs in by_meta.items():
                covered_len = _covered_length(lay, meta_rel, covered)
                k, r, inode = _verify_hour(lay, meta_rel, dirs, covered_len)
                kept += k
                removed += r
                if inode is not None and covered_len:  # the same covered bytes, in the file that replaced it
                    self.covered[device][meta_rel] = [inode, covered_len]
            if removed:
                self.dirty = True
        if ram:
            self._recover_outbox(device)
        return kept, removed

    def _recover_outbox(self, device):
        """RAM copies left in the outbox by a killed process: an identical SD copy stays pending (released
        by the next checkpoint), any other goes back to the hot folder to be archived again."""
        lay = self.layouts[device]
        for kind in HOT_KINDS:
            kdir = os.path.join(outbox_dir(lay), kind)
            for entry in _names(kdir):
                sub, _, name = entry.rpartition(SEP)
                ob = os.path.join(kdir, entry)
                sd = os.path.join(lay.kind_dir(kind), sub, name)
                if sub and os.path.isfile(sd) and same_content(ob, sd):
                    self.pending.append(Pending(device, ob, sd))
                elif kind_of(name)[0] == kind:
                    _put_back(ob, os.path.join(lay.hot_dir(kind), name))
        self.dirty = self.dirty or bool(self.pending)


def _read_back_ok(p):
    """Given a pending file that waited through a failed flush: read its SD copy from the card (its cached
    pages dropped first) and compare it with the RAM copy. A copy that differs (a data write the card
    failed: zeros) is rewritten from the RAM copy under its name (same bytes, same record) and stays
    pending; returns True only for an SD copy that reads back right."""
    try:
        fd = os.open(p.sd_path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            with open(p.outbox, "rb") as ram, os.fdopen(os.dup(fd), "rb") as sd:
                if ram.read() == sd.read():
                    return True
        finally:
            os.close(fd)
        log.warning("%s: %s read back from the SD differs from its RAM copy (a failed write): rewritten, "
                    "released at the next checkpoint", p.device, p.sd_path)
        tmp = os.path.join(os.path.dirname(p.sd_path), temp_name(os.path.basename(p.sd_path)))
        shutil.copy2(p.outbox, tmp)
        os.replace(tmp, p.sd_path)
    except FileNotFoundError:
        return True  # the RAM copy or the SD copy is gone (cleanup deleted it): nothing left to protect
    except OSError as e:
        log.error("%s: cannot read back %s: %s", p.device, p.sd_path, e)
    return False


def _reads_back(path, data, offset=0, ino=None):
    """Given an SD file, bytes written to it at ``offset`` and (optionally) the inode they went to: True if
    the card holds them (read with the file's cached pages dropped first) or the file is gone or replaced
    (nothing left to protect); else write them again in place (the next flush makes them durable) and
    return False."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return True
    try:
        if ino is not None and os.fstat(fd).st_ino != ino:
            return True
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        if os.pread(fd, len(data), offset) == data:
            return True
        log.warning("%s: %d bytes at %d read back from the SD differ from what was written (a failed write): "
                    "rewritten", path, len(data), offset)
        os.pwrite(fd, data, offset)
    except OSError as e:
        log.error("cannot read back or rewrite %s: %s", path, e)
    finally:
        os.close(fd)
    return False


def _put_back(ob, hot_path):
    """Move an outbox copy back into its hot folder (or drop it if an identical file is there)."""
    try:
        rename_noreplace(ob, hot_path)
    except FileExistsError:
        if same_content(ob, hot_path):
            unlink_quiet(ob)


def _names(folder):
    try:
        return sorted(os.listdir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return []


def _lengths(layout, pairs):
    """{metadata rel path: [inode, current length]} of the metadata files of ``pairs`` that exist (the
    inode tells a file that cleanup replaced by a new day's from the one measured)."""
    out = {}
    for _d, m in pairs:
        if m is None:
            continue
        try:
            st = os.stat(os.path.join(layout.root, m))
        except FileNotFoundError:
            continue
        out[m] = [st.st_ino, st.st_size]
    return out


def _covered_length(layout, meta_rel, covered):
    """The covered length of a metadata file if the record measured this very file, else 0."""
    v = covered.get(meta_rel)
    try:
        st = os.stat(os.path.join(layout.root, meta_rel))
    except (FileNotFoundError, TypeError):
        return 0
    if not (isinstance(v, list) and len(v) == 2 and v[0] == st.st_ino and isinstance(v[1], int)):
        return 0
    return v[1] if v[1] <= st.st_size else 0


def _records_with_ends(path):
    """[(end offset, record or None, raw line)] of a metadata file's whole lines (a torn tail is skipped)."""
    out = []
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return out
    pos = 0
    while True:
        nl = data.find(b"\n", pos)
        if nl < 0:
            break
        try:
            rec = json.loads(data[pos:nl])
        except ValueError:
            rec = None
        out.append((nl + 1, rec if isinstance(rec, dict) else None, data[pos:nl + 1]))
        pos = nl + 1
    return out


def _verify_hour(layout, meta_rel, dirs, covered_len):
    """Given a device's metadata file (rel), the folders whose records it holds and its covered
    length: keep the media files recorded inside it; check the others against their record; rewrite the
    record tail to the files kept. Returns (verified and kept, removed, the inode of the rewritten metadata
    file or None)."""
    if meta_rel is None:  # files moved without a record (their metadata folder holds another day): kept
        return 0, 0, None
    meta_path = os.path.join(layout.root, meta_rel)
    lines = _records_with_ends(meta_path)
    trusted, tail = _split_records(lines, covered_len)
    verified, gone = _check_uncovered(layout, dirs, trusted, tail)
    inode = None
    if any(end > covered_len for end, _r, _raw in lines):
        keep = _tail_to_keep(layout, meta_rel, dirs, lines, covered_len, trusted, verified, gone)
        inode = _rewrite_tail(meta_path, covered_len, [(rec.get("kind"), rec.get("name"), raw)
                                                       for end, rec, raw in lines if end > covered_len and rec], keep)
    return len(verified), len(gone), inode


def _split_records(lines, covered_len):
    """Given a metadata file's (end, record, raw) lines and its covered length: the (kind, name) keys
    recorded inside it (trusted) and the first record of each key after it (to check against)."""
    trusted, tail = set(), {}
    for end, rec, _raw in lines:
        if rec is None or "name" not in rec:
            continue
        key = (rec.get("kind"), rec["name"])
        if end <= covered_len:
            trusted.add(key)
        else:
            tail.setdefault(key, rec)
    return trusted, tail


def _check_uncovered(layout, dirs, trusted, tail):
    """Given the folders, the trusted keys and the uncovered records: keep each untrusted media file that
    matches its record, remove the others. Returns the (kind, name) keys (kept, removed)."""
    verified, gone = set(), set()
    for d in dirs:
        folder = os.path.join(layout.root, d)
        for name in _names(folder):
            kind = kind_of(name)[0]
            if kind is None or (kind, name) in trusted:
                continue
            if _matches(os.path.join(folder, name), tail.get((kind, name)), layout, kind, d, name):
                verified.add((kind, name))
                continue
            unlink_quiet(os.path.join(folder, name))
            gone.add((kind, name))
            log.warning("%s: %s/%s was visible but not checkpointed and does not match its record: "
                        "removed (lost with the power cut)", layout.device, d, name)
    return verified, gone


def _tail_to_keep(layout, meta_rel, dirs, lines, covered_len, trusted, verified, gone):
    """The uncovered records to keep: the files checked and kept, and those in a folder this check did
    not cover (left alone); not the removed ones nor those whose file is missing from a checked folder."""
    hour_dir = os.path.basename(os.path.dirname(meta_rel))
    keep = set()
    for end, rec, _raw in lines:
        if end <= covered_len or not rec or (rec.get("kind"), rec.get("name")) in trusted:
            continue
        key = (rec.get("kind"), rec.get("name"))
        d = f"{key[0]}/{hour_dir}"
        if key in verified or (key not in gone and not (d in dirs and not _exists(layout.root, d, key[1]))):
            keep.add(key)
    return keep


def _exists(root, d, name):
    return isinstance(name, str) and os.path.exists(os.path.join(root, d, name))


def _matches(path, rec, layout, kind, dir_rel, name):
    """True if the SD file at ``path`` has its record and is the file it describes: the same bytes as its
    outbox copy where one waits, else the record's size and crc32. A copy without its record is not kept, even
    if its outbox copy matches: released on its own strength, it would stay on the SD unrecorded and the next
    recovery would remove it. Its outbox copy goes back to RAM and is archived again, record and all."""
    if not rec:
        return False
    ob = outbox_path(layout, kind, dir_rel, name)
    if os.path.isfile(ob):
        return same_content(ob, path)
    try:
        if os.stat(path).st_size != rec.get("size"):
            return False
        return "crc32" in rec and crc32_file(path) == rec["crc32"]
    except OSError:
        return False


def _rewrite_tail(meta_path, covered_len, tail, keep):
    """Cut a metadata file back to its covered length and append again the tail records of the files in
    ``keep`` (the first record of each). Done by a new file renamed over the old one, its data flushed
    first, so a crash at any instant (a kill, a power cut) leaves the old file or the new one: the tail
    holds the records of the files whose RAM copies the last checkpoint released (a record covers what the
    checkpoint before it measured), and truncating in place, then writing, lost them to a crash in between
    (the next recovery removed those files). Returns the new file's inode, or None if nothing changed."""
    with open(meta_path, "rb") as f:
        data = f.read()
    out = [data[:covered_len]]
    for kind, name, raw in tail:
        if (kind, name) in keep:
            keep = keep - {(kind, name)}
            out.append(raw)
    new = b"".join(out)
    if new == data:
        return None
    atomic_write(meta_path, new, rename=_flushed_rename)
    return os.stat(meta_path).st_ino


def _flushed_rename(tmp, path):
    """Rename ``tmp`` over ``path`` once its data is on the card."""
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, path)
