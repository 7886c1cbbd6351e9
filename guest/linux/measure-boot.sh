#!/usr/bin/env bash
# Measures the Linux lab guest's boot-to-echo time under TCG: QEMU launch -> first UDP echo reply with a trailer,
# RUNS times, printing each and the median. Root; uses (and removes) the namespace omg-meas and the tap omgmeas0.
#   guest/linux/measure-boot.sh GUEST_DIR [RUNS]     (GUEST_DIR: what guest/linux/build.sh made)
set -Eeuo pipefail
g=${1:?usage: guest/linux/measure-boot.sh GUEST_DIR [RUNS]}; runs=${2:-5}
[[ "$runs" =~ ^[0-9]+$ ]] && [ "$runs" -ge 1 ] && [ "$runs" -le 50 ] || { echo "RUNS must be 1..50, was '$runs'" >&2; exit 2; }
[ -s "$g/vmlinuz" ] && [ -s "$g/initrd.img" ] || { echo "no vmlinuz/initrd.img in $g" >&2; exit 2; }
ns=omg-meas; tap=omgmeas0; work=$(mktemp -d); qpid=""
cleanup() { if [ -n "$qpid" ]; then kill "$qpid" 2>/dev/null || true; fi; ip netns del $ns 2>/dev/null || true; ip link del $tap 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
cleanup; work=$(mktemp -d)
ip netns add $ns; ip -n $ns link set lo up
results=()
for run in $(seq 1 "$runs"); do
    ip tuntap add dev $tap mode tap
    rm -f "$work/data.img"; truncate -s 8M "$work/data.img"
    start=$(date +%s.%N)
    qemu-system-x86_64 -machine pc,accel=tcg -m 128 -smp 1 -nodefaults -no-user-config -display none -monitor none -parallel none \
        -kernel "$g/vmlinuz" -initrd "$g/initrd.img" -serial "file:$work/console.log" \
        -append "console=ttyS0 quiet panic=-1 omig.ip=172.30.0.10/24 omig.gw=172.30.0.1 omig.disk=/dev/vda" \
        -netdev tap,id=n0,ifname=$tap,script=no,downscript=no -device virtio-net-pci,netdev=n0,mac=52:54:00:00:00:10 \
        -blockdev "{\"driver\":\"raw\",\"node-name\":\"d1\",\"file\":{\"driver\":\"file\",\"filename\":\"$work/data.img\"}}" -device virtio-blk-pci,drive=d1 \
        </dev/null >/dev/null 2>&1 &
    qpid=$!
    sleep 0.3   # QEMU holds the tap; move it into the namespace as the guest's routed gateway
    ip link set $tap netns $ns; ip -n $ns link set $tap address fe:ff:ff:ff:ff:fe; ip -n $ns link set $tap up
    ip -n $ns addr add 172.30.0.1/32 dev $tap; ip -n $ns route replace 172.30.0.10/32 dev $tap
    t=$(ip netns exec $ns python3 - "$start" <<'PY'
import socket, sys, time
start = float(sys.argv[1]); s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.05)
end = time.time() + 120
while time.time() < end:
    try:
        s.sendto(b'\0' * 8, ('172.30.0.10', 7007))
        if len(s.recv(2048)) >= 32:
            print("%.2f" % (time.time() - start)); break
    except OSError:
        pass
else:
    print("timeout")
PY
)
    echo "run $run: boot-to-echo $t s"
    results+=("$t")
    kill "$qpid"; wait "$qpid" 2>/dev/null || true; qpid=""
    ip -n $ns link del $tap 2>/dev/null || true
done
printf '%s\n' "${results[@]}" | sort -n | awk '{a[NR]=$1} END {print "median boot-to-echo " a[int((NR+1)/2)] " s over " NR " runs (load: '"$(cut -d' ' -f1-3 /proc/loadavg)"')"}'
