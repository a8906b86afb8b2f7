#!/usr/bin/env bash
# Build the guest of the VM power-cut harness once: a Debian 12 (bookworm) minbase root file system
# with Debian's kernel (linux-image-amd64), python3 and the Debian python modules the hotcold
# runtime uses on hosts. The hotcold code itself is NOT in the guest: the harness ships the
# checkout's files/hotcold on a separate small disk per run, so the VM runs exactly the code under test.
#
# Output (cached): <cache>/<hash>/{root.img,vmlinuz,initrd.img}. The hash covers the package list,
# the recipe version and the guest's /sbin/hotcold-vm-init: the guest is rebuilt only when one changes.
# Like images/build-test-image.sh, the Debian mirror is read from this machine's apt sources.
#
# Usage: tests/powercut/vm/build-guest.sh           build if missing, print the guest directory
#        tests/powercut/vm/build-guest.sh --name    only print the guest directory
# Env:   HOTCOLD_VM_CACHE   cache root (default /var/cache/hotcold-vm)
set -euo pipefail

cache=${HOTCOLD_VM_CACHE:-/var/cache/hotcold-vm}
packages=(linux-image-amd64 python3 python3-yaml python3-jsonschema python3-pyinotify python3-systemd)

# Bump when the recipe below changes in a way that changes the guest.
recipe_version=1

# PID 1 of the guest, baked into the root image (the root file system is mounted read-only): mount
# the kernel's file systems and the per-run payload disk (/dev/vdc), then hand over to its init.
read -r -d '' vm_init <<'INIT' || true
#!/bin/sh
# the initramfs hands over /sys and /dev already mounted
mountpoint -q /proc || mount -t proc proc /proc
mountpoint -q /sys || mount -t sysfs sys /sys
mountpoint -q /dev || mount -t devtmpfs dev /dev
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs tmpfs /tmp
mkdir -p /run/payload
if ! mount -o ro /dev/vdc /run/payload; then
  echo "hotcold-vm-init: cannot mount the payload disk /dev/vdc" >&2
  echo o >/proc/sysrq-trigger
fi
exec /run/payload/guest-init.sh
INIT

tag=$( (echo "recipe $recipe_version"; printf '%s\n' "${packages[@]}"; echo "$vm_init") | sha256sum | cut -c1-12)
out="$cache/$tag"

if [[ "${1:-}" == "--name" ]]; then
  echo "$out"
  exit 0
fi

# One build at a time: two callers at once (the VM tests on two pytest-xdist workers) would both debootstrap,
# and each one's clean-up below would delete the other's build directory. The second waits, then finds the
# guest cached. The lock is released when this script exits.
mkdir -p "$cache"
exec 9>"$cache/.build.lock"
flock 9

if [[ -f "$out/root.img" && -f "$out/vmlinuz" && -f "$out/initrd.img" ]]; then
  echo "$out"
  exit 0
fi

# The mirror: the first deb URI of this machine's apt sources.
mirror=$("$(dirname "$0")/../../../scripts/debian-mirror.sh")

work=$(mktemp -d "$cache/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"

echo "build-guest: debootstrap bookworm from $mirror (a few minutes)" >&2
include=$(IFS=,; echo "${packages[*]}")
debootstrap --variant=minbase --include="$include" bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  tail -n 30 "$work/debootstrap.log" >&2
  exit 1
}

printf '%s\n' "$vm_init" >"$rootfs/sbin/hotcold-vm-init"
chmod 0755 "$rootfs/sbin/hotcold-vm-init"
mkdir -p "$work/guest"
cp "$(readlink -f "$rootfs/vmlinuz")" "$work/guest/vmlinuz"
cp "$(readlink -f "$rootfs/initrd.img")" "$work/guest/initrd.img"
# Package caches are not needed at run time; a smaller image is faster to copy.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*

# An ext4 image of the tree (mkfs.ext4 -d: no loop mount needed), 25% larger than its contents.
size_kb=$(du -sk "$rootfs" | cut -f1)
mkfs.ext4 -q -F -L hotcold-vm-root -d "$rootfs" "$work/guest/root.img" "$((size_kb * 5 / 4 + 65536))k"

rm -rf "$out"
mv "$work/guest" "$out.new.$$"
mv -T "$out.new.$$" "$out"
# Guests of older recipes are 1.5 GB each and never used again.
for old in "$cache"/*/; do
  old=${old%/}
  [[ "$old" == "$out" || "$old" == "$work" ]] || rm -rf "$old"
done
echo "$out"
