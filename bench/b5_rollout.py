"""Benchmark 5: rollout: converge time of site.yml on 1 and on 4 podman container hosts, and a
no-change re-run.

Containers ``bench-rollout-<i>`` from localhost/hotcold-test:latest with the molecule options
(--privileged --systemd=always --runtime=runc, no network, ulimits nofile = ``ulimit -Hn`` and
nproc 32768), reached with the containers.podman.podman connection. The inventory is a copy of
inventory/demo's group_vars (two test-pattern devices per host, small frames) with the bench's hosts.
``ansible-playbook site.yml`` from the project venv with ansible.cfg's forks (>= 4); wall time of
the first converge and of a second run, which must report changed=0. Containers are removed after.
"""

import os
import re
import resource
import shutil
import time

from common import REPO, RES, Section, fmt, fmt_ratio, log, ratio, workdir
from common import run as run_cmd

NAME = "rollout"
TITLE = "5. Rollout (site.yml converge)"
IMAGE = "localhost/hotcold-test:latest"
PLAYBOOK = os.path.join(REPO, ".venv", "bin", "ansible-playbook")


def _forks():
    try:
        with open(os.path.join(REPO, "ansible.cfg")) as f:
            m = re.search(r"^forks\s*=\s*(\d+)", f.read(), re.M)
        return max(4, int(m.group(1))) if m else 8
    except OSError:
        return 8


def prerequisites():
    if not shutil.which("podman"):
        return "podman is not installed"
    if not os.path.exists(os.path.join(REPO, "site.yml")):
        return "site.yml does not exist yet"
    if not os.access(PLAYBOOK, os.X_OK):
        return f"{PLAYBOOK} missing (make setup)"
    if run_cmd(["podman", "image", "exists", IMAGE], check=False).returncode != 0:
        return f"image {IMAGE} missing (make image)"
    return None


def start_hosts(n, tag):
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    names = [f"bench-rollout-{tag}-{i}" for i in range(1, n + 1)]
    for name in names:
        run_cmd(["podman", "rm", "-f", "-t", "5", name], check=False)
        run_cmd(["podman", "run", "-d", "--name", name, "--hostname", name, "--privileged", "--systemd=always",
                 "--runtime=runc", "--network=none", "--ulimit", f"nofile={nofile}:{nofile}",
                 "--ulimit", "nproc=32768:32768", IMAGE, "/lib/systemd/systemd"])
        RES.push(f"podman rm {name}", lambda nm=name: run_cmd(["podman", "rm", "-f", "-t", "5", nm], check=False))
    for name in names:
        run_cmd(["podman", "exec", name, "systemctl", "is-system-running", "--wait"], check=False, timeout=120)
    return names


def write_inventory(wd, names):
    inv = os.path.join(wd, "inventory")
    os.makedirs(inv)
    shutil.copytree(os.path.join(REPO, "inventory", "demo", "group_vars"), os.path.join(inv, "group_vars"))
    with open(os.path.join(inv, "hosts.yml"), "w") as f:
        f.write("---\ncapture_hosts:\n  hosts:\n")
        for n in names:
            f.write(f"    {n}:\n      ansible_connection: containers.podman.podman\n")
    return inv


def converge(inv, forks, logpath):
    env = dict(os.environ)
    env["ANSIBLE_CONFIG"] = os.path.join(REPO, "ansible.cfg")
    env["PATH"] = os.path.join(REPO, ".venv", "bin") + ":" + env.get("PATH", "")
    env["ANSIBLE_FORCE_COLOR"] = "0"
    t = time.monotonic()
    r = run_cmd([PLAYBOOK, "-i", inv, "-f", str(forks), "site.yml"], check=False, cwd=REPO, env=env, timeout=1500)
    dt = time.monotonic() - t
    with open(logpath, "w") as f:
        f.write(r.stdout + r.stderr)
    recap = re.findall(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", r.stdout, re.M)
    changed = sum(int(c[2]) for c in recap)
    failed = sum(int(c[3]) + int(c[4]) for c in recap)
    return {"seconds": dt, "rc": r.returncode, "changed": changed, "failed": failed, "hosts": len(recap),
            "tail": (r.stdout + r.stderr)[-600:]}


def run(quick, args):
    sec = Section(NAME, TITLE)
    problem = "full mode only (a converge takes minutes)" if quick else prerequisites()
    forks = _forks()
    sizes = (1, 4)
    sec.headers = ["hosts", "first converge s", "vs 1 host", "no-change re-run s", "re-run / first",
                   "changed in re-run",
                   "failed/unreachable"]
    if problem:
        for n in sizes:
            sec.rows.append([n, f"not run: {problem}", "", "", "", "", ""])
        sec.check("4 hosts <= 1.6x the time of 1", problem, None)
        sec.check("no-change re-run <= 50% of the first converge", problem, None)
        return sec, {"problem": problem}
    res = {}
    mark = RES.mark()
    try:
        wd = workdir()
        for n in sizes:
            m2 = RES.mark()
            try:
                log(f"rollout: starting {n} container host(s)")
                names = start_hosts(n, n)
                os.makedirs(os.path.join(wd, f"h{n}"))
                inv = write_inventory(os.path.join(wd, f"h{n}"), names)
                log(f"rollout: converge site.yml on {n} host(s), forks {forks}")
                first = converge(inv, forks, os.path.join(wd, f"h{n}", "first.log"))
                log(f"  first converge {first['seconds']:.0f} s rc {first['rc']} changed {first['changed']}")
                second = converge(inv, forks, os.path.join(wd, f"h{n}", "second.log"))
                log(f"  re-run {second['seconds']:.0f} s rc {second['rc']} changed {second['changed']}")
                res[n] = {"first": first, "second": second}
            finally:
                RES.unwind_to(m2)
    finally:
        RES.unwind_to(mark)
    sec.setup.append(f"Containers from {IMAGE} (molecule's podman options), inventory/demo's group_vars, "
                     f"forks {forks}; one run per size (a converge takes minutes; no repeats, so no median).")
    base = res[1]["first"]["seconds"]
    for n in sizes:
        f, s = res[n]["first"], res[n]["second"]
        sec.rows.append([n, fmt(f["seconds"], 1), fmt_ratio(ratio(f["seconds"], base)), fmt(s["seconds"], 1),
                         fmt_ratio(ratio(s["seconds"], f["seconds"])), s["changed"], f"{f['failed']} / {s['failed']}"])
        for k, r in (("first", f), ("re-run", s)):
            if r["rc"] != 0:
                sec.notes.append(f"{n} host(s), {k}: ansible-playbook exited {r['rc']}: `{r['tail'][-300:]}`")
    ok_runs = all(res[n][k]["rc"] == 0 for n in sizes for k in ("first", "second"))
    sc = ratio(res[4]["first"]["seconds"], base)
    sec.check("4 hosts <= 1.6x the time of 1", f"{fmt_ratio(sc)} ({res[4]['first']['seconds']:.0f} s vs {base:.0f} s)",
              ok_runs and sc <= 1.6)
    worst = max(ratio(res[n]["second"]["seconds"], res[n]["first"]["seconds"]) for n in sizes)
    sec.check("no-change re-run <= 50% of the first converge (worst of 1/4 hosts)", fmt_ratio(worst),
              ok_runs and worst <= 0.5)
    ch = sum(res[n]["second"]["changed"] for n in sizes)
    sec.check("re-run changes nothing (changed=0)", f"changed={ch}", ok_runs and ch == 0)
    return sec, res
