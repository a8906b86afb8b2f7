#!/bin/sh
# Prints "<block size> <blocks> <folder>" of the file system that holds (or will hold) the path $1: on a fresh
# host the base path does not exist yet, so its nearest existing parent answers. Reads only.
path=$1
while [ ! -e "$path" ]; do
    path=$(dirname "$path")
done
exec stat -f -c '%S %b %n' "$path"
