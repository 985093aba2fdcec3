#!/usr/bin/env bash
# Build the lab's real components from the Go module proxy.
#
#   lab/build.sh                 kube kine kwok minio model-registry (+ MariaDB from Debian)
#   lab/build.sh mc              only the MinIO client (used by a benchmark)
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
  tmp="$(mktemp -d "${BIN_DIR}/.build-${tool}.XXXXXX")"
  # shellcheck disable=SC2064
  trap "rm -rf '${tmp}'" RETURN
  log "building ${tool} ${version} (${pkg})"
  GOBIN="${tmp}" "${GO}" install -trimpath -ldflags "-s -w ${ldflags}" "${pkg}"
  finish "${tool}" "${version}" "${tmp}/${binname}"
}

build_kube() {
  have kube "${KUBERNETES_VERSION}" && { log "kube ${KUBERNETES_VERSION} present"; return; }
  local major minor tmp
  major="${KUBERNETES_VERSION#v}"; major="${major%%.*}"
  minor="${KUBERNETES_VERSION#v*.}"; minor="${minor%%.*}"
  tmp="${BIN_DIR}/.build-kube.$$"
  log "building kube ${KUBERNETES_VERSION} (apiserver, controller-manager, scheduler)"
  (cd "${LAB_DIR}/go/kube" && "${GO}" build -trimpath -o "${tmp}" -ldflags "-s -w \
      -X k8s.io/component-base/version.gitVersion=${KUBERNETES_VERSION} \
      -X k8s.io/component-base/version.gitMajor=${major} \
      -X k8s.io/component-base/version.gitMinor=${minor} \
      -X k8s.io/component-base/version.gitTreeState=clean \
      -X k8s.io/component-base/version.buildDate=1970-01-01T00:00:00Z \
      -X k8s.io/client-go/pkg/version.gitVersion=${KUBERNETES_VERSION} \
      -X k8s.io/client-go/pkg/version.gitMajor=${major} \
      -X k8s.io/client-go/pkg/version.gitMinor=${minor}" .) || { rm -f "${tmp}"; return 1; }
  finish kube "${KUBERNETES_VERSION}" "${tmp}"
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

build_mc() {
  have mc "${MC_VERSION}" && { log "mc ${MC_VERSION} present"; return; }
  goinstall mc "${MC_VERSION}" "github.com/minio/mc@${MC_VERSION}" mc ""
}

build_model-registry() {
  have model-registry "${MODEL_REGISTRY_VERSION}" && { log "model-registry ${MODEL_REGISTRY_VERSION} present"; return; }
  goinstall model-registry "${MODEL_REGISTRY_VERSION}" \
    "github.com/kubeflow/model-registry@${MODEL_REGISTRY_VERSION}" model-registry ""
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
  TOOLS=(kube kine kwok minio model-registry mariadb)
fi
for t in "${TOOLS[@]}"; do
  case "$t" in
    kube|kine|kwok|minio|mc|model-registry|mariadb)
      start=$SECONDS
      "build_$t"
      log "$t done in $((SECONDS - start))s" ;;
    *) log "unknown tool '$t' (known: kube kine kwok minio mc model-registry mariadb)"; exit 2 ;;
  esac
done
