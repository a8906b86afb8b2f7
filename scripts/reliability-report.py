#!/usr/bin/env python3
"""Render the reliability report (issue 7) from the lines the tests recorded.

    scripts/reliability-report.py [--results artifacts/reliability/results.jsonl] [--out FILE] [--readme README.md]

`make soak` writes docs/RELIABILITY.md with it after the long run; `make test` writes
artifacts/RELIABILITY.md after the bounded one; with --readme it also rewrites the README's
reliability summary (between two marker lines) from the same rows, so no figure there is typed in.
The tests record a line only after their assertions held (tests/reliability/record.py), so every
row here is a case that passed; a case with no line is shown as NOT RUN. Exit 1 if any case of
record.CASES (issues 7, 13, 14 and 15) is missing.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "reliability"))
from record import CASES, FILE_COLUMNS  # noqa: E402

# What each case means, and what it does not cover: printed under its table.
NOTES = {
    "crash": "A writer produces files as FFmpeg does (temp name, rename into place, live playlist) while "
             "the real daemon is SIGKILLed at a random moment (half of the rounds during start-up recovery, "
             "half in the main loop) and restarted. After every kill: every file produced so far is in RAM "
             "or on the SD, and every file on the SD is byte-identical (sha256). After the last round: each "
             "file in exactly one place, one metadata record per archived file, no temp file anywhere.",
    "sd_faults": "The SD card is a small ext4 filesystem on a loop device. A full card first gives up its "
                 "oldest archived hours (down to archive.evict_floor_hours); while it cannot take files they "
                 "stay in RAM up to the tmpfs high water, and only beyond it are the oldest dropped (each drop "
                 "logged by name and counted), so FFmpeg never sees an error; `hotcold health` exits 2 with "
                 "`CRIT ... SD not writable: <errno>`. The card recovers without a restart. EIO from a failing "
                 "card is case 11.",
    "burst": "The plan's limits (100 captures, 100 thumbnails, 10 segments), the roles' default 100M tmpfs, "
             "the default high-water mark (80 %), realistic sizes (capture ~100 KB, thumbnail ~6 KB, "
             "segment ~500 KB). The tmpfs use is sampled every 50 ms.",
    "clock": "Files get the jumped clock as their mtime, as FFmpeg's would. Observed and by design: after a "
             "step back the files written before the step look newer (by mtime) than the fresh ones, so RAM "
             "keeps those (the column pre_jump_captures_kept_in_ram_after_back_jump) and the fresh files go "
             "to the SD at once until the clock catches up; nothing is lost or misfiled, and `latest.jpg` "
             "follows the capture number, so the live picture stays fresh.",
    "clean_stop": "Process level here; the molecule `faults` scenario adds the host level (reboot ordering, "
                  "`systemctl stop` under load, a finished hour closed as VOD).",
    "watchdog": "The molecule `faults` scenario: SIGSTOP the archiver on a systemd host, watch health and "
                "the restart.",
    "bad_input": "Config and inventory: each case is refused before anything changes, with a message that "
                 "names the key and the bad value. HTTP: requests against the real nginx of the molecule "
                 "`default` host; a canary file outside the stream tree must never be served.",
    "hardening": "Measured on the molecule `default` host (Debian 12, systemd 252).",
    "powercut": "The SD is an ext4 image behind a recording FUSE layer and a loop device: every block write and "
                "flush of a real run (2 devices at the plan's rates, `hotcold cleanup` once mid-run) is logged. "
                "A crash state is the image replayed up to flush k plus a random subset of the writes before "
                "flush k+1; it is mounted (the journal replays), recovered by the archiver with empty RAM and "
                "checked: every file the archiver unlinked from RAM by flush k is on the SD byte-identical and "
                "once, nothing torn, no temp file, metadata and playlists agree, ready and archiving again. "
                "Recovery time is from mount to the archiver's ready heartbeat. Whole-VM power cuts are case 10, "
                "disk errors case 11.",
    "disk_errors": "The stack of case 9, with faults injected by its recording layer while the archiver runs (2 "
                   "devices at the plan's rates): the card is remounted read-only and back; then file-data writes "
                   "(16 KiB and more, never the journal) fail with EIO at random (30 %), then all of them, then none; "
                   "last, every flush fails. Crash states are taken in the read-only window and in the EIO window and "
                   "checked as in case 9: no RAM copy leaves before its SD copy is durable, nothing under a final name "
                   "is torn. Health must say CRIT in each spell; where ext4 keeps taking writes, archiving resumes "
                   "without a restart. Not covered: what ext4 does with failed writes is the kernel's call. With "
                   "errors=remount-ro it aborts its journal when a failed write hits metadata or an unwritten-extent "
                   "conversion, and stays read-only until remounted (`ext4_after_data_eio` says whether it did in "
                   "this run: then most of the spell met a read-only card, and the files beyond the RAM high water "
                   "were dropped and counted). A card that acknowledges writes it never stores is not modelled. One "
                   "file's failed writes at a time: tests/powercut/test_data_eio.py.",
    "power_cut_vm": "The real archiver runs in a qemu VM (TCG, Debian 12 kernel 6.1) on an ext4 SD disk with tmpfs "
                    "hot folders, 2 devices at the plan's rates and sizes; qemu is SIGKILLed at a random moment "
                    "(the guest's page cache dies with it). Ground truth is every file the guest reported unlinked "
                    "from RAM over virtio-serial. A copy of the SD image is mounted on the host (the journal "
                    "replays), the archiver's start-up recovery runs with empty RAM, and every written file is "
                    "counted in exactly one column: archived, in_ram_at_cut (gone by design, never counted as "
                    "saved), dropped, expired, lost, torn, duplicated. The disk behind qemu is the host's page "
                    "cache, which survives the kill: this does not model a card that loses or reorders its own "
                    "unflushed writes (the block-layer engine does).",
    "budget": "The real daemon, 2 devices at the plan's rates with small synthetic files (sized for ~140 KB/s), a "
              "2 GB/day budget (23 KB/s) and today's ledger (`<run_dir>/budget.json`) seeded just under the pace, "
              "as an earlier archiver of this boot leaves it: the run overshoots within seconds. Counted by file name: "
              "captures keep one per 5 s window of capture time (capture_windows_kept: windows each kept exactly "
              "one, none skipped), thumbnails and segments are never thinned, every thinned file is counted alike "
              "in counters.json, the heartbeat, the Prometheus textfile and `hotcold status`, and every produced "
              "file is on the SD, in RAM or counted. Then the budget is raised in the config and the archiver "
              "restarted while the writer goes on: recover_s is from the restart to the first heartbeat at the "
              "full rate; every capture after it reaches the SD and the counters stop growing.",
    "mount_events": "The molecule `default` host (2 devices, real FFmpeg, systemd 252): one device's tmpfs is "
                    "stopped with its mount unit, unmounted by hand and mounted again 0.3 s later, or lazily "
                    "detached (`umount -l`) and mounted again, while the other device goes on. Every media file "
                    "in that tmpfs just before the event is counted (sha256) in one column: archived intact, "
                    "torn, or still in RAM at the cut, i.e. gone with a tmpfs unmounted by hand (a stop of the "
                    "mount unit flushes first and must leave none). The archiver keeps its pid, nothing lands "
                    "on the SD under the mount point, and capture and archiving resume by themselves "
                    "(followed_s: the archiver serves the new tmpfs; archived_again_s: its first file archived).",
}

SKIP_FIGURES = {"cases", "columns"}  # long lists: summarised by `tried`; columns get their own table


def load(path):
    rows = []
    try:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                line = line.strip()
                if line:
                    try:
                        rows.append(json.loads(line))
                    except ValueError as e:
                        sys.exit(f"{path}:{n}: not JSON ({e})")
    except FileNotFoundError:
        sys.exit(f"{path}: no results; run `make test` or `make soak` first")
    latest = {}
    for r in rows:  # a case re-run in the same results file: the latest line wins
        latest[(r["case"], r["name"], r.get("source"))] = r
    return list(latest.values())


def machine():
    def run(*cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip()
        except OSError:
            return "?"

    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "?")
    except OSError:
        pass
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) // 1024
    head = run("git", "-C", REPO, "rev-parse", "--short", "HEAD")
    dirty = run("git", "-C", REPO, "status", "--porcelain", "--untracked-files=no")
    return {
        "code": f"{head}{' + uncommitted changes' if dirty else ''} (at render time)",
        "CPU": f"{cpu}, nproc {os.cpu_count()}",
        "RAM": f"{mem} MB",
        "kernel": platform.release(),
        "python / ffmpeg / systemd (host)": " / ".join([
            run("/usr/bin/python3", "-c", "import platform; print(platform.python_version())"),
            (run("ffmpeg", "-version").split("\n")[0].split(" ")[2:3] or ["?"])[0],
            (run("systemctl", "--version").split("\n")[0].split(" ")[1:2] or ["?"])[0],
        ]),
    }


def cell(v):
    if v is None:
        return "-"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    if isinstance(v, (dict, list)):
        return json.dumps(v, separators=(", ", ": ")).replace("|", "\\|")
    return str(v).replace("|", "\\|")


def figures(r):
    fig = {k: v for k, v in sorted(r.get("figures", {}).items()) if k not in SKIP_FIGURES}
    return "; ".join(f"{k} {cell(v)}" for k, v in fig.items()) or "-"


def file_columns_table(rows):
    """The table that counts every file (issue 14) for the rows that recorded ``columns``; [] if none."""
    rs = [r for r in rows if isinstance(r.get("figures", {}).get("columns"), dict)]
    if not rs:
        return []
    out = ["| what was tried | times | " + " | ".join(FILE_COLUMNS.values()) + " | recovery p50 / p99 (s) |",
           "|---|---|" + "---|" * len(FILE_COLUMNS) + "---|"]
    for r in rs:
        c, f = r["figures"]["columns"], r["figures"]
        rec = f"{cell(f.get('recovery_p50_s'))} / {cell(f.get('recovery_p99_s'))}"
        out.append(f"| {cell(r['name'])} | {cell(r['tried'])} | " + " | ".join(cell(c.get(k)) for k in FILE_COLUMNS)
                   + f" | {rec} |")
    return out + [""]


def accounted(r, key):
    """Given a recorded row and a FILE_COLUMNS key, the row's count of it, or None where the case does not
    count it. Cases that count every file pass ``columns``; the older cases name their counts in figures
    (archived, dropped, duplicated; the wear budget's thinned captures are its drops)."""
    f = r.get("figures", {})
    if isinstance(f.get("columns"), dict):
        return f["columns"].get(key)
    if key in ("lost", "torn"):
        return r[key]
    if key == "dropped" and "per_kind" in f:
        return sum(k.get("thinned", 0) for k in f["per_kind"].values())
    return f.get({"archived_intact": "archived"}.get(key, key))


def total(rows, key):
    """The sum of accounted(r, key) over rows, or None if no row counts it."""
    vs = [v for v in (accounted(r, key) for r in rows) if isinstance(v, int)]
    return sum(vs) if vs else None


def by_case_of(rows):
    """{case: its rows} for every case of CASES, and the cases no row recorded."""
    by_case = {c: [r for r in rows if r["case"] == c] for c in CASES}
    return by_case, [c for c, rs in by_case.items() if not rs]


def summary(rows, failed):
    """The summary: a headline that puts what was dropped on purpose next to what was lost (issue 14), one
    line per case with its drops and duplicates, and the cases that count every file in every column."""
    by_case, missing = by_case_of(rows)
    lost, torn, dup, dropped = (total(rows, k) or 0 for k in ("lost", "torn", "duplicated", "dropped"))
    out = [
        f"{len(rows)} checks, {sum(r['tried'] or 0 for r in rows):,} things tried (kills, faults, requests, bad "
        f"inputs, files inspected); {sum(r['produced'] or 0 for r in rows):,} files produced under faults: "
        f"**{lost:,} lost, {torn:,} torn, {dup:,} duplicated; {dropped:,} dropped on purpose**, each by name in the "
        "log and counted (a full or read-only card beyond the RAM high water, captures thinned by the wear "
        "budget). The crash-state cases count a file once in every state it is in, so their figures are files x "
        "states." + "".join(f" **FAILED: {CASES[c]}** ({failed[c]})" for c in failed)
        + (f" NOT RUN: {', '.join(CASES[c] for c in missing if c not in failed)}."
           if set(missing) - set(failed) else ""),
        "",
        "| case | checks | times tried | files produced | dropped by policy (logged) | lost | torn | duplicated |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c, title in CASES.items():
        rs = by_case[c]
        if c in failed and not rs:
            out.append(f"| {title} | FAILED | - | - | - | - | - | - |")
            continue
        if not rs:
            out.append(f"| {title} | NOT RUN | - | - | - | - | - | - |")
            continue
        produced = [r["produced"] for r in rs if r["produced"] is not None]
        out.append(f"| {title} | {len(rs)} | {sum(r['tried'] or 0 for r in rs):,} | "
                   f"{cell(sum(produced)) if produced else '-'} | "
                   + " | ".join(cell(total(rs, k)) for k in ("dropped", "lost", "torn", "duplicated"))
                   + " |")
    counted = [r for c in CASES for r in by_case[c] if isinstance(r.get("figures", {}).get("columns"), dict)]
    if counted:
        out += ["", "The cases that count every file, each in exactly one column (a crash state counts every file "
                "written up to its cut; files still in RAM at a cut are gone by design, never counted as saved):",
                ""] + file_columns_table(counted)
    return out


def render(rows, results_path, failed):
    modes = sorted({r["mode"] for r in rows})
    by_case, missing = by_case_of(rows)
    dates = sorted(r["at"] for r in rows)
    out = [
        "# hotcold reliability report",
        "",
        "Generated by `scripts/reliability-report.py` from the lines the tests recorded in "
        f"`{os.path.relpath(results_path, REPO)}` (issue 7). A test records its line only after all of its "
        "assertions held, so every row below passed. Reproduce: `make soak` (the long run, writes this file) or "
        "`make test` (the bounded run, writes artifacts/RELIABILITY.md).",
        "",
        "| run | |",
        "|---|---|",
        f"| mode | {', '.join(modes)} "
        "(`make soak` sets HOTCOLD_SOAK=1: 1,000 kills, longer faults and bursts, more rounds) |",
        f"| recorded | {dates[0]} to {dates[-1]} |" if dates else "| recorded | - |",
    ]
    codes = sorted({r["code"] for r in rows if r.get("code")})
    mach = machine()
    if codes:  # what the tests ran on (recorded with each line), not what the report was rendered at
        mach["code"] = ", ".join(codes) + " (as recorded by the tests)"
    out += [f"| {k} | {v} |" for k, v in mach.items()]
    out += ["", "## Summary", ""] + summary(rows, failed)
    hard = [r for r in by_case["hardening"] if "exposure" in r.get("figures", {})]
    if hard:
        out += ["", "## Hardening scores (`systemd-analyze security`, target <= 2.5 \"OK\")", "",
                "| unit | exposure | verdict |", "|---|---|---|"]
        for r in sorted(hard, key=lambda r: r["name"]):
            f = r["figures"]
            out.append(f"| {cell(f.get('unit', r['name']))} | {cell(f['exposure'])} | {cell(f.get('verdict'))} |")
    for c, title in CASES.items():
        out += ["", f"## {title}", ""]
        rs = sorted(by_case[c], key=lambda r: (r.get("source") or "", r["name"]))
        if c in failed:  # a test of this case failed: its rows (if any) are the tests of it that passed
            out += [f"**FAILED in this run:** {failed[c]}", ""]
        if not rs:
            out += ["" if c in failed else "NOT RUN: no test recorded this case."]
            continue
        if NOTES.get(c):
            out += [NOTES[c], ""]
        out += file_columns_table(rs)
        out += ["| what was tried | times | files produced | lost | torn | figures | mode | test |",
                "|---|---|---|---|---|---|---|---|"]
        for r in rs:
            out.append(f"| {cell(r['name'])} | {cell(r['tried'])} | {cell(r['produced'])} | {cell(r['lost'])} | "
                       f"{cell(r['torn'])} | {figures(r)} | {r['mode']} | `{cell(r.get('source'))}` |")
    out += ["", f"_Rendered {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}._", ""]
    return "\n".join(out), missing


# The README's reliability summary sits between these lines; `make soak` rewrites what is between them.
README_BEGIN = ("<!-- reliability summary: written by `scripts/reliability-report.py --readme README.md` "
                "(make soak) from the same results; edit the script, not this block -->")
README_END = "<!-- end of reliability summary -->"


def readme_block(rows, report_path, readme_path, failed):
    """The README's summary: where it comes from, then the report's own summary."""
    by_case, _ = by_case_of(rows)
    dates = sorted(r["at"] for r in rows)
    codes = ", ".join(sorted({r["code"] for r in rows if r.get("code")})) or "?"
    link = os.path.relpath(report_path, os.path.dirname(os.path.abspath(readme_path)))
    head = (f"From [{os.path.basename(report_path)}]({link}), {', '.join(sorted({r['mode'] for r in rows}))} "
            f"run of {codes}, recorded {dates[0]} to {dates[-1]}:") if dates else "No run recorded."
    hard = sorted((r["figures"].get("unit", r["name"]).split()[-1], r["figures"]) for r in by_case["hardening"]
                  if "exposure" in r.get("figures", {}))
    scores = ["", "`systemd-analyze security` exposure (target <= 2.5, \"OK\"): "
              + ", ".join(f"{unit} {f['exposure']} ({f.get('verdict')})" for unit, f in hard) + "."] if hard else []
    return [README_BEGIN, head, ""] + summary(rows, failed) + scores + [README_END]


def with_block(readme_path, block):
    """readme_path's text with what lies between README_BEGIN and README_END replaced by block (its lines);
    exit with an error naming the file if either marker is missing."""
    with open(readme_path, encoding="utf-8") as f:
        text = f.read()
    begin, end = text.find(README_BEGIN), text.find(README_END)
    if begin < 0 or end < begin:
        sys.exit(f"{readme_path}: no reliability summary block to rewrite (the lines {README_BEGIN!r} and "
                 f"{README_END!r} must both be there, in that order)")
    return text[:begin] + "\n".join(block) + text[end + len(README_END):]


def atomic_write(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--results", default=os.path.join(REPO, "artifacts", "reliability", "results.jsonl"))
    p.add_argument("--out", default=os.path.join(REPO, "artifacts", "RELIABILITY.md"))
    p.add_argument("--readme", help="also rewrite this file's reliability summary block (make soak: README.md)")
    p.add_argument("--failed", action="append", default=[], metavar="CASE=WHAT",
                   help="a case one of whose tests failed in this run (tests record only what passed), and how")
    a = p.parse_args()
    failed = {}
    for item in a.failed:
        case, _, what = item.partition("=")
        if case not in CASES or not what:
            sys.exit(f"--failed {item!r}: expected CASE=WHAT with CASE one of {', '.join(CASES)}")
        failed[case] = what
    rows = load(a.results)
    text, missing = render(rows, a.results, failed)
    readme = with_block(a.readme, readme_block(rows, a.out, a.readme, failed)) if a.readme else None  # checked first
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    atomic_write(a.out, text)
    if readme is not None:
        atomic_write(a.readme, readme)
    print(f"reliability report: {a.out}" + (f" (NOT RUN: {', '.join(missing)})" if missing else ""))
    return 1 if missing or failed else 0


if __name__ == "__main__":
    sys.exit(main())
