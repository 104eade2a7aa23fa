#!/usr/bin/env bash
# Builds the control-plane image (deploy/images/control-plane/Dockerfile) without any
# container registry, the way scripts/build-node-image.sh builds the node image.
#
#   scripts/build-control-plane-image.sh                 # mmdebstrap-made Debian base
#   CONTROL_PLANE_BASE=python:3.11-slim-bookworm scripts/build-control-plane-image.sh
#
# Steps: the shared Debian base (scripts/debian-base.sh), wheels for the runtime packages
# (deploy/images/control-plane/packages.txt, pinned by requirements.txt and constraints.txt)
# downloaded on the HOST, the project without its tests copied into a build context, and the
# image tagged with a hash of that context and the base: an unchanged tree skips the build.
# Tags: <repo>:<content hash> (immutable; printed on the last line), <repo>:<version> (the
# project version in pyproject.toml, which is the Helm chart's appVersion and so its default
# image tag) and <repo>:latest. Push one of them to the registry your cluster pulls from.
#
# Environment: CONTROL_PLANE_IMAGE_REPO (default baas/control-plane), CONTROL_PLANE_BASE (skip
# mmdebstrap and use this base), DEBIAN_MIRROR, BAAS_IMAGE_CACHE (wheel cache shared with the
# node image, default var/image-cache), PYTHON (default .venv/bin/python).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)

IMAGE_REPO="${CONTROL_PLANE_IMAGE_REPO:-baas/control-plane}"
CACHE="${BAAS_IMAGE_CACHE:-var/image-cache}"
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY=python3
SRC=deploy/images/control-plane
# What the running control plane reads from the checkout (settings: templates, static,
# locale; the ledger package for the gateway and the node image's version hash).
APP_PATHS=(manage.py baas tenants deploy sectors ledger identity monitor notify archives explorer elections
           scripts/export_run.py templates static locale)

log() { echo "build-control-plane-image: $*" >&2; }
die() { log "error: $*"; exit 1; }

command -v docker >/dev/null || die "docker CLI not found"
docker info >/dev/null 2>&1 || die "Docker engine not reachable (is dockerd running?)"
version="$(sed -n 's/^version *= *"\([^"]*\)".*/\1/p' pyproject.toml | head -1)"
[ -n "$version" ] || die "no version in pyproject.toml"
mkdir -p "$CACHE/wheels"

# --- 1. the base image ---------------------------------------------------------------------
if [ -n "${CONTROL_PLANE_BASE:-}" ]; then
  base="$CONTROL_PLANE_BASE"
  docker image inspect "$base" >/dev/null 2>&1 || docker pull "$base" >&2 \
    || die "base image $base is neither local nor pullable"
else
  base="$(bash scripts/debian-base.sh | tail -1)" || die "no Debian base image"
fi
base_id="$(docker image inspect --format '{{.Id}}' "$base")"

# --- 2. the build context ------------------------------------------------------------------
ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
if [ ! -d ledger/proto/gen ]; then
  log "generating ledger protobuf code"
  "$PY" -m ledger.proto.build >&2 || die "ledger/proto/gen is missing and could not be generated"
fi
# Exact pins from requirements.txt for the names in packages.txt; constraints.txt pins what
# they pull in, so the image runs the versions CI tested.
: >"$ctx/requirements.txt"
while read -r name; do
  case "$name" in ''|'#'*) continue ;; *==*) echo "$name" >>"$ctx/requirements.txt"; continue ;; esac
  pin="$(grep -iE "^${name}(\[[^]]*\])?==" requirements.txt || true)"
  [ -n "$pin" ] || die "$name (from $SRC/packages.txt) has no '==' pin in requirements.txt"
  echo "$pin" >>"$ctx/requirements.txt"
done <"$SRC/packages.txt"
# Wheels for Linux x86_64 / CPython 3.11, from the local cache first; PyPI is asked only when
# the cache cannot satisfy the pins. Only the wheels this set resolves to enter the context,
# so stale cache entries never change the hash.
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
cp "$SRC/Dockerfile" "$SRC/.dockerignore" "$SRC/entrypoint.sh" "$ctx/"
mkdir "$ctx/app"
# The image recipes and the chart are not needed inside the image, and leaving them out keeps
# a chart-only change from rebuilding it.
tar -c --exclude=__pycache__ --exclude='*.pyc' --exclude='*.sqlite3' \
  --exclude=deploy/images --exclude=deploy/chart "${APP_PATHS[@]}" | tar -x -C "$ctx/app"
# The project's test suites stay out; a sector bundle's tests/ is part of the bundle (its
# hash and its checks), so those stay in.
find "$ctx/app" -path "$ctx/app/sectors/bundles" -prune -o -type d -name tests -print0 \
  | xargs -0 rm -rf
ledger_hash="$("$PY" -c 'import sys; from pathlib import Path; from ledger.source_hash import source_hash
print(source_hash(Path(sys.argv[1])))' "$ctx/app/ledger")" || die "could not hash the ledger"

# --- 3. content hash and build -------------------------------------------------------------
content_hash="$( (cd "$ctx" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum; \
  echo "$base_id") | sha256sum | cut -c1-16)"
tag="$IMAGE_REPO:$content_hash"
if docker image inspect "$tag" >/dev/null 2>&1; then
  log "$tag exists (same content), skipping build"
else
  log "building $tag on $base"
  docker build --build-arg BASE="$base" \
    --label baas.component=control-plane-image --label baas.content-hash="$content_hash" \
    --label baas.ledger-hash="$ledger_hash" --label org.opencontainers.image.version="$version" \
    -t "$tag" "$ctx" >&2 || die "docker build failed"
fi
docker tag "$tag" "$IMAGE_REPO:$version"
docker tag "$tag" "$IMAGE_REPO:latest"
# Older builds of this repository are dropped so repeated builds do not fill the disk (other
# repositories' are not ours to remove); an image still used by a container is kept (docker
# refuses to remove it without --force).
docker images --filter label=baas.component=control-plane-image \
  --filter "reference=$IMAGE_REPO" --format '{{.Repository}}:{{.Tag}}' \
  | grep -vxF -e "$tag" -e "$IMAGE_REPO:latest" -e "$IMAGE_REPO:$version" \
  | xargs -r docker rmi >/dev/null 2>&1 || true
log "done in $(( $(date +%s) - start ))s: $tag ($IMAGE_REPO:$version), $(docker image inspect \
  --format '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1/1e6}')"
echo "$tag"
