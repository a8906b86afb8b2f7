"""The keep-in-RAM rule, in one place: which hot files stay in RAM and which must go to the SD, and why.

Per kind, the newest ``limits[kind]`` files (by mtime, tie-break on the number in the name) stay in
RAM. A segment beyond its limit still stays while it is in the live playlist or within ``margin``
of it: its number is not below (first number in output.m3u8) - margin, so a player that has just
read the playlist can still fetch it. Modes:

  NORMAL  the rules above
  DRAIN   the tmpfs is above its high water: down to the limits now, ignoring the playlist
  FLUSH   nothing stays (``flush``, a clean stop)

Pure: lists in, lists out; no file system. The archiver decides with ``due``; health, status and
the benchmarks compare RAM with ``held``, the count ``due`` keeps in a steady NORMAL pass.
"""

from dataclasses import dataclass

NORMAL = "normal"
DRAIN = "drain"
FLUSH = "flush"

# why a file stays
NEWEST = "among the newest of its kind"
LIVE = "in the live playlist or its margin"
# why a file goes
OVER_LIMIT = "beyond the hot limit"
FLUSHED = "flush: nothing stays"

MODES = (NORMAL, DRAIN, FLUSH)


@dataclass(frozen=True)
class Verdict:
    stay: dict  # kind -> the files that stay in RAM, oldest first
    go: list  # the files that leave RAM, oldest first over all kinds (by mtime, then number)
    why: dict  # file -> NEWEST, LIVE, OVER_LIMIT or FLUSHED


def due(files, limits, mode=NORMAL, live_first=None, margin=0):
    """Given the hot files by kind (each list oldest first: by mtime, then number; a file has
    ``.mtime`` and ``.number``), the per-kind hot limits, the pass mode, the first segment number of
    the live playlist (None: no playlist read) and the segment margin, return the Verdict: what
    stays, what goes, and why."""
    if mode not in MODES:
        raise ValueError(f"unknown archive mode {mode!r} (one of {', '.join(MODES)})")
    stay, go, why = {}, [], {}
    for kind, lst in files.items():
        keep = 0 if mode == FLUSH else limits[kind]
        first_newest = max(0, len(lst) - keep)
        # only NORMAL waits for the playlist: DRAIN must free the tmpfs before FFmpeg fails
        live_cutoff = live_first - margin if kind == "segments" and mode == NORMAL and live_first is not None else None
        stay[kind] = []
        for i, f in enumerate(lst):
            if i >= first_newest:
                reason = NEWEST
            elif live_cutoff is not None and f.number >= live_cutoff:
                reason = LIVE
            else:
                reason = FLUSHED if mode == FLUSH else OVER_LIMIT
            why[f] = reason
            (stay[kind] if reason in (NEWEST, LIVE) else go).append(f)
    go.sort(key=lambda f: (f.mtime, f.number))
    return Verdict(stay, go, why)


def held(kind, limits, margin):
    """Given a kind, the hot limits and the segment margin, return how many files of that kind ``due``
    keeps in a steady NORMAL pass: the limit, and for segments also the ``margin`` that have left the
    live playlist (FFmpeg's list holds the newest ``limits['segments']``) but may still be fetched."""
    return limits[kind] + (margin if kind == "segments" else 0)


def overdue(mtimes, keep, now, grace):
    """Given a kind's mtimes in RAM (newest first), how many of them stay (``held``), the time and a
    grace in seconds, return how many files beyond the kept ones have been due for longer than the
    grace: files the archiver should already have moved. A file is due from the moment the keep-th
    newer file arrived (``mtimes[i - keep]``), not from its own mtime: the oldest kept file is always
    older than the grace, so the one a new file pushes out is "old" the instant it becomes due."""
    if keep <= 0:
        return sum(1 for t in mtimes if now - t > grace)
    return sum(1 for i in range(keep, len(mtimes)) if now - mtimes[i - keep] > grace)
