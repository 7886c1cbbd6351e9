#!/usr/bin/env bash
# Makes the real Linux lab parts available to the Lab tests: nftables, conntrack and iproute2 from apt when missing
# (qemu-storage-daemon ships with QEMU, which tests/qemu/setup-qemu.sh installs first), and checks that this
# machine lets us create network namespaces.
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
printf 'export OMIG_LAB_DIR=%q\n' "$out_dir"
