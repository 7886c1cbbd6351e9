#!/usr/bin/env bash
# Makes real QEMU available to the tests: installs qemu-system-x86 (QEMU 7.2 on Debian 12) and binutils (GNU as/ld
# for our boot-sector guest) with apt-get when they are missing, then builds the dirtying guest image.
#   tests/qemu/setup-qemu.sh IMAGE_DIR
# Prints shell assignments for eval: OMIG_QEMU_BINARY and OMIG_GUEST_IMAGE. Logs go to stderr.
set -Eeuo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
image_dir=${1:?usage: tests/qemu/setup-qemu.sh IMAGE_DIR}
log() { echo "setup-qemu: $*" >&2; }
die() { log "$*"; exit 1; }

missing=()
command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
{ command -v as >/dev/null && command -v ld >/dev/null; } || missing+=(binutils)
if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" -eq 0 ] || die "missing ${missing[*]} and not root to apt-get install them"
    command -v apt-get >/dev/null || die "missing ${missing[*]} and apt-get is not available"
    log "installing ${missing[*]} with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    # A fresh machine has no package lists; update once, then install (bounded: the mirror is local).
    timeout 600 apt-get update -qq >&2 || die "apt-get update failed"
    timeout 900 apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 || die "apt-get install ${missing[*]} failed"
fi

binary=$(command -v qemu-system-x86_64)
"$binary" --version | head -n 1 >&2
# An openable /dev/kvm is not a usable one (a nested KVM can run guests hundreds of times slower than TCG): with
# Qemu:Accelerator=auto the driver boots a probe guest under KVM first and falls back to TCG, saying why.
if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then log "accelerator: /dev/kvm opens; the driver's KVM probe decides kvm or tcg"; else log "accelerator: tcg (no usable /dev/kvm)"; fi
mkdir -p "$image_dir"
"$root/guest/build.sh" "$image_dir/dirty-guest.img" >&2
printf 'export OMIG_QEMU_BINARY=%q\n' "$binary"
printf 'export OMIG_GUEST_IMAGE=%q\n' "$image_dir/dirty-guest.img"
