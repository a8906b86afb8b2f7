"""Batched, crash-safe moves from the tmpfs (RAM) to the SD card: visible at once, durable at the checkpoint.

rename() cannot cross file systems (EXDEV) and shutil.move is copy-then-delete without fsync, so a
crash mid-copy would leave a torn file. A batch goes through these steps, none of which flushes:

  1. copy every file to a hidden temp name in its destination folder (``.<name>.<pid>.hctmp``),
     carrying the source's mtime over (readers and cleanup rely on it) and taking its CRC32;
  2. rename every temp file into place (atomic: readers see all or nothing), never over an existing
     file: a second recording under a name the archive holds is kept beside it (layout.collision_name)
     and counted; an identical one is already archived;
  3. append the metadata records (one write per metadata file, with size and crc32, no fsync);
  4. move the RAM copies into the device's outbox (a rename on the tmpfs), where they wait for the
     next checkpoint (checkpoint.py): ONE syncfs for the whole card, after which they are unlinked.

The file is visible on the SD (nginx, playlists, indexes) from step 2; it is durable only after the next
checkpoint. A kill -9 at any instant leaves either temp files (deleted by ``recover``; the sources are
still in RAM and are moved again) or a complete archive copy next to a still-present RAM copy
(``complete_half_done`` / the checkpoint's outbox recovery keep it pending). A power cut loses at most
what was in RAM: recovery removes visible files that no checkpoint covered and whose bytes do not match
their record. So nothing is torn, duplicated or released before it is durable.
"""

import errno
import logging
import os
import zlib
from dataclasses import dataclass, field

from hotcold import metadata
from hotcold.checkpoint import crc32_file
from hotcold.fsutil import rename_noreplace, same_content, unlink_quiet, write_all
from hotcold.hours import hour_key, read_marker, sweep_trash
from hotcold.layout import ARCHIVE_KINDS, HOT_KINDS, METADATA_FILE, collision_name, is_temp, number_of, temp_name

log = logging.getLogger("hotcold.mover")


@dataclass
class MoveItem:
    kind: str
    name: str
    src: str
    dst_dir: str
    meta_path: str = None  # metadata/<h>/archive.jsonl, or None for no record
    record: dict = field(default_factory=dict)
    key: object = None  # HourKey of the destination
    number: int = 0
    # filled in by the copy
    size: int = 0
    mtime: float = 0.0
    crc32: int = 0
    outbox: str = None  # where the RAM copy waits for the checkpoint
    _tmp: str = None

    @property
    def dst(self):
        return os.path.join(self.dst_dir, self.name)


@dataclass
class BatchResult:
    moved: list = field(default_factory=list)
    vanished: list = field(default_factory=list)  # source gone before we could copy it
    failed: list = field(default_factory=list)  # not moved; source left in RAM
    collisions: list = field(default_factory=list)  # moved under a collision name (also in moved)
    sd_error: OSError = None  # the SD side failed (full, read-only, I/O error...)
    meta_error: OSError = None
    appended: list = field(default_factory=list)  # (metadata path, inode, offset, bytes) of each record write


class SourceError(OSError):
    pass


def _copy(src, tmp):
    """Copy src to tmp (new file), keep mtime; return (the source's stat, CRC32 of the bytes). SourceError
    if the source side fails, OSError otherwise (destination side)."""
    try:
        sfd = os.open(src, os.O_RDONLY)
    except OSError as e:
        raise SourceError(e.errno, e.strerror, src) from None
    try:
        src_stat = os.fstat(sfd)
        dfd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        crc = 0
        offset = 0
        try:
            while offset < src_stat.st_size:
                chunk = os.read(sfd, min(1 << 20, src_stat.st_size - offset))
                if not chunk:
                    break
                crc = zlib.crc32(chunk, crc)
                write_all(dfd, chunk)
                offset += len(chunk)
        finally:
            os.close(dfd)
        if offset != src_stat.st_size:
            raise SourceError(errno.EIO, f"short copy {offset}/{src_stat.st_size}", src)
        os.utime(tmp, ns=(src_stat.st_atime_ns, src_stat.st_mtime_ns))
        return src_stat, crc
    finally:
        os.close(sfd)


