#!/usr/bin/env bash
# Build the local Debian 12 (bookworm) systemd image used by `make demo` and the molecule scenarios.
#
# No container registry is reachable from the machines this runs on, so the image is bootstrapped
# from the Debian mirror this machine's apt already uses, then imported into podman. The tag is a
# hash of the package list and of the recipe version: the image is rebuilt only when either changes.
#
# Usage: images/build-test-image.sh [--arch arm64]          build if missing, print the image name
#        images/build-test-image.sh [--arch arm64] --name   only print the image name
#
# --arch arm64 builds the same image for arm64 (Raspberry Pi OS is Debian for arm64) as
# localhost/hotcold-test-arm64: debootstrap's first stage runs here, its second stage runs arm64
# binaries under qemu-user through binfmt_misc (scripts/enable-arm64-emulation.sh), about 7 minutes.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
packages_file="$here/packages.txt"
arch=amd64
if [[ "${1:-}" == "--arch" ]]; then
  arch=${2:?--arch needs a value: amd64 or arm64}
  shift 2
fi
case "$arch" in
  amd64) repo=localhost/hotcold-test ;;
  arm64) repo=localhost/hotcold-test-arm64 ;;
  *) echo "build-test-image: --arch \"$arch\" is not supported (amd64 or arm64)" >&2; exit 2 ;;
esac

# Bump when the recipe below changes in a way that changes the image (2: apt lists are kept, so the
# apt module never needs the network to check a package).
recipe_version=2
tag=$( (echo "recipe $recipe_version"; [[ "$arch" == amd64 ]] || echo "arch $arch"; grep -v '^\s*#' "$packages_file") | sha256sum | cut -c1-12)
image="$repo:$tag"

if [[ "${1:-}" == "--name" ]]; then
  echo "$image"
  exit 0
fi

# A cached arm64 image still needs this machine's binfmt_misc registration to run (it is gone after a reboot).
if [[ "$arch" != amd64 ]]; then
  "$here/../scripts/enable-arm64-emulation.sh"
fi

if podman image exists "$image"; then
  podman tag "$image" "$repo:latest"
  echo "$image"
  exit 0
fi

# The mirror: the first deb URI of this machine's apt sources.
mirror=$("$(dirname "$0")/../scripts/debian-mirror.sh")

include=$(grep -v '^\s*#' "$packages_file" | grep -v '^\s*$' | paste -sd, -)
work=$(mktemp -d /var/tmp/hotcold-image.XXXXXX)
trap 'rm -rf "$work"' EXIT

debootstrap_failed() {
  tail -n 30 "$work/debootstrap.log" >&2
  exit 1
}
if [[ "$arch" == amd64 ]]; then
  echo "build-test-image: debootstrap bookworm from $mirror (about 2 minutes)" >&2
  debootstrap --variant=minbase --include="$include" bookworm "$work/rootfs" "$mirror" \
    >"$work/debootstrap.log" 2>&1 || debootstrap_failed
else
  echo "build-test-image: debootstrap bookworm $arch from $mirror (second stage emulated, about 7 minutes)" >&2
  debootstrap --arch "$arch" --foreign --variant=minbase --include="$include" bookworm "$work/rootfs" "$mirror" \
    >"$work/debootstrap.log" 2>&1 || debootstrap_failed
  chroot "$work/rootfs" /debootstrap/debootstrap --second-stage >>"$work/debootstrap.log" 2>&1 || debootstrap_failed
fi

rootfs="$work/rootfs"
# A container has no consoles to log in on and no hardware clock; masking these keeps boot quiet
# and `systemctl is-system-running` at "running".
for unit in getty@tty1.service console-getty.service systemd-remount-fs.service \
            systemd-hwdb-update.service systemd-udevd.service systemd-udev-trigger.service \
            systemd-random-seed.service; do
  ln -sf /dev/null "$rootfs/etc/systemd/system/$unit"
done
echo "hotcold-test" >"$rootfs/etc/hostname"
: >"$rootfs/etc/machine-id"

echo "build-test-image: importing into podman as $image" >&2
tar -C "$rootfs" -c . | podman import --arch "$arch" \
  --change 'CMD ["/lib/systemd/systemd"]' \
  --change 'STOPSIGNAL SIGRTMIN+3' \
  --quiet - "$image" >/dev/null
podman tag "$image" "$repo:latest"
echo "$image"
