#!/usr/bin/env bash
# Roll ExamsTutor back in one environment: the API Deployment with
# `kubectl rollout undo`, Dagster with `helm rollback`.
#
#   scripts/rollback.sh [--dry-run] [--only api|dagster] [--dagster-revision N] ENV [REVISION]
#
# ENV       dev, staging or prod (namespace examstutor-ENV)
# REVISION  the API Deployment revision to return to (see the history this
#           prints); without it, the previous one
# --dagster-revision N  the Helm release revision for Dagster; without it, the previous one
# --only api|dagster    roll back one of the two
# --dry-run             print every command instead of running it
#
# Schema migrations are forward-only and are not undone: a rollback returns to
# code that runs on the newer schema (each migration keeps the previous release
# working). The next scripts/deploy.sh applies the manifests again.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$ROOT/scripts/lib.sh"

usage() {
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}

ONLY=""
DAGSTER_REVISION=""
while (($#)); do
    case $1 in
        --dry-run) DRY_RUN=1; shift ;;
        --only)
            [[ ${2:-} == api || ${2:-} == dagster ]] || die "--only takes api or dagster"
            ONLY=$2; shift 2 ;;
        --dagster-revision)
            [[ ${2:-} =~ ^[0-9]+$ ]] || die "--dagster-revision takes a number"
            DAGSTER_REVISION=$2; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        -*) die "unknown option $1" ;;
        *) break ;;
    esac
done
(($# >= 1 && $# <= 2)) || { usage >&2; exit 2; }
ENV=$1
REVISION=${2:-}
check_env "$ENV"
[[ -z $REVISION || $REVISION =~ ^[0-9]+$ ]] || die "REVISION must be a number"
NAMESPACE=examstutor-$ENV

say "prerequisites"
need "$KUBECTL"
[[ $ONLY == api ]] || need "$HELM"
kube config current-context
kube get namespace "$NAMESPACE"

if [[ $ONLY != dagster ]]; then
    say "API: rollout history"
    kube --namespace "$NAMESPACE" rollout history deployment/examstutor-api
    undo=(rollout undo deployment/examstutor-api)
    [[ -z $REVISION ]] || undo+=("--to-revision=$REVISION")
    say "API: rollback to ${REVISION:-the previous revision}"
    kube --namespace "$NAMESPACE" "${undo[@]}"
    kube --namespace "$NAMESPACE" rollout status deployment/examstutor-api --timeout=600s
fi

if [[ $ONLY != api ]]; then
    say "Dagster: release history"
    helm_ history dagster --namespace "$NAMESPACE" --max 10
    rollback=(rollback dagster)
    [[ -z $DAGSTER_REVISION ]] || rollback+=("$DAGSTER_REVISION")
    say "Dagster: rollback to ${DAGSTER_REVISION:-the previous revision}"
    helm_ "${rollback[@]}" --namespace "$NAMESPACE" --wait --timeout 10m
fi

if [[ $ONLY != dagster ]]; then
    say "health"
    health_check "$NAMESPACE"
fi
say "rolled back $ENV ($NAMESPACE)"
