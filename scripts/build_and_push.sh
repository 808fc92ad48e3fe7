#!/usr/bin/env bash
# Build both images from the Dockerfile and push them, tagged VERSION:
#   $REGISTRY/examstutor-api:VERSION        (target api)
#   $REGISTRY/examstutor-pipelines:VERSION  (target pipelines)
#
#   scripts/build_and_push.sh [--dry-run] [--no-push] VERSION
#
# --no-push  build and tag only
# --dry-run  print every command instead of running it
#
# Environment: REGISTRY (default registry.examstutor.ng), CONTAINER_ENGINE
# (docker or podman, default docker), BASE_IMAGE (passed as the build argument
# when set). Log in to the registry first (docker login).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$ROOT/scripts/lib.sh"

usage() {
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}

PUSH=1
while (($#)); do
    case $1 in
        --dry-run) DRY_RUN=1; shift ;;
        --no-push) PUSH=0; shift ;;
        -h | --help) usage; exit 0 ;;
        -*) die "unknown option $1" ;;
        *) break ;;
    esac
done
(($# == 1)) || { usage >&2; exit 2; }
VERSION=$1
check_version "$VERSION"
ENGINE=${CONTAINER_ENGINE:-docker}

say "prerequisites"
need "$ENGINE"
for file in Dockerfile .dockerignore uv.lock; do
    [[ -f $ROOT/$file ]] || die "$ROOT/$file is missing"
done
REVISION=$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)
if [[ -n $(git -C "$ROOT" status --porcelain 2>/dev/null) ]]; then
    printf '%s: warning: the work tree has uncommitted changes; they go into the images\n' "${0##*/}" >&2
fi

build_args=()
[[ -z ${BASE_IMAGE:-} ]] || build_args+=(--build-arg "BASE_IMAGE=$BASE_IMAGE")
# podman writes OCI images by default, which drop HEALTHCHECK: ask for Docker's format.
[[ ${ENGINE##*/} != podman ]] || build_args+=(--format docker)

for target in api pipelines; do
    image=$REGISTRY/examstutor-$target:$VERSION
    say "build $image (target $target)"
    run "$ENGINE" build --target "$target" "${build_args[@]}" \
        --label "org.opencontainers.image.version=$VERSION" \
        --label "org.opencontainers.image.revision=$REVISION" \
        --tag "$image" --file "$ROOT/Dockerfile" "$ROOT"
done

if [[ $PUSH == 1 ]]; then
    for target in api pipelines; do
        say "push $REGISTRY/examstutor-$target:$VERSION"
        run "$ENGINE" push "$REGISTRY/examstutor-$target:$VERSION"
    done
fi
say "done: $REGISTRY/examstutor-{api,pipelines}:$VERSION"
