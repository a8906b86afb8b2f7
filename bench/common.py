"""Shared bench helpers: resources that are always cleaned up (loop devices, mounts, processes),
process CPU/RSS readers, a tiny ctypes inotify, statistics and the hotcold runtime glue.

Everything that the bench creates outside its own work directory is registered in ``RES`` and
undone in reverse order on normal exit, on an exception, on Ctrl-C and on SIGTERM.
"""

import ctypes
import json
import os
import platform
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(REPO, "bench")
# testsupport (the writer, the SD and RAM mounts, the config writer) is shared with the tests, at the repo root.
if REPO not in sys.path:
    sys.path.insert(0, REPO)

import testsupport.config  # noqa: E402
from testsupport.mounts import LoopSD, Tmpfs  # noqa: E402

RUNTIME_PATH = os.path.join(REPO, "files")
# Debian's python3: the runtime's dependencies (python3-yaml, -jsonschema, -pyinotify) live there.
SYS_PYTHON = "/usr/bin/python3"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(cmd, check=True, **kw):
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    kw.setdefault("text", True)
    r = subprocess.run(cmd, **kw)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({r.returncode}): {r.stderr.strip()[-800:]}")
    return r


# ---------------------------------------------------------------- resource registry


class Resources:
    """LIFO stack of undo callbacks; ``unwind`` runs them all, whatever fails."""

    def __init__(self):
        self._stack = []

    def push(self, label, fn):
        self._stack.append((label, fn))
        return len(self._stack) - 1

    def pop_run(self, token):
        """Run and forget one registered undo (e.g. a mount the caller is done with)."""
        if token is None or token >= len(self._stack) or self._stack[token] is None:
            return
        label, fn = self._stack[token]
        self._stack[token] = None
        self._call(label, fn)
        while self._stack and self._stack[-1] is None:
            self._stack.pop()

    @staticmethod
    def _call(label, fn):
        try:
            fn()
        except Exception as e:  # keep unwinding
            log(f"cleanup of {label} failed: {e}")

    def mark(self):
        return len(self._stack)

    def unwind_to(self, mark):
        """Undo everything registered after ``mark`` (one benchmark run's resources)."""
        while len(self._stack) > mark:
            item = self._stack.pop()
            if item is not None:
                self._call(*item)

    def unwind(self):
        while self._stack:
            item = self._stack.pop()
            if item is not None:
                self._call(*item)


RES = Resources()


def _on_signal(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def install_signal_handlers():
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)


# ---------------------------------------------------------------- work dirs, loop devices, mounts


def workdir(prefix="hotcold-bench-"):
    """A fresh directory on the real disk (/var/tmp), removed at the end."""
    d = tempfile.mkdtemp(prefix=prefix, dir="/var/tmp")
    RES.push(f"rm {d}", lambda: shutil.rmtree(d, ignore_errors=True))
    return d


def mount_tmpfs(path, size="100M"):
    """A tmpfs at path (a device's RAM), unmounted at the end."""
    t = Tmpfs(path, size, opts="mode=0755,nodev,nosuid,noexec")
    return RES.push(f"umount {path}", t.close)


def loop_sd(parent, size_mb, name="sd", inodes=None):
    """The "SD card": testsupport's LoopSD (ext4 with mkfs's default root reserve, on a loop device) at
    ``<parent>/<name>``, unmounted and detached at the end."""
    sd = LoopSD(os.path.join(parent, f"{name}.img"), os.path.join(parent, name), size_mb=size_mb,
                reserved_percent=None, inodes=inodes)
    RES.push(f"SD {sd.mnt} ({sd.dev})", sd.close)
    return sd


def drop_caches():
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("1\n")
    except OSError:
        pass


# ---------------------------------------------------------------- processes


def spawn(cmd, label, env=None, stdout=None, stderr=None, cwd=None):
    """Start a process in its own session; registered so it is always stopped (by its pid)."""
    p = subprocess.Popen(cmd, env=env, stdout=stdout or subprocess.DEVNULL, stderr=stderr or subprocess.DEVNULL,
                         cwd=cwd, start_new_session=True)
    RES.push(f"{label} (pid {p.pid})", lambda: stop_process(p, sig=signal.SIGKILL, timeout=5))
    return p


