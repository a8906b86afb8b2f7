"""Power cuts at the block layer: crash states of a real run of the archiver on the kernel's own ext4.

One run of the real archiver (2 devices, the plan's rates, ``hotcold cleanup`` once mid-run) on an SD
stack that records every block write and flush (pc_stack, pc_recfs); then many crash states of that
one log (pc_check): each is mounted (the journal replays as at boot), recovered by the archiver with
empty RAM, and checked. Bounded in `make test` (120 states), 2,000 with HOTCOLD_SOAK=1.

The check is shown able to fail: the same run with a checkpoint that skips its syncfs must report torn
files (test_broken_mover_is_caught), one that releases the outbox RAM copies before its flush must report
lost files (test_broken_checkpoint_is_caught).
"""

import time
import types

import pc_broken
import pc_check
import pc_faults
import pc_run
import pytest
from record import record, scaled

pytestmark = [pytest.mark.reliability, pytest.mark.needs_root, pytest.mark.slow,
              # Debian's pyinotify (bookworm) calls Event.isSet() in its notifier thread, once per event
              pytest.mark.filterwarnings("ignore:isSet:DeprecationWarning")]


def quantile(values, q):
    """The q-quantile of values (nearest rank), or None for none."""
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def summary_text(s):
    """A short readable digest of a crash_states summary (for assertion messages)."""
    lines = [f"{s['bad_states']} of {s['states']} states failed; totals {s['totals']}"]
    for p in s["problems"][:3]:
        lines.append(f"state {p['state']} (k={p['k']}, {p['kept_writes']} unflushed writes kept):")
        lines += ["  " + x for x in p["problems"][:8]]
        lines.append("  daemon log tail: " + p["daemon_log"][-600:])
    return "\n".join(lines)


def test_crash_states(tmp_path, sd_stack_ok):
    """Every crash state of a recorded run recovers with nothing lost, torn or duplicated."""
    t0 = time.monotonic()
    seconds, states = scaled(30, 240), scaled(120, 2000)
    run = pc_run.record_run(str(tmp_path / "run"), seconds)
    assert not run.writer_errors, run.writer_errors[:5]
    s = pc_check.crash_states(run, states, seed=11)
    elapsed = time.monotonic() - t0
    t = s["totals"]
    assert s["bad_states"] == 0, summary_text(s)
    assert (t["lost"], t["torn"], t["duplicated"]) == (0, 0, 0), t
    assert len(s["ready"]) == s["states"], "the archiver did not report ready on every state"
    # the cuts covered the cycle: files were archived and in RAM, the cleanup was cut too
    assert t["archived_intact"] > 0 and t["in_ram_at_cut"] > 0 and t["expired"] > 0, t
    assert s["states_in_cleanup"] >= 1, "no cut landed in the mid-run cleanup"
    assert s["k_max"] - s["k_min"] > s["flushes"] // 2, (s["k_min"], s["k_max"], s["flushes"])
    record("powercut", "block-layer crash states (FUSE-recorded ext4, empty RAM)", tried=s["states"],
           produced=len(run.produced), lost=t["lost"], torn=t["torn"], source=__file__.rsplit("tests/", 1)[-1],
           columns=t, run_seconds=seconds, flushes_logged=s["flushes"], writes_logged=s["writes"],
           states_mid_cleanup=s["states_in_cleanup"], unflushed_writes_kept=s["unflushed_writes_kept"],
           recovery_p50_s=round(quantile(s["ready"], 0.5), 3), recovery_p99_s=round(quantile(s["ready"], 0.99), 3),
           wall_seconds=round(elapsed, 1))


def test_broken_mover_is_caught(tmp_path, sd_stack_ok):
    """The same harness on a runtime copy whose checkpoint skips its syncfs reports torn files."""
    files = pc_broken.broken_copy(str(tmp_path / "broken"), "no-syncfs")
    run = pc_run.record_run(str(tmp_path / "run"), 12, files_dir=files)
    s = pc_check.crash_states(run, 12, seed=3, files_dir=files)
    t = s["totals"]
    assert s["bad_states"] > 0 and t["lost"] + t["torn"] > 0, (
        f"a mover without syncfs passed the crash-state check: {t}")
    # the figures of a deliberately broken runtime are not the project's: kept out of lost/torn
    record("powercut", "broken mover (syncfs removed) is caught", tried=s["states"], produced=len(run.produced),
           source=__file__.rsplit("tests/", 1)[-1], states_failed=s["bad_states"],
           caught=f"{t['torn']} torn, {t['lost']} lost (expected: failures)")


