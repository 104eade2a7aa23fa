#!/usr/bin/env bash
# Makes (or reuses) the Debian base image the node and control-plane images build on, without
# any container registry, and prints its tag on its last line.
#
# A Debian bookworm root file system made with mmdebstrap from the Debian mirror (a package
# registry our machines reach) and imported into the local Docker engine. Bookworm's python3
# is 3.11, the ABI of the wheels the image scripts download on the host. The tag carries a
# hash of the recipe, so both image scripts share one base and a changed recipe makes a new
# one instead of silently reusing the old.
#
# Environment: DEBIAN_MIRROR (default http://deb.debian.org/debian), BAAS_IMAGE_CACHE (where
# the root fs tarball is written while importing; default var/image-cache).
set -euo pipefail
cd "$(dirname "$0")/.."

MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
CACHE="${BAAS_IMAGE_CACHE:-var/image-cache}"
# pip installs the wheels at build time from a local directory; ca-certificates for TLS to
# PostgreSQL, Redis and Kubernetes API servers.
DEBIAN_PACKAGES="python3,python3-pip,ca-certificates"

log() { echo "debian-base: $*" >&2; }
die() { log "error: $*"; exit 1; }

command -v docker >/dev/null || die "docker CLI not found"
recipe_hash="$(printf '%s\n' bookworm minbase "$DEBIAN_PACKAGES" | sha256sum | cut -c1-12)"
base="baas/debian-base:bookworm-$recipe_hash"
if docker image inspect "$base" >/dev/null 2>&1; then
  log "base $base exists, skipping mmdebstrap"
else
  command -v mmdebstrap >/dev/null || die "mmdebstrap not found (apt-get install mmdebstrap)"
  mkdir -p "$CACHE"
  log "making a Debian bookworm root fs with mmdebstrap ($DEBIAN_PACKAGES)"
  rootfs="$CACHE/debian-bookworm-$recipe_hash.tar"
  # minbase: Essential packages + apt; docs and apt lists dropped to keep the image small.
  mmdebstrap --quiet --variant=minbase --include="$DEBIAN_PACKAGES" \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
    bookworm "$rootfs" "$MIRROR" >&2 || die "mmdebstrap failed"
  docker import --change 'CMD ["/bin/bash"]' "$rootfs" "$base" >/dev/null
  docker tag "$base" baas/debian-base:bookworm
  rm -f "$rootfs"
  log "imported $base"
fi
echo "$base"
