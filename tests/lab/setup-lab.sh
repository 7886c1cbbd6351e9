#!/usr/bin/env bash
# Makes the real Linux lab parts available to the Lab tests: nftables, conntrack, iproute2 and qemu-utils (qemu-io,
# qemu-img) from apt when missing (qemu-storage-daemon ships with QEMU, which tests/qemu/setup-qemu.sh installs first),
# checks that this machine lets us create network namespaces, and builds the Linux lab guest (guest/linux/build.sh:
# kernel and initramfs from Debian packages; cached in OMIG_LINUX_GUEST_DIR, default /tmp/omig-linux-guest, which the
# Lab tests also fall back to, so later runs only check that it is current).
#   tests/lab/setup-lab.sh OUT_DIR
# Prints shell assignments for eval (OMIG_LAB_*). Logs go to stderr.
set -Eeuo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out_dir=${1:?usage: tests/lab/setup-lab.sh OUT_DIR}
log() { echo "setup-lab: $*" >&2; }
die() { log "$*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "the lab needs root (network namespaces, nftables, conntrack)"
missing=()
command -v nft >/dev/null || missing+=(nftables)
command -v conntrack >/dev/null || missing+=(conntrack)
command -v ip >/dev/null || missing+=(iproute2)
command -v bridge >/dev/null || missing+=(iproute2)
command -v sysctl >/dev/null || missing+=(procps)
command -v qemu-storage-daemon >/dev/null || missing+=(qemu-system-common)
# qemu-io and qemu-img: the NBD disk tests write through an export as a stale holder would (tests/…/Cloud/Nbd).
command -v qemu-io >/dev/null || missing+=(qemu-utils)
if [ ${#missing[@]} -gt 0 ]; then
    command -v apt-get >/dev/null || die "missing ${missing[*]} and apt-get is not available"
    log "installing ${missing[*]} with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    timeout 600 apt-get update -qq >&2 || die "apt-get update failed"
    timeout 900 apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 || die "apt-get install ${missing[*]} failed"
fi

# Network-namespace rights, checked by doing it (a name this script owns, removed at once).
probe="omsetup-$$"
ip netns add "$probe" 2>/dev/null || die "cannot create a network namespace (ip netns add): the lab needs CAP_SYS_ADMIN"
ip netns del "$probe"

mkdir -p "$out_dir"
guest_dir=${OMIG_LINUX_GUEST_DIR:-/tmp/omig-linux-guest}
log "the Linux lab guest in $guest_dir"
"$root/guest/linux/build.sh" "$guest_dir" >/dev/null || die "guest/linux/build.sh $guest_dir failed"
printf 'export OMIG_LAB_DIR=%q\n' "$out_dir"
printf 'export OMIG_LINUX_GUEST_DIR=%q\n' "$guest_dir"
