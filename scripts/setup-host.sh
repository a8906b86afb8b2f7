#!/usr/bin/env bash
# Install what hotcold's demo and tests need on a fresh Debian 12 machine, and nothing that is
# already there. Idempotent: a second run with everything present does no apt work at all.
#
# - podman + runc: the local systemd containers that stand in for capture hosts (crun, podman's
#   default runtime, fails on this kind of host: "cgroups in hybrid mode not supported").
# - debootstrap: builds the container image, since no container registry is reachable.
# - python3-venv and the Debian python modules the runtime uses on hosts (python3-systemd,
#   python3-yaml, python3-jsonschema, python3-pyinotify) so the unit tests import exactly what a host has.
# - ffmpeg: unit tests make real HLS segments and decode archive playlists.
# - shellcheck: `make lint` checks every shell script. fdisk: a test partitions a loop device (sfdisk).
# - prometheus: its promtool checks and unit-tests the alert rules in monitoring/ (`make monitoring`).
# - libfuse2 + fuse3 (fusermount): the power-cut tests' recording FUSE layer (fusepy, from
#   requirements-dev.txt, loads libfuse2; fuse3 ships the fusermount that unmounts it).
# - qemu-system-x86: the VM power-cut tests (tests/powercut/vm) run the archiver in a qemu guest
#   (TCG; the guest itself is built with debootstrap).
# - python3-gi + gir1.2-gst-rtsp-server-1.0 + gstreamer1.0-plugins-{base,good,ugly}: a local RTSP camera
#   (GStreamer's RTSP server serving an x264enc test pattern) for the capture test and bench/b6_capture_cpu.py;
#   FFmpeg 5.1 cannot serve RTSP itself.
# - chromium: the browser test of the host page (Node and npm come with the machine image; the
#   page's hls.js and the test's playwright-core come from the npm registry, pinned by lock files).
set -euo pipefail

packages=(
  podman runc debootstrap
  python3 python3-venv python3-systemd python3-yaml python3-jsonschema python3-pyinotify
  ffmpeg make git ca-certificates chromium shellcheck fdisk prometheus
  libfuse2 fuse3 qemu-system-x86
  python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-ugly
)
# Extra packages a caller asks for on the command line.
if [[ $# -gt 0 ]]; then
  packages+=("$@")
fi

missing=()
for pkg in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "setup-host: need root to apt-get install: ${missing[*]}" >&2
  exit 1
fi
echo "setup-host: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q "${missing[@]}" >/dev/null
