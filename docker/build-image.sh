#!/usr/bin/env bash
# `make image`: build docker/Dockerfile with docker, podman or buildah, whichever works here.
#
#   IMAGE=absensi:latest  tag to build
#   BASE=...              base image; default debian:bookworm-slim with docker, and with
#                         podman/buildah one made locally by docker/base-image.sh (once;
#                         give BASE=docker.io/library/debian:bookworm-slim to pull instead)
#   PODMAN_ARGS=...       extra global podman/buildah options (e.g. --root DIR --runroot DIR)
#
# Docker counts only when its engine answers (`docker info`): a CLI alone cannot build.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

image=${IMAGE:-absensi:latest}
local_base=localhost/absensi-base:bookworm
export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/docker/containers.conf}

started=$(date +%s)
if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    echo "image: building $image with docker"
    docker build -f docker/Dockerfile --build-arg "BASE=${BASE:-debian:bookworm-slim}" \
        -t "$image" .
else
    if ! command -v podman >/dev/null || ! command -v debootstrap >/dev/null; then
        # No engine to build with: podman (and debootstrap for its base) from Debian.
        bash scripts/system-deps.sh --no-mariadb --image
    fi
    tool=$(command -v podman || command -v buildah || true)
    if [[ -z $tool ]]; then
        echo "image: none of docker (with a running engine), podman or buildah found" >&2
        exit 1
    fi
    # shellcheck disable=SC2206 # PODMAN_ARGS is a list of options
    run=("$tool" ${PODMAN_ARGS:-})
    base=${BASE:-}
    if [[ -z $base ]]; then
        base=$local_base
        if ! "${run[@]}" inspect "$local_base" >/dev/null 2>&1; then
            echo "image: making the base $local_base with debootstrap (no registry needed)"
            if [[ $tool == */buildah ]]; then
                echo "image: buildah alone cannot import a rootfs here; install podman" >&2
                exit 1
            fi
            PODMAN=$tool bash docker/base-image.sh "$local_base"
        fi
    fi
    echo "image: building $image with $(basename "$tool") on $base"
    if [[ $tool == */buildah ]]; then
        "${run[@]}" bud --format docker --network=host --layers -f docker/Dockerfile --build-arg "BASE=$base" \
            -t "$image" .
    else
        "${run[@]}" build --format docker --network=host --layers -f docker/Dockerfile --build-arg "BASE=$base" \
            -t "$image" .
    fi
fi
echo "image: $image built in $(( $(date +%s) - started )) s"
