#!/usr/bin/env bash
# Create or destroy the lab's hosts (see lab/lab.conf), or cut one's power:
#
#   lab/hosts.sh create LAB_DIR    one overlay of LAB_DIR/base per host, a network namespace
#                                  on a private bridge, its own hostname, the systemctl shim
#   lab/hosts.sh destroy LAB_DIR   kill every process running in a host, unmount, delete the
#                                  namespaces, veths and the bridge; safe to run at any time
#   lab/hosts.sh stop NAME [LAB_DIR]   power loss: SIGKILL every process of host NAME, its
#                                  network link down, its /run emptied (a tmpfs, like a boot's)
#   lab/hosts.sh start NAME [LAB_DIR]  power back: link up, then the host "boots" (the shim
#                                  starts the units the roles enabled) in the background
# stop and start return at once; LAB_DIR defaults to var/lab.
#
# `destroy` finds what to remove from the machine's own state (/proc, /proc/mounts, `ip`),
# not from bookkeeping, so it also cleans up after a `create` that failed half-way.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/lab.conf"

usage="usage: lab/hosts.sh create|destroy LAB_DIR | stop|start NAME [LAB_DIR]"
action=${1:?$usage}
case $action in
    stop|start) host=${2:?$usage}; lab=$(realpath -m "${3:-$here/../var/lab}") ;;
    *) lab=$(realpath -m "${2:?$usage}") ;;
esac
hosts_dir=$lab/hosts

# The shim that stands in for systemd inside each host (docker-systemctl-replacement).
systemctl_shim() {
    local python=${LAB_PYTHON:-$here/../.venv/bin/python}
    "$python" -c 'import importlib.util; print(importlib.util.find_spec("systemctl2.systemctl3").origin)'
}

create_host() {
    local name=$1 ip=$LAB_SUBNET_PREFIX.$2
    local dir=$hosts_dir/$name root=$hosts_dir/$name/root
    local ns=$LAB_NETNS_PREFIX$name veth=$LAB_VETH_PREFIX$name

    mkdir -p "$dir/upper" "$dir/work" "$root"
    mount -t overlay "overlay-$name" -o "lowerdir=$lab/base,upperdir=$dir/upper,workdir=$dir/work" "$root"
    mount -t proc proc "$root/proc"
    mount --rbind /dev "$root/dev"
    mount --make-rslave "$root/dev"   # unmounting it later must not touch the machine's /dev
    mount -t tmpfs -o mode=0755,size=64m tmpfs "$root/run"

    ip netns add "$ns"
    ip link add "$veth" type veth peer name eth0 netns "$ns"
    ip link set "$veth" master "$LAB_BRIDGE" up
    ip -n "$ns" link set lo up
    ip -n "$ns" addr add "$ip/24" dev eth0
    ip -n "$ns" link set eth0 up
    # sysfs shows the network devices of the namespace that mounts it.
    ip netns exec "$ns" mount -t sysfs sysfs "$root/sys"

    touch "$LAB_RUN/uts-$name"
    unshare --uts="$LAB_RUN/uts-$name" hostname "$name"
    echo "$name" >"$root/etc/hostname"
    {
        echo "127.0.0.1 localhost"
        echo "$LAB_CONTROLLER_IP controller"
        for entry in "${LAB_HOSTS[@]}"; do echo "$LAB_SUBNET_PREFIX.${entry#*:} ${entry%%:*}"; done
    } >"$root/etc/hosts"
    install -m 0755 "$(systemctl_shim)" "$root/usr/bin/systemctl"

    # How Ansible (community.general.chroot) and the tests enter the host.
    cat >"$lab/bin/chroot-$name" <<WRAPPER
#!/bin/sh
# chroot into lab host $name, inside its network and UTS namespaces, with a clean
# environment (a host must not inherit this machine's PIP_*, proxies, ...)
exec env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 nsenter --net=/run/netns/$ns --uts=$LAB_RUN/uts-$name /usr/sbin/chroot "\$@"
WRAPPER
    chmod 0755 "$lab/bin/chroot-$name"
}

create() {
    [[ -f $lab/base/.absensi-lab-base ]] || { echo "lab: no base in $lab/base (run lab/base.sh)" >&2; exit 1; }
    mkdir -p "$hosts_dir" "$lab/bin" "$LAB_RUN"
    ip link add "$LAB_BRIDGE" type bridge
    ip addr add "$LAB_CONTROLLER_IP/24" dev "$LAB_BRIDGE"
    ip link set "$LAB_BRIDGE" up
    for entry in "${LAB_HOSTS[@]}"; do
        create_host "${entry%%:*}" "${entry#*:}"
    done
    echo "lab: ${#LAB_HOSTS[@]} hosts on $LAB_SUBNET_PREFIX.0/24 (bridge $LAB_BRIDGE)"
}

