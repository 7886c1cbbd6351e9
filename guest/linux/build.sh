#!/usr/bin/env bash
# Builds the small Linux lab guest: Debian's cloud kernel and an initramfs holding busybox, the virtio modules,
# /init (guest/linux/init.sh) and the guest agent (guest/linux/agent.c, static C).
#   guest/linux/build.sh OUT_DIR
# Makes OUT_DIR/vmlinuz and OUT_DIR/initrd.img (cpio newc, gzip). Cached: when OUT_DIR/build.key matches the inputs
# (the script, init, agent source, and the package versions apt would fetch), nothing is done.
# Packages come from the Debian mirror with `apt-get download` (kernel: linux-image-cloud-amd64, falling back to
# linux-image-amd64; busybox-static). Needs apt-get, dpkg-deb, gcc and libc6-dev (installed when missing and root).
# Prints the two paths on stdout; logs go to stderr.
set -Eeuo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:?usage: guest/linux/build.sh OUT_DIR}
log() { echo "guest/linux/build.sh: $*" >&2; }
die() { log "$*"; exit 1; }
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac
mkdir -p "$out"
export DEBIAN_FRONTEND=noninteractive

command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || die "apt-get and dpkg-deb are needed (a Debian host)"
lists_present() { ls /var/lib/apt/lists 2>/dev/null | grep -q '_Packages'; }
lists_present || { log "apt-get update (no package lists)"; timeout 600 apt-get update -qq >&2 || die "apt-get update failed"; }
if ! command -v gcc >/dev/null || [ ! -e /usr/lib/x86_64-linux-gnu/libc.a ]; then
    [ "$(id -u)" = 0 ] || die "gcc and libc6-dev are needed (run as root to install them)"
    log "installing gcc libc6-dev"
    timeout 900 apt-get install -y -qq --no-install-recommends gcc libc6-dev >&2 || die "apt-get install gcc libc6-dev failed"
fi

# The kernel package behind the meta package (its version names the module directory). Two apt-cache calls only:
# each parses the package lists, which is most of a cached run's time.
# OMIG_GUEST_KERNEL_PACKAGE names one instead (e.g. linux-image-6.1.0-50-cloud-amd64), to pin or compare guest kernels.
if [ -n "${OMIG_GUEST_KERNEL_PACKAGE:-}" ]; then
    [[ "$OMIG_GUEST_KERNEL_PACKAGE" =~ ^linux-image-[0-9][a-z0-9.+-]*-amd64$ ]] || die "OMIG_GUEST_KERNEL_PACKAGE must name a linux-image-VERSION-...-amd64 package, was '$OMIG_GUEST_KERNEL_PACKAGE'"
    kpkg=$OMIG_GUEST_KERNEL_PACKAGE
