#!/usr/bin/env bash
# `make image-check`: build both images without a Docker engine and prove the
# API image serves. Not part of `make test`: it takes minutes and gigabytes.
#
#   1. podman and debootstrap from Debian's packages (installed when missing);
#   2. a Debian bookworm root filesystem made with debootstrap, imported as the
#      base image (no image registry is reachable here, only PyPI and Debian);
#   3. `podman build --target api` and `--target pipelines` with BASE_IMAGE set
#      to it;
#   4. checks on the images: UID 1000, no Dagster in the API image, the
#      pipelines image imports its code location;
#   5. the embedded PostgreSQL (from the project's .venv) on 127.0.0.1, the
#      migration run from the API image, then the API image's own command,
#      read-only root filesystem, no capabilities, EXAMSTUTOR_ENV=prod, until
#      GET /health/ready answers 200; then the image's HEALTHCHECK.
#
# Environment: IMAGE_CHECK_DIR (work folder, default .tools/image-check),
# IMAGE_CHECK_PG_PORT (default 15432), DEBIAN_MIRROR, IMAGE_CHECK_KEEP=1 to
# keep the API container and PostgreSQL running afterwards.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="${IMAGE_CHECK_DIR:-$ROOT/.tools/image-check}"
PG_PORT="${IMAGE_CHECK_PG_PORT:-15432}"
API_PORT=8000
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
BASE_TAG="localhost/examstutor-base:bookworm"
API_TAG="localhost/examstutor-api:check"
PIPELINES_TAG="localhost/examstutor-pipelines:check"
CONTAINER="examstutor-api-check"
PYTHON="$ROOT/.venv/bin/python"

say() { printf '\n== %s\n' "$*"; }
fail() { printf 'image-check: %s\n' "$*" >&2; exit 1; }
elapsed() { printf '%ds' "$((SECONDS - $1))"; }

[[ -x "$PYTHON" ]] || fail "$PYTHON is missing: run \`make install\` first"
mkdir -p "$WORK"

