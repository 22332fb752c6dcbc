#!/usr/bin/env bash
# make-busybox-rootfs.sh DEST.tar
#
# Writes a minimal, deterministic root filesystem tarball around Debian's
# statically linked busybox (package busybox-static): /bin/busybox plus
# applet symlinks, /etc/passwd and /etc/group (root, nobody, app uid 1000),
# /tmp with mode 1777.  The same input always gives byte-identical output:
# sorted names, numeric ids, a fixed mtime (SOURCE_DATE_EPOCH, default
# 2023-01-01), GNU tar format.  Does not need root.
set -euo pipefail

if [[ $# -ne 1 ]]; then
    echo "usage: $0 DEST.tar" >&2
    exit 2
fi
dest=$1
busybox=${BUSYBOX:-/bin/busybox}
mtime=${SOURCE_DATE_EPOCH:-1672531200}

if [[ ! -x $busybox ]]; then
    echo "$0: $busybox not found (apt-get install busybox-static)" >&2
    exit 1
fi
if ! "$busybox" --list >/dev/null 2>&1; then
    echo "$0: $busybox does not run" >&2
    exit 1
fi

applets=(
    '[' awk basename cat chgrp chmod chown cp cut date dd df dirname du echo
    env expr false find grep gunzip gzip head hostname id kill ln ls mkdir
    mktemp mv printf ps pwd readlink rm rmdir sed seq sh sleep sort stat tail
    tar tee test touch tr true uname uniq vi wc wget which whoami xargs
)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
umask 022
root=$work/rootfs
mkdir -p "$root"/{bin,dev,etc,home/app,proc,root,sys,tmp,usr/bin,var}
chmod 1777 "$root/tmp"
chmod 0700 "$root/root"
install -m 0755 "$busybox" "$root/bin/busybox"
for applet in "${applets[@]}"; do
    ln -s busybox "$root/bin/$applet"
done

cat >"$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
app:x:1000:1000:app:/home/app:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat >"$root/etc/group" <<'GROUP'
root:x:0:
app:x:1000:
nogroup:x:65534:
GROUP
chmod 0644 "$root/etc/passwd" "$root/etc/group"

common=(--sort=name --format=gnu --numeric-owner --mtime="@$mtime" -C "$root")
# Everything belongs to root except the home of `app`, appended second.
tar "${common[@]}" --owner=0 --group=0 --exclude=home/app \
    -cf "$dest.partial" bin dev etc home proc root sys tmp usr var
tar "${common[@]}" --owner=1000 --group=1000 -rf "$dest.partial" home/app
mv "$dest.partial" "$dest"
