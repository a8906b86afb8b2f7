"""Retention cleanup: expired hour folders vanish at once, per kind's retention, never hot/."""

import os
import subprocess
import time
from datetime import datetime
from zoneinfo import ZoneInfo

from hchelpers import FILES, PYTHON, produce


def ts(s, tz="UTC"):
    return datetime.fromisoformat(s).replace(tzinfo=ZoneInfo(tz)).timestamp()


def fill(env, dev, kind, hour, day, n=3, marker=True, tz="UTC"):
    d = env.archive(dev, kind, hour)
    os.makedirs(d, exist_ok=True)
    if marker:
        with open(os.path.join(d, ".day"), "w") as f:
            f.write(day + "\n")
    k = "thumbnails" if kind == "metadata" else kind
    for i in range(n):
        produce(d, k, hour * 100 + i, mtime=ts(f"{day} {hour:02d}:10:00", tz) + i)
    return d


def visible(d):
    return sorted(n for n in os.listdir(d) if not n.startswith(".")) if os.path.isdir(d) else None


def test_expires_per_kind_retention_and_never_touches_hot(env):
    env.add_device("cam1")
    now = ts("2024-03-02 12:30:00")
    # captures: retention 1 h -> hour 10 ends 11:00, expires 12:00 (gone); hour 11 expires 13:00 (kept)
    c10 = fill(env, "cam1", "captures", 10, "2024-03-02")
    c11 = fill(env, "cam1", "captures", 11, "2024-03-02")
    # thumbnails: retention 24 h -> yesterday 12:xx expired at 12:00+1h... (13:00 today: kept),
    # yesterday 11:xx expired at 12:00 today (gone)
    t11 = fill(env, "cam1", "thumbnails", 11, "2024-03-01")
    t12 = fill(env, "cam1", "thumbnails", 12, "2024-03-01")
    t9 = fill(env, "cam1", "thumbnails", 9, "2024-03-02")
    # hot files with old mtimes must never be touched
    hot = [produce(env.hot("cam1", "captures"), "captures", i, mtime=now - 86400 * 3)[0] for i in range(3)]
    env.write_config()
    r = env.cli("cleanup", now=now, check=0)
    assert visible(c10) == [] and os.path.isdir(c10), "expired folder emptied, folder kept"
    assert not os.path.exists(os.path.join(c10, ".day"))
    assert len(visible(c11)) == 3
    assert visible(t11) == []
    assert len(visible(t12)) == 3 and len(visible(t9)) == 3
    assert all(os.path.exists(p) for p in hot)
    assert "cam1: captures/10 of 2024-03-02 expired: 3 file(s) deleted" in r.stdout
    assert "cam1: thumbnails/11 of 2024-03-01 expired: 3 file(s) deleted" in r.stdout
    assert not [n for n in os.listdir(env.archive("cam1", "captures")) if n.startswith(".trash")]
    # a second run finds nothing
    r = env.cli("cleanup", now=now, check=0)
    assert r.stdout.strip() == "nothing expired"


def test_exact_expiry_boundary_and_custom_retention(env):
    env.add_device("cam1")
    d = fill(env, "cam1", "segments", 5, "2024-03-02")
    env.write_config(retention_hours={"segments": 3})
    # hour 5 ends 06:00; retention 3 h -> expires at 09:00 exactly
    env.cli("cleanup", now=ts("2024-03-02 08:59:59"), check=0)
    assert len(visible(d)) == 3
    env.cli("cleanup", now=ts("2024-03-02 09:00:00"), check=0)
    assert visible(d) == []


def test_folder_without_marker_uses_the_newest_file(env):
    env.add_device("cam1")
    d = fill(env, "cam1", "captures", 3, "2024-03-01", marker=False)
    keep = fill(env, "cam1", "captures", 4, "2024-03-02", marker=False)
    env.write_config()
    env.cli("cleanup", now=ts("2024-03-02 05:30:00"), check=0)
    assert visible(d) == []
    assert len(visible(keep)) == 3


def test_time_zone_is_respected(env):
    env.add_device("cam1")
    # 10:xx in New York on 2024-03-02 ends at 11:00 local = 16:00 UTC; captures retention 1 h -> 17:00 UTC
    d = fill(env, "cam1", "captures", 10, "2024-03-02", tz="America/New_York")
    env.write_config(timezone="America/New_York")
    env.cli("cleanup", now=ts("2024-03-02 16:59:00"), check=0)
    assert len(visible(d)) == 3
    env.cli("cleanup", now=ts("2024-03-02 17:00:00"), check=0)
    assert visible(d) == []


def test_leftover_trash_is_swept_but_not_a_live_runs(env):
    env.add_device("cam1")
    trash = os.path.join(env.archive("cam1", "thumbnails"), ".trash-7-deadbeef")
    os.makedirs(os.path.join(trash, "sub"))
    open(os.path.join(trash, "sub", "x.jpg"), "w").close()
    env.write_config()
    # just renamed (ctime now): a concurrent run may be removing it, leave it alone
    r = env.cli("cleanup", now=time.time(), check=0)
    assert os.path.exists(trash) and r.stdout.strip() == "nothing expired"
    # a minute later it is a leftover of a crash
    r = env.cli("cleanup", now=time.time() + 61, check=0)
    assert not os.path.exists(trash)
    assert "swept 1 leftover trash folder(s)" in r.stdout


def test_concurrent_runs_are_safe(env):
    env.add_device("cam1")
    dirs = [fill(env, "cam1", kind, h, "2024-03-01", n=20) for kind in ("captures", "thumbnails", "metadata",
                                                                       "segments") for h in range(0, 24, 2)]
    cfg = env.write_config()
    e = dict(os.environ, PYTHONPATH=FILES, HOTCOLD_NOW=str(ts("2024-03-03 12:00:00")))
    procs = [subprocess.Popen([PYTHON, "-m", "hotcold", "--config", cfg, "cleanup"], env=e,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], outs
    assert all(visible(d) == [] for d in dirs)
    import re
    deleted = sum(int(n) for o, _ in outs for n in re.findall(r"expired: (\d+) file\(s\) deleted", o))
    assert deleted == 20 * len(dirs), "every file deleted exactly once, by one of the runs"
    assert not any("Traceback" in err for _, err in outs)
    for kind in ("captures", "thumbnails", "metadata", "segments"):
        assert not [n for n in os.listdir(env.archive("cam1", kind)) if n.startswith(".trash")]


def test_every_expired_folder_is_hidden_before_any_is_deleted(env, monkeypatch):
    """A reader never sees an hour half gone: all expired folders (every device and kind) vanish from
    view before the slow part, removing their contents, starts for any of them."""
    from hotcold import retention

    env.add_device("cam1")
    env.add_device("cam2")
    now = ts("2024-03-02 12:30:00")
    expired = [fill(env, dev, kind, 10, "2024-03-01", n=20) for dev in ("cam1", "cam2")
               for kind in ("captures", "thumbnails", "metadata")]
    seen_at_first_removal = []
    real_remove = retention.remove_trash

    def remove_and_record(trash):
        if not seen_at_first_removal:
            seen_at_first_removal.append([visible(d) for d in expired])
        return real_remove(trash)

    monkeypatch.setattr(retention, "remove_trash", remove_and_record)
    results, _ = retention.cleanup(env.config(), now)
    assert seen_at_first_removal == [[[] for _ in expired]]
    assert sorted((e.device, e.kind, e.files) for e in results) == sorted(
        (dev, kind, 20) for dev in ("cam1", "cam2") for kind in ("captures", "thumbnails", "metadata"))