def move_batch(items, now, hold):
    """Given MoveItems, the time and ``hold(item)`` (returns the outbox path where the item's RAM copy
    waits for the checkpoint: the archiver's Checkpoint registers it), make them visible on the SD in
    the steps of the module doc; return the BatchResult. Never raises for I/O errors."""
    res = BatchResult()
    copied = _copy_all(items, res)
    if not copied:
        return res
    renamed = _rename_all(copied, res)
    _write_metadata(renamed, now, res)
    _stash_sources(renamed, res, hold)
    return res


def _copy_all(items, res):
    """1. Copy every item to its temp name. Return the copied items; on a destination error none
    (every temp file removed, the batch failed, ``res.sd_error`` set)."""
    copied = []
    for i, it in enumerate(items):
        it._tmp = os.path.join(it.dst_dir, temp_name(it.name))
        try:
            src_stat = _copy(it.src, it._tmp)
        except SourceError as e:
            unlink_quiet(it._tmp)
            (res.vanished if e.errno == errno.ENOENT else res.failed).append(it)
            continue
        except OSError as e:
            _unlink_tmp(it)
            res.sd_error = e
            res.failed.extend(items[i:])
            for c in copied:
                _unlink_tmp(c)
            res.failed.extend(copied)
            return []
        src_stat, it.crc32 = src_stat
        it.size = src_stat.st_size
        it.mtime = src_stat.st_mtime
        copied.append(it)
    return copied


def _rename_all(copied, res):
    """2. Rename every temp file into place; return the renamed items. A vanished hour folder fails
    only its item (retried later); any other error fails the rest of the batch."""
    renamed = []
    for i, it in enumerate(copied):
        try:
            _place(it, res)
        except OSError as e:
            _unlink_tmp(it)
            if e.errno == errno.ENOENT:  # the hour folder was retired under us: retry later
                res.failed.append(it)
                continue
            res.sd_error = e
            res.failed.append(it)
            for c in copied[i + 1:]:
                _unlink_tmp(c)
                res.failed.append(c)
            break
        renamed.append(it)
    return renamed


def _place(it, res):
    """Given a copied item, rename its temp file to its name, or to the first free collision name if
    another recording holds it; an identical file already there means this one is archived. Sets
    ``it.name`` to the name it has on the SD."""
    for k in range(0, 1000):
        name = it.name if k == 0 else collision_name(it.name, k)
        dst = os.path.join(it.dst_dir, name)
        try:
            rename_noreplace(it._tmp, dst)
        except FileExistsError:
            if same_content(it._tmp, dst):
                _unlink_tmp(it)
                break
            continue
        if k:
            res.collisions.append(it)
            log.warning("%s/%s: the archive already holds another recording under that name: kept as %s",
                        it.kind, it.name, name)
        break
    else:
        raise OSError(errno.EEXIST, "1000 recordings under one name", it.dst)
    it.name = name


def _write_metadata(renamed, now, res):
    """3. Append each renamed item's record to its metadata file (one write per file, no fsync: the
    checkpoint's flush makes it durable with the files)."""
    by_meta = {}
    for it in renamed:
        if it.meta_path:
            rec = dict(it.record)
            rec.update(name=it.name, kind=it.kind, size=it.size, mtime=round(it.mtime, 6), crc32=it.crc32)
            if now is not None:
                rec.setdefault("archived_at", round(now, 3))
            it.record = rec
            by_meta.setdefault(it.meta_path, []).append(rec)
    for path, recs in by_meta.items():
        try:
            res.appended.append((path, *metadata.append_records(path, recs, fsync=False)))
        except OSError as e:
            res.meta_error = e
            log.error("cannot write %d metadata record(s) to %s: %s", len(recs), path, e)


def _stash_sources(renamed, res, hold):
    """4. Move each RAM copy into the outbox (``hold``), where it waits for the checkpoint's flush. A RAM
    copy that cannot be moved stays where it is (archived again as identical)."""
    for it in renamed:
        it.outbox = hold(it)
        try:
            stash(it.src, it.outbox)
        except FileNotFoundError:
            pass  # gone from RAM meanwhile (cleanup): the SD copy is what is left
        except OSError as e:
            log.error("%s/%s: cannot move the RAM copy to the outbox: %s", it.kind, it.name, e)
        res.moved.append(it)


def stash(src, outbox):
    """Move a RAM copy to its outbox path (same tmpfs); an identical copy already waiting there makes
    this one redundant (unlinked). Raises OSError otherwise."""
    os.makedirs(os.path.dirname(outbox), exist_ok=True)
    try:
        rename_noreplace(src, outbox)
    except FileExistsError:
        if not same_content(src, outbox):
            raise
        unlink_quiet(src)


