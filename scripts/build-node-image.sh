#!/usr/bin/env bash
# Builds the ledger node image (deploy/images/node/Dockerfile) without any container registry.
#
#   scripts/build-node-image.sh            # Debian base made with mmdebstrap, imported locally
#   NODE_BASE=python:3.11-slim-bookworm scripts/build-node-image.sh   # a public base instead
#
# Steps: wheels for the runtime deps are downloaded on the HOST (pip talks to PyPI; the build
# itself needs no network), the host's `cometbft` binary and the `ledger/` package are copied
# into a build context, and the image is tagged with a hash of that context and the base, so
# an unchanged tree skips the build entirely; also :latest and :ledger-<ledger hash> (the tag
# the Docker driver looks for to run networks pinned to that ledger version). Prints the
# image tag on its last line.
#
# Environment: NODE_IMAGE_REPO (default baas/node), NODE_BASE (skip mmdebstrap and use this
# base), DEBIAN_MIRROR (default http://deb.debian.org/debian), BAAS_IMAGE_CACHE (wheel and
# rootfs cache, default var/image-cache), PYTHON (default .venv/bin/python).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)

IMAGE_REPO="${NODE_IMAGE_REPO:-baas/node}"
CACHE="${BAAS_IMAGE_CACHE:-var/image-cache}"
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY=python3
SRC=deploy/images/node

log() { echo "build-node-image: $*" >&2; }
die() { log "error: $*"; exit 1; }

command -v docker >/dev/null || die "docker CLI not found"
docker info >/dev/null 2>&1 || die "Docker engine not reachable (is dockerd running?)"
cometbft_bin="$(command -v cometbft)" || die "cometbft not found on PATH (run scripts/install-cometbft.sh)"
mkdir -p "$CACHE/wheels"

# --- 1. the base image ---------------------------------------------------------------------
if [ -n "${NODE_BASE:-}" ]; then
  base="$NODE_BASE"
  docker image inspect "$base" >/dev/null 2>&1 || docker pull "$base" >&2 \
    || die "base image $base is neither local nor pullable"
else
  # Shared with the control-plane image (scripts/debian-base.sh): one base, made once.
  base="$(bash scripts/debian-base.sh | tail -1)" || die "no Debian base image"
fi
base_id="$(docker image inspect --format '{{.Id}}' "$base")"

# --- 2. the build context ------------------------------------------------------------------
ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
if [ ! -d ledger/proto/gen ] && "$PY" -c 'import ledger.proto.build' 2>/dev/null; then
  log "generating ledger protobuf code"
  "$PY" -m ledger.proto.build >&2
fi
# Exact pins from the repository's requirements.txt for the names in packages.txt.
: >"$ctx/requirements.txt"
while read -r name; do
  case "$name" in ''|'#'*) continue ;; esac
  pin="$(grep -iE "^${name}(\[[^]]*\])?==" requirements.txt || true)"
  [ -n "$pin" ] || die "$name (from $SRC/packages.txt) has no '==' pin in requirements.txt"
  echo "$pin" >>"$ctx/requirements.txt"
done <"$SRC/packages.txt"
# Wheels for Linux x86_64 / CPython 3.11 (what both bases run), resolved from the local cache
# first; PyPI is asked only when the cache cannot satisfy the pins. Only the wheels this
# requirement set resolves to enter the context, so stale cache entries never change the hash.
pip_target=(--disable-pip-version-check --quiet --only-binary=:all: --python-version 3.11
  --implementation cp --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64
  --platform manylinux_2_34_x86_64 --platform linux_x86_64 -r "$ctx/requirements.txt"
  -c constraints.txt)
mkdir "$ctx/wheels"
if ! "$PY" -m pip download "${pip_target[@]}" --no-index --find-links "$CACHE/wheels" \
    -d "$ctx/wheels" >/dev/null 2>&1; then
  log "downloading wheels on the host: $(tr '\n' ' ' <"$ctx/requirements.txt")"
  "$PY" -m pip download "${pip_target[@]}" -d "$CACHE/wheels" >&2 || die "pip download failed"
  "$PY" -m pip download "${pip_target[@]}" --no-index --find-links "$CACHE/wheels" \
    -d "$ctx/wheels" >&2
fi
cp "$SRC/Dockerfile" "$SRC/.dockerignore" "$SRC/entrypoint.py" "$ctx/"
cp "$cometbft_bin" "$ctx/cometbft"
tar -c --exclude=__pycache__ --exclude='*.pyc' --exclude=tests ledger | tar -x -C "$ctx"
# The Docker driver refuses an image whose ledger/ differs from the control plane's.
ledger_hash="$("$PY" -c 'import sys; from pathlib import Path; from ledger.source_hash import source_hash
print(source_hash(Path(sys.argv[1])))' "$ctx/ledger")" || die "could not hash $ctx/ledger"

# --- 3. content hash and build -------------------------------------------------------------
content_hash="$( (cd "$ctx" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum; \
  echo "$base_id") | sha256sum | cut -c1-16)"
tag="$IMAGE_REPO:$content_hash"
if docker image inspect "$tag" >/dev/null 2>&1; then
  log "$tag exists (same content), skipping build"
else
  log "building $tag on $base"
  docker build --build-arg BASE="$base" \
    --label baas.component=node-image --label baas.content-hash="$content_hash" \
    --label baas.ledger-hash="$ledger_hash" \
    -t "$tag" "$ctx" >&2 || die "docker build failed"
fi
docker tag "$tag" "$IMAGE_REPO:latest"
# Each ledger version keeps a tag of its own: networks pinned to an older version go on
# finding its image (the Docker driver looks for <repo>:ledger-<version>) after the control
# plane and :latest have moved on.
docker tag "$tag" "$IMAGE_REPO:ledger-$ledger_hash"
# Older builds are dropped so repeated builds do not fill the disk, except the per-version
# tags above and other repositories' images (a build with another NODE_IMAGE_REPO must not
# remove these); an image still used by a container is kept (docker refuses to remove it
# without --force).
docker images --filter label=baas.component=node-image --filter "reference=$IMAGE_REPO" \
  --format '{{.Repository}}:{{.Tag}}' \
  | grep -vxF -e "$tag" -e "$IMAGE_REPO:latest" | grep -v ':ledger-[0-9a-f]*$' \
  | xargs -r docker rmi >/dev/null 2>&1 || true
log "done in $(( $(date +%s) - start ))s"
echo "$tag"
