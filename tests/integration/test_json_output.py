"""`hotcold status --json` and `hotcold health --json`: one documented document, the same data as the tables.

Real runs of the CLI on real tmpfs hot folders; the JSON is parsed and held against the table the same
command prints without --json (same states, same counts) and against the textfile.
"""

import json
import os
import re
import time

from hchelpers import produce

from hotcold import __version__
from hotcold.archiver import Archiver
from hotcold.clock import FixedClock
from hotcold.errors import EXIT_USAGE

COUNTERS = {"archived": 10, "archived_bytes": 20480, "dropped": 3, "skipped": 2, "expired": 1, "errors": 4,
            "collisions": 0}


def mixed_host(env, now):
    """cam1 healthy with files archived, cam2's hot folder not a tmpfs (CRIT) and its captures late (WARN
    on the hot counts), a live heartbeat serving both."""
    env.add_device("cam1")
    env.add_device("cam2", mount=False)
    for n in range(9):
        produce(env.hot("cam1", "captures"), "captures", n, mtime=now - 9 + n)
        produce(env.hot("cam1", "thumbnails"), "thumbnails", n, mtime=now - 9 + n)
    Archiver(env.config(), FixedClock(now)).run_once()  # limits 5: 4 of each kind to the SD
    for n in range(12):  # 12 captures, limit 5, all old: the archiver is behind (WARN)
        produce(env.hot("cam2", "captures"), "captures", n, mtime=now - 100 + n)
    os.makedirs(env.run_dir, exist_ok=True)
    devices = {"cam1": {**COUNTERS, "sd_ok": True}, "cam2": {**COUNTERS, "dropped": 7, "sd_ok": True}}
    with open(os.path.join(env.run_dir, "archiver.json"), "w") as f:
        json.dump({"pid": os.getpid(), "time": now - 1, "started": now - 60, "devices": devices}, f)


def table_checks(stdout):
    """{(device, check name): state} from `hotcold health`'s table."""
    rows = {}
    for line in stdout.splitlines()[2:]:
        m = re.match(r"^(\S+)\s+(.+?)\s+(OK|WARN|CRIT)\s{2}", line)
        if m:
            rows[(m.group(1), m.group(2))] = m.group(3)
    return rows


def json_checks(doc):
    return {(dev, c["name"]): c["state"] for dev, d in doc["devices"].items() for c in d["checks"].values()}


def steady(doc):
    """The document without what moves between two runs: the clock (HOTCOLD_NOW sets it at the start of
    each run; it then advances), the disk's write pace and free space (this test's SD, and cam2's
    unmounted hot folder, are folders on the machine's disk, which other processes write)."""
    doc = json.loads(json.dumps(doc))
    doc.pop("sd_wear")
    doc.pop("time")
    doc["archiver"].pop("heartbeat_age_seconds")
    for d in doc["devices"].values():
        d.pop("sd_free_ratio")
        d.pop("capture_age_seconds")
        keys = ("sd_wear", "sd_free") if d["hot_mounted"] else ("sd_wear", "sd_free", "tmpfs_use")
        for key in keys:
            d["checks"][key].pop("detail")
        if not d["hot_mounted"]:
            d.pop("tmpfs_used_ratio")
    return doc


def test_health_json_has_the_tables_states_and_exit_code(env):
    now = time.time()
    mixed_host(env, now)
    table = env.cli("health", "--no-textfile", now=now)
    r = env.cli("health", "--json", "--no-textfile", now=now)
    assert table.returncode == r.returncode == 2, (table.stdout, r.stdout, r.stderr)
    doc = json.loads(r.stdout)
    rows = table_checks(table.stdout)
    assert len(rows) >= 14 and json_checks(doc) == rows
    assert doc["overall"] == "CRIT" and re.search(r"^overall: CRIT$", table.stdout, re.M)
    assert {d: v["state"] for d, v in doc["devices"].items()} == {"cam1": "OK", "cam2": "CRIT"}
    cam2 = doc["devices"]["cam2"]["checks"]
    assert cam2["hot_mount"] == {"name": "hot mount", "state": "CRIT", "value": 2,
                                 "detail": cam2["hot_mount"]["detail"]}
    assert "is not a mount point" in cam2["hot_mount"]["detail"]
    assert cam2["hot_captures"]["state"] == "WARN" and cam2["hot_captures"]["detail"].startswith("12/5 in RAM")
    assert doc["format"] == 1 and doc["version"] == __version__ and now - 0.001 <= doc["time"] < now + 5
    assert doc["archiver"]["pid"] == os.getpid() and doc["archiver"]["running"] is True
    assert 1.0 <= doc["archiver"]["heartbeat_age_seconds"] < 6
    assert 1.0 <= doc["devices"]["cam1"]["capture_age_seconds"] < 6


