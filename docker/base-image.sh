#!/usr/bin/env bash
# Make a Debian 12 base image locally, for machines that reach Debian's mirror but no
# container registry:  docker/base-image.sh NAME  (then build with --build-arg BASE=NAME).
#
# debootstrap --variant=minbase, then trimmed the way debian:bookworm-slim is (no docs, man
# pages or translations, no apt lists), imported with `podman import`. Certificates that this
# machine added to its trust store (regular files in /etc/ssl/certs, e.g. a TLS-inspecting
# proxy's CA) are trusted inside too, or pip in the build stage could not reach PyPI.
# Uses PODMAN (default: podman) with whatever --root/--runroot PODMAN_ARGS give.
set -euo pipefail

name=${1:?usage: base-image.sh IMAGE_NAME}
podman=(${PODMAN:-podman} ${PODMAN_ARGS:-})

mirror() {
    # The machine's own Debian mirror: deb822 `URIs:` or a one-line `deb URL suite ...`.
    local uri
    uri=$(grep -hs -m1 -E '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' || true)
    [[ -n $uri ]] || uri=$(grep -hs -m1 -E '^deb +(http|https|file)' /etc/apt/sources.list \
        /etc/apt/sources.list.d/*.list | awk '{print $2}' || true)
    echo "${uri:-http://deb.debian.org/debian}"
}

root=$(mktemp -d /tmp/absensi-base.XXXXXX)
trap 'rm -rf "$root"' EXIT

echo "base-image: debootstrap bookworm from $(mirror)"
debootstrap --variant=minbase --include=ca-certificates bookworm "$root" "$(mirror)" \
    >"$root.log" 2>&1 || { tail -20 "$root.log" >&2; rm -f "$root.log"; exit 1; }
rm -f "$root.log"

# What debian:bookworm-slim leaves out, and keeps leaving out for every later apt-get install.
cat >"$root/etc/dpkg/dpkg.cfg.d/slim" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
CFG
cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'CFG'
APT::Install-Recommends "false";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };
CFG
find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "$root/usr/share/man" "$root/usr/share/info" "$root/usr/share/locale" -mindepth 1 \
    -not -name locale.alias -delete 2>/dev/null || true
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/var/log/*.log

added=0
while IFS= read -r cert; do
    cp "$cert" "$root/usr/local/share/ca-certificates/host-$(basename "${cert%.*}").crt"
    added=$((added + 1))
done < <(find /etc/ssl/certs -maxdepth 1 -type f -not -name ca-certificates.crt)
if [[ $added -gt 0 ]]; then
    chroot "$root" update-ca-certificates >/dev/null
    echo "base-image: $added certificate(s) of this machine's trust store added"
fi

tar -C "$root" -c . | "${podman[@]}" import \
    --change 'CMD ["/bin/bash"]' --change 'ENV LANG=C.UTF-8' - "$name" >/dev/null
echo "base-image: $name ($(du -sh "$root" | cut -f1) unpacked)"
