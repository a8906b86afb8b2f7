#!/usr/bin/env bash
# Browser test of the hotcold host page against a running host.
#   tests/browser/run.sh BASE_URL ARTIFACTS_DIR [test_page.js options, e.g. --wait-archive 180]
#   e.g. run.sh http://127.0.0.1:8080 artifacts/browser
# Needs Debian's chromium (apt-get install chromium; set CHROMIUM=/path to use another) and Node + npm.
# Installs playwright-core from the lock (npm ci; from npm's cache once it has been fetched), then runs
# test_page.js: screenshots land in ARTIFACTS_DIR, the exit status is non-zero on any failed check.
set -euo pipefail

if [ $# -lt 2 ]; then
    echo "usage: $0 BASE_URL ARTIFACTS_DIR [--wait-archive SECONDS]" >&2
    exit 2
fi
base_url=$1
artifacts=$(realpath -m "$2")
shift 2
here=$(cd "$(dirname "$0")" && pwd)
chromium=${CHROMIUM:-/usr/bin/chromium}

for tool in node npm; do
    command -v "$tool" >/dev/null || { echo "run.sh: $tool not found (Debian: apt-get install nodejs npm)" >&2; exit 2; }
done
[ -x "$chromium" ] || { echo "run.sh: no browser at $chromium (Debian: apt-get install chromium)" >&2; exit 2; }

cd "$here"
# Install from the lock unless node_modules already holds exactly the locked versions (so a rebuild needs
# no registry); npm ci itself takes what it can from npm's cache (--prefer-offline).
if ! node -e '
    const lock = require("./package-lock.json").packages;
    for (const [p, v] of Object.entries(lock)) {
        if (p && require("./" + p + "/package.json").version !== v.version) process.exit(1);
    }' 2>/dev/null; then
    npm ci --prefer-offline --no-audit --no-fund --loglevel=error
fi

# The host may still be starting: wait up to 60 s for its device list.
for _ in $(seq 60); do
    if node -e 'fetch(process.argv[1]).then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))' \
            "$base_url/devices.json"; then
        break
    fi
    sleep 1
done

mkdir -p "$artifacts"
exec node "$here/test_page.js" --base-url "$base_url" --artifacts "$artifacts" --chromium "$chromium" "$@"
