#!/usr/bin/env bash
# Installs the pinned CometBFT release if `cometbft` is missing or at another version.
#
# With Go: `go install` from the Go module proxy (what CI does).
# Without Go: downloads the official release archive and checks it against the release's
# published SHA-256 before installing (set COMETBFT_SHA256 to pin the checksum yourself).
set -euo pipefail

VERSION="${COMETBFT_VERSION:-0.38.26}"
BIN_DIR="${COMETBFT_BIN_DIR:-$HOME/.local/bin}"
[ "$(id -u)" = 0 ] && BIN_DIR="${COMETBFT_BIN_DIR:-/usr/local/bin}"

current="$(cometbft version 2>/dev/null || true)"
if [ "$current" = "$VERSION" ]; then
  exit 0
fi
mkdir -p "$BIN_DIR"

if command -v go >/dev/null 2>&1; then
  echo "installing cometbft v$VERSION with go install into $BIN_DIR" >&2
  GOBIN="$BIN_DIR" go install "github.com/cometbft/cometbft/cmd/cometbft@v$VERSION"
else
  os="$(uname -s | tr '[:upper:]' '[:lower:]')"
  arch="$(uname -m)"; case "$arch" in x86_64) arch=amd64 ;; aarch64) arch=arm64 ;; esac
  base="https://github.com/cometbft/cometbft/releases/download/v$VERSION"
  archive="cometbft_${VERSION}_${os}_${arch}.tar.gz"
  tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
  echo "downloading $archive (no Go found)" >&2
  curl -fsSL -o "$tmp/$archive" "$base/$archive"
  curl -fsSL -o "$tmp/SHA256SUMS" "$base/SHA256SUMS"
  expected="${COMETBFT_SHA256:-$(grep " $archive\$" "$tmp/SHA256SUMS" | cut -d' ' -f1)}"
  actual="$(sha256sum "$tmp/$archive" | cut -d' ' -f1)"
  if [ -z "$expected" ] || [ "$expected" != "$actual" ]; then
    echo "checksum mismatch for $archive: expected '$expected', got '$actual'" >&2
    exit 1
  fi
  tar -xzf "$tmp/$archive" -C "$tmp" cometbft
  install -m 0755 "$tmp/cometbft" "$BIN_DIR/cometbft"
fi
case ":$PATH:" in *":$BIN_DIR:"*) ;; *) echo "note: add $BIN_DIR to PATH" >&2 ;; esac
"$BIN_DIR/cometbft" version
