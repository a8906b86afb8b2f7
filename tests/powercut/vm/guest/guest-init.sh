#!/bin/sh
# Guest side of the VM power-cut harness, run by /sbin/hotcold-vm-init (PID 1) from the payload disk.
# Mounts the "SD card" (/dev/vdb, ext4) as the archive base, one tmpfs hot folder per device, then
# runs guest.py (archiver + FFmpeg-like writer + RAM-unlink watcher). The host ends the VM with SIGKILL
# (the power cut); if anything here fails the guest powers itself off so the host sees it at once.
set -u
payload=/run/payload
base=/run/hotcold/base

fail() {
  echo "guest-init: $*" >&2
  echo o >/proc/sysrq-trigger
  sleep 60
}

for m in virtio_console virtio_rng; do
  modprobe "$m" 2>/dev/null || true
done
mkdir -p "$base" || fail "cannot make $base"
mount -t ext4 -o noatime /dev/vdb "$base" || fail "cannot mount the SD disk /dev/vdb"
for dev in $(python3 -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))["devices"]))' "$payload/run.json"); do
  mkdir -p "$base/$dev/hot" || fail "cannot make $base/$dev/hot"
  mount -t tmpfs -o size=64m,mode=0755 tmpfs "$base/$dev/hot" || fail "cannot mount tmpfs for $dev"
done
PYTHONDONTWRITEBYTECODE=1 python3 "$payload/guest.py" "$payload/run.json" "$base" || fail "guest.py exited $?"
fail "guest.py returned"
