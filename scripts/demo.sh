#!/usr/bin/env bash
# `make demo`: provision a local podman container as a capture host with site.yml and the demo
# inventory (test-pattern input, small frames), then show files flowing from RAM to the SD archive.
# The container has podman's bridge network (still offline: every package is in the image) so its
# nginx is reachable from this machine on 127.0.0.1:$HOTCOLD_DEMO_PORT (default 8080) only.
# Safe to re-run: the container and the image are reused, and a second converge changes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

name=hotcold-demo
port=${HOTCOLD_DEMO_PORT:-8080}
image=$(images/build-test-image.sh)

if ! podman container exists "$name"; then
  echo "demo: starting container $name from $image"
  podman run -d --name "$name" --hostname "$name" \
    --privileged --systemd=always --runtime=runc \
    --publish "127.0.0.1:$port:80" \
    --ulimit "nofile=$(ulimit -Hn):$(ulimit -Hn)" --ulimit nproc=32768:32768 \
    "$image" /lib/systemd/systemd >/dev/null
elif [[ "$(podman container inspect -f '{{.State.Running}}' "$name")" != "true" ]]; then
  echo "demo: restarting container $name"
  podman start "$name" >/dev/null
fi

# Wait for systemd inside the container to finish booting ("degraded" still lets us continue).
state=$(podman exec "$name" systemctl is-system-running --wait 2>/dev/null || true)
echo "demo: container systemd is $state"

echo "demo: ansible-playbook -i inventory/demo site.yml"
ansible-playbook -i inventory/demo site.yml

echo
echo "demo: capture running; status every 5 s (hot = files in RAM, SD = archived files)"
for round in 1 2 3 4; do
  sleep 5
  echo "--- after $((round * 5)) s"
  podman exec "$name" hotcold status || true
done
echo
echo "demo: health check"
podman exec "$name" hotcold health || true
echo
echo "demo: the host page (live picture, 24-hour strip, archived playback): http://127.0.0.1:$port/"
echo "demo: inside the host: podman exec -it $name bash   (remove it: make demo-clean)"
