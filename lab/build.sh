#!/usr/bin/env bash
# Build the lab's real components from the Go module proxy.
#
#   lab/build.sh                 kube kine kwok minio minio-admin model-registry kserve kueue
#                                kube-rbac-proxy (+ MariaDB from Debian)
#   lab/build.sh mc              only the MinIO client (used by a benchmark)
#   lab/build.sh kubectl         only kubectl (used by a benchmark)
#   lab/build.sh kube kwok ...   only the named tools
#
# Binaries land in ${LAB_CACHE:-$HOME/.cache/private-ai-lab}/bin/<tool>-<version>; a tool whose
# binary is already there is skipped, so a second build is a no-op.
set -euo pipefail

LAB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
. "${LAB_DIR}/versions.env"
BIN_DIR="${LAB_CACHE:-$HOME/.cache/private-ai-lab}/bin"
mkdir -p "${BIN_DIR}"

export CGO_ENABLED=0
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
GO="${GO:-go}"
if ! command -v "${GO}" >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  GO=/usr/local/go/bin/go
fi

# need_go: fail with one sentence when a build is needed and no Go toolchain is found.
need_go() {
  command -v "${GO}" >/dev/null 2>&1 && return
  log "no Go toolchain found (${GO}); install Go >= 1.25 or set GO=/path/to/go"
  exit 1
}

log() { printf '[lab/build] %s\n' "$*" >&2; }

# have TOOL VERSION: true if the pinned binary is already built.
have() { [ -x "${BIN_DIR}/$1-$2" ]; }

# finish TOOL VERSION TMPFILE: move a freshly built binary into place atomically.
finish() {
  chmod 0755 "$3"
  mv -f "$3" "${BIN_DIR}/$1-$2"
  log "$1 $2 -> ${BIN_DIR}/$1-$2"
}

# goinstall TOOL VERSION PKG@VERSION BINNAME LDFLAGS: go install into a temp GOBIN, then move.
goinstall() {
  local tool="$1" version="$2" pkg="$3" binname="$4" ldflags="$5" tmp
  need_go
  tmp="$(mktemp -d "${BIN_DIR}/.build-${tool}.XXXXXX")"
  log "building ${tool} ${version} (${pkg})"
  if ! GOBIN="${tmp}" "${GO}" install -trimpath -ldflags "-s -w ${ldflags}" "${pkg}"; then
    rm -rf "${tmp}"
    return 1
  fi
  finish "${tool}" "${version}" "${tmp}/${binname}"
  rm -rf "${tmp}"
}

# check_pin DIR "MODULE VERSION": the wrapper's go.mod must require what versions.env pins.
check_pin() {
  if ! grep -q "^[[:space:]]*$2\b\|^require $2\b" "${LAB_DIR}/go/$1/go.mod"; then
    log "lab/go/$1/go.mod does not require $2 (versions.env): update the wrapper module"
    return 1
  fi
}

# wrapperbuild TOOL VERSION DIR PKG LDFLAGS: go build PKG inside the wrapper module lab/go/DIR.
wrapperbuild() {
  local tool="$1" version="$2" dir="$3" pkg="$4" ldflags="$5" tmp
  need_go
  tmp="${BIN_DIR}/.build-${tool}.$$"
  log "building ${tool} ${version} (${pkg} via lab/go/${dir})"
  if ! (cd "${LAB_DIR}/go/${dir}" && "${GO}" build -trimpath -o "${tmp}" -ldflags "-s -w ${ldflags}" "${pkg}"); then
    rm -f "${tmp}"
    return 1
  fi
  finish "${tool}" "${version}" "${tmp}"
}

build_kube() {
  have kube "${KUBERNETES_VERSION}" && { log "kube ${KUBERNETES_VERSION} present"; return; }
  check_pin kube "k8s.io/kubernetes ${KUBERNETES_VERSION}"
  local major minor
  major="${KUBERNETES_VERSION#v}"; major="${major%%.*}"
  minor="${KUBERNETES_VERSION#v*.}"; minor="${minor%%.*}"
  wrapperbuild kube "${KUBERNETES_VERSION}" kube . "\
-X k8s.io/component-base/version.gitVersion=${KUBERNETES_VERSION} \
-X k8s.io/component-base/version.gitMajor=${major} \
-X k8s.io/component-base/version.gitMinor=${minor} \
-X k8s.io/component-base/version.gitTreeState=clean \
-X k8s.io/component-base/version.buildDate=1970-01-01T00:00:00Z \
-X k8s.io/client-go/pkg/version.gitVersion=${KUBERNETES_VERSION} \
-X k8s.io/client-go/pkg/version.gitMajor=${major} \
-X k8s.io/client-go/pkg/version.gitMinor=${minor}"
}

