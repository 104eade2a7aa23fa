#!/usr/bin/env bash
# A real Kubernetes API server for the `kubernetes`-marked tests: etcd + kube-apiserver +
# kube-controller-manager on loopback, no kubelet (pods are stored, never scheduled), the way
# controller test environments run. See docs/kubernetes.md and ../shared/k8s/README.md.
#
#   scripts/kube-test-env.sh build   build (or reuse) the pinned binaries
#   scripts/kube-test-env.sh start   build if needed, start, print KUBECONFIG=<path>
#   scripts/kube-test-env.sh stop    stop what start started and remove its state
#   scripts/kube-test-env.sh status  exit 0 when the API server answers
#
# The binaries are cached outside the clone (KUBE_TEST_ENV_CACHE, default
# ~/.cache/baas/kube-<versions>) so a fresh clone on a machine that built them once skips the
# ~8-minute build. Upstream `go install` refuses both modules (replace directives in their
# go.mod), so each is built from a throwaway module that requires it.
#
# `start` writes two kubeconfigs into the run directory (KUBE_TEST_ENV_DIR, default
# var/kube-test-env): `kubeconfig` (cluster admin) and `kubeconfig-driver` (a user with no
# rights until a test binds the driver's ClusterRole to it, so the least-rights RBAC of the
# Helm chart is tested, not assumed).
set -euo pipefail
cd "$(dirname "$0")/.."

K8S_VERSION=v1.34.2
K8S_STAGING=v0.34.2
ETCD_VERSION=v3.6.5
CACHE="${KUBE_TEST_ENV_CACHE:-$HOME/.cache/baas/kube-$K8S_VERSION-etcd-$ETCD_VERSION}"
RUN="${KUBE_TEST_ENV_DIR:-$PWD/var/kube-test-env}"
ETCD_PORT="${KUBE_TEST_ENV_ETCD_PORT:-23790}"
API_PORT="${KUBE_TEST_ENV_API_PORT:-16443}"
export PATH="/usr/local/go/bin:$PATH"

have_binaries() {
  [ -x "$CACHE/bin/etcd" ] && [ -x "$CACHE/bin/kube-apiserver" ] \
    && [ -x "$CACHE/bin/kube-controller-manager" ]
}

build() {
  if have_binaries; then
    echo "kube-test-env: reusing binaries in $CACHE/bin" >&2
    return
  fi
  command -v go >/dev/null || { echo "kube-test-env: Go is needed to build kube-apiserver" >&2; exit 1; }
  mkdir -p "$CACHE/bin" "$CACHE/build-etcd" "$CACHE/build-k8s"
  export GOFLAGS=-buildvcs=false
  local modcache
  modcache="$(go env GOMODCACHE)"
  echo "kube-test-env: building etcd $ETCD_VERSION" >&2
  ( cd "$CACHE/build-etcd"
    printf 'module local/etcd\n\ngo 1.24\n\nrequire go.etcd.io/etcd/server/v3 %s\n' "$ETCD_VERSION" > go.mod
    printf '//go:build tools\n\npackage tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' > tools.go
    go mod tidy
    nice go build -trimpath -ldflags='-s -w' -o "$CACHE/bin/etcd.tmp" go.etcd.io/etcd/server/v3
    mv "$CACHE/bin/etcd.tmp" "$CACHE/bin/etcd" )
  echo "kube-test-env: building kube-apiserver and kube-controller-manager $K8S_VERSION" >&2
  go mod download "k8s.io/kubernetes@$K8S_VERSION"
  local kmod="$modcache/k8s.io/kubernetes@$K8S_VERSION"
  ( cd "$CACHE/build-k8s"
    # One replace line per staging module, pinned to the release's staging version.
    { printf 'module local/k8s\n\ngo 1.24.0\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n' "$K8S_VERSION"
      sed -n '/^replace (/,/^)/p' "$kmod/go.mod" \
        | awk -v v="$K8S_STAGING" '/=>/{printf "\t%s => %s %s\n",$1,$1,v}'
      printf ')\n'; } > go.mod
    printf '//go:build tools\n\npackage tools\n\nimport (\n\t_ "k8s.io/kubernetes/cmd/kube-apiserver"\n\t_ "k8s.io/kubernetes/cmd/kube-controller-manager"\n)\n' > tools.go
    go mod tidy
    # Without these the server reports version v0.0.0-master.
    local ld="-s -w" p
    for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      ld="$ld -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=34 -X $p.gitTreeState=clean"
    done
    for cmd in kube-apiserver kube-controller-manager; do
      nice go build -trimpath -ldflags="$ld" -o "$CACHE/bin/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd"
      mv "$CACHE/bin/$cmd.tmp" "$CACHE/bin/$cmd"
    done )
}

api_ready() {
  [ -f "$RUN/admin.token" ] || return 1
  curl -skf -m 2 -H "Authorization: Bearer $(cat "$RUN/admin.token")" \
    "https://127.0.0.1:$API_PORT/readyz" >/dev/null 2>&1
}

