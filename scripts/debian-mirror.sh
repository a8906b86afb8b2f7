#!/usr/bin/env bash
# Print the Debian mirror this machine's apt uses: the first deb URI of its apt sources (deb822 first,
# then sources.list). The image builders call it, so no registry host name is written into the repository.
set -euo pipefail

mirror=""
if [[ -r /etc/apt/sources.list.d/debian.sources ]]; then
  mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
fi
if [[ -z "$mirror" && -r /etc/apt/sources.list ]]; then
  mirror=$(awk '$1 == "deb" && $0 !~ /security/ {print ($2 ~ /^\[/ ? $3 : $2); exit}' /etc/apt/sources.list)
fi
if [[ -z "$mirror" ]]; then
  echo "debian-mirror: no Debian mirror found in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list" >&2
  exit 1
fi
echo "$mirror"
