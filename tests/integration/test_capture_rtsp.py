"""The capture launcher, rendered as the capture role renders it, against a real RTSP camera (GStreamer's RTSP
server serving a baseline H.264 test pattern, testsupport/rtsp_camera.py) writing into a real tmpfs.

video: copy (the default of an rtsp device) must store the camera's H.264 as it comes: every slice of every
finished segment is byte-identical to a slice the camera sent (a re-encode makes new slices), with the camera's
codec, profile and size; video: x264 on the same camera must not (which shows the check can fail). In both modes
the JPEG captures and thumbnails still come out at their sizes.
"""

import json
import os
import re
import signal
import subprocess
import time

import pytest
from hchelpers import require_tool

from testsupport import capture
from testsupport.rtsp_camera import RtspCamera

CAMERA = {"size": "640x360", "rate": 10}
SETTINGS = {"framerate": 10, "capture_fps": 2, "thumbnail_fps": 5, "thumbnail_size": "160x90",
            "video_bitrate": "500k", "jpeg_quality": 5}
SECONDS = 10
SLICE_TYPES = (1, 5)  # H.264 NAL unit types of coded slices (non-IDR, IDR)


@pytest.fixture(autouse=True)
def _tools():
    for tool in ("ffmpeg", "ffprobe", "mountpoint"):
        require_tool(tool)


@pytest.fixture
def camera():
    cam = RtspCamera(CAMERA["size"], CAMERA["rate"])
    yield cam
    cam.close()


def probe(target, entries="stream=codec_name,profile,width,height"):
    cmd = ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", entries, "-of", "json"]
    if target.startswith("rtsp://"):
        cmd += ["-rtsp_transport", "tcp"]
    r = subprocess.run(cmd + [target], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, f"ffprobe {target}: {r.stderr[-500:]}"
    return json.loads(r.stdout)["streams"][0]


def slices(annexb):
    """Given H.264 Annex B bytes, return the set of its coded slice NAL units (bytes, without start codes)."""
    units = (u.rstrip(b"\x00") for u in re.split(b"\x00\x00\x01", annexb))
    return {u for u in units if u and u[0] & 0x1F in SLICE_TYPES}


def segment_slices(path):
    r = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", path, "-map", "0:v:0", "-c", "copy",
                        "-f", "h264", "-"], capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr[-500:]
    return slices(r.stdout)


def run_capture(tmp_path, tmpfs, camera, video):
    """Run the rendered launcher for SECONDS next to a raw copy of what the camera sends; return
    (hot folder, the camera's slices, the launcher's environment)."""
    out = str(tmp_path / "rendered")
    os.makedirs(out)
    device = {"name": "cam1", "input": "rtsp", "source": camera.url}
    if video:
        device["video"] = video
    launcher = capture.render(out, [device], SETTINGS)
    env_file = os.path.join(out, "cam1.env")
    hot = tmpfs(str(tmp_path / "stream" / "cam1" / "hot"), "64M")
    raw = open(tmp_path / "camera.h264", "wb")
    log = open(tmp_path / "ffmpeg.log", "wb")
    # The tap joins first, so it has every slice the capture gets.
    tap = subprocess.Popen(["ffmpeg", "-nostdin", "-v", "error", "-rtsp_transport", "tcp", "-i", camera.url,
                            "-map", "0:v:0", "-c", "copy", "-f", "h264", "-"], stdout=raw, start_new_session=True)
    time.sleep(1)
    ffmpeg = capture.launch(launcher, "cam1", env_file, hot, stderr=log)
    try:
        time.sleep(SECONDS)
        alive = ffmpeg.poll() is None
    finally:
        for p in (ffmpeg, tap):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
            p.wait(10)
        raw.close()
        log.close()
    assert alive, f"FFmpeg exited: {(tmp_path / 'ffmpeg.log').read_text()[-2000:]}"
    with open(tmp_path / "camera.h264", "rb") as f:
        return hot, slices(f.read()), capture.read_env(env_file)


def finished_segments(hot):
    seg = os.path.join(hot, "segments")
    return sorted(os.path.join(seg, n) for n in os.listdir(seg) if n.endswith(".ts"))[:-1]


def check_jpegs(hot):
    """Captures (full size) and thumbnails come out at about their rates."""
    caps = sorted(os.listdir(os.path.join(hot, "captures")))
    thumbs = sorted(os.listdir(os.path.join(hot, "thumbnails")))
    print(f"{len(caps)} captures, {len(thumbs)} thumbnails in {SECONDS} s")
    assert len(caps) >= SETTINGS["capture_fps"] * SECONDS // 2, caps
    assert len(thumbs) >= SETTINGS["thumbnail_fps"] * SECONDS // 2, thumbs
    cap = probe(os.path.join(hot, "captures", caps[-1]), "stream=codec_name,width,height")
    thumb = probe(os.path.join(hot, "thumbnails", thumbs[-1]), "stream=codec_name,width,height")
    assert (cap["codec_name"], f"{cap['width']}x{cap['height']}") == ("mjpeg", CAMERA["size"])
    assert (thumb["codec_name"], f"{thumb['width']}x{thumb['height']}") == ("mjpeg", SETTINGS["thumbnail_size"])


# Longest slice a frame without any change encodes to (a P slice that skips every block).
SKIP_SLICE_BYTES = 32


def test_rtsp_copy_stores_the_cameras_h264_as_sent(tmp_path, tmpfs, camera):
    source = probe(camera.url)
    hot, sent, env = run_capture(tmp_path, tmpfs, camera, video=None)
    assert env["HOTCOLD_VIDEO"] == "copy", "an rtsp device without video: must default to copy"
    segments = finished_segments(hot)
    assert len(segments) >= SECONDS // 2, f"only {len(segments)} finished segments in {SECONDS} s: {segments}"
    for seg in segments:
        got = probe(seg)
        assert {k: got[k] for k in source} == source, f"{seg}: {got}, the camera sends {source}"
        ours = segment_slices(seg)
        assert ours and ours <= sent, (f"{os.path.basename(seg)}: {len(ours - sent)} of {len(ours)} slices are not "
                                       "the camera's: re-encoded")
    print(f"{len(segments)} segments, {source['codec_name']} {source['profile']} {source['width']}x"
          f"{source['height']}, every slice the camera's")
    check_jpegs(hot)


def test_rtsp_x264_reencodes(tmp_path, tmpfs, camera):
    """The control: with video: x264 the segments are a new encode, none of their slices is the camera's."""
    hot, sent, env = run_capture(tmp_path, tmpfs, camera, video="x264")
    assert env["HOTCOLD_VIDEO"] == "x264"
    segments = finished_segments(hot)
    assert len(segments) >= SECONDS // 2, segments
    # A frame that changes nothing encodes to a few-byte "skip every block" slice, which two encoders can write
    # alike (seen: a 7-byte P slice): only slices that carry picture data tell a copy from a new encode.
    shared = {s for s in set().union(*(segment_slices(seg) for seg in segments)) & sent if len(s) > SKIP_SLICE_BYTES}
    assert not shared, f"{len(shared)} slices of the x264 segments are the camera's"
    check_jpegs(hot)
