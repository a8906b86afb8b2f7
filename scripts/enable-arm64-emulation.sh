#!/usr/bin/env bash
# Let this amd64 machine run arm64 binaries (the arm64 test image and its containers) under qemu-user.
#
# Debian's qemu-user-static registers its interpreters with binfmt-support, flag F ("fix binary"):
# the kernel opens the interpreter once at registration, so it also works inside a chroot or a
# container that has no qemu of its own. binfmt_misc is not mounted by default on these machines.
# Idempotent; needs root.
set -euo pipefail

"$(dirname "$0")/setup-host.sh" qemu-user-static binfmt-support

if ! mountpoint -q /proc/sys/fs/binfmt_misc; then
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
fi
update-binfmts --enable qemu-aarch64 2>/dev/null || true
if ! grep -q '^enabled' /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null; then
  echo "enable-arm64-emulation: qemu-aarch64 is not registered in /proc/sys/fs/binfmt_misc" >&2
  exit 1
fi
