#!/usr/bin/env bash
# The S3-compatible server the `s3`-marked tests talk to over loopback HTTP: moto's
# standalone server (moto_server), pinned in scripts/s3-test-server.txt, in a venv of its
# own (botocore's python-dateutil<3 cannot share the project's venv with kubernetes').
#
#   scripts/s3-test-server.sh build   create (or reuse) the venv; prints the moto_server path
#
# The tests start and stop the server themselves (conftest.py, fixture `s3_server`) on a
# free port; they find it at BAAS_TEST_MOTO_SERVER or the path `build` prints. The venv is
# cached outside the clone (S3_TEST_SERVER_CACHE, default ~/.cache/baas/moto-<pins hash>).
set -euo pipefail
cd "$(dirname "$0")/.."
PINS=scripts/s3-test-server.txt
HASH="$(sha256sum "$PINS" | cut -c1-12)"
CACHE="${S3_TEST_SERVER_CACHE:-$HOME/.cache/baas/moto-$HASH}"
PYTHON="${PYTHON:-python3}"

case "${1:-build}" in
  build)
    if [ ! -x "$CACHE/bin/moto_server" ]; then
      rm -rf "$CACHE"
      "$PYTHON" -m venv "$CACHE"
      "$CACHE/bin/pip" install -q --disable-pip-version-check -r "$PINS"
    fi
    "$CACHE/bin/python" -c "import moto.server" >/dev/null
    echo "$CACHE/bin/moto_server"
    ;;
  *) echo "usage: $0 build" >&2; exit 2 ;;
esac
