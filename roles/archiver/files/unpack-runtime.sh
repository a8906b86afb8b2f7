#!/bin/sh
# unpack-runtime LIB TAR SUM MARKER: unpacks TAR into a new folder next to LIB/hotcold, writes SUM
# (the archive's checksum) to its MARKER file, then swaps it in; the old folder is removed.
# Run by the archiver role as `sh -c "$(cat unpack-runtime.sh)" unpack LIB TAR SUM MARKER`.
set -eu
lib=$1 tar=$2 sum=$3 marker=$4
new=$(mktemp -d "$lib/.hotcold.new.XXXXXX")
tar -xf "$tar" -C "$new" --no-same-owner
echo "$sum" > "$new/$marker"
chmod 0755 "$new"
old="$lib/.hotcold.old.$$"
if [ -e "$lib/hotcold" ]; then mv "$lib/hotcold" "$old"; fi
mv "$new" "$lib/hotcold"
rm -rf "$old"