# pc_broken's "keep-unverified" (recovery keeps visible, never-checkpointed files unchecked) is not asserted
# here: ext4 wrote the delayed data before the journal commit that made a rename durable in nearly every
# state (caught in 1 of 20 states at a 30 s interval, 0 of 20 at 6 s), so a bounded test of it would be
# flaky; tests/unit/test_checkpoint.py checks that recovery removes such files.
def test_broken_checkpoint_is_caught(tmp_path, sd_stack_ok):
    """A checkpoint that unlinks the outbox RAM copies before its flush loses files: the harness reports it."""
    broken = "release-before-flush"
    files = pc_broken.broken_copy(str(tmp_path / "broken"), broken)
    run = pc_run.record_run(str(tmp_path / "run"), 20, files_dir=files)
    s = pc_check.crash_states(run, 20, seed=7, files_dir=files)
    t = s["totals"]
    assert s["bad_states"] > 0 and t["lost"] > 0, f"a checkpoint broken as {broken!r} passed: {t}"
    record("powercut", f"broken checkpoint ({broken}) is caught", tried=s["states"], produced=len(run.produced),
           source=__file__.rsplit("tests/", 1)[-1], states_failed=s["bad_states"],
           caught=f"{t['torn']} torn, {t['lost']} lost (expected: failures)")


@pytest.fixture(autouse=True)
def _no_leftover_mounts(tmp_path):
    """After each test nothing may stay mounted under its tmp_path (teardown always unmounts)."""
    yield
    with open("/proc/mounts") as f:
        left = [ln.split()[1] for ln in f if ln.split()[1].startswith(str(tmp_path))]
    assert not left, f"mounts left behind: {left}"


def test_quantile():
    assert quantile([3, 1, 2], 0.5) == 2
    assert quantile(list(range(101)), 0.99) == 99
    assert quantile([], 0.5) is None


# The last crash state of a run stands for a cut at the run's end (no flush after it). A file the archiver
# dropped after that moment was in RAM at the cut, although the flush counter still read k when it went. The
# soak-length disk-error run of 2026-12-03 counted such files lost: ext4 had gone read-only, the archiver
# dropped the oldest files past its high water after the checked window ended, and 149 files per state of
# the 8 states at the last flush were reported lost.
def test_a_file_dropped_after_the_cut_was_in_ram_at_the_cut():
    unlinks = {"late.jpg": (88, 105.0), "early.jpg": (87, 95.0), "released.jpg": (88, 99.0),
               "late-release.jpg": (88, 101.0)}  # name -> (flush count, time) when its RAM copy went
    run = types.SimpleNamespace(seeded=set(), dropped={("cam1", "late.jpg"), ("cam1", "early.jpg")}, expired=set(),
                                unlinks={("cam1", n): ev for n, ev in unlinks.items()})
    cut = 100.0  # the run's end: the last state, k=88, has no flush after it
    assert pc_check.classify(run, "cam1", "late.jpg", [], 88, cut) == "in_ram_at_cut"
    assert pc_check.classify(run, "cam1", "early.jpg", [], 88, cut) == "dropped"
    assert pc_check.classify(run, "cam1", "released.jpg", [], 88, cut) == "lost"
    # a RAM copy released (not dropped) with the count at k had to be durable by flush k, whenever it went
    assert pc_check.classify(run, "cam1", "late-release.jpg", [], 88, cut) == "lost"


# Was an imperative xfail until the checkpoint: a failing checkpoint keeps every outbox copy, and what waited
# through it is read back from the card (cached pages dropped) and rewritten from RAM if it differs before
# its RAM copy goes (checkpoint._read_back_ok). The history, for the assertion message:
DATA_EIO_DEFECT = (
    "former runtime defect: with file-data writes failing (EIO at the block layer), the archiver unlinked RAM copies "
    "whose "
    "SD copies never got their data: mover.py trusts one syncfs() to report the batch's write-back errors, and "
    "here it did not (first EIO write logged at the first fault, the archiver's first 'EIO: syncfs' about 5 s "
    "later). First seen: 2 segments (cam1 and cam2 segment_1000008.ts) unlinked from RAM at fsync 210/218 after "
    "their data writes failed at fsync 202/210; zeros from 126 KiB / 1 KiB on in every crash state from k=219 "
    "(27 of 40 states, 332 torn-file counts). Fixed by the checkpoint's read-back of the files; its records too "
    "since 2026-12-03 (test_data_eio.py: a lost metadata block made recovery remove intact files, 162 in 22 of "
    "25 states of one run). A soak-length run of 2026-12-03 (60 s random + 120 s persistent EIO) found two more "
    "(test_data_eio.py, test_a_file_dropped_after_the_cut_was_in_ram_at_the_cut): files rewritten after a failed "
    "write kept torn under their final names by recovery (their records were called covered), and files dropped "
    "after the run's last flush counted lost by this check.")


