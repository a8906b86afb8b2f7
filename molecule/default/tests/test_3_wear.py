"""Card wear on a capture host (issue 13, point 2): the archive lives on an ext4 block device of its own
(molecule/shared/prepare.yml runs loop-sd.sh: as a Pi's SD card), and `hotcold status`, the Prometheus
textfile and health show that disk's wear, with the counters the kernel keeps for it (/sys/block/<disk>/stat)."""

import json
import re
import time

SECTOR = 512
TEXTFILE = "/var/lib/prometheus/node-exporter/hotcold.prom"  # as test_9_health_faults reads it


def sd_disk(host, hostvars):
    """The whole disk holding the base path (loopN here), from the mount table."""
    source = host.check_output(f"findmnt -n -o SOURCE --target {hostvars['hotcold_base_path']}")
    assert source.startswith("/dev/loop"), f"the archive is not on its block device: {source}"
    return source.removeprefix("/dev/")


def disk_counters(host, disk):
    """(bytes written, flush requests) of the disk, as the kernel counts them."""
    fields = host.check_output(f"cat /sys/block/{disk}/stat").split()
    return int(fields[6]) * SECTOR, int(fields[15])


def run_health_as_cron_does(host):
    """Run the health job of /etc/cron.d/hotcold-health, as its user: it writes the textfile."""
    line = next(ln for ln in host.file("/etc/cron.d/hotcold-health").content_string.splitlines()
                if ln.strip() and not ln.startswith("#") and "=" not in ln.split()[0])
    user, command = line.split(None, 6)[5], line.split(None, 6)[6]
    return host.run(f"runuser -u {user} -- sh -c {json.dumps(command)}")


def textfile_value(prom, name, disk):
    m = re.search(rf'^{name}{{disk="{disk}"}} (\S+)$', prom, re.M)
    assert m, f"{name} for {disk} not in the textfile"
    return float(m.group(1))


def test_status_shows_the_cards_wear(capture_host, hostvars):
    disk = sd_disk(capture_host, hostvars)
    out = capture_host.check_output("hotcold status")
    line = " ".join(out[out.index(f"SD {disk}:"):].split("\n\n")[0].split())
    assert re.search(r"\d+(\.\d)? [MG]B/day written, \d+% of it hotcold's", line), out
    assert re.search(r"\d+\.\d\d full-card writes/day", line) and "at 1,000 cycles" in line, line


def test_the_textfile_counts_what_the_disk_counts(capture_host, hostvars):
    disk = sd_disk(capture_host, hostvars)
    written_before, flushes_before = disk_counters(capture_host, disk)
    result = run_health_as_cron_does(capture_host)
    written_after, flushes_after = disk_counters(capture_host, disk)
    assert result.rc in (0, 1), result.stdout + result.stderr  # OK or WARN: the figures are written either way
    prom = capture_host.file(TEXTFILE).content_string
    written = textfile_value(prom, "hotcold_sd_written_bytes_total", disk)
    flushes = textfile_value(prom, "hotcold_sd_flushes_total", disk)
    assert written_before <= written <= written_after and written > 0
    assert flushes_before <= flushes <= flushes_after
    assert textfile_value(prom, "hotcold_sd_full_card_writes_per_day", disk) > 0
    assert re.search(r'^hotcold_archived_bytes_total\{device="[^"]+"\} [1-9]', prom, re.M), prom


def test_health_judges_the_cards_life(capture_host, hostvars):
    disk = sd_disk(capture_host, hostvars)
    deadline = time.time() + 30
    while True:
        doc = json.loads(capture_host.run("hotcold health --json").stdout)
        checks = [c for dev in doc["devices"].values() for c in dev["checks"].values() if c["name"] == "sd wear"]
        if checks or time.time() > deadline:
            break
        time.sleep(2)
    assert checks, doc
    assert {c["state"] for c in checks} <= {"OK", "WARN"}
    assert all(f"SD {disk}:" in c["detail"] for c in checks), checks
