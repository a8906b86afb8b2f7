#!/usr/bin/env bash
# Quick local check of the page without a host: build web/dist, start fake_host.py on a free port,
# run the browser test against it, stop the fake host.
#   tests/browser/check-fake.sh [ARTIFACTS_DIR]     (default: artifacts/browser-fake)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
artifacts=${1:-$repo/artifacts/browser-fake}

"$repo/web/build.sh"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$(mktemp)
python3 "$here/fake_host.py" --port "$port" --web-dir "$repo/web/dist" >"$log" 2>&1 &
fake=$!
trap 'kill "$fake" 2>/dev/null; wait "$fake" 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 60); do
    grep -q '^fake_host: serving' "$log" && break
    kill -0 "$fake" 2>/dev/null || { cat "$log" >&2; echo "check-fake.sh: fake host did not start" >&2; exit 1; }
    sleep 0.5
done
grep -q '^fake_host: serving' "$log" || { cat "$log" >&2; echo "check-fake.sh: fake host did not start in 30 s" >&2; exit 1; }
"$here/run.sh" "http://127.0.0.1:$port" "$artifacts"
