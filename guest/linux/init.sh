#!/bin/sh
# /init of the OrleansMigrate lab guest (PID 1). Reads its configuration from the kernel command line:
#   omig.ip=172.30.0.10/24 (required)  omig.gw=172.30.0.1  omig.udp=7007  omig.tcp=7008  omig.disk=/dev/vda  omig.diskhz=50
# loads the virtio modules, brings up eth0 and runs the agent, restarting it (at most once a second) if it ever ends.
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
echo "omig-init: start"
while read -r m; do
    [ -n "$m" ] || continue
    insmod "/lib/modules/$m.ko" || echo "omig-init: insmod $m failed"
done </lib/modules/order

ip= gw= udp=7007 tcp=7008 disk= diskhz=50
for arg in $(cat /proc/cmdline); do
    case "$arg" in
        omig.ip=*) ip=${arg#omig.ip=} ;;
        omig.gw=*) gw=${arg#omig.gw=} ;;
        omig.udp=*) udp=${arg#omig.udp=} ;;
        omig.tcp=*) tcp=${arg#omig.tcp=} ;;
        omig.disk=*) disk=${arg#omig.disk=} ;;
        omig.diskhz=*) diskhz=${arg#omig.diskhz=} ;;
    esac
done

ip link set lo up
if [ -z "$ip" ]; then
    echo "omig-init: no omig.ip on the kernel command line: the network stays down"
else
    i=0
    while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
    if [ -e /sys/class/net/eth0 ]; then
        ip addr add "$ip" dev eth0
        ip link set eth0 up
        [ -n "$gw" ] && { ip route add "$gw" dev eth0; ip route add default via "$gw" dev eth0; }
        echo "omig-init: eth0 $ip gw ${gw:-none} mac $(cat /sys/class/net/eth0/address)"
    else
        echo "omig-init: no eth0 (no virtio NIC?)"
    fi
fi
if [ -n "$disk" ]; then
    i=0
    while [ ! -e "$disk" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
fi

set -- --udp "$udp" --tcp "$tcp" --hz "$diskhz"
[ -n "$disk" ] && set -- "$@" --disk "$disk"
while true; do
    echo "omig-init: agent $*"
    /sbin/omig-agent "$@"
    echo "omig-init: agent exited with $?, restarting"
    sleep 1
done
