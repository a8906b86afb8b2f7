#!/bin/sh
# mkdirs USER MODE CHECK DIR...: creates the missing folders (owner and group USER, mode MODE) and fixes
# the owner/mode of existing ones; prints one line per change. CHECK = "True" (check mode): report only.
# Run by the hot_storage role as `sh -c "$(cat mkdirs.sh)" mkdirs USER MODE CHECK DIR...`: one task for
# hundreds of folders instead of one task per folder.
set -eu
user=$1 mode=$2 check=$3
shift 3
for d in "$@"; do
  if [ ! -d "$d" ]; then
    [ "$check" = True ] || install -d -o "$user" -g "$user" -m "$mode" "$d"
    echo "created $d"
  elif [ "$(stat -c %U:%G:%a "$d")" != "$user:$user:$mode" ]; then
    [ "$check" = True ] || { chown "$user:$user" "$d" && chmod "$mode" "$d"; }
    echo "fixed $d"
  fi
done
