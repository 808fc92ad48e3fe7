#!/usr/bin/env bash
# Debian packages the deployment checks call: shellcheck and docker-compose
# (which validates compose files without a Docker engine). Installs the missing
# ones with apt-get as root (or through passwordless sudo); elsewhere it says
# so and the checks that need them are skipped.
set -euo pipefail

missing=()
command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
((${#missing[@]})) || exit 0

sudo=()
if [[ $EUID -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo=(sudo -n)
    else
        echo "deploy-tools: cannot install ${missing[*]} (not root): their checks will be skipped" >&2
        exit 0
    fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "deploy-tools: no apt-get to install ${missing[*]}: their checks will be skipped" >&2
    exit 0
fi
"${sudo[@]}" apt-get update -qq
# --no-install-recommends: docker-compose would bring the Docker engine along.
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