# Every pid whose root directory is inside a lab host, or which lives in a lab namespace.
lab_pids() {
    local pid root
    for pid in /proc/[0-9]*; do
        pid=${pid#/proc/}
        root=$(readlink "/proc/$pid/root" 2>/dev/null) || continue
        if [[ $root == "$hosts_dir"/* ]]; then echo "$pid"; fi
    done
    local ns
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
        if [[ $ns == "$LAB_NETNS_PREFIX"* ]]; then ip netns pids "$ns" 2>/dev/null || true; fi
    done
    true
}

destroy() {
    local pids attempt
    for attempt in 1 2 3 4 5 6 7 8 9 10; do
        pids=$(lab_pids | sort -u | grep -vx "$$" || true)
        if [[ -z $pids ]]; then break; fi
        # TERM first (MariaDB and Redis flush), KILL whatever is left a few seconds later.
        if (( attempt < 6 )); then kill -TERM $pids 2>/dev/null || true; else kill -KILL $pids 2>/dev/null || true; fi
        sleep 0.5
    done
    # Deepest mounts first.
    local mnt
    for mnt in $(awk -v d="$hosts_dir/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r); do
        umount "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true
    done
    for mnt in $(awk -v d="$LAB_RUN/" 'index($2, d) == 1 {print $2}' /proc/mounts); do
        umount "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true
    done
    rm -rf "$LAB_RUN"
    local ns link
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
        if [[ $ns == "$LAB_NETNS_PREFIX"* ]]; then ip netns del "$ns"; fi
    done
    for link in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
        if [[ $link == "$LAB_VETH_PREFIX"* || $link == "$LAB_BRIDGE" ]]; then ip link del "$link" 2>/dev/null || true; fi
    done
    if awk -v d="$hosts_dir/" 'index($2, d) == 1' /proc/mounts | grep -q .; then
        echo "lab: some mounts under $hosts_dir are still busy" >&2
        exit 1
    fi
    rm -rf "$hosts_dir" "$lab/bin" "$lab/lab.env" "$lab"/boot-*.log
    echo "lab: destroyed"
}

# Every pid of one host: its root directory is the host's, or it lives in its namespace.
host_pids() {
    local name=$1 pid root=$hosts_dir/$1/root
    for pid in /proc/[0-9]*; do
        pid=${pid#/proc/}
        if [[ $(readlink "/proc/$pid/root" 2>/dev/null) == "$root" ]]; then echo "$pid"; fi
    done
    ip netns pids "$LAB_NETNS_PREFIX$name" 2>/dev/null || true
}

known_host() {
    local entry
    for entry in "${LAB_HOSTS[@]}"; do [[ ${entry%%:*} == "$1" ]] && return 0; done
    echo "lab: no host $1 (lab/lab.conf)" >&2
    exit 2
}

stop() {
    known_host "$host"
    local pids attempt root=$hosts_dir/$host/root
    ip link set "$LAB_VETH_PREFIX$host" down
    ip -n "$LAB_NETNS_PREFIX$host" link set eth0 down
    for attempt in 1 2 3 4 5; do
        pids=$(host_pids "$host" | sort -u | grep -vx "$$" || true)
        if [[ -z $pids ]]; then break; fi
        kill -KILL $pids 2>/dev/null || true
        sleep 0.2
    done
    # What a power loss takes with it: /run (pid files, sockets, the shim's unit states).
    umount "$root/run" 2>/dev/null || umount -l "$root/run"
    mount -t tmpfs -o mode=0755,size=64m tmpfs "$root/run"
    echo "lab: $host stopped"
}

start() {
    known_host "$host"
    ip link set "$LAB_VETH_PREFIX$host" up
    ip -n "$LAB_NETNS_PREFIX$host" link set eth0 up
    # The boot: every unit a role enabled (multi-user.target), in the background.
    setsid "$lab/bin/chroot-$host" "$hosts_dir/$host/root" /usr/bin/systemctl default \
        </dev/null >"$lab/boot-$host.log" 2>&1 &
    echo "lab: $host starting (log: $lab/boot-$host.log)"
}

case $action in
    create) create ;;
    destroy) destroy ;;
    stop) stop ;;
    start) start ;;
    *) echo "$usage" >&2; exit 2 ;;
esac
