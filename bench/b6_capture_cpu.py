"""Benchmark 6: FFmpeg's CPU per capture device, per video mode (issue 16 item 5: capture that fits a Pi).

A local RTSP camera (testsupport/rtsp_camera.py: GStreamer's RTSP server, a live 1080p30 H.264 test pattern,
baseline profile, a keyframe every second, 4 Mbit/s) feeds the capture role's own launcher
(roles/capture/templates/hotcold-capture.j2, rendered with the role's variables by testsupport/capture.py), which
writes into a tmpfs: HLS segments plus 2 captures/s and 5 thumbnails/s, the plan's rates. One mode at a time, the
same camera: FFmpeg's CPU seconds over MEASURE_S (utime+stime of /proc/<pid>/stat, after a WARMUP_S connect), % of
one core, peak RSS (VmHWM). The camera's own encoder runs in another process and is not counted.

* x264: FFmpeg decodes the camera and encodes the HLS video with libx264 (ultrafast, 2 threads, 2 Mbit/s);
* copy: the camera's H.264 goes into the segments as it comes; only the JPEG outputs decode;
* v4l2m2m: the hardware encoder needs a V4L2 memory-to-memory encoder device (a Raspberry Pi's /dev/video11);
  without one the row is NOT RUN with that reason.
"""

import glob
import json
import os
import time

from common import RES, Section, fmt, log, mount_tmpfs, proc_cpu, proc_status, spawn, stop_process, workdir
from common import run as run_cmd

from testsupport import capture
from testsupport.rtsp_camera import RtspCamera

NAME = "capture_cpu"
TITLE = "6. FFmpeg CPU per capture device, by video mode"
CAMERA = {"size": "1920x1080", "rate": 30, "kbps": 4000}
MODES = ["x264", "copy", "v4l2m2m"]
WARMUP_S = 5


def m2m_encoder():
    """The /dev/video* node of a V4L2 memory-to-memory H.264 encoder, or None (its name says "enc")."""
    for name_file in sorted(glob.glob("/sys/class/video4linux/video*/name")):
        with open(name_file) as f:
            if "enc" in f.read().lower():
                return "/dev/" + os.path.basename(os.path.dirname(name_file))
    return None


def probe(target):
    """Given an RTSP URL or a file, return its video as "codec profile WxH"."""
    transport = ["-rtsp_transport", "tcp"] if target.startswith("rtsp://") else []
    r = run_cmd(["ffprobe", "-v", "error", *transport, "-select_streams", "v:0", "-show_entries",
                 "stream=codec_name,profile,width,height", "-of", "json", target], timeout=60)
    s = json.loads(r.stdout)["streams"][0]
    return f"{s['codec_name']} {s.get('profile', '?')} {s['width']}x{s['height']}"


def count(hot, kind, suffix):
    return sum(n.endswith(suffix) for n in os.listdir(os.path.join(hot, kind)))


def measure(wd, camera, mode, seconds):
    """Run the launcher in ``mode`` against the camera; return its figures (a dict)."""
    out = os.path.join(wd, mode)
    os.makedirs(out)
    launcher = capture.render(out, [{"name": "cam1", "input": "rtsp", "source": camera.url, "video": mode}],
                              {"framerate": CAMERA["rate"]})
    hot = os.path.join(wd, "stream", mode, "hot")
    token = mount_tmpfs(hot, "512M")
    try:
        with open(os.path.join(wd, f"{mode}.log"), "wb") as err:
            env = {**os.environ, **capture.read_env(os.path.join(out, "cam1.env")), "HOTCOLD_HOT_DIR": hot,
                   "TZ": "UTC"}
            p = spawn(["/bin/bash", launcher, "cam1"], f"ffmpeg {mode}", stderr=err, env=env)
            # The launcher execs FFmpeg: p.pid is FFmpeg's.
            time.sleep(WARMUP_S)
            cpu0, t0 = proc_cpu(p.pid), time.monotonic()
            time.sleep(seconds)
            cpu1, t1 = proc_cpu(p.pid), time.monotonic()
            rss = proc_status(p.pid, "VmHWM")
            stop_process(p, timeout=10)
        if cpu0 is None or cpu1 is None:
            with open(os.path.join(wd, f"{mode}.log")) as f:
                raise RuntimeError(f"FFmpeg ({mode}) exited: {f.read()[-800:]}")
        segs = sorted(glob.glob(os.path.join(hot, "segments", "segment_*.ts")))
        return {"cpu_s": cpu1 - cpu0, "wall_s": t1 - t0, "rss_mb": rss, "segments": len(segs),
                "captures": count(hot, "captures", ".jpg"), "thumbnails": count(hot, "thumbnails", ".jpg"),
                "segment_video": probe(segs[-2]) if len(segs) > 1 else "none"}
    finally:
        RES.pop_run(token)


