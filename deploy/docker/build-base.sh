#!/usr/bin/env bash
# Build a local stand-in for python:3.11-slim-bookworm without any image registry:
# debootstrap a minimal Debian 12 with python3 (3.11) and python3-venv, import it into podman.
#
#   deploy/docker/build-base.sh [IMAGE]      (default IMAGE: localhost/as2sync-base:bookworm)
#
# Environment:
#   DEBIAN_MIRROR   mirror to debootstrap from (default: the first bookworm URI apt uses here)
#   REBUILD_BASE=1  rebuild even if IMAGE exists already
#   CONTAINERS_CONF as for podman; deploy/docker/test.sh points it at containers.conf
#
# Needs root (debootstrap chroots), debootstrap and podman. Takes a few minutes the first time;
# later runs reuse the image.
set -euo pipefail

IMAGE=${1:-localhost/as2sync-base:bookworm}
SUITE=bookworm
export CONTAINERS_CONF=${CONTAINERS_CONF:-$(cd "$(dirname "$0")" && pwd)/containers.conf}

if [[ ${REBUILD_BASE:-0} != 1 ]] && podman image exists "$IMAGE"; then
    echo "build-base: $IMAGE exists (REBUILD_BASE=1 to rebuild)"
    exit 0
fi

# The mirror apt already uses on this machine: the first URI that serves SUITE, from deb822
# .sources files or one-line sources.list entries. Security and third-party repositories
# are skipped: they do not carry the base suite.
apt_mirror() {
    local file uri
    for file in /etc/apt/sources.list.d/*.sources; do
        [[ -f $file ]] || continue
        # deb822: a stanza's URIs and Suites lines; take URIs whose stanza lists SUITE.
        uri=$(awk -v suite="$SUITE" '
            /^[[:space:]]*$/ { if (ok && u != "") { print u; exit } ; u = ""; ok = 0; next }
            tolower($1) == "uris:"   { u = $2 }
            tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == suite) ok = 1 }
            END { if (ok && u != "") print u }
        ' "$file" | head -n1)
        if [[ -n $uri ]]; then echo "$uri"; return; fi
    done
    for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -f $file ]] || continue
        uri=$(awk -v suite="$SUITE" '
            $1 == "deb" { for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i ~ /:\/\//) { if ($(i+1) == suite) { print $i; exit } ; break } }
        ' "$file" | head -n1)
        if [[ -n $uri ]]; then echo "$uri"; return; fi
    done
    echo "http://deb.debian.org/debian"
}

# On a rebuild, the previous image is removed once the new one has its name.
OLD_ID=$(podman image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)
MIRROR=${DEBIAN_MIRROR:-$(apt_mirror)}
WORK=$(mktemp -d /var/tmp/as2sync-base.XXXXXX)
ROOTFS=$WORK/rootfs
cleanup() {
    # A failed debootstrap can leave /proc or /sys mounted inside the chroot.
    for mnt in proc sys dev/pts dev; do
        if mountpoint -q "$ROOTFS/$mnt" 2>/dev/null; then umount -l "$ROOTFS/$mnt"; fi
    done
    rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT

echo "build-base: debootstrap $SUITE from $MIRROR (a few minutes)"
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    "$SUITE" "$ROOTFS" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 || {
    tail -n 30 "$WORK/debootstrap.log" >&2
    echo "build-base: debootstrap failed" >&2
    exit 1
}

# Trust the same extra CAs as this host (e.g. a TLS-inspecting egress proxy), so pip inside
# `podman build` can reach PyPI the way the host does. They are added to the system bundle
# of this local test base only; the Dockerfile itself carries no certificates.
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$ROOTFS/usr/local/share/ca-certificates/"
    # (its c_rehash warns about the bundle file itself; that is harmless)
    chroot "$ROOTFS" update-ca-certificates >/dev/null 2>&1
fi

# What the official slim image also leaves out: package caches and lists.
chroot "$ROOTFS" apt-get clean
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS"/var/log/*.log

echo "build-base: importing as $IMAGE"
tar --numeric-owner -C "$ROOTFS" -c . \
    | podman import --quiet \
        --change 'ENV LANG=C.UTF-8' \
        --change 'CMD ["python3"]' \
        --message "debootstrap $SUITE minbase + python3 python3-venv from $MIRROR" \
        - "$IMAGE" >/dev/null
if [[ -n $OLD_ID ]]; then
    podman rmi "$OLD_ID" >/dev/null 2>&1 || echo "build-base: the previous image $OLD_ID is still in use; kept"
fi
podman run --rm --network none "$IMAGE" python3 -c 'import sys, venv, ssl; print("build-base: python", sys.version.split()[0])'
