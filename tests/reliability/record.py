"""Record what a reliability case tried and what it lost, for docs/RELIABILITY.md (issue 7).

Every reliability test (pytest in tests/, testinfra in molecule/) calls ``record()`` once per case it
ran. Lines are appended to ``$HOTCOLD_RELIABILITY_DIR/results.jsonl`` (default
``artifacts/reliability/`` in the repository); ``scripts/reliability-report.py`` turns them into the
report. A line is written only after the test's assertions held, so a case in the report passed.

Plain functions and no pytest import: the molecule tests run in another pytest session and
import this file by path.
"""

import functools
import json
import os
import subprocess
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Issue 7's eight cases, issue 14's power cuts and disk errors, issue 13's wear budget, issue 15's mount events,
# in report order.
CASES = {
    "crash": "1. Crash safety (SIGKILL at random moments)",
    "sd_faults": "2. SD card full / read-only",
    "burst": "3. Burst (10x the normal rate)",
    "clock": "4. Wall-clock jumps",
    "clean_stop": "5. Clean stop and reboot",
    "watchdog": "6. Watchdog (hung archiver)",
    "bad_input": "7. Bad input (config, inventory, HTTP)",
    "hardening": "8. Hardening",
    "powercut": "9. Power cuts (block-layer crash states, issue 14)",
    "power_cut_vm": "10. Whole-machine power cuts (qemu VM, issue 14)",
    "disk_errors": "11. Disk errors (EIO and read-only through the recording layer, issue 14)",
    "budget": "12. Wear budget (issue 13)",
    "mount_events": "13. Mount events (one device's tmpfs stopped, unmounted, lazily detached; issue 15)",
}

# The columns that count every file of a case (issue 14): a case passes them as ``columns={...}``.
FILE_COLUMNS = {
    "written": "files written",
    "archived_intact": "archived intact",
    "in_ram_at_cut": "still in RAM at the cut",
    "dropped": "dropped by policy (logged)",
    "expired": "expired by retention",
    "lost": "lost (unaccounted)",
    "torn": "torn",
    "duplicated": "duplicated",
}


def soak():
    """True for `make soak` (HOTCOLD_SOAK=1): tests run their long form."""
    return os.environ.get("HOTCOLD_SOAK", "") not in ("", "0")


def scaled(bounded, long):
    """The bounded figure for `make test`, the long one for `make soak`."""
    return long if soak() else bounded


@functools.lru_cache(maxsize=None)
def code_version():
    """The commit the tests run on (+ "dirty" with uncommitted changes to tracked files), or None."""
    try:
        head = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (head + (" + uncommitted changes" if dirty else "")) or None


def results_dir():
    return os.environ.get("HOTCOLD_RELIABILITY_DIR") or os.path.join(REPO, "artifacts", "reliability")


def record(case, name, *, tried, produced=None, lost=None, torn=None, source=None, **figures):
    """Append one result line.

    case      one of CASES
    name      what was tried, in a few words ("SIGKILL during archiving")
    tried     how many times (rounds, requests, inputs)
    produced  files the writer produced (None where no files are involved)
    lost, torn  files lost / torn (None where not applicable)
    source    the test that ran it (file::function); callers pass __file__-relative names
    figures   anything else worth printing (dropped=3, exposure=1.9, verdict="OK", ...)
    """
    if case not in CASES:
        raise ValueError(f"unknown reliability case {case!r}; known: {', '.join(CASES)}")
    line = {
        "case": case,
        "name": name,
        "tried": tried,
        "produced": produced,
        "lost": lost,
        "torn": torn,
        "source": source,
        "mode": "soak" if soak() else "bounded",
        "code": code_version(),
        "at": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "figures": figures,
    }
    d = results_dir()
    os.makedirs(d, exist_ok=True)
    # One short write with O_APPEND: lines from parallel writers never interleave.
    data = (json.dumps(line, sort_keys=True) + "\n").encode()
    fd = os.open(os.path.join(d, "results.jsonl"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    return line
