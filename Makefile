# ExamsTutor compliance platform. Two commands: `make run` and `make test`.
# On a fresh machine with only Python >= 3.11 and make, each installs what is
# missing first: uv (into .tools/), then the workspace from uv.lock (into .venv/).

SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
INSTALLED := $(VENV)/.installed
PACKAGES := platform/src api/src definitions/src
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: run test install lint typecheck unit bench schema clean

run: install
	$(VENV)/bin/examstutor dev

test: install deploy-tools lint typecheck unit

install: $(INSTALLED)

$(UV):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is needed (set PYTHON=...)")'
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(INSTALLED): $(UV) uv.lock pyproject.toml platform/pyproject.toml api/pyproject.toml definitions/pyproject.toml
	$(UV) sync --frozen --all-packages --python $(PYTHON)
	@touch $@

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install
	$(VENV)/bin/mypy $(PACKAGES)

unit: install
	$(VENV)/bin/pytest

bench: install
	$(VENV)/bin/python bench/bench_field_encryption.py
	$(VENV)/bin/python bench/bench_audit_writer.py
	$(VENV)/bin/python bench/bench_retention.py

# Regenerate the checked-in schema.sql from a database built by the migrations.
schema: install
	$(VENV)/bin/python -m examstutor_platform.db.schema_dump > platform/src/examstutor_platform/db/schema.sql

clean:
	rm -rf $(VENV) $(TOOLS)

include deploy/deploy.mk
