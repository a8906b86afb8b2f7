#!/usr/bin/env python3
"""A realistic stand-in for a hotcold capture host, for developing and checking the web page.

Serves, with Python's standard library only:
  /                                   the built page (web/dist by default)
  /devices.json                       {"devices", "url_prefix", "max_capture_age_seconds", "timezone"}
  /host/stream/<device>/...           a temp tree laid out as in docs/DESIGN.md, with real media:
      hot/captures/capture_<N>.jpg + latest.jpg (symlink, swapped as new captures arrive)
      hot/segments/output.m3u8 + segment_<N>.ts (live HLS, written by a running ffmpeg)
      thumbnails/<hour>/capture_<N>_thumbnail.jpg, segments/<hour>/archive.m3u8 (VOD) + .ts
      hot/index/{thumbnails,segments}_<day>_<h>.{json,m3u8} for the open (current) hour,
      thumbnails/<h>/index.json, segments/<h>/index.json for closed hours
  /api/host/thumbnails/<device>/<hour>, /api/host/segments/<device>/<hour>   the contract's JSON answers,
      from those index files, RAM copy first (as nginx does); an open hour's archive.m3u8 is served
      from its RAM copy at the SD URL.

Hours are counted in --timezone (default UTC), like the host's hour folders. Recorded hours, with H the
current hour: H (60 thumbnails, 30 s EVENT archive, as while an hour is open), H-1 (45, VOD archive with a
DISCONTINUITY), H-2 a gap, H-3 (20, no archive),
H-4 (300, more than the page shows at once, VOD archive). Everything else is empty. Run
`python3 tests/browser/fake_host.py --port 8099` and open
http://127.0.0.1:8099/. Needs ffmpeg (with libx264).
"""

from __future__ import annotations

import argparse
import datetime as dt
import email.utils
import json
import mimetypes
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parents[2]
URL_PREFIX = "/host/stream"
MIME = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".ts": "video/mp2t",
    ".jpg": "image/jpeg",
    ".js": "application/javascript",
    ".css": "text/css",
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
}
HOUR_PLAN = [(0, 60, True), (1, 45, True), (2, 0, False), (3, 20, False), (4, 300, True)]
KEEP_CAPTURES = 20


def log(msg: str) -> None:
    print(f"fake_host: {msg}", file=sys.stderr, flush=True)


def run_ffmpeg(args: list[str]) -> None:
    cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args]
    subprocess.run(cmd, check=True)


def archive_playlist(vod: Path, start: dt.datetime, ended: bool, gap_after: int | None) -> str:
    """The archiver's archive.m3u8 (files/hotcold/playlist.py): PROGRAM-DATE-TIME per segment, a
    DISCONTINUITY where recording paused, VOD + ENDLIST for a closed hour, EVENT for the current one."""
    segs, dur = [], None
    for line in vod.read_text().splitlines():
        if line.startswith("#EXTINF:"):
            dur = float(line[8:].split(",")[0])
        elif line and not line.startswith("#"):
            segs.append((line, dur))
    out = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:1", "#EXT-X-MEDIA-SEQUENCE:0",
           f"#EXT-X-PLAYLIST-TYPE:{'VOD' if ended else 'EVENT'}"]
    t = start
    for i, (name, d) in enumerate(segs):
        if gap_after is not None and i == gap_after:
            out.append("#EXT-X-DISCONTINUITY")
            t += dt.timedelta(minutes=5)  # recording paused for five minutes
        out.append(f"#EXT-X-PROGRAM-DATE-TIME:{t.isoformat(timespec='milliseconds')}")
        out += [f"#EXTINF:{d:.6f},", name]
        t += dt.timedelta(seconds=d)
    if ended:
        out.append("#EXT-X-ENDLIST")
    return "\n".join(out) + "\n"


