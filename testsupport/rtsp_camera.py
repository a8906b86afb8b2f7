"""A local RTSP camera for the capture test and bench/b6_capture_cpu.py: GStreamer's RTSP server (Debian's
gir1.2-gst-rtsp-server-1.0, python3-gi; scripts/setup-host.sh installs them) serving a live H.264 test pattern
made by x264enc. FFmpeg 5.1 cannot serve RTSP itself.

The stream has no B-frames (baseline profile), as most IP cameras send: with B-frames FFmpeg 5.1's stream copy
into HLS fails ("first pts and dts value must be set"), so such a camera needs `video: x264`.

    camera = RtspCamera("1920x1080", 30)   # starts the server in a child process, waits until it listens
    camera.url                             # rtsp://127.0.0.1:<port>/cam
    camera.close()                         # stops it (by its pid)

Run as a script, it serves until killed and prints the port it bound once it listens.
"""

import argparse
import os
import signal
import subprocess
import sys

PATH = "/cam"


def pipeline(size, rate, kbps, gop):
    """Given WxH, frames per second, kbit/s and frames per keyframe, return the server's launch line."""
    width, height = size.split("x")
    return (f"( videotestsrc is-live=true pattern=smpte ! video/x-raw,width={width},height={height},"
            f"framerate={rate}/1 ! x264enc tune=zerolatency speed-preset=ultrafast bitrate={kbps} "
            f"key-int-max={gop} bframes=0 ! video/x-h264,profile=baseline "
            f"! rtph264pay name=pay0 pt=96 config-interval=1 )")


def serve(size, rate, kbps, gop):
    """Serve the pattern on 127.0.0.1 at a free port; print the port, then run until killed."""
    import gi
    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service("0")
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(pipeline(size, rate, kbps, gop))
    # One encoder for every client (ffprobe, then FFmpeg): the camera's own cost stays constant.
    factory.set_shared(True)
    server.get_mount_points().add_factory(PATH, factory)
    server.attach(None)
    print(server.get_bound_port(), flush=True)
    GLib.MainLoop().run()


class RtspCamera:
    """The server in a child process of its own session; ``close()`` stops it (by its pid)."""

    def __init__(self, size="640x360", rate=10, kbps=1000, gop=None):
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        cmd = ["/usr/bin/python3", "-m", "testsupport.rtsp_camera", "--size", size, "--rate", str(rate),
               "--kbps", str(kbps), "--gop", str(gop or rate)]
        self.proc = subprocess.Popen(cmd, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     start_new_session=True)
        port = self.proc.stdout.readline().strip()
        if not port.isdigit():
            self.close()
            raise RuntimeError(f"the RTSP test server did not start: {self.proc.stderr.read()[-800:]}")
        self.url = f"rtsp://127.0.0.1:{port}{PATH}"
        self.pid = self.proc.pid

    def close(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", default="640x360")
    p.add_argument("--rate", type=int, default=10)
    p.add_argument("--kbps", type=int, default=1000)
    p.add_argument("--gop", type=int, default=10, help="frames per keyframe (= 1 s at --rate)")
    a = p.parse_args()
    serve(a.size, a.rate, a.kbps, a.gop)


if __name__ == "__main__":
    sys.exit(main())
