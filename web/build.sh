#!/usr/bin/env bash
# Build the host page: web/dist = src/* + hls.min.js (from the exact hls.js version pinned in
# package.json / package-lock.json). Hosts get web/dist only; they need neither Node nor internet.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v npm >/dev/null; then
    echo "web/build.sh: npm not found (Debian: apt-get install nodejs npm)" >&2
    exit 1
fi

# Install from the lock unless node_modules already holds exactly the locked versions (so a rebuild needs
# no registry); npm ci itself takes what it can from npm's cache (--prefer-offline).
if ! node -e '
    const lock = require("./package-lock.json").packages;
    for (const [p, v] of Object.entries(lock)) {
        if (p && require("./" + p + "/package.json").version !== v.version) process.exit(1);
    }' 2>/dev/null; then
    npm ci --prefer-offline --no-audit --no-fund --loglevel=error
fi

rm -rf dist
mkdir dist
cp src/index.html src/app.js src/style.css dist/
# Drop the source-map pointer: the map is not shipped, and browsers would ask nginx for it.
sed '/^\/\/# sourceMappingURL=/d' node_modules/hls.js/dist/hls.min.js > dist/hls.min.js
version=$(node -p 'require("./node_modules/hls.js/package.json").version')
printf 'hls.js %s\n' "$version" > dist/VERSION
echo "web/build.sh: built $(pwd)/dist (hls.js $version)"