# kubectl from the kube wrapper module (k8s.io/kubectl at the same pin); only benchmarks use it.
build_kubectl() {
  have kubectl "${KUBERNETES_VERSION}" && { log "kubectl ${KUBERNETES_VERSION} present"; return; }
  check_pin kube "k8s.io/kubernetes ${KUBERNETES_VERSION}"
  wrapperbuild kubectl "${KUBERNETES_VERSION}" kube ./cmd/kubectl "\
-X k8s.io/client-go/pkg/version.gitVersion=${KUBERNETES_VERSION} \
-X k8s.io/component-base/version.gitVersion=${KUBERNETES_VERSION}"
}

build_kine() {
  have kine "${KINE_VERSION}" && { log "kine ${KINE_VERSION} present"; return; }
  goinstall kine "${KINE_VERSION}" "github.com/k3s-io/kine@${KINE_VERSION}" kine \
    "-X github.com/k3s-io/kine/pkg/version.Version=${KINE_VERSION}"
}

build_kwok() {
  have kwok "${KWOK_VERSION}" && { log "kwok ${KWOK_VERSION} present"; return; }
  goinstall kwok "${KWOK_VERSION}" "sigs.k8s.io/kwok/cmd/kwok@${KWOK_VERSION}" kwok \
    ""
}

build_minio() {
  have minio "${MINIO_VERSION}" && { log "minio ${MINIO_VERSION} present"; return; }
  local tag="RELEASE.${MINIO_RELEASE//:/-}"
  goinstall minio "${MINIO_VERSION}" "github.com/minio/minio@${MINIO_VERSION}" minio \
    "-X github.com/minio/minio/cmd.Version=${MINIO_RELEASE} -X github.com/minio/minio/cmd.ReleaseTag=${tag}"
}

# minio-admin (lab/go/minio-admin/main.go, ours): creates the collection's least-privilege MinIO
# user at `lab-up`. It needs madmin-go, whose admin payloads are encrypted with the root secret; the
# wrapper pins github.com/minio/madmin-go/v3 and every module it compiles at the versions the pinned
# minio's go.mod requires, so the module cache and most of the build cache of build_minio serve it.
# The binary's name carries a digest of the wrapper's sources (labctl computes the same), so a
# change to main.go builds a new binary. Measured 2026-11-29 on 2 shared, busy cores: 85 s wall
# (51 s CPU) with an empty build cache (module cache filled), 1 s warm; in the default tool list it
# comes after minio, whose build has compiled every package it imports at the same versions.
minio_admin_version() {
  local d="${LAB_DIR}/go/minio-admin" digest
  digest="$(cat "${d}/go.mod" "${d}/go.sum" "${d}/main.go" | sha256sum | cut -c1-12)"
  printf '%s-%s' "${MINIO_MADMIN_VERSION}" "${digest}"
}

build_minio-admin() {
  local version
  version="$(minio_admin_version)"
  have minio-admin "${version}" && { log "minio-admin ${version} present"; return; }
  check_pin minio-admin "github.com/minio/madmin-go/v3 ${MINIO_MADMIN_VERSION}"
  wrapperbuild minio-admin "${version}" minio-admin . ""
}

build_mc() {
  have mc "${MC_VERSION}" && { log "mc ${MC_VERSION} present"; return; }
  goinstall mc "${MC_VERSION}" "github.com/minio/mc@${MC_VERSION}" mc ""
}

