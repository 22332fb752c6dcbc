#!/usr/bin/env bash
# make-debian-rootfs.sh DEST.tar
#
# Writes a minimal Debian 12 (bookworm) root filesystem tarball made with
# `debootstrap --variant=minbase`, for `ocibuild import DEST.tar debian:bookworm`.
# The mirror is the host's bookworm mirror (/etc/apt/sources.list or
# /etc/apt/sources.list.d/*.{list,sources}); override it with MIRROR=URL.
#
# DEST.tar doubles as the cache: when it already exists it is kept as it is
# (debootstrap takes minutes), unless FORCE=1.  The tarball is as deterministic
# as debootstrap allows: sorted names, numeric ids, mtimes clamped to
# SOURCE_DATE_EPOCH (default 2023-01-01), no device nodes, no apt lists or
# caches, no logs.  Needs root and a reachable mirror.
set -euo pipefail

if [[ $# -ne 1 ]]; then
    echo "usage: $0 DEST.tar" >&2
    exit 2
fi
dest=$1
suite=bookworm
mtime=${SOURCE_DATE_EPOCH:-1672531200}

if [[ -s $dest && ${FORCE:-0} != 1 ]]; then
    exit 0
fi
if ! command -v debootstrap >/dev/null; then
    echo "$0: debootstrap not found (apt-get install debootstrap)" >&2
    exit 1
fi
if [[ $(id -u) -ne 0 ]]; then
    echo "$0: debootstrap needs root" >&2
    exit 1
fi

# The first URI of a bookworm (not -updates/-security) entry, one-line or deb822.
host_mirror() {
    local files=() file
    for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
        /etc/apt/sources.list.d/*.sources; do
        if [[ -f $file ]]; then files+=("$file"); fi
    done
    [[ ${#files[@]} -gt 0 ]] || return 0
    awk -v suite="$suite" '
        FNR == 1 { uri = ""; suites = "" }
        /^deb[ \t]/ {
            i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
            if ($(i + 1) == suite) { print $i; exit }
        }
        /^URIs:/ { uri = $2 }
        /^Suites:/ { suites = " " $0 " " }
        /^[ \t]*$/ || /^Signed-By:/ || /^Components:/ {
            if (uri != "" && index(suites, " " suite " ")) { print uri; exit }
        }
        /^[ \t]*$/ { uri = ""; suites = "" }
    ' "${files[@]}" 2>/dev/null | head -n 1
}

mirror=${MIRROR:-$(host_mirror)}
mirror=${mirror:-http://deb.debian.org/debian}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
if ! debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$work/log" 2>&1; then
    tail -n 20 "$work/log" >&2
    echo "$0: debootstrap $suite from $mirror failed" >&2
    exit 1
fi

# Things that differ run to run or belong to the host, not the image.
find "$root/dev" -mindepth 1 -delete
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin \
    "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/ldconfig/aux-cache \
    "$root"/var/log/* "$root"/debootstrap "$root"/tmp/* "$root"/run/*
mkdir -p "$root/var/lib/apt/lists/partial"

tar --sort=name --format=posix --numeric-owner \
    --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
    --mtime="@$mtime" --clamp-mtime -C "$root" -cf "$dest.partial" .
mv "$dest.partial" "$dest"