def _unlink_tmp(it):
    if it._tmp:
        try:
            unlink_quiet(it._tmp)
        except OSError:
            pass


# ---------------------------------------------------------------- recovery


def remove_temp_files(layout, now=None, ram=True):
    """Delete hotcold temp files left in the device's archive by a crash (and in its RAM, unless ``ram`` is
    False: its tmpfs is not mounted); sweep trash folders."""
    removed = 0
    for kind in ARCHIVE_KINDS:
        kdir = layout.kind_dir(kind)
        sweep_trash(kdir, now)
        try:
            with os.scandir(kdir) as it:
                hours = [e.path for e in it if e.is_dir(follow_symlinks=False) and not e.name.startswith(".")]
        except FileNotFoundError:
            continue
        for hdir in hours:
            removed += _remove_temps_in(hdir)
            if kind == "metadata":
                metadata.repair_tail(os.path.join(hdir, METADATA_FILE))
    # our own temp files in RAM (latest.jpg swap, RAM indexes)
    for sub in ("captures", "index") if ram else ():
        _remove_temps_in(os.path.join(layout.hot, sub))
    return removed


def _remove_temps_in(folder):
    """Unlink hotcold's temp files directly in ``folder``; returns how many were removed."""
    try:
        with os.scandir(folder) as it:
            temps = [e.path for e in it if is_temp(e.name)]
    except FileNotFoundError:
        return 0
    return sum(1 for p in temps if unlink_quiet(p))


def complete_half_done(layout, tz, now, hold):
    """Hot files whose archive copy already exists (the same bytes, under their name or a collision
    name) were moved by a process that died before stashing them: write the missing metadata record,
    then move the RAM copy to the outbox path ``hold(kind, sd path)`` gives (released by the next
    checkpoint: the SD copy may not be durable yet). A file of the same name with other bytes is another
    recording: the RAM copy stays and is archived beside it. Returns the number of completed moves."""
    done = 0
    meta_names = {}
    for kind in HOT_KINDS:
        for entry in _hot_entries(layout, kind):
            try:
                hot_stat = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            key = hour_key(hot_stat.st_mtime, tz)
            dst_dir = layout.hour_dir(kind, key.hour)
            if read_marker(dst_dir) not in (None, key.day):
                continue
            name = _archived_as(entry, dst_dir)
            if name is None:
                continue
            _record_recovered(layout, key, kind, name, hot_stat, now, meta_names)
            try:
                stash(entry.path, hold(kind, os.path.join(dst_dir, name)))
            except OSError as e:
                log.error("%s: cannot move %s to the outbox: %s", layout.device, entry.path, e)
                continue
            done += 1
    return done


def _hot_entries(layout, kind):
    try:
        with os.scandir(layout.hot_dir(kind)) as it:
            return [e for e in it if number_of(kind, e.name) is not None]
    except FileNotFoundError:
        return []


def _archived_as(entry, dst_dir):
    """Given a hot file, the name under which ``dst_dir`` holds the same bytes, or None."""
    for k in range(0, 1000):
        name = entry.name if k == 0 else collision_name(entry.name, k)
        path = os.path.join(dst_dir, name)
        if not os.path.exists(path):
            return None
        if same_content(entry.path, path):
            return name
    return None


def _record_recovered(layout, key, kind, name, hot_stat, now, meta_names):
    """Append the metadata record of a move a killed process completed, unless it is already there."""
    mpath = layout.metadata_file(key.hour)
    if read_marker(os.path.dirname(mpath)) not in (None, key.day):
        return
    if mpath not in meta_names:
        meta_names[mpath] = {(r.get("kind"), r.get("name")) for r in metadata.read_records(mpath)}
    if (kind, name) in meta_names[mpath]:
        return
    rec = {"name": name, "kind": kind, "size": hot_stat.st_size, "mtime": round(hot_stat.st_mtime, 6),
           "crc32": crc32_file(os.path.join(layout.hour_dir(kind, key.hour), name)), "recovered": True}
    if now is not None:
        rec["archived_at"] = round(now, 3)
    try:
        os.makedirs(os.path.dirname(mpath), exist_ok=True)
        metadata.append_records(mpath, [rec], fsync=False)
        meta_names[mpath].add((kind, name))
    except OSError as err:
        log.error("cannot write recovered metadata record to %s: %s", mpath, err)
