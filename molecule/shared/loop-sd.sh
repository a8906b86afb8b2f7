#!/bin/sh
# Put the archive on an ext4 block device of its own, as on a Pi, where it lives on the SD card: the card
# wear figures (hotcold status, health, the textfile) come from that disk's /sys/block counters, which an
# overlay file system has not. Usage: loop-sd.sh IMAGE MOUNT_POINT SIZE. Prints "changed" when it mounted.
# The loop device clears itself when the container's mount namespace goes (mount -o loop sets autoclear).
set -eu
image=$1 mnt=$2 size=$3
if findmnt -n "$mnt" >/dev/null; then
    exit 0
fi
mkdir -p "$mnt"
if [ ! -e "$image" ]; then
    truncate -s "$size" "$image"
    mkfs.ext4 -q -F "$image"
fi
# A privileged container sees the host's device nodes as they were when it started: a loop device the
# kernel adds later has no node here yet.
dev=$(losetup --find)
[ -e "$dev" ] || mknod "$dev" b 7 "${dev#/dev/loop}"
mount -o "loop=$dev" "$image" "$mnt"
echo changed