def test_health_json_counters_are_the_heartbeats(env):
    now = time.time()
    mixed_host(env, now)
    doc = json.loads(env.cli("health", "--json", now=now).stdout)
    counters = {"archived_files": 10, "archived_bytes": 20480, "dropped_files": 3, "skipped_files": 2,
                "expired_files": 1, "errors": 4, "collisions": 0}
    # (other counters may be added to the textfile's list: each appears here, checked against the textfile below)
    assert {k: doc["devices"]["cam1"]["counters"][k] for k in counters} == counters
    assert doc["devices"]["cam2"]["counters"]["dropped_files"] == 7
    with open(env.prom) as f:
        text = f.read()
    for dev, d in doc["devices"].items():  # the textfile says the same
        for key, value in d["counters"].items():  # null: not in the textfile either
            sample = f'hotcold_{key}_total{{device="{dev}"}} '
            assert (sample + f"{value}\n" in text) if value is not None else sample not in text, (dev, key)
        for key, c in d["checks"].items():
            assert f'hotcold_check_state{{device="{dev}",check="{key}"}} {c["value"]}\n' in text


def test_status_json_has_the_tables_counts_and_is_healths_document(env):
    now = time.time()
    mixed_host(env, now)
    table = env.cli("status", now=now, check=0)
    status = json.loads(env.cli("status", "--json", now=now, check=0).stdout)
    health = json.loads(env.cli("health", "--json", "--no-textfile", now=now, check=2).stdout)
    assert steady(status) == steady(health)
    assert status["sd_wear"].keys() == health["sd_wear"].keys()
    counts = {}
    dev = None
    for line in table.stdout.splitlines():
        m = re.match(r"^(\S*)\s+(captures|thumbnails|segments)\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+)$", line)
        if m:
            dev = m.group(1) or dev
            counts[(dev, m.group(2))] = [None if m.group(3) == "-" else int(m.group(3))] + [
                int(v) for v in m.groups()[3:]]
    assert len(counts) == 6
    for (dev, kind), row in counts.items():
        k = status["devices"][dev]["kinds"][kind]
        assert [k["ram"], k["keep"], k["archived_this_hour"], k["archived"]] == row, (dev, kind)
    assert counts[("cam1", "captures")] == [5, 5, 4, 4]
    assert status["devices"]["cam2"]["kinds"]["captures"]["ram"] == 12


def test_json_without_archiver_or_wear_uses_nulls(env):
    env.add_device("cam1")
    r = env.cli("status", "--json", check=0)
    doc = json.loads(r.stdout)
    assert doc["archiver"] is None
    d = doc["devices"]["cam1"]
    assert d["counters"] is None and d["sd_ok"] is None and d["capture_age_seconds"] is None
    assert d["checks"]["archiver"]["state"] == "CRIT" and d["checks"]["capture"]["state"] == "CRIT"


def test_card_wear_figures_when_the_archive_is_on_a_block_device(env):
    env.sd_ext4(64)
    env.add_device("cam1")
    now = time.time()
    doc = json.loads(env.cli("health", "--json", now=now).stdout)
    wear = doc["sd_wear"]
    assert wear is not None and re.match(r"^loop\d+$", wear["disk"]), wear
    assert wear["card_bytes"] == 64 * 1024 * 1024 and wear["rated_cycles"] == 1000
    with open("/proc/uptime") as f:  # no archiver baseline: the pace is taken since boot
        uptime = float(f.read().split()[0])
    assert wear["archived_bytes"] is None and uptime - 5 < wear["span_seconds"] <= uptime
    assert wear["judged"] is (wear["span_seconds"] >= 3600)  # a verdict once the pace covers an hour
    with open(env.prom) as f:
        text = f.read()
    assert f'hotcold_sd_written_bytes_total{{disk="{wear["disk"]}"}} {wear["written_bytes_since_boot"]}\n' in text
    assert doc["devices"]["cam1"]["checks"]["sd_wear"]["state"] == "OK"


def test_bad_arguments_and_config_exit_3(env):
    env.add_device("cam1")
    r = env.cli("health", "--json", "--bogus")
    assert r.returncode == EXIT_USAGE and "--bogus" in r.stderr and not r.stdout
    env.write_config(hot_limits={"captures": -1})
    r = env.cli("status", "--json")
    assert r.returncode == EXIT_USAGE and "captures" in r.stderr and not r.stdout
