#!/usr/bin/env bash
# quickstart.sh: install ocibuild and build the hello example, offline.
#
# Run from anywhere on a Debian 12 machine as root.  Makes a busybox base
# image from Debian's busybox-static (no registry needed), imports it into
# the ocibuild store as busybox:latest, then builds examples/Dockerfile.hello
# as hello:latest.  Set OCIBUILD_ROOT to use another store.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

if [[ ! -x /bin/busybox ]]; then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q busybox-static
fi
python3 -m pip install -q "$repo"

rootfs=$(mktemp --suffix=.tar)
trap 'rm -f "$rootfs"' EXIT
"$repo/examples/make-busybox-rootfs.sh" "$rootfs"
ocibuild import "$rootfs" busybox:latest
ocibuild -f "$repo/examples/Dockerfile.hello" -t hello:latest "$repo/examples"
echo "built hello:latest"