def stop_process(p, sig=signal.SIGTERM, timeout=30):
    """Signal the process group we created (pgid == p.pid), wait; SIGKILL if it lingers."""
    if p.poll() is not None:
        return p.returncode
    try:
        os.killpg(p.pid, sig)
    except ProcessLookupError:
        pass
    try:
        return p.wait(timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return p.wait(10)


def proc_cpu(pid):
    """utime+stime of a live process in seconds (None if gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_status(pid, key):
    """A kB value of /proc/<pid>/status (VmHWM, VmRSS) in MB."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


# ---------------------------------------------------------------- inotify (ctypes, no dependency)

IN_CLOSE_WRITE = 0x08
IN_MOVED_FROM = 0x40
IN_MOVED_TO = 0x80
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_DELETE_SELF = 0x400
IN_Q_OVERFLOW = 0x4000
IN_ISDIR = 0x40000000
IN_NONBLOCK = 0o4000
_EV = struct.Struct("iIII")


class Inotify:
    def __init__(self):
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.inotify_init1(IN_NONBLOCK)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        self.wd = {}
        self.overflows = 0

    def add(self, path, mask):
        wd = self.libc.inotify_add_watch(self.fd, os.fsencode(path), mask)
        if wd < 0:
            raise OSError(ctypes.get_errno(), "inotify_add_watch", path)
        self.wd[wd] = path
        return wd

    def read(self, timeout):
        """[(path, name, mask)] or [] after ``timeout`` seconds."""
        import select
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return []
        out = []
        while True:
            try:
                buf = os.read(self.fd, 1 << 20)
            except BlockingIOError:
                break
            i = 0
            while i < len(buf):
                wd, mask, _cookie, ln = _EV.unpack_from(buf, i)
                name = buf[i + 16:i + 16 + ln].rstrip(b"\0").decode()
                i += 16 + ln
                if mask & IN_Q_OVERFLOW:
                    self.overflows += 1
                    continue
                out.append((self.wd.get(wd), name, mask))
        return out

    def close(self):
        os.close(self.fd)


# ---------------------------------------------------------------- statistics


def pct(values, q):
    """Nearest-rank percentile (q in 0..100) of a list."""
    if not values:
        return None
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(q / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def ratio(x, base):
    if x is None or base in (None, 0):
        return None
    return x / base


def fmt(v, nd=2):
    if v is None:
        return "n/a"
    if isinstance(v, float):
        if v != 0 and abs(v) < 10 ** -nd:
            return f"{v:.{nd}g}"
        return f"{v:,.{nd}f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def fmt_ratio(r):
    return "n/a" if r is None else f"{r:.3g}x"


# ---------------------------------------------------------------- machine


def machine():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) // 1024
    ff = "none"
    if shutil.which("ffmpeg"):
        ff = run(["ffmpeg", "-hide_banner", "-version"], check=False).stdout.split("\n")[0]
    return {
        "nproc": os.cpu_count(),
        "ram_mb": mem,
        "kernel": platform.release(),
        "cpu": cpu,
        "python": platform.python_version(),
        "ffmpeg": ff.replace("ffmpeg version ", "").split(" Copyright")[0],
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


# ---------------------------------------------------------------- hotcold runtime glue


def runtime_problem():
    """None if ``python3 -m hotcold ... archive`` can run here, else the reason (a string)."""
    if not os.path.isfile(os.path.join(RUNTIME_PATH, "hotcold", "cli.py")):
        return "files/hotcold/cli.py does not exist yet"
    r = run([SYS_PYTHON, "-m", "hotcold", "--help"], check=False, env=runtime_env())
    if r.returncode != 0 or "archive" not in r.stdout:
        return f"`python3 -m hotcold --help` failed: {(r.stderr or r.stdout).strip()[-300:]}"
    return None


def runtime_env(extra=None):
    env = dict(os.environ)
    env["PYTHONPATH"] = RUNTIME_PATH
    env["TZ"] = "UTC"
    env.pop("NOTIFY_SOCKET", None)
    env.pop("WATCHDOG_USEC", None)
    env.pop("JOURNAL_STREAM", None)  # log to stderr (a file of the bench), not the journal
    env.pop("INVOCATION_ID", None)
    if extra:
        env.update(extra)
    return env


def write_config(path, base, devices, run_dir, hot_limits=None, every_nth=None, extra_archive=None):
    """The bench's hotcold config (the plan's limits, every file archived, retention 1 h for captures,
    the runtime's default pace) written as JSON to path; returns path."""
    os.makedirs(run_dir, exist_ok=True)
    return testsupport.config.write_config(path, testsupport.config.hotcold_config(
        base, run_dir, devices, os.path.join(run_dir, "hotcold.prom"),
        url_prefix="/host/stream",
        hot_limits=hot_limits or {"captures": 100, "thumbnails": 100, "segments": 10},
        retention_hours={"captures": 1, "thumbnails": 24, "metadata": 24, "segments": 24},
        archive={"every_nth": every_nth or {"captures": 1, "thumbnails": 1}, **(extra_archive or {})}))


def hotcold_cmd(config, *args):
    return [SYS_PYTHON, "-m", "hotcold", "--config", config, *args]


def wait_heartbeat(run_dir, proc, timeout=30):
    """Wait until the archiver wrote its first heartbeat (= it is past recovery and ready)."""
    hb = os.path.join(run_dir, "archiver.json")
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"hotcold archiver exited with {proc.returncode} during startup")
        if os.path.exists(hb):
            return True
        time.sleep(0.05)
    raise RuntimeError(f"hotcold archiver wrote no heartbeat within {timeout} s")


def read_heartbeat(run_dir):
    try:
        with open(os.path.join(run_dir, "archiver.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


# ---------------------------------------------------------------- report sections


class Section:
    """One benchmark's part of RESULTS.md: a table, targets with PASS/MISS, notes, the command."""

    def __init__(self, name, title):
        self.name = name
        self.title = title
        self.setup = []  # lines describing what ran
        self.headers = []
        self.rows = []
        self.tables = []  # extra (caption, headers, rows)
        self.checks = []  # (target, measured, verdict)
        self.notes = []
        self.seconds = None

    def check(self, target, measured, ok):
        verdict = "NOT RUN" if ok is None else ("PASS" if ok else "MISS")
        self.checks.append((target, measured, verdict))
        return verdict
