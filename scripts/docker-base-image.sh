#!/bin/sh
# Make the Dockerfile's base image, debian:bookworm-slim, from a Debian mirror, for a machine
# whose Docker cannot pull from Docker Hub (a normal machine pulls it and needs none of this).
#
#   sudo scripts/docker-base-image.sh [MIRROR]      # default: the mirror apt uses, or deb.debian.org
#
# debootstrap --variant=minbase, then what Debian's official slim images do (debuerreotype's
# slimify): no docs, man pages or translations, now or for packages installed later, and
# apt keeps no .deb files or caches; then `docker import` as debian:bookworm-slim.
# Needs root, debootstrap (apt-get install debootstrap) and a running Docker daemon.
set -eu
tag="${BASE_TAG:-debian:bookworm-slim}"
mirror="${1:-}"
if [ -z "$mirror" ]; then
    mirror=$(grep -h -o -E '^(URIs:|deb) +https?://[^ ]+/debian/?( |$)' \
        /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null |
        awk '{print $2}' | head -n 1)
    mirror="${mirror:-http://deb.debian.org/debian}"
fi
command -v debootstrap >/dev/null || { echo "needs debootstrap (apt-get install debootstrap)" >&2; exit 2; }
rootfs=$(mktemp -d /tmp/gateway-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
chmod 0755 "$rootfs"  # it becomes the image's /: mktemp's 0700 would shut out every other user
debootstrap --variant=minbase bookworm "$rootfs" "$mirror"

cat > "$rootfs/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/man/*
EOF
cat > "$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
echo 'Acquire::Languages "none";' > "$rootfs/etc/apt/apt.conf.d/docker-no-languages"
echo 'Acquire::GzipIndexes "true";' > "$rootfs/etc/apt/apt.conf.d/docker-gzip-indexes"
echo 'APT::AutoRemove::SuggestsImportant "false";' > "$rootfs/etc/apt/apt.conf.d/docker-autoremove-suggests"
security=$(printf %s "$mirror" | sed 's#/debian/*$#/debian-security#')
cat > "$rootfs/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $security bookworm-security main
EOF
# what the excludes above would have kept out
find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "$rootfs/usr/share/man/"* "$rootfs/usr/share/info/"* "$rootfs/usr/share/groff/"* \
    "$rootfs/usr/share/linda/"* "$rootfs/usr/share/lintian/overrides/"*
find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
rm -rf "$rootfs/var/cache/apt/"*.bin "$rootfs/var/cache/apt/archives/"*.deb \
    "$rootfs/var/lib/apt/lists/"* "$rootfs/var/log/"*.log "$rootfs/tmp/"* "$rootfs/root/.cache"
: > "$rootfs/etc/machine-id"

tar --numeric-owner -C "$rootfs" -c . | docker import -c 'CMD ["bash"]' - "$tag"
docker image ls "$tag"