say "tools"
missing=()
command -v podman >/dev/null || missing+=(podman)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if ((${#missing[@]})); then
    [[ $EUID -eq 0 ]] || fail "needs ${missing[*]} (apt-get install ${missing[*]}, as root)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
podman --version
debootstrap --version

say "base image $BASE_TAG (debootstrap bookworm, minbase)"
t=$SECONDS
if podman image exists "$BASE_TAG"; then
    echo "already built"
else
    ROOTFS="$WORK/rootfs"
    if [[ ! -f "$WORK/rootfs.complete" ]]; then
        rm -rf "$ROOTFS"
        debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates,tzdata \
            bookworm "$ROOTFS" "$MIRROR"
        touch "$WORK/rootfs.complete"
    fi
    # This machine reaches PyPI through a TLS-inspecting proxy whose CA is in the
    # host's bundle: the throwaway base image trusts the same CAs as the host.
    cp /etc/ssl/certs/ca-certificates.crt "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
    rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*
    tar -C "$ROOTFS" -c . | podman import --change 'CMD ["python3"]' - "$BASE_TAG"
fi
echo "base image: $(elapsed "$t")"

build() {
    local target=$1 tag=$2 t=$SECONDS
    say "podman build --target $target"
    podman build --format docker --target "$target" --build-arg "BASE_IMAGE=$BASE_TAG" \
        --tag "$tag" --file "$ROOT/Dockerfile" "$ROOT"
    echo "$target image: built in $(elapsed "$t"), $(podman image inspect --format '{{.Size}}' "$tag") bytes"
}
build api "$API_TAG"
build pipelines "$PIPELINES_TAG"

# This sandbox refuses to raise RLIMIT_NPROC or RLIMIT_NOFILE to podman's
# defaults: ask for what the host already allows.
podman_run=(podman run --ulimit "nofile=$(ulimit -Hn):$(ulimit -Hn)" --ulimit nproc=4096:4096)
# One-off commands need no health check (podman would try to schedule it with systemd).
once=("${podman_run[@]}" --rm --no-healthcheck)

say "image checks"
for tag in "$API_TAG" "$PIPELINES_TAG"; do
    user=$(podman image inspect --format '{{.Config.User}}' "$tag")
    [[ $user == "1000:1000" ]] || fail "$tag runs as '$user', not 1000:1000"
    echo "$tag: USER $user, $(podman image inspect --format '{{.Size}}' "$tag") bytes"
done
podman image inspect --format '{{json .Config.Healthcheck}}' "$API_TAG"
"${once[@]}" --read-only --tmpfs /tmp "$API_TAG" python3 -c '
import importlib.util, sys
present = [m for m in ("dagster", "dagster_k8s", "dagster_webserver") if importlib.util.find_spec(m)]
if present:
    sys.exit(f"the API image carries {present}")
import examstutor_api.app, examstutor_platform
print("api image: examstutor_api imports, no dagster")'
"${once[@]}" --read-only --tmpfs /tmp "$PIPELINES_TAG" python3 -c '
import importlib.util, sys
import dagster, dagster_k8s, dagster_postgres, psycopg2, examstutor_pipelines
present = [m for m in ("sanic", "examstutor_api") if importlib.util.find_spec(m)]
if present:
    sys.exit(f"the pipelines image carries {present}")
print("pipelines image: dagster", dagster.__version__, "dagster-k8s", dagster_k8s.__version__, "no sanic")'
if [[ -f "$ROOT/definitions/src/examstutor_pipelines/definitions.py" ]]; then
    "${once[@]}" --read-only --tmpfs /tmp "$PIPELINES_TAG" \
        python3 -c 'import examstutor_pipelines.definitions as d; print("code location loads:", type(d.defs).__name__)'
else
    echo "definitions/src/examstutor_pipelines/definitions.py does not exist yet: code location not loaded"
fi

say "embedded PostgreSQL on 127.0.0.1:$PG_PORT"
pg() {
    "$PYTHON" - "$WORK/pg" "$PG_PORT" "$1" <<'PY'
import asyncio, sys
from pathlib import Path
from examstutor_platform.db import EmbeddedPostgres
from examstutor_platform.db.location import ensure_databases
server = EmbeddedPostgres(Path(sys.argv[1]), port=int(sys.argv[2]))
if sys.argv[3] == "start":
    server.start()
    asyncio.run(ensure_databases(server.tcp_url(), ("examstutor",)))
    print(server.tcp_url("examstutor"))
else:
    server.stop()
PY
}
cleanup() {
    if [[ ${IMAGE_CHECK_KEEP:-} != 1 ]]; then
        podman rm -f "$CONTAINER" >/dev/null 2>&1 || true
        pg stop || true
    fi
}
trap cleanup EXIT
pg stop >/dev/null 2>&1 || true
rm -rf "$WORK/pg"    # a fresh database: the migrations run from the image, all of them
DATABASE_URL=$(pg start)
echo "$DATABASE_URL"

ENV_FILE="$WORK/api.env"
(
    umask 077
    "$PYTHON" - "$DATABASE_URL" >"$ENV_FILE" <<'PY'
import secrets, sys
from examstutor_platform.settings import b64url_encode, new_kek
print("EXAMSTUTOR_ENV=prod")
print(f"EXAMSTUTOR_DATABASE_URL={sys.argv[1]}")
print(f"EXAMSTUTOR_KEKS={new_kek('check-1')}")
for name in ("INDEX_KEY", "PSEUDONYM_KEY", "SIGNING_KEY"):
    print(f"EXAMSTUTOR_{name}={b64url_encode(secrets.token_bytes(32))}")
print(f"EXAMSTUTOR_JWT_SECRET={secrets.token_urlsafe(48)}")
PY
)
hardened=(--network host --read-only --tmpfs /tmp --cap-drop ALL
          --security-opt no-new-privileges --env-file "$ENV_FILE")

say "migrations from the API image (examstutor db migrate)"
"${once[@]}" "${hardened[@]}" "$API_TAG" examstutor db migrate

say "API image, its own command, on 127.0.0.1:$API_PORT"
if "$PYTHON" -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1', $API_PORT)) != 0)"; then
    fail "127.0.0.1:$API_PORT is in use (is \`make run\` running?)"
fi
podman rm -f "$CONTAINER" >/dev/null 2>&1 || true
t=$SECONDS
"${podman_run[@]}" -d --health-interval disable --name "$CONTAINER" "${hardened[@]}" "$API_TAG" >/dev/null
status=$("$PYTHON" - "$API_PORT" <<'PY'
import sys, time, urllib.error, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}/health/ready"
deadline, last = time.monotonic() + 120, "no answer"
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            print(response.status, response.read().decode())
            break
    except urllib.error.HTTPError as exc:
        last = f"{exc.code} {exc.read().decode()}"
    except OSError as exc:
        last = str(exc)
    time.sleep(1)
else:
    print(last)
PY
)
echo "GET /health/ready -> $status (after $(elapsed "$t"))"
if [[ $status != 200* ]]; then
    podman logs "$CONTAINER" | tail -50
    fail "/health/ready did not answer 200"
fi
podman healthcheck run "$CONTAINER" && echo "HEALTHCHECK (the image's own, run by podman): healthy"
echo "API process: $(podman exec "$CONTAINER" id)"
podman exec "$CONTAINER" python3 -c 'import urllib.request as u; print("GET /health/live ->", u.urlopen("http://127.0.0.1:8000/health/live").status)'
if podman exec "$CONTAINER" touch /opt/examstutor/probe 2>/dev/null; then
    fail "the root filesystem is writable"
fi
echo "root filesystem: read-only (touch /opt/examstutor/probe refused)"

if [[ -f "$ROOT/definitions/src/examstutor_pipelines/definitions.py" ]]; then
    say "pipelines image, its own command (dagster api grpc on 127.0.0.1:3030)"
    podman rm -f "$CONTAINER-pipelines" >/dev/null 2>&1 || true
    "${podman_run[@]}" -d --health-interval disable --name "$CONTAINER-pipelines" \
        "${hardened[@]}" "$PIPELINES_TAG" >/dev/null
    for _ in $(seq 60); do
        podman healthcheck run "$CONTAINER-pipelines" >/dev/null 2>&1 && break
        sleep 2
    done
    if podman healthcheck run "$CONTAINER-pipelines"; then
        echo "code server HEALTHCHECK (dagster api grpc-health-check): healthy"
    else
        podman logs "$CONTAINER-pipelines" | tail -30
        podman rm -f "$CONTAINER-pipelines" >/dev/null
        fail "the code server did not become healthy"
    fi
    podman rm -f "$CONTAINER-pipelines" >/dev/null
fi

say "image-check passed in $(elapsed 0)"