def run(quick, args):
    sec = Section(NAME, TITLE)
    seconds = 15 if quick else 60
    # Why a mode cannot run on this machine (measured only where it can).
    skipped = {} if m2m_encoder() else {"v4l2m2m": "no V4L2 memory-to-memory encoder device here "
                                        "(/sys/class/video4linux lists none; a Raspberry Pi's is /dev/video11)"}
    raw = {"seconds": seconds, "camera": CAMERA, "modes": {}}
    mark = RES.mark()
    try:
        wd = workdir()
        camera = RtspCamera(CAMERA["size"], CAMERA["rate"], kbps=CAMERA["kbps"])
        RES.push(f"RTSP camera (pid {camera.pid})", camera.close)
        source = probe(camera.url)
        raw["source"] = source
        for mode in (m for m in MODES if m not in skipped):
            log(f"capture_cpu: {mode}, {seconds} s")
            raw["modes"][mode] = measure(wd, camera, mode, seconds)
    finally:
        RES.unwind_to(mark)
    sec.setup.append(
        f"A local RTSP camera (GStreamer's RTSP server, live test pattern {source}, "
        f"{CAMERA['rate']} fps, a keyframe per second, {CAMERA['kbps']} kbit/s, no B-frames) into the capture "
        f"role's launcher, as the role renders it for an rtsp device with `video: <mode>`; outputs into a tmpfs at "
        f"the plan's rates (1 s HLS segments, 2 captures/s full size, 5 thumbnails/s 320x240). FFmpeg's CPU over "
        f"{seconds} s after a {WARMUP_S} s connect: utime+stime from /proc/<pid>/stat; peak RSS: VmHWM. "
        f"The camera's encoder is another process, not counted.")
    sec.headers = ["video mode", "FFmpeg CPU s", "% of one core", "peak RSS MB", "segments / captures / "
                   "thumbnails written", "segment video"]
    for mode in MODES:
        m = raw["modes"].get(mode)
        if m is None:
            sec.rows.append([mode, "NOT RUN", "", "", "", skipped[mode]])
            continue
        sec.rows.append([mode, fmt(m["cpu_s"], 1), fmt(100 * m["cpu_s"] / m["wall_s"], 1), fmt(m["rss_mb"], 0),
                         f"{m['segments']} / {m['captures']} / {m['thumbnails']}", m["segment_video"]])
    x264, copy = raw["modes"].get("x264"), raw["modes"].get("copy")
    if x264 and copy:
        sec.check("copy: FFmpeg CPU below x264's", f"copy {fmt(copy['cpu_s'], 1)} s vs x264 {fmt(x264['cpu_s'], 1)} s "
                  f"({fmt(copy['cpu_s'] / x264['cpu_s'] * 100, 0)} %)", copy["cpu_s"] < x264["cpu_s"])
        sec.check("copy: segments are the camera's H.264 (codec, profile, size)", copy["segment_video"],
                  copy["segment_video"] == source)
    for mode, reason in skipped.items():
        sec.check(f"{mode} measured", f"not run: {reason}", None)
    sec.notes.append("copy cuts segments at the camera's keyframes: set the camera's keyframe interval (GOP) to the "
                     "segment length (1 s). A camera that sends B-frames needs `video: x264` (FFmpeg 5.1's copy "
                     "into HLS fails with \"first pts and dts value must be set\").")
    return sec, raw
