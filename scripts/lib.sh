# shellcheck shell=bash
# Shared by deploy.sh, rollback.sh and build_and_push.sh (sourced, not run).
#
# run CMD ARGS...  runs the command, or with DRY_RUN=1 prints it as "+ CMD ARGS"
#                  (shell-quoted where needed) and runs nothing.
# KUBECTL / HELM name the binaries; KUBE_CONTEXT, when set, is passed to both.

DRY_RUN=${DRY_RUN:-0}
KUBECTL=${KUBECTL:-kubectl}
HELM=${HELM:-helm}
REGISTRY=${REGISTRY:-registry.examstutor.ng}

die() {
    printf '%s: error: %s\n' "${0##*/}" "$*" >&2
    exit 1
}

say() {
    printf '\n==> %s\n' "$*"
}

quote() {
    local arg=$1
    if [[ $arg =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then
        printf '%s' "$arg"
    else
        printf "'%s'" "${arg//\'/\'\\\'\'}"
    fi
}

run() {
    if [[ $DRY_RUN == 1 ]]; then
        local arg line="+"
        for arg in "$@"; do
            line+=" $(quote "$arg")"
        done
        printf '%s\n' "$line"
    else
        "$@"
    fi
}

kube() {
    if [[ -n ${KUBE_CONTEXT:-} ]]; then
        run "$KUBECTL" --context "$KUBE_CONTEXT" "$@"
    else
        run "$KUBECTL" "$@"
    fi
}

helm_() {
    if [[ -n ${KUBE_CONTEXT:-} ]]; then
        run "$HELM" --kube-context "$KUBE_CONTEXT" "$@"
    else
        run "$HELM" "$@"
    fi
}

# need TOOL...: each must be on PATH (a dry run only warns: it runs none of them).
need() {
    local tool
    for tool in "$@"; do
        if ! command -v "$tool" >/dev/null 2>&1; then
            if [[ $DRY_RUN == 1 ]]; then
                printf '%s: warning: %s not found (a real run needs it)\n' "${0##*/}" "$tool" >&2
            else
                die "$tool not found: install it or set its variable (KUBECTL, HELM, CONTAINER_ENGINE)"
            fi
        fi
    done
}

# check_env ENV: dev, staging or prod.
check_env() {
    case ${1:-} in
        dev | staging | prod) ;;
        "") die "no environment given (dev, staging or prod)" ;;
        *) die "unknown environment '$1' (dev, staging or prod)" ;;
    esac
}

# check_version VERSION: an image tag, never "latest".
check_version() {
    [[ $1 =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die "'$1' is not a valid image tag"
    [[ $1 != latest ]] || die "give a version, not 'latest': runs and rollbacks need immutable tags"
}

# The API's health from inside one of its pods (the image has Python, no curl).
health_check() {
    local namespace=$1
    kube --namespace "$namespace" exec deployment/examstutor-api -- python3 -c \
        "import urllib.request; r = urllib.request.urlopen('http://127.0.0.1:8000/health/ready', timeout=5); print(r.status, r.read().decode())"
}
