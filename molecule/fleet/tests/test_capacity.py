"""The capacity preflight (issue 16 item 7) on real hosts: site.yml refuses a fleet host whose tmpfs mounts do not
fit in its RAM, or whose retention does not fit on the file system under the base path, before any change, with
the numbers; hotcold_capacity_check=warn prints them and goes on. The figures come from the container itself
(/proc/meminfo, stat -f), so the cases hold on any machine. Only the preflight runs (--tags preflight, one host)."""

import concurrent.futures
import math
import re
import time

import hosttools
import pytest

HOST = "fleet-1"
GIB = 1024**3


def human(size):
    """The preflight's unit for a size: GiB from 1 GiB up, one decimal (MiB below)."""
    return f"{size / GIB:,.1f} GiB" if size >= GIB else f"{size / 1024**2:,.1f} MiB"


def mem_total(host):
    kib = re.search(r"^MemTotal:\s+(\d+) kB", host.file("/proc/meminfo").content_string, re.M).group(1)
    return int(kib) * 1024


def fs_size(host, path):
    block, blocks = host.check_output(f"stat -f -c '%S %b' {path}").split()
    return int(block) * int(blocks)


def hot_size(host, path):
    return fs_size(host, path)


def run_preflight(extra):
    """Run site.yml's preflight on HOST with extra vars; return (rc, every result's message, changed count, stderr)."""
    run, report, _ = hosttools.site("--tags", "preflight", "--limit", HOST, extra_vars=extra, timeout=600)
    results = [r for play in report["plays"] for task in play["tasks"] for r in task["hosts"].values()]
    messages = [str(m) for r in results for m in [r.get("msg")] + [i.get("msg") for i in r.get("results", [])] if m]
    changed = report["stats"][HOST]["changed"]
    return run.returncode, "\n".join(messages), changed, run.stderr


@pytest.fixture(scope="module")
def runs(fleet):
    """The three cases, run side by side (each is one short ansible-playbook run)."""
    host, hostvars = fleet[HOST]
    ram = mem_total(host)
    sd = fs_size(host, hostvars["hotcold_base_path"])
    # (a) one tmpfs 1 GiB larger than the host's RAM; (b) 24 h of segments at a bitrate that needs twice the SD.
    too_large_tmpfs = f"{math.ceil(ram / 1024**2) + 1024}M"
    bitrate = f"{math.ceil(2 * sd * 8 / 86400 / 1000**2)}M"
    # Few segments in RAM, so that (b)'s bitrate leaves the tmpfs rule holding.
    sd_case = {"hotcold_capture": {**hostvars["hotcold_capture"], "video_bitrate": bitrate},
               "hotcold_hot_limits": {"captures": 10, "thumbnails": 10, "segments": 2}}
    cases = {
        "ram": {"hotcold_tmpfs_size": too_large_tmpfs},
        "sd": sd_case,
        "warn": {**sd_case, "hotcold_capacity_check": "warn"},
    }
    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        futures = {name: pool.submit(run_preflight, extra) for name, extra in cases.items()}
        done = {name: future.result() for name, future in futures.items()}
    seconds = time.monotonic() - start
    return done, {"ram": ram, "sd": sd, "tmpfs": too_large_tmpfs, "bitrate": bitrate, "seconds": seconds}


def show(capsys, what, message):
    """Print the message the user got into the run's log (the figures of this run)."""
    with capsys.disabled():
        print(f"\n{what}: {message}")


def hot_dir(hostvars):
    return f"{hostvars['hotcold_base_path']}/{hostvars['hotcold_devices'][0]['name']}/hot"


def test_tmpfs_larger_than_ram_is_refused_with_the_numbers(runs, fleet, capsys):
    (rc, messages, changed, _), figures = runs[0]["ram"], runs[1]
    host, hostvars = fleet[HOST]
    assert rc != 0, f"a {figures['tmpfs']} tmpfs on a {human(figures['ram'])} host was not refused\n{messages}"
    refusal = next((m for m in messages.splitlines() if "of RAM" in m), None)
    assert refusal, messages
    show(capsys, f"three preflight runs took {figures['seconds']:.0f} s; refused", refusal)
    assert f"{HOST}: the tmpfs mounts of 1 device(s)" in messages
    assert f"the host has {human(figures['ram'])} (MemTotal)" in messages
    tmpfs = int(figures["tmpfs"][:-1]) * 1024**2
    assert f"tmpfs {human(tmpfs)}" in messages and "hotcold_tmpfs_size" in messages
    # The rules that hold are not named; nothing changed: the tmpfs keeps its inventory size.
    assert "on the SD" not in messages and "cannot hold its hot limits" not in messages
    assert changed == 0
    assert hot_size(host, hot_dir(hostvars)) < tmpfs


def test_retention_larger_than_the_sd_is_refused_with_the_numbers(runs, capsys):
    (rc, messages, changed, _), figures = runs[0]["sd"], runs[1]
    assert rc != 0, f"24 h at {figures['bitrate']} on a {human(figures['sd'])} file system was not refused\n{messages}"
    refusal = next((m for m in messages.splitlines() if "on the SD" in m), None)
    assert refusal, messages
    show(capsys, "refused", refusal)
    needed = re.search(r"needs ([\d,.]+) GiB on the SD", messages)
    assert needed, messages
    assert float(needed.group(1).replace(",", "")) > 1.9 * figures["sd"] / GIB
    assert f"is {human(figures['sd'])}" in messages
    assert f"video_bitrate {figures['bitrate']}" in messages and "hotcold_retention_hours" in messages
    assert "of RAM" not in messages
    assert changed == 0


def test_warn_goes_on_with_the_numbers(runs, capsys):
    (rc, messages, changed, stderr), figures = runs[0]["warn"], runs[1]
    assert rc == 0, f"warn mode failed\n{messages}\n{stderr[-2000:]}"
    warning = next((m for m in messages.splitlines() if m.startswith("WARNING")), None)
    assert warning, messages
    show(capsys, "warned", warning)
    assert f"is {human(figures['sd'])}" in warning and "hotcold_capacity_check" in warning
    assert changed == 0
