#!/usr/bin/env bash
# Deploy ExamsTutor to one environment: the API with kustomize, Dagster with
# the official dagster/dagster Helm chart.
#
#   scripts/deploy.sh [--dry-run] ENV [VERSION]
#
# ENV      dev, staging or prod; everything goes to namespace examstutor-ENV
# VERSION  the image tag pushed by scripts/build_and_push.sh (both images);
#          without it, the tags checked in are deployed
# --dry-run  print every command instead of running it
#
# Order: prerequisite checks, the migration Job (`examstutor db migrate`, run
# to completion before any new code starts), `kubectl apply -k
# k8s/overlays/ENV`, `helm upgrade --install dagster`, rollout status, health
# check. The Secrets must exist first (k8s/base/secrets.template.yaml).
#
# Environment: REGISTRY (default registry.examstutor.ng), KUBECTL, HELM,
# KUBE_CONTEXT (kubeconfig context for both), DAGSTER_CHART_VERSION (1.13.27).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$ROOT/scripts/lib.sh"

DAGSTER_CHART_VERSION=${DAGSTER_CHART_VERSION:-1.13.27}
# The API image as k8s/base/kustomization.yaml names it after its own rename.
CHECKED_IN_API_IMAGE=registry.examstutor.ng/examstutor-api
SECRETS=(examstutor-secrets examstutor-migrate-db examstutor-pipelines-secrets dagster-postgresql)

usage() {
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}

while (($#)); do
    case $1 in
        --dry-run) DRY_RUN=1; shift ;;
        -h | --help) usage; exit 0 ;;
        -*) die "unknown option $1" ;;
        *) break ;;
    esac
done
(($# >= 1 && $# <= 2)) || { usage >&2; exit 2; }
ENV=$1
VERSION=${2:-}
check_env "$ENV"
[[ -z $VERSION ]] || check_version "$VERSION"
NAMESPACE=examstutor-$ENV
OVERLAY=$ROOT/k8s/overlays/$ENV

say "prerequisites"
need "$KUBECTL" "$HELM"
for file in "$OVERLAY/kustomization.yaml" "$ROOT/helm-values/values.yaml" "$ROOT/helm-values/values-$ENV.yaml"; do
    [[ -f $file ]] || die "$file is missing"
done
kube config current-context
kube get namespace "$NAMESPACE"
kube --namespace "$NAMESPACE" get secret "${SECRETS[@]}" --output name

# With a VERSION, a throwaway kustomization on top of the overlay pins the image
# (beside the overlays: kustomize takes only relative paths to them).
KUSTOMIZATION=$OVERLAY
if [[ -n $VERSION ]]; then
    KUSTOMIZATION=$(mktemp -d "$ROOT/k8s/.deploy-XXXXXX")
    trap 'rm -rf "$KUSTOMIZATION"' EXIT
    cat >"$KUSTOMIZATION/kustomization.yaml" <<YAML
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../overlays/$ENV
images:
  - name: $CHECKED_IN_API_IMAGE
    newName: $REGISTRY/examstutor-api
    newTag: "$VERSION"
YAML
    if [[ $DRY_RUN == 1 ]]; then
        printf '# %s/kustomization.yaml:\n' "$KUSTOMIZATION"
        sed 's/^/#   /' "$KUSTOMIZATION/kustomization.yaml"
    fi
fi

say "migrations (Job examstutor-migrate)"
kube --namespace "$NAMESPACE" delete job examstutor-migrate --ignore-not-found --wait=true
kube apply --kustomize "$KUSTOMIZATION" --selector examstutor.ng/phase=migrate
if ! kube --namespace "$NAMESPACE" wait --for=condition=complete --timeout=600s job/examstutor-migrate; then
    kube --namespace "$NAMESPACE" logs job/examstutor-migrate --tail=100 || true
    die "the migration Job did not complete: nothing else was deployed"
fi

say "API (kubectl apply -k k8s/overlays/$ENV)"
kube apply --kustomize "$KUSTOMIZATION"

say "Dagster (helm upgrade --install dagster)"
helm_args=(upgrade --install dagster dagster/dagster --version "$DAGSTER_CHART_VERSION"
    --namespace "$NAMESPACE"
    --values "$ROOT/helm-values/values.yaml" --values "$ROOT/helm-values/values-$ENV.yaml"
    --wait --timeout 10m)
if [[ -n $VERSION ]]; then
    for key in dagsterWebserver.image dagsterDaemon.image 'dagster-user-deployments.deployments[0].image'; do
        helm_args+=(--set-string "$key.repository=$REGISTRY/examstutor-pipelines"
            --set-string "$key.tag=$VERSION")
    done
fi
helm_ repo add dagster https://dagster-io.github.io/helm --force-update
helm_ repo update dagster
helm_ "${helm_args[@]}"

say "rollout"
kube --namespace "$NAMESPACE" rollout status deployment/examstutor-api --timeout=600s

say "health"
health_check "$NAMESPACE"
kube --namespace "$NAMESPACE" get deployments,pods,services,ingresses

say "deployed ${VERSION:-the checked-in versions} to $ENV ($NAMESPACE)"
