#!/usr/bin/env bash
# Builds the dirtying boot-sector guest (guest/dirty-guest.S) into a 512-byte raw disk image.
#   guest/build.sh OUT [PAGES] [DELAY]
# PAGES: 4 KiB pages it dirties (1..65536, default 4096 = 16 MiB from 1 MiB up; the VM needs 1 MiB + that).
# DELAY: busy-loop iterations between two page writes (1..100000000, default 20000); lower = faster dirtying.
# Needs GNU as and ld (binutils); installs binutils with apt-get when they are missing and we are root.
set -Eeuo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:?usage: guest/build.sh OUT [PAGES] [DELAY]}
pages=${2:-4096}
delay=${3:-20000}
[[ "$pages" =~ ^[0-9]+$ ]] && [ "$pages" -ge 1 ] && [ "$pages" -le 65536 ] || { echo "guest/build.sh: PAGES must be 1..65536, was '$pages'" >&2; exit 2; }
[[ "$delay" =~ ^[0-9]+$ ]] && [ "$delay" -ge 1 ] && [ "$delay" -le 100000000 ] || { echo "guest/build.sh: DELAY must be 1..100000000, was '$delay'" >&2; exit 2; }
if ! command -v as >/dev/null || ! command -v ld >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "guest/build.sh: installing binutils" >&2
        { [ -n "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v -e lock -e partial)" ] || apt-get update -qq; } >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends binutils >/dev/null
    else
        echo "guest/build.sh: GNU as/ld not found (install binutils)" >&2; exit 1
    fi
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
as --32 --defsym PAGES="$pages" --defsym BASE=0x100000 --defsym DELAY="$delay" -o "$tmp/guest.o" "$here/dirty-guest.S"
ld -m elf_i386 --oformat binary -Ttext 0x7c00 -e _start -o "$tmp/guest.img" "$tmp/guest.o"
size=$(stat -c %s "$tmp/guest.img")
[ "$size" = 512 ] || { echo "guest/build.sh: the boot sector is $size bytes, not 512" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
mv "$tmp/guest.img" "$out"