class FakeHost:
    def __init__(self, tree: Path, devices: list[str], tz: str, max_age: int) -> None:
        self.tree = tree
        self.devices = devices
        self.tz = ZoneInfo(tz)
        self.tz_name = tz
        self.max_age = max_age
        self.procs: list[subprocess.Popen] = []
        self.stop = threading.Event()

    def hour_now(self) -> int:
        return dt.datetime.now(self.tz).hour

    def today(self) -> str:
        """Today in the host's zone: nginx looks for an open hour's RAM index under today's name only."""
        return dt.datetime.now(self.tz).date().isoformat()

    # ---- archived hours (made once, at start) ----
    def make_archive(self) -> None:
        media = self.tree / ".media"
        media.mkdir(parents=True)
        # 60 real thumbnails (320x240, like the capture role's default) and one 30 s VOD of 1 s segments.
        run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=5", "-frames:v", "60", "-q:v", "6",
                    str(media / "thumb_%03d.jpg")])
        thumbs = sorted(media.glob("thumb_*.jpg"))
        vod = media / "vod"
        vod.mkdir()
        run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=320x180:rate=10", "-t", "30",
                    "-c:v", "libx264", "-preset", "ultrafast", "-g", "10", "-pix_fmt", "yuv420p",
                    "-f", "hls", "-hls_time", "1", "-hls_playlist_type", "vod",
                    "-hls_segment_filename", str(vod / "segment_%09d.ts"), str(vod / "archive.m3u8")])
        now = self.hour_now()
        base_n = int(time.time() - 1_600_000_000) * 5
        today = dt.datetime.now(self.tz).date()
        for di, device in enumerate(self.devices):
            dev = self.tree / device
            for kind in ("captures", "thumbnails", "metadata", "segments"):
                for h in range(24):
                    (dev / kind / str(h)).mkdir(parents=True, exist_ok=True)
            # The first device gets the full plan; the others only the current hour (a fresh host).
            plan = HOUR_PLAN if di == 0 else [(0, 10, True)]
            for back, count, has_video in plan:
                h = (now - back) % 24
                day = today - dt.timedelta(days=1) if h > now else today
                n0 = base_n - back * 18000
                # Archived files are on the SD; the open (current) hour's indexes are in RAM
                # (hot/index/), a closed hour's on the SD (docs/DESIGN.md).
                index = dev / "hot" / "index"
                index.mkdir(parents=True, exist_ok=True)
                names = []
                for i in range(count):
                    names.append(f"capture_{n0 + i:09d}_thumbnail.jpg")
                    shutil.copyfile(thumbs[i % len(thumbs)], dev / "thumbnails" / str(h) / names[-1])
                (dev / "thumbnails" / str(h) / ".day").write_text(f"{day}\n")
                thumb_doc = json.dumps({"hour": h, "count": count,
                                        "thumbnails": [f"{URL_PREFIX}/{device}/thumbnails/{h}/{n}" for n in names]})
                if count:
                    sd_copy = dev / "thumbnails" / str(h) / "index.json"
                    target = index / f"thumbnails_{day}_{h}.json" if back == 0 else sd_copy
                    target.write_text(thumb_doc)
                if has_video:
                    for ts in vod.glob("*.ts"):
                        shutil.copyfile(ts, dev / "segments" / str(h) / ts.name)
                    hour_start = dt.datetime.combine(day, dt.time(h), self.tz)
                    playlist = archive_playlist(vod / "archive.m3u8", hour_start + dt.timedelta(minutes=1),
                                                ended=back > 0, gap_after=15 if back == 1 else None)
                    manifest = f"{URL_PREFIX}/{device}/segments/{h}/archive.m3u8"
                    seg_doc = json.dumps({"hour": h, "manifest_url": manifest})
                    if back == 0:
                        (index / f"segments_{day}_{h}.m3u8").write_text(playlist)
                        (index / f"segments_{day}_{h}.json").write_text(seg_doc)
                    else:
                        (dev / "segments" / str(h) / "archive.m3u8").write_text(playlist)
                        (dev / "segments" / str(h) / "index.json").write_text(seg_doc)
                    (dev / "segments" / str(h) / ".day").write_text(f"{day}\n")

    # ---- live output (ffmpeg in real time) ----
    def start_live(self) -> None:
        for device in self.devices:
            hot = self.tree / device / "hot"
            for sub in ("captures", "thumbnails", "segments", "index"):
                (hot / sub).mkdir(parents=True, exist_ok=True)
            start = int(time.time() - 1_600_000_000) * 2  # image2 wants < 2**31
            cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-re",
                   "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=10",
                   "-filter_complex", "[0:v]split=2[v][c];[c]fps=2[cap]",
                   "-map", "[v]", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
                   "-g", "10", "-pix_fmt", "yuv420p",
                   "-f", "hls", "-hls_time", "1", "-hls_list_size", "10",
                   "-hls_flags", "delete_segments+temp_file",
                   "-hls_segment_filename", str(hot / "segments" / "segment_%09d.ts"),
                   str(hot / "segments" / "output.m3u8"),
                   "-map", "[cap]", "-q:v", "5", "-f", "image2", "-atomic_writing", "1",
                   "-start_number", str(start), str(hot / "captures" / "capture_%09d.jpg")]
            self.procs.append(subprocess.Popen(cmd, stdin=subprocess.DEVNULL))
        threading.Thread(target=self._latest_loop, daemon=True).start()

    def _latest_loop(self) -> None:
        pattern = re.compile(r"^capture_(\d+)\.jpg$")
        while not self.stop.wait(0.2):
            for device in self.devices:
                caps = self.tree / device / "hot" / "captures"
                try:
                    names = sorted((int(m.group(1)), name) for name in os.listdir(caps)
                                   if (m := pattern.match(name)))
                except OSError:
                    continue
                if not names:
                    continue
                newest = names[-1][1]
                link = caps / "latest.jpg"
                if not link.is_symlink() or os.readlink(link) != newest:
                    tmp = caps / ".latest.jpg.new"
                    tmp.unlink(missing_ok=True)
                    tmp.symlink_to(newest)
                    os.replace(tmp, link)  # atomic swap, as the archiver does
                for _, name in names[:-KEEP_CAPTURES]:
                    (caps / name).unlink(missing_ok=True)

    def wait_live(self, timeout: float = 15.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            ready = all((self.tree / d / "hot" / "captures" / "latest.jpg").exists()
                        and (self.tree / d / "hot" / "segments" / "output.m3u8").exists()
                        for d in self.devices)
            if ready:
                return
            if any(p.poll() is not None for p in self.procs):
                raise RuntimeError("live ffmpeg exited early")
            time.sleep(0.2)
        raise RuntimeError("live output did not appear in time")

    def shutdown(self) -> None:
        self.stop.set()
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()

    # ---- what nginx does (roles/stream_endpoints): the RAM copy of an index first, then the SD copy ----
    def ram_first(self, rel: str) -> Path:
        """The file behind a stream URL path (relative to the prefix): an open hour's index or
        playlist is served from its RAM copy (hot/index/) at the SD copy's URL."""
        m = re.fullmatch(r"([^/]+)/(thumbnails|segments)/(\d+)/(index\.json|archive\.m3u8)", rel)
        if m:
            device, kind, hour, name = m.groups()
            stem = f"{self.today()}_{int(hour)}"
            ram = {"index.json": f"{kind}_{stem}.json", "archive.m3u8": f"segments_{stem}.m3u8"}[name]
            if not (kind == "thumbnails" and name == "archive.m3u8"):
                path = self.tree / device / "hot" / "index" / ram
                if path.is_file():
                    return path
        return self.tree / rel

    def api_file(self, device: str, kind: str, hour: int) -> Path | None:
        name = "index.json"
        for path in (self.tree / device / "hot" / "index" / f"{kind}_{self.today()}_{hour}.json",
                     self.tree / device / kind / str(hour) / name):
            if path.is_file():
                return path
        return None


def make_handler(host: FakeHost, web_dir: Path):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "fake-hotcold"

        def log_message(self, fmt, *args):  # quiet: only errors
            pass

        def send_json(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def send_file(self, path: Path) -> None:
            try:
                f = open(path, "rb")  # follows the latest.jpg symlink, like nginx
            except OSError:
                self.send_json(404, {"error": "Not found"})
                return
            with f:
                st = os.fstat(f.fileno())
                if not os.path.isfile(path):
                    self.send_json(404, {"error": "Not found"})
                    return
                data = f.read()
            ctype = MIME.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            # nginx-style validators: Last-Modified has 1-second resolution.
            self.send_header("Last-Modified", email.utils.formatdate(st.st_mtime, usegmt=True))
            self.send_header("ETag", f'"{int(st.st_mtime):x}-{st.st_size:x}"')
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def do_HEAD(self):
            self.do_GET()

        def do_GET(self):
            path = unquote(urlsplit(self.path).path)
            if path == "/devices.json":
                self.send_json(200, {"devices": host.devices, "url_prefix": URL_PREFIX,
                                     "max_capture_age_seconds": host.max_age, "timezone": host.tz_name})
                return
            m = re.fullmatch(r"/api/host/(thumbnails|segments)/([^/]+)/([^/]+)", path)
            if m:
                kind, device, hour_s = m.groups()
                if device not in host.devices:
                    self.send_json(404, {"error": "Unknown device"})
                    return
                if not re.fullmatch(r"\d{1,2}", hour_s) or int(hour_s) > 23:
                    self.send_json(400, {"error": "Invalid hour (0-23)"})
                    return
                hour = int(hour_s)
                found = host.api_file(device, kind, hour)
                if found is not None:
                    self.send_json(200, json.loads(found.read_text()))
                elif kind == "thumbnails":
                    self.send_json(200, {"hour": hour, "count": 0, "thumbnails": []})
                else:
                    self.send_json(404, {"error": "Manifest not found"})
                return
            if path.startswith(URL_PREFIX + "/"):
                rel = path[len(URL_PREFIX) + 1:]
                parts = rel.split("/")
                if parts[0] not in host.devices or ".." in parts or any(p.startswith(".") for p in parts):
                    self.send_json(404, {"error": "Not found"})
                    return
                self.send_file(host.ram_first(rel))
                return
            rel = path.lstrip("/") or "index.html"
            if ".." in rel.split("/"):
                self.send_json(404, {"error": "Not found"})
                return
            self.send_file(web_dir / rel)

        def do_POST(self):
            self.send_json(405, {"error": "Method not allowed"})

        def do_PUT(self):
            self.do_POST()

        def do_DELETE(self):
            self.do_POST()

    return Handler


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=8099)
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--web-dir", type=Path, default=REPO / "web" / "dist",
                    help="the built page (default: web/dist; run web/build.sh first)")
    ap.add_argument("--devices", default="capture1,capture2")
    ap.add_argument("--timezone", default="UTC")
    ap.add_argument("--max-age", type=int, default=3, help="max_capture_age_seconds in devices.json")
    args = ap.parse_args()

    if not (args.web_dir / "index.html").is_file():
        log(f"{args.web_dir}/index.html missing: run web/build.sh first")
        return 2
    if shutil.which("ffmpeg") is None:
        log("ffmpeg not found")
        return 2
    tree = Path(tempfile.mkdtemp(prefix="hotcold-fake-"))
    host = FakeHost(tree, [d for d in args.devices.split(",") if d], args.timezone, args.max_age)
    server = None
    try:
        host.make_archive()
        host.start_live()
        host.wait_live()
        server = ThreadingHTTPServer((args.bind, args.port), make_handler(host, args.web_dir.resolve()))
        server.daemon_threads = True

        def on_signal(_sig, _frm):
            threading.Thread(target=server.shutdown, daemon=True).start()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        # The line the test runner waits for.
        print(f"fake_host: serving http://{args.bind}:{server.server_address[1]}/ "
              f"(hour {host.hour_now()} {args.timezone}, tree {tree})", flush=True)
        server.serve_forever()
    finally:
        if server is not None:
            server.server_close()
        host.shutdown()
        shutil.rmtree(tree, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
