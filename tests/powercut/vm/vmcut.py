"""One whole-machine power cut, end to end: boot the guest, let it run a random time, SIGKILL qemu,
then mount a copy of its SD on the host, run the archiver's start-up recovery with empty RAM and
check everything (vmcheck). Returns the figures and the problems found; cleans up after itself.
"""

import os
import shutil
import tempfile
import time

import vmcheck
import vmharness as vh


def one_cut(guest, rng, runtime=vh.RUNTIME, run=vh.RUN, max_run_s=20.0, min_run_s=1.0, blkdebug=None,
            keep_on_problem=True):
    """Given a built guest and a random generator, do one power cut. Returns a dict: figures (the
    columns and more), problems (list of str), recovery_s, run_s (ready to cut), seconds, work."""
    t0 = time.monotonic()
    work = tempfile.mkdtemp(prefix="hotcold-vmcut.", dir="/var/tmp")
    problems = []
    try:
        payload = vh.make_payload(work, runtime, run)
        sd = vh.make_sd(work)
        bd = None
        if blkdebug:
            bd = os.path.join(work, "blkdebug.conf")
            with open(bd, "w") as f:
                f.write(blkdebug)
        vm = vh.VM(guest, work, payload, sd, blkdebug=bd).start()
        try:
            vm.wait_event("ready", timeout=240)
            run_s = rng.uniform(min_run_s, max_run_s)
            time.sleep(run_s)
            if vm.proc.poll() is not None:
                problems.append(f"qemu exited {vm.proc.returncode} before the cut:\n{vm.tail()}")
        finally:
            vm.cut()
        events, guest_log = vm.events(), vm.guest_log()
        res = {"run_s": run_s, "work": work}
        with vh.Mounted(work, sd, run["devices"]) as mnt:
            n_before, _ = vmcheck.check_temps(mnt.base, run, "before recovery")
            proc, res["recovery_s"], _, log_path = vh.recover(mnt, runtime, run)
            try:
                _, p = vmcheck.check_temps(mnt.base, run, "after recovery")
                problems += p
                n_idx, p = vmcheck.check_indexes(mnt.base, run)
                problems += p
                err = vh.resume_check(mnt, proc, run)
                if err:
                    problems.append(err)
            finally:
                proc.terminate()
                rc = proc.wait(timeout=120)
            if rc != 0:
                problems.append(f"recovery archiver stopped with {rc}:\n{vh.read(log_path)[-2000:]}")
            figures, p, sd_now = vmcheck.account(mnt.base, run, events, guest_log)
            problems += p
            _, unlinked, _ = vmcheck.ground_truth(events)
            more, p = vmcheck.check_records(mnt.base, run, sd_now, unlinked)
            figures.update(more)
            problems += p
            n_idx2, p = vmcheck.check_indexes(mnt.base, run)  # the SD copies the clean stop wrote
            problems += p
            _, p = vmcheck.check_temps(mnt.base, run, "after the recovery archiver stopped")
            problems += p
        figures.update(temps_before_recovery=n_before, fault_armed=sum(1 for e in events if e["ev"] == "fault"),
                       indexes_checked=n_idx + n_idx2,
                       guest_log_errors=sum(1 for ln in guest_log.splitlines() if " ERROR " in ln))
        res.update(figures=figures, problems=problems, seconds=time.monotonic() - t0)
        return res
    finally:
        if not (problems and keep_on_problem):
            shutil.rmtree(work, ignore_errors=True)
