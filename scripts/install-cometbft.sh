#!/usr/bin/env bash
# Installs the pinned CometBFT release if `cometbft` is missing or at another version.
#
# Two ways, chosen by COMETBFT_INSTALL_METHOD:
#   auto      (default) `go` when Go 1.22 or newer is on PATH, `download` otherwise
#   go        `go install github.com/cometbft/cometbft/cmd/cometbft@vVERSION` through the Go
#             module proxy (what CI does); fails if Go is missing or older than 1.22, the
#             minimum cometbft v0.38.26's go.mod asks for (Debian bookworm's golang-go is 1.19)
#   download  the official release archive cometbft_VERSION_OS_ARCH.tar.gz, checked against
#             its SHA-256 before installing
#
# Environment:
#   COMETBFT_VERSION         version to install (default 0.38.26)
#   COMETBFT_BIN_DIR         where the binary goes (default ~/.local/bin; /usr/local/bin as root)
#   COMETBFT_INSTALL_METHOD  auto | go | download (see above)
#   COMETBFT_RELEASE_URL     folder holding the release assets, for the download method
#                            (default https://github.com/cometbft/cometbft/releases/download/vVERSION);
#                            point it at a mirror, or at a local fake release in tests
#   COMETBFT_SHA256          expected SHA-256 of the archive, overriding the checksum file
#
# Checksums: the expected SHA-256 is read from the release's own checksum file, which
# CometBFT's goreleaser config names SHA256SUMS-VERSION.txt (no "v"). That file comes from the
# same place as the archive, so it catches a broken or truncated download but not a replaced
# release. The v0.38.26 archive hashes are deliberately not pinned here: no trustworthy copy
# of them was available when this was written (GitHub is out of reach from our machines), and
# a guessed hash would be worse than none. To pin one yourself, take it from the release page
# and set COMETBFT_SHA256.
set -euo pipefail

VERSION="${COMETBFT_VERSION:-0.38.26}"
BIN_DIR="${COMETBFT_BIN_DIR:-$HOME/.local/bin}"
[ "$(id -u)" = 0 ] && BIN_DIR="${COMETBFT_BIN_DIR:-/usr/local/bin}"
METHOD="${COMETBFT_INSTALL_METHOD:-auto}"
RELEASE_URL="${COMETBFT_RELEASE_URL:-https://github.com/cometbft/cometbft/releases/download/v$VERSION}"
GO_MIN_MINOR=22  # cometbft v0.38.26's go.mod: go 1.22.11 (newer Go fetches that toolchain itself)

die() { echo "install-cometbft: error: $*" >&2; exit 1; }

# Succeeds when `go` is on PATH and is Go 1.MIN or newer.
go_is_new_enough() {
  command -v go >/dev/null 2>&1 || return 1
  local v major minor
  v="$(go env GOVERSION 2>/dev/null || true)"  # e.g. go1.26.8; empty before Go 1.16
  v="${v#go}"
  major="${v%%.*}"; minor="${v#*.}"; minor="${minor%%[!0-9]*}"
  [[ "$major" =~ ^[0-9]+$ && "$minor" =~ ^[0-9]+$ ]] || return 1
  [ "$major" -gt 1 ] || { [ "$major" -eq 1 ] && [ "$minor" -ge "$GO_MIN_MINOR" ]; }
}

case "$METHOD" in
  auto) if go_is_new_enough; then METHOD=go; else METHOD=download; fi ;;
  go | download) ;;
  *) die "COMETBFT_INSTALL_METHOD must be auto, go or download, not '$METHOD'" ;;
esac

# `cometbft version` prints VERSION, or VERSION+<git commit> for a build that stamps the commit.
current="$(cometbft version 2>/dev/null || true)"
if [ "${current%%+*}" = "$VERSION" ]; then
  exit 0
fi
mkdir -p "$BIN_DIR"

if [ "$METHOD" = go ]; then
  command -v go >/dev/null 2>&1 \
    || die "Go is not installed (no 'go' on PATH); install Go 1.$GO_MIN_MINOR or newer, or use COMETBFT_INSTALL_METHOD=download"
  go_is_new_enough \
    || die "$(go version 2>/dev/null || echo 'this Go') is too old: cometbft v$VERSION needs Go 1.$GO_MIN_MINOR or newer (Debian bookworm's golang-go is 1.19); install a newer Go or use COMETBFT_INSTALL_METHOD=download"
  echo "installing cometbft v$VERSION with go install into $BIN_DIR" >&2
  GOBIN="$BIN_DIR" go install "github.com/cometbft/cometbft/cmd/cometbft@v$VERSION"
else
  command -v curl >/dev/null 2>&1 || die "curl is needed to download the CometBFT release"
  os="$(uname -s | tr '[:upper:]' '[:lower:]')"
  arch="$(uname -m)"
  case "$arch" in
    x86_64 | amd64) arch=amd64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) die "no CometBFT release archive known for architecture '$arch'; install Go 1.$GO_MIN_MINOR+ instead" ;;
  esac
  archive="cometbft_${VERSION}_${os}_${arch}.tar.gz"
  sums="SHA256SUMS-${VERSION}.txt"  # goreleaser checksum name_template: SHA256SUMS-{{.Version}}.txt
  tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
  echo "downloading $archive from ${RELEASE_URL%/}" >&2
  curl -fsSL -o "$tmp/$archive" "${RELEASE_URL%/}/$archive" \
    || die "cannot download ${RELEASE_URL%/}/$archive"
  if [ -n "${COMETBFT_SHA256:-}" ]; then
    expected="$COMETBFT_SHA256"
  else
    curl -fsSL -o "$tmp/$sums" "${RELEASE_URL%/}/$sums" \
      || die "cannot download the checksum file ${RELEASE_URL%/}/$sums (set COMETBFT_SHA256 to give the checksum yourself)"
    # Lines are "<sha256>  <file>" (a '*' before the name in binary mode).
    expected="$(awk -v f="$archive" '$2 == f || $2 == "*" f { print $1; exit }' "$tmp/$sums")"
    [ -n "$expected" ] || die "$sums has no line for $archive"
  fi
  actual="$(sha256sum "$tmp/$archive" | cut -d' ' -f1)"
  if [ "${expected,,}" != "$actual" ]; then
    die "checksum mismatch for $archive: expected '$expected', got '$actual'"
  fi
  tar -xzf "$tmp/$archive" -C "$tmp" cometbft || die "$archive has no 'cometbft' at its top level"
  install -m 0755 "$tmp/cometbft" "$BIN_DIR/cometbft"
fi

installed="$("$BIN_DIR/cometbft" version)" || die "$BIN_DIR/cometbft does not run"
[ "${installed%%+*}" = "$VERSION" ] || die "$BIN_DIR/cometbft reports version '$installed', not $VERSION"
case ":$PATH:" in *":$BIN_DIR:"*) ;; *) echo "note: add $BIN_DIR to PATH" >&2 ;; esac
echo "$installed"