# Model Registry v0.3.0 from a wrapper module (lab/go/model-registry):
# - v0.2.19's embedmd datastore is a stub (Connect returns no API: every REST call panics) and the
#   proxy refuses v0.2.20, so the first usable release is v0.3.0;
# - `go install ...@version` needs the module's version list, which the proxy refuses;
# - sum.golang.org does not know v0.3.0: its hashes are pinned in lab/go/model-registry/go.sum
#   instead (GONOSUMDB only skips the lookup; go.sum is still verified).
build_model-registry() {
  have model-registry "${MODEL_REGISTRY_VERSION}" && { log "model-registry ${MODEL_REGISTRY_VERSION} present"; return; }
  check_pin model-registry "github.com/kubeflow/model-registry ${MODEL_REGISTRY_VERSION}"
  GONOSUMDB=github.com/kubeflow/model-registry \
    wrapperbuild model-registry "${MODEL_REGISTRY_VERSION}" model-registry github.com/kubeflow/model-registry ""
}

# KServe's controller manager (InferenceService reconciler and webhooks) from a wrapper module
# (lab/go/kserve): like model-registry, `go install ...@version` is refused because the proxy does
# not list kserve's versions. OpenShift AI 3.0 runs the opendatahub-io fork (odh-v3.0, based on
# upstream 0.15), which the proxy does not serve: lab/README.md says what differs.
build_kserve() {
  have kserve "${KSERVE_VERSION}" && { log "kserve ${KSERVE_VERSION} present"; return; }
  check_pin kserve "github.com/kserve/kserve ${KSERVE_VERSION}"
  wrapperbuild kserve "${KSERVE_VERSION}" kserve github.com/kserve/kserve/cmd/manager ""
}

# Kueue's manager (admission, pod/Deployment integrations, webhooks): no replace directives.
build_kueue() {
  have kueue "${KUEUE_VERSION}" && { log "kueue ${KUEUE_VERSION} present"; return; }
  goinstall kueue "${KUEUE_VERSION}" "sigs.k8s.io/kueue/cmd/kueue@${KUEUE_VERSION}" kueue \
    "-X sigs.k8s.io/kueue/pkg/version.GitVersion=${KUEUE_VERSION}"
}

# kube-rbac-proxy (the token-auth sidecar KServe adds to a predictor with
# security.opendatahub.io/enable-auth: "true") from a wrapper module (lab/go/kube-rbac-proxy):
# v0.19.1's go.mod has a replace directive, which `go install pkg@version` refuses. OpenShift AI 3.0
# runs an opendatahub-io fork of v0.19.1 (adds resourceAttributes.verb and --upstream-timeout) that
# the proxy does not serve: lab/README.md says what that changes. Cold build measured 2026-11-29:
# 476 s wall (3 min CPU) on 2 shared, busy cores.
build_kube-rbac-proxy() {
  have kube-rbac-proxy "${KUBE_RBAC_PROXY_VERSION}" && { log "kube-rbac-proxy ${KUBE_RBAC_PROXY_VERSION} present"; return; }
  check_pin kube-rbac-proxy "github.com/brancz/kube-rbac-proxy ${KUBE_RBAC_PROXY_VERSION}"
  wrapperbuild kube-rbac-proxy "${KUBE_RBAC_PROXY_VERSION}" kube-rbac-proxy \
    github.com/brancz/kube-rbac-proxy/cmd/kube-rbac-proxy ""
}

# MariaDB is not built: it comes from Debian, installed only when mariadbd is missing.
build_mariadb() {
  if command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ]; then
    log "mariadbd present"
    return
  fi
  if [ "$(id -u)" != 0 ]; then
    log "mariadbd is missing: install the Debian package mariadb-server (needs root)"
    return 1
  fi
  log "installing mariadb-server from Debian"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    mariadb-server mariadb-client >/dev/null
  # The lab runs its own private instance; never leave the system service running.
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet mariadb 2>/dev/null; then
    systemctl stop mariadb || true
  fi
}

TOOLS=("$@")
if [ ${#TOOLS[@]} -eq 0 ]; then
  TOOLS=(kube kine kwok minio minio-admin model-registry kserve kueue kube-rbac-proxy mariadb)
fi
for t in "${TOOLS[@]}"; do
  case "$t" in
    kube|kubectl|kine|kwok|minio|minio-admin|mc|model-registry|kserve|kueue|kube-rbac-proxy|mariadb)
      start=$SECONDS
      "build_$t"
      log "$t done in $((SECONDS - start))s" ;;
    *) log "unknown tool '$t' (known: kube kubectl kine kwok minio minio-admin mc model-registry kserve kueue kube-rbac-proxy mariadb)"; exit 2 ;;
  esac
done
