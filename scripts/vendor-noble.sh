#!/usr/bin/env bash
# Rebuilds static/vendor/noble/secp256k1.js, the one ES module the browser's voting code
# (static/elections/voting.js) imports: secp256k1 from @noble/curves and SHA-256 from
# @noble/hashes, bundled and minified by esbuild. Served by the project, never from a CDN.
#
# Pinned exactly in scripts/vendor-noble/package.json; scripts/vendor-noble/package-lock.json
# holds the registry's sha512 integrity of every tarball and `npm ci` refuses a tarball that
# does not match it. Same versions + same esbuild = the same bytes: the script prints the
# SHA-256 of the result and writes it, with the versions, into static/vendor/noble/README.md
# (elections/tests/test_js_vendor.py checks the file against that record).
#
# Usage: scripts/vendor-noble.sh          (needs node and npm, and the npm registry)
#        scripts/vendor-noble.sh --check  rebuild in a temporary place and compare only
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SRC="$ROOT/scripts/vendor-noble"
OUT_DIR="$ROOT/static/vendor/noble"
OUT="$OUT_DIR/secp256k1.js"
CHECK=0
[ "${1:-}" = "--check" ] && CHECK=1

die() { echo "vendor-noble: error: $*" >&2; exit 1; }
command -v npm >/dev/null || die "npm is missing"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cp "$SRC/package.json" "$SRC/package-lock.json" "$SRC/entry.js" "$WORK/"
cd "$WORK"
# --ignore-scripts: nothing from the registry runs at install time (esbuild finds its
# platform binary through its optional dependency without its postinstall step).
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null

version() { node -p "require('./node_modules/$1/package.json').version"; }
CURVES="$(version @noble/curves)"
HASHES="$(version @noble/hashes)"
ESBUILD="$(version esbuild)"
for f in curves hashes; do
  grep -q '^The MIT License' "node_modules/@noble/$f/LICENSE" || die "@noble/$f is not MIT?"
done

{
  echo "/*! @noble/curves $CURVES (secp256k1) and @noble/hashes $HASHES (sha256), from the npm"
  echo " * registry, bundled by esbuild $ESBUILD with scripts/vendor-noble.sh; do not edit by hand."
  echo " * Licence of both packages:"
  sed 's/^/ * /; s/ *$//' node_modules/@noble/curves/LICENSE
  echo " */"
} > banner.txt

./node_modules/.bin/esbuild entry.js --bundle --format=esm --minify --target=es2020 \
  --legal-comments=none --log-level=warning --outfile=bundle.js
cat banner.txt bundle.js > secp256k1.js
SHA="$(sha256sum secp256k1.js | cut -d' ' -f1)"

if [ "$CHECK" = 1 ]; then
  HAVE="$(sha256sum "$OUT" | cut -d' ' -f1)"
  echo "rebuilt  $SHA"
  echo "vendored $HAVE"
  [ "$SHA" = "$HAVE" ] || die "the vendored file differs from a rebuild"
  exit 0
fi

mkdir -p "$OUT_DIR"
cp secp256k1.js "$OUT"
cp node_modules/@noble/curves/LICENSE "$OUT_DIR/LICENSE"
integrity() { node -p "require('./package-lock.json').packages['node_modules/$1'].integrity"; }
cat > "$OUT_DIR/README.md" <<EOF
# noble secp256k1 + SHA-256, self-hosted

\`secp256k1.js\` is one ES module built by \`scripts/vendor-noble.sh\` from the npm packages
pinned in \`scripts/vendor-noble/package.json\` (integrity in its \`package-lock.json\`):

| package | version | npm integrity |
|---|---|---|
| @noble/curves | $CURVES | $(integrity @noble/curves) |
| @noble/hashes | $HASHES | $(integrity @noble/hashes) |
| esbuild (build only) | $ESBUILD | $(integrity esbuild) |

It exports \`secp256k1\` (its \`Point\` is what \`static/elections/voting.js\` uses) and
\`sha256\`; esbuild drops the rest (Schnorr, FROST, hash-to-curve). Both packages are MIT
licensed, Copyright (c) 2022 Paul Miller: \`LICENSE\`, also in the file's header.

| file | sha256 |
|---|---|
| secp256k1.js | $SHA |

\`scripts/vendor-noble.sh --check\` rebuilds and compares without writing.
EOF
echo "$OUT"
echo "sha256 $SHA"
