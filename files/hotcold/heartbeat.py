"""The archiver's heartbeat: ``<run_dir>/archiver.json``, rewritten atomically every ~2 s.

``{"pid", "time", "started", "devices": {name: {"archived", "dropped", "skipped", "expired",
"errors", "sd_ok", "hot": {kind: count}, ...}}}``. ``health`` and ``status`` read it.
"""

import json
import os

from hotcold.fsutil import atomic_write

FILE = "archiver.json"


def path(run_dir):
    return os.path.join(run_dir, FILE)


def write(run_dir, doc):
    os.makedirs(run_dir, exist_ok=True)
    atomic_write(path(run_dir), json.dumps(doc, sort_keys=True, indent=1) + "\n")


def read(run_dir):
    try:
        with open(path(run_dir), encoding="utf-8") as f:
            doc = json.load(f)
        return doc if isinstance(doc, dict) else None
    except (OSError, ValueError):
        return None


def pid_alive(pid):
    try:
        os.kill(int(pid), 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (TypeError, ValueError):
        return False
