#!/usr/bin/env bash
# Builds the pinned Helm CLI from the Go module proxy (release downloads are out of reach on
# our machines) and prints the binary's path on its last line.
#
#   scripts/install-helm.sh              # build once, then reuse: prints .../helm-v4.3.2/helm
#   HELM="$(scripts/install-helm.sh)"    # how tests and .ci/run pick it up
#
# The binary is cached outside the clone (HELM_CACHE, default ~/.cache/baas/helm-<version>),
# so a fresh clone on a machine that built it once skips the build (a few minutes on two
# cores). Environment: HELM_VERSION (default v4.3.2), HELM_CACHE.
set -euo pipefail

VERSION="${HELM_VERSION:-v4.3.2}"
CACHE="${HELM_CACHE:-$HOME/.cache/baas/helm-$VERSION}"
BIN="$CACHE/helm"
export PATH="/usr/local/go/bin:$PATH"

log() { echo "install-helm: $*" >&2; }
die() { log "error: $*"; exit 1; }

# A cached binary counts only if it runs and reports the pinned version, so a half-written
# or foreign file is rebuilt rather than trusted.
if [ -x "$BIN" ] && "$BIN" version --template '{{.Version}}' 2>/dev/null | grep -qx "$VERSION"; then
  echo "$BIN"
  exit 0
fi

command -v go >/dev/null || die "Go is needed to build helm (go install through the module proxy)"
start=$(date +%s)
mkdir -p "$CACHE"
log "building helm $VERSION with go install (takes a few minutes)"
# Helm reads its version from a variable set at link time; without -X it reports a dev
# version and the cache check above would never match. -trimpath and -s -w keep the
# binary small and free of this machine's paths.
# Built into a directory of this run's own and moved into place in one rename, so a second
# run at the same time, or one interrupted, never leaves a half-written binary at $BIN.
gobin="$(mktemp -d "$CACHE/.gobin.XXXXXX")"
trap 'rm -rf "$gobin"' EXIT
GOBIN="$gobin" GOFLAGS=-buildvcs=false nice go install -trimpath \
  -ldflags="-s -w -X helm.sh/helm/v4/internal/version.version=$VERSION" \
  "helm.sh/helm/v4/cmd/helm@$VERSION" >&2 || die "go install helm.sh/helm/v4/cmd/helm@$VERSION failed"
mv "$gobin/helm" "$BIN"
got="$("$BIN" version --template '{{.Version}}')"
[ "$got" = "$VERSION" ] || die "built helm reports version '$got', expected $VERSION"
log "built in $(( $(date +%s) - start ))s"
echo "$BIN"