else
    kpkg=$(apt-cache depends linux-image-cloud-amd64 linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
fi
[ -n "$kpkg" ] || die "neither linux-image-cloud-amd64 nor linux-image-amd64 resolves to a kernel package (apt-get update?)"
versions=$(apt-cache policy "$kpkg" busybox-static 2>/dev/null | awk '/^[^ ]/ {p=$1} /Candidate:/ {print p, $2}')
kver=$(awk -v p="$kpkg:" '$1 == p {print $2}' <<<"$versions")
bver=$(awk '$1 == "busybox-static:" {print $2}' <<<"$versions")
[ -n "$kver" ] && [ "$kver" != "(none)" ] || die "$kpkg has no candidate version (apt-get update?)"
[ -n "$bver" ] && [ "$bver" != "(none)" ] || die "busybox-static has no candidate version (apt-get update?)"

key=$( { echo "$kpkg=$kver busybox-static=$bver"; gcc --version | head -1; cat "$here/build.sh" "$here/init.sh" "$here/agent.c"; } | sha256sum | cut -d' ' -f1)
if [ -f "$out/build.key" ] && [ "$(cat "$out/build.key")" = "$key" ] && [ -s "$out/vmlinuz" ] && [ -s "$out/initrd.img" ]; then
    log "up to date ($kpkg $kver)"
    echo "$out/vmlinuz"; echo "$out/initrd.img"
    exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/omig-guest.XXXXXX")
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"   # apt's _apt user writes the download there when it can
cache="$out/debs"; mkdir -p "$cache"
fetch() {  # fetch PACKAGE VERSION: the .deb in the cache, downloaded once
    local deb
    deb=$(ls "$cache"/"$1"_*.deb 2>/dev/null | grep -F "$(echo "$2" | sed 's/:/%3a/')" | head -1 || true)
    if [ -z "$deb" ]; then
        log "apt-get download $1=$2"
        (cd "$work" && timeout 900 apt-get download -q "$1=$2" >&2 2> >(grep -v 'unsandboxed' >&2)) || die "apt-get download $1=$2 failed"
        rm -f "$cache"/"$1"_*.deb
        mv "$work"/"$1"_*.deb "$cache"/
        deb=$(ls "$cache"/"$1"_*.deb | head -1)
    fi
    echo "$deb"
}
kdeb=$(fetch "$kpkg" "$kver"); bdeb=$(fetch busybox-static "$bver")

mkdir -p "$work/k" "$work/bb"
dpkg-deb -x "$kdeb" "$work/k"
dpkg-deb -x "$bdeb" "$work/bb"
vmlinuz=$(ls "$work"/k/boot/vmlinuz-* | head -1) || die "no vmlinuz in $kdeb"
moddir=$(ls -d "$work"/k/lib/modules/*/ | head -1) || die "no modules in $kdeb"
moddir=${moddir%/}
release=$(basename "$moddir")
# The modules to load, dependencies first (each module's own "depends=" in its .modinfo: the package ships no
# modules.dep), skipping the ones built into this kernel (modules.builtin).
root="$work/root"
mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,lib/modules}
order=()
declare -A seen=()
add_module() {  # add_module NAME: its dependencies, then itself
    local name=$1 rel dep deps
    [ -n "${seen[$name]:-}" ] && return 0
    seen[$name]=1
    if grep -qE "/${name//_/[_-]}\.ko(\.[a-z]+)?$" "$moddir/modules.builtin" 2>/dev/null; then
        log "module $name: built in"; return 0
    fi
    rel=$(cd "$moddir" && find kernel -regextype posix-extended -regex ".*/${name//_/[_-]}\.ko(\.(xz|zst|gz))?" | head -1)
    [ -n "$rel" ] || die "module $name is neither built in nor shipped in $release"
    local src="$moddir/$rel" dst="$root/lib/modules/$name.ko"
    case "$rel" in
        *.ko.xz) xz -dc "$src" >"$dst" ;;
        *.ko.zst) zstd -qdc "$src" >"$dst" ;;
        *.ko.gz) gzip -dc "$src" >"$dst" ;;
        *.ko) cp "$src" "$dst" ;;
        *) die "module $name: unknown file type $rel" ;;
    esac
    deps=$(tr '\0' '\n' <"$dst" | sed -n 's/^depends=//p' | head -1)
    for dep in ${deps//,/ }; do
        add_module "${dep//-/_}"
    done
    order+=("$name")
}
for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci failover net_failover virtio_net virtio_blk; do
    add_module "$m"
done
printf '%s\n' "${order[@]}" >"$root/lib/modules/order"
log "modules (load order): ${order[*]:-none}"

cp "$work/bb/bin/busybox" "$root/bin/busybox"
for applet in sh mount mkdir insmod ip cat sleep echo ls dmesg; do ln -s busybox "$root/bin/$applet"; done
install -m 0755 "$here/init.sh" "$root/init"
gcc -static -O2 -Wall -Werror -pthread -o "$root/sbin/omig-agent" "$here/agent.c" || die "agent.c did not compile"
strip "$root/sbin/omig-agent" 2>/dev/null || true

(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | "$work/bb/bin/busybox" cpio -o -H newc 2>/dev/null) | gzip -9n >"$work/initrd.img"
cp "$vmlinuz" "$work/vmlinuz"
mv -f "$work/vmlinuz" "$out/vmlinuz"
mv -f "$work/initrd.img" "$out/initrd.img"
echo "$key" >"$out/build.key"
log "built $kpkg $kver: vmlinuz $(stat -c %s "$out/vmlinuz") B, initrd.img $(stat -c %s "$out/initrd.img") B"
echo "$out/vmlinuz"; echo "$out/initrd.img"