def test_disk_errors(tmp_path, sd_stack_ok):
    """The SD goes read-only and back, then fails file-data writes with EIO at random, then all of them,
    then heals, while the archiver runs. Read-only part: every crash state checks out, health says CRIT,
    archiving resumes without a restart. EIO part: health says CRIT, ext4 keeps taking writes and the
    archiver resumes; its crash states show whether a RAM copy was unlinked before its SD copy was
    durable (DATA_EIO_DEFECT, fixed by the checkpoint's read-back). Last, failing flushes: what ext4
    does is recorded (the archiver's side of it: test_dir_fsync_eio.py)."""
    run = pc_run.record_run(str(tmp_path / "run"), pc_faults.MAX_SECONDS, seed=5, scenario=pc_faults.disk_faults)
    info = run.info
    facts = "\n".join(f"{k}: {v}" for k, v in info.items())
    ro = pc_check.crash_states(run, scaled(25, 250), seed=13, window=(float("-inf"), info["eio_start"]))
    t = ro["totals"]
    assert ro["bad_states"] == 0, summary_text(ro) + f"\n{facts}"
    assert (t["lost"], t["torn"], t["duplicated"]) == (0, 0, 0), t
    assert info["ro_remount_error"] is None and info["rw_remount_error"] is None, facts
    for phase in ("health_ro", "health_persistent_eio"):
        assert info[phase][0] == 2 and any("SD not writable" in ln for ln in info[phase][1]), f"{phase}\n{facts}"
    assert info["resumed_after_ro_s"] is not None, f"archiving did not resume after read-only -> rw:\n{facts}"
    # Whether ext4 survives the spell is the kernel's call, not hotcold's: when a failed write-back hits its
    # metadata it aborts the journal and stays read-only until remounted (seen in some runs, recorded as a
    # figure). Where it kept taking writes, archiving must resume without a restart.
    if info["fs_writable_after_data_eio"] is None:
        assert info["resumed_after_eio_s"] is not None, f"archiving did not resume after the EIO spell:\n{facts}"
    assert info["health_flush_eio"][0] == 2, f"health did not report the failing flushes:\n{facts}"
    src = __file__.rsplit("tests/", 1)[-1]
    record("disk_errors", "SD read-only and back (FUSE stack, crash states up to the first EIO)", tried=ro["states"],
           produced=len(run.produced), lost=t["lost"], torn=t["torn"], source=src, columns=t,
           recovery_p50_s=round(quantile(ro["ready"], 0.5), 3), recovery_p99_s=round(quantile(ro["ready"], 0.99), 3),
           health_read_only=(info["health_ro"][1] or ["-"])[0].strip(),
           resumed_after_read_only_s=info["resumed_after_ro_s"])
    eio = pc_check.crash_states(run, scaled(25, 250), seed=14, window=(info["eio_start"], info["cut_until"]))
    t = eio["totals"]
    figures = (f"{eio['bad_states']} of {eio['states']} states failed; lost {t['lost']}, torn {t['torn']}, "
               f"duplicated {t['duplicated']}; first: {(eio['problems'] or [{}])[0].get('problems', [])[:2]}")
    assert eio["bad_states"] == 0, f"{DATA_EIO_DEFECT} This run: {figures}"
    record("disk_errors", "file-data EIO random then persistent, healed (FUSE-injected)", tried=eio["states"],
           produced=len(run.produced), lost=t["lost"], torn=t["torn"], source=src, columns=t,
           fault_seconds=info["fault_seconds"], recovery_p50_s=round(quantile(eio["ready"], 0.5), 3),
           recovery_p99_s=round(quantile(eio["ready"], 0.99), 3),
           health_eio=(info["health_persistent_eio"][1] or ["-"])[0].strip(),
           resumed_after_eio_s=info["resumed_after_eio_s"], kernel_on_data_eio=" | ".join(info["kernel_data_eio"][:3]),
           ext4_after_data_eio=info["fs_writable_after_data_eio"] or "still writable",
           ext4_after_flush_eio=info["fs_writable_after_flush_eio"] or "still writable",
           kernel_on_flush_eio=" | ".join(info["kernel_flush_eio"][:4]))
