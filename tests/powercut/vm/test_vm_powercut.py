"""Whole-machine power cuts: the archiver runs in a qemu VM (TCG) that is SIGKILLed at a random
moment; a copy of its SD card is then checked on the host (issue 14, the VM engine).

After every cut: every file the guest reported unlinked from RAM is on the SD byte-identical and
exactly once; no file under a final name is torn or empty; no temp file is left after recovery;
metadata records and files agree; every per-hour playlist and index parses and names only existing
files; the archiver's start-up recovery reports ready on empty RAM and archiving resumes.

Cuts: 3 in `make test`, 20 with HOTCOLD_SOAK=1, or HOTCOLD_VM_CUTS. HOTCOLD_VM_SEED picks the cut
times. HOTCOLD_VM_RUNTIME ships another hotcold package into the guest instead of files/hotcold
(to prove the harness fails on a broken mover). Needs root, qemu-system-x86 and debootstrap
(scripts/setup-host.sh); the guest is built once (tests/powercut/vm/build-guest.sh, cached).
"""

import os
import random
import statistics

import pytest
import vmcheck
import vmcut
import vmharness as vh
from hchelpers import require_root, require_tool
from record import record, scaled

# Under pytest-xdist (`make unit`: -n 2 --dist loadgroup) both tests run on one worker: each boots its own qemu
# TCG guest (one core busy) and, on a fresh machine, both would build the cached guest at once (build-guest.sh
# takes a lock for that anyway). A group of several tests is handed out first, so these ~6 minutes start at
# once instead of landing at the end of the run.
pytestmark = pytest.mark.xdist_group("vm")


def percentile(values, p):
    """The p-th percentile (nearest rank) of a non-empty list."""
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s) + 0.5) - 1))]


def needs_vm():
    """Fail (with the reason, never skip) where the VM cannot run."""
    require_root()
    for tool in ("qemu-system-x86_64", "debootstrap", "mkfs.ext4"):
        require_tool(tool)


def summary(results):
    """Sum the per-cut figures; add recovery p50/p99 and the per-cut time."""
    tot = {k: sum(r["figures"][k] for r in results) for k in results[0]["figures"]}
    rec = [r["recovery_s"] for r in results]
    tot.update(recovery_p50_s=round(percentile(rec, 50), 2), recovery_p99_s=round(percentile(rec, 99), 2),
               seconds_per_cut=round(statistics.mean(r["seconds"] for r in results), 1),
               cut_after_ready_s=[round(r["run_s"], 1) for r in results])
    return tot


def file_columns(tot):
    """The 8 columns that count every file (record.FILE_COLUMNS), from a summary."""
    return {"written": tot["written"], "archived_intact": tot["archived"], "in_ram_at_cut": tot["in_ram_at_cut"],
            "dropped": tot["dropped"], "expired": tot["expired"], "lost": tot["lost"], "torn": tot["torn"],
            "duplicated": tot["duplicated"], "recovery_p50_s": tot["recovery_p50_s"],
            "recovery_p99_s": tot["recovery_p99_s"]}


@pytest.mark.slow
@pytest.mark.reliability
def test_vm_power_cuts_lose_tear_and_duplicate_nothing():
    needs_vm()
    cuts = int(os.environ.get("HOTCOLD_VM_CUTS") or scaled(3, 20))
    runtime = os.environ.get("HOTCOLD_VM_RUNTIME") or vh.RUNTIME
    rng = random.Random(int(os.environ.get("HOTCOLD_VM_SEED", "14")))
    guest, build_s = vh.build_guest()
    results = []
    for i in range(cuts):
        r = vmcut.one_cut(guest, rng, runtime=runtime)
        results.append(r)
        f = r["figures"]
        print(f"\ncut {i + 1}/{cuts} after {r['run_s']:.1f} s: "
              + ", ".join(f"{c} {f[c]}" for c in vmcheck.COLUMNS)
              + f"; recovery {r['recovery_s']:.2f} s; temps before recovery {f['temps_before_recovery']}; "
              f"on SD not reported unlinked {f['on_sd_not_reported_unlinked']}; "
              f"without record {f['archived_without_record']}; {r['seconds']:.0f} s")
        assert not r["problems"], f"cut {i + 1} (work dir kept: {r['work']}):\n" + "\n".join(r["problems"][:30])
    tot = summary(results)
    print(f"\nVM power cuts: {cuts} cuts, guest build {build_s:.1f} s, "
          + ", ".join(f"{k} {v}" for k, v in tot.items()))
    record("power_cut_vm", "SIGKILL of the whole VM (qemu TCG) at random moments, recovery on a copy of its SD",
           tried=cuts, produced=tot["written"], lost=tot["lost"], torn=tot["torn"],
           source="tests/powercut/vm/test_vm_powercut.py",
           columns=file_columns(tot), **{k: v for k, v in tot.items() if k not in ("written", "lost", "torn")})


# qemu's blkdebug driver between the guest and the SD image. The guest arms it FAULT_AFTER_S after
# the archiver is ready with one write-zeroes request past the end of the file system (nothing else
# writes zeroes: the SD image is made with its inode tables and journal initialised); from then on
# every cache flush the guest sends to the SD fails with EIO (errno 5), as on a card whose flush
# no longer completes. ext4 aborts its journal at the first failed commit and goes read-only; the
# archiver must then keep its files in RAM or drop them with a log line, never unlink one whose SD
# copy is not durable.
FLUSH_EIO = """[inject-error]
event = "pwritev_zero"
iotype = "flush"
errno = "5"
once = "off"
immediately = "off"
"""
FAULT_AFTER_S = 6.0


@pytest.mark.slow
@pytest.mark.reliability
def test_vm_power_cut_while_the_sd_fails_every_flush():
    needs_vm()
    cuts = int(os.environ.get("HOTCOLD_VM_EIO_CUTS") or scaled(1, 3))
    runtime = os.environ.get("HOTCOLD_VM_RUNTIME") or vh.RUNTIME
    rng = random.Random(int(os.environ.get("HOTCOLD_VM_SEED", "14")) + 1)
    guest, _ = vh.build_guest()
    results = []
    for i in range(cuts):
        r = vmcut.one_cut(guest, rng, runtime=runtime, run=dict(vh.RUN, fault_after_s=FAULT_AFTER_S),
                          blkdebug=FLUSH_EIO, min_run_s=FAULT_AFTER_S + 3, max_run_s=FAULT_AFTER_S + 20)
        results.append(r)
        f = r["figures"]
        print(f"\nEIO cut {i + 1}/{cuts} after {r['run_s']:.1f} s: "
              + ", ".join(f"{c} {f[c]}" for c in vmcheck.COLUMNS)
              + f"; guest log errors {f['guest_log_errors']}; recovery {r['recovery_s']:.2f} s")
        assert f["fault_armed"], "the guest never armed the fault"
        assert not r["problems"], f"EIO cut {i + 1} (work dir kept: {r['work']}):\n" + "\n".join(r["problems"][:30])
    tot = summary(results)
    assert tot["guest_log_errors"] > 0, "the injected EIO never reached the archiver (no ERROR in its log)"
    record("power_cut_vm", "SD fails every flush with EIO (qemu blkdebug), then SIGKILL of the VM",
           tried=cuts, produced=tot["written"], lost=tot["lost"], torn=tot["torn"],
           source="tests/powercut/vm/test_vm_powercut.py",
           columns=file_columns(tot), **{k: v for k, v in tot.items() if k not in ("written", "lost", "torn")})
