"""The loss counters that survive an archiver restart: ``<run_dir>/counters.json``.

``dropped``, ``evicted``, ``collisions`` and ``thinned_<kind>`` (the SD wear budget, budget.py) count
footage lost, renamed or thinned on purpose; an alert on them
must not vanish because systemd restarted the archiver, and Prometheus must see a counter, not a reset.
So they are written (atomically) whenever they change and read back at start:
``{"devices": {name: {"dropped": n, "evicted": n, "collisions": n}}}``. ``run_dir`` is a tmpfs on hosts:
the counters live as long as the boot, as the node exporter's own do. The other counters (archived,
archived_bytes...) count since the archiver started: card wear is paced from that start.
"""

import json
import os

from hotcold.fsutil import atomic_write

FILE = "counters.json"
KEPT = ("dropped", "evicted", "collisions", "thinned_captures", "thinned_thumbnails", "thinned_segments")


def path(run_dir):
    return os.path.join(run_dir, FILE)


def load(run_dir, log):
    """Given the run dir and a logger, return {device: {counter: n}} of the kept counters as last saved;
    {} if there is no file, and {} with a warning naming the file if it is unreadable."""
    p = path(run_dir)
    try:
        with open(p, encoding="utf-8") as f:
            doc = json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        log.warning("cannot read the kept counters %s (%s): they start from 0", p, e)
        return {}
    devices = doc.get("devices") if isinstance(doc, dict) else None
    if not isinstance(devices, dict):
        log.warning("the kept counters %s hold no devices mapping: they start from 0", p)
        return {}
    return {d: {k: v for k, v in c.items() if k in KEPT and isinstance(v, int) and v >= 0}
            for d, c in devices.items() if isinstance(c, dict)}


def kept(counters_by_device):
    """Given {device: counter dict}, return the part this file keeps."""
    return {d: {k: c.get(k, 0) for k in KEPT} for d, c in counters_by_device.items()}


def save(run_dir, doc):
    """Given the run dir and ``kept(...)``, write the file atomically (raises OSError)."""
    os.makedirs(run_dir, exist_ok=True)
    atomic_write(path(run_dir), json.dumps({"devices": doc}, sort_keys=True, indent=1) + "\n")
