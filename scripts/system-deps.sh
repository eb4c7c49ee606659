#!/usr/bin/env bash
# Install the Debian packages Absensi needs on this machine, only those that are missing.
#
#   scripts/system-deps.sh             make, python3-venv, redis-server, nginx, mariadb-server,
#                                      and what building mysqlclient takes (gcc, libmariadb-dev)
#   scripts/system-deps.sh --browser   ... and chromium (the browser tests drive it)
#   scripts/system-deps.sh --no-mariadb  skip MariaDB (`make run` uses SQLite by default)
#   scripts/system-deps.sh --image     ... and podman, buildah, runc, debootstrap (`make image`
#                                      without a Docker engine, the image tests)
#   scripts/system-deps.sh --lab       ... and debootstrap, iproute2 (`make lab`: seven hosts)
#
# Idempotent: when everything is installed it runs no apt-get at all (not even `update`),
# so `make run` / `make test` stay fast and work offline on a prepared machine.
# Works as root (CI, containers) or through sudo for a normal user.
set -euo pipefail

want_browser=0
want_mariadb=1
want_image=0
want_lab=0
for arg in "$@"; do
    case "$arg" in
        --browser) want_browser=1 ;;
        --no-mariadb) want_mariadb=0 ;;
        --image) want_image=1 ;;
        --lab) want_lab=1 ;;
        -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
        *) echo "system-deps: unknown option $arg" >&2; exit 2 ;;
    esac
done

packages=(make python3 python3-venv ca-certificates redis-server nginx)
# make venv builds the C MySQL driver (mysqlclient, the c-driver extra) against libmariadb
packages+=(gcc pkg-config python3-dev libmariadb-dev)
[[ $want_mariadb == 1 ]] && packages+=(mariadb-server)
[[ $want_browser == 1 ]] && packages+=(chromium)
# crun fails on this kind of machine (hybrid cgroups): podman is pointed at runc instead.
[[ $want_image == 1 ]] && packages+=(podman buildah runc debootstrap)
# prometheus: its promtool checks and unit-tests the alert rules (tests/unit/test_alert_rules.py)
[[ $want_lab == 1 ]] && packages+=(debootstrap iproute2 prometheus)

installed() {
    [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == "install ok installed" ]]
}

if ! command -v apt-get >/dev/null || ! command -v dpkg-query >/dev/null; then
    # Not Debian/Ubuntu: we cannot install, but we can say what is missing.
    for cmd in redis-server nginx; do
        if ! command -v "$cmd" >/dev/null && [[ ! -x /usr/sbin/$cmd ]]; then
            echo "system-deps: $cmd not found and no apt-get here; install it by hand" >&2
            exit 1
        fi
    done
    exit 0
fi

missing=()
for pkg in "${packages[@]}"; do
    installed "$pkg" || missing+=("$pkg")
done
if [[ ${#missing[@]} == 0 ]]; then
    echo "system-deps: all present (${packages[*]})"
    exit 0
fi

if [[ $(id -u) == 0 ]]; then
    as_root=()
elif command -v sudo >/dev/null; then
    as_root=(sudo -n)
    # -n fails instead of prompting when a password is needed and there is no terminal
    [[ -t 0 ]] && as_root=(sudo)
else
    echo "system-deps: missing ${missing[*]}; run as root or install sudo" >&2
    exit 1
fi

echo "system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt_opts=(-y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install "${apt_opts[@]}" "${missing[@]}"