write_kubeconfig() {  # file user token
  cat > "$1" <<KC
apiVersion: v1
kind: Config
clusters:
- name: kube-test-env
  cluster:
    server: "https://127.0.0.1:$API_PORT"
    certificate-authority: "$RUN/certs/apiserver.crt"
users:
- name: $2
  user: {token: $3}
contexts:
- name: kube-test-env
  context: {cluster: kube-test-env, user: $2}
current-context: kube-test-env
KC
  chmod 600 "$1"
}

wait_for() {  # seconds description command...
  local seconds="$1" what="$2"; shift 2
  for _ in $(seq $((seconds * 2))); do "$@" && return 0; sleep 0.5; done
  echo "kube-test-env: $what did not come up in ${seconds}s; logs in $RUN" >&2
  return 1
}

start() {
  if api_ready; then
    echo "KUBECONFIG=$RUN/kubeconfig"
    return
  fi
  build
  stop_processes
  # Another instance (another clone's) on our ports would answer for us with its own
  # tokens; say so instead of failing later with a confusing authentication error.
  local port
  for port in "$ETCD_PORT" "$((ETCD_PORT + 1))" "$API_PORT"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "kube-test-env: 127.0.0.1:$port is in use (another kube-test-env?); stop it, or" \
           "choose other ports with KUBE_TEST_ENV_API_PORT / KUBE_TEST_ENV_ETCD_PORT" >&2
      exit 1
    fi
  done
  rm -rf "$RUN"
  mkdir -p "$RUN/certs" "$RUN/etcd"
  chmod 700 "$RUN"
  openssl rand -hex 24 > "$RUN/admin.token"
  openssl rand -hex 24 > "$RUN/driver.token"
  { echo "$(cat "$RUN/admin.token"),kube-test-admin,kube-test-admin,system:masters"
    echo "$(cat "$RUN/driver.token"),baas-driver,baas-driver"; } > "$RUN/tokens.csv"
  openssl genrsa -out "$RUN/sa.key" 2048 2>/dev/null
  openssl rsa -in "$RUN/sa.key" -pubout -out "$RUN/sa.pub" 2>/dev/null
  # A serving certificate for 127.0.0.1, so clients verify TLS instead of skipping it.
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=kube-test-env" \
    -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
    -keyout "$RUN/certs/apiserver.key" -out "$RUN/certs/apiserver.crt" 2>/dev/null
  local peer_port=$((ETCD_PORT + 1))
  setsid "$CACHE/bin/etcd" --data-dir "$RUN/etcd" --name one --unsafe-no-fsync \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-cluster "one=http://127.0.0.1:$peer_port" --listen-metrics-urls "" \
    >"$RUN/etcd.log" 2>&1 < /dev/null & echo $! > "$RUN/etcd.pid"
  wait_for 30 etcd curl -sf -m 1 "http://127.0.0.1:$ETCD_PORT/health" -o /dev/null
  setsid "$CACHE/bin/kube-apiserver" --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$API_PORT" \
    --tls-cert-file="$RUN/certs/apiserver.crt" --tls-private-key-file="$RUN/certs/apiserver.key" \
    --cert-dir="$RUN/certs" --token-auth-file="$RUN/tokens.csv" --authorization-mode=RBAC \
    --service-cluster-ip-range=10.0.0.0/24 --service-account-issuer="https://127.0.0.1:$API_PORT" \
    --service-account-key-file="$RUN/sa.pub" --service-account-signing-key-file="$RUN/sa.key" \
    --disable-admission-plugins=ServiceAccount --allow-privileged=true \
    --endpoint-reconciler-type=none \
    >"$RUN/kube-apiserver.log" 2>&1 < /dev/null & echo $! > "$RUN/kube-apiserver.pid"
  write_kubeconfig "$RUN/kubeconfig" kube-test-admin "$(cat "$RUN/admin.token")"
  write_kubeconfig "$RUN/kubeconfig-driver" baas-driver "$(cat "$RUN/driver.token")"
  wait_for 120 kube-apiserver api_ready
  setsid "$CACHE/bin/kube-controller-manager" --kubeconfig="$RUN/kubeconfig" --leader-elect=false \
    --secure-port=0 --controllers=namespace-controller,garbage-collector-controller \
    --use-service-account-credentials=false \
    >"$RUN/kube-controller-manager.log" 2>&1 < /dev/null & echo $! > "$RUN/kube-controller-manager.pid"
  echo "KUBECONFIG=$RUN/kubeconfig"
}

stop_processes() {
  local f pid
  for f in "$RUN"/kube-controller-manager.pid "$RUN"/kube-apiserver.pid "$RUN"/etcd.pid; do
    [ -f "$f" ] || continue
    pid="$(cat "$f")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$f"
  done
}

case "${1:-}" in
  build) build ;;
  start) start ;;
  stop) stop_processes; rm -rf "$RUN" ;;
  status) api_ready ;;
  *) echo "usage: $0 build|start|stop|status" >&2; exit 2 ;;
esac
