#!/usr/bin/env bash
# Build (once) the Debian 12 root filesystem every lab host is an overlay of.
#
#   lab/base.sh BASE_DIR
#
# The hosts cannot reach the package mirror, so the base already carries every Debian package
# the roles install (the roles still declare them; apt finds them installed). A stamp file
# records the package list: changing LAB_PACKAGES below rebuilds the base.
set -euo pipefail

base=${1:?usage: lab/base.sh BASE_DIR}

# What the roles install (common, pki, mariadb/Galera, redis/Sentinel, haproxy, absensi_app,
# nginx_lb, the monitoring play's Prometheus and exporters) plus what Ansible itself needs on
# a target (python3, python3-apt for the apt module).
LAB_PACKAGES=(
    python3 python3-apt python3-venv python3-cryptography python3-pymysql libmariadb3
    ca-certificates openssl tzdata iproute2 procps
    mariadb-server mariadb-client galera-4 mariadb-backup socat
    redis-server redis-sentinel haproxy nginx
    prometheus prometheus-alertmanager prometheus-node-exporter
    prometheus-mysqld-exporter prometheus-redis-exporter
)
stamp="$base/.absensi-lab-base"
want="packages: ${LAB_PACKAGES[*]}; boot: units the roles enable"

if [[ -f $stamp && "$(cat "$stamp")" == "$want" ]]; then
    echo "lab: base $base is up to date"
    exit 0
fi

# The mirror this machine already uses (deb822 or one-line sources), else Debian's own.
mirror=$(grep -hoE '^URIs: *http[^ ]+/debian/?$' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1 | awk '{print $2}' || true)
if [[ -z $mirror ]]; then
    mirror=$(grep -hoE '^deb +http[^ ]+/debian/? ' /etc/apt/sources.list 2>/dev/null | head -n1 | awk '{print $2}' || true)
fi
mirror=${mirror:-http://deb.debian.org/debian}

rm -rf "$base.tmp"
mkdir -p "$base.tmp"
echo "lab: debootstrap bookworm from $mirror (about a minute)"
debootstrap --variant=minbase --include=python3,ca-certificates bookworm "$base.tmp" "$mirror" >"$base.tmp.log" 2>&1 \
    || { tail -n 20 "$base.tmp.log" >&2; exit 1; }

# Package scripts must not start daemons in the base: services run only inside the hosts.
printf '#!/bin/sh\nexit 101\n' >"$base.tmp/usr/sbin/policy-rc.d"
chmod 0755 "$base.tmp/usr/sbin/policy-rc.d"
cp /etc/resolv.conf "$base.tmp/etc/resolv.conf"
mount -t proc proc "$base.tmp/proc"
trap 'umount "$base.tmp/proc" 2>/dev/null || true' EXIT
chroot "$base.tmp" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    "${LAB_PACKAGES[@]}" >>"$base.tmp.log" 2>&1 || { tail -n 20 "$base.tmp.log" >&2; exit 1; }
chroot "$base.tmp" apt-get clean
umount "$base.tmp/proc"
trap - EXIT
# Inside the lab the mirror is unreachable: apt must not try it (the roles' apt tasks only
# check that the packages are there).
: >"$base.tmp/etc/resolv.conf"
rm -f "$base.tmp/usr/sbin/policy-rc.d"
# Nothing starts at a host's "boot" (lab/hosts.sh start) unless a role enabled it: the
# packages enabled their units on every host (MariaDB, Prometheus, ... also on a web host).
rm -f "$base.tmp"/etc/systemd/system/multi-user.target.wants/*
echo "$want" >"$base.tmp/.absensi-lab-base"
rm -rf "$base"
mv "$base.tmp" "$base"
rm -f "$base.tmp.log"
echo "lab: base ready in $base"
