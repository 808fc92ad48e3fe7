# ExamsTutor images, two targets from one workspace lock (uv.lock):
#
#   docker build --target api       -t examstutor-api:VERSION .
#   docker build --target pipelines -t examstutor-pipelines:VERSION .
#
# api        the Sanic API (examstutor-api + the core); no Dagster in it
# pipelines  the Dagster code location (examstutor-pipelines + the core), also
#            used for the Dagster webserver, daemon and run pods
#
# Both run as UID 1000 and work with a read-only root filesystem: the only
# writable paths they need are /tmp (an emptyDir in Kubernetes, a tmpfs with
# `docker run --read-only --tmpfs /tmp`) and the export volume. Named volumes
# mounted on /var/lib/examstutor/{home,exports} start owned by UID 1000.
#
# BASE_IMAGE: any Debian-family image with Python >= 3.11 as `python3`, the venv
# module, ca-certificates and tzdata. `make image-check` passes a Debian root
# filesystem made with debootstrap, since no image registry is reachable there.
ARG BASE_IMAGE=python:3.11-slim-bookworm

# --- build: uv, then the locked dependencies, then the workspace packages --------------
FROM ${BASE_IMAGE} AS build
ARG UV_VERSION=0.13.9
# UV_SYSTEM_CERTS: trust the base image's CA store (Debian's ca-certificates, plus
# whatever a TLS-inspecting proxy needs) rather than uv's bundled roots.
ENV UV_COMPILE_BYTECODE=1 \
    UV_SYSTEM_CERTS=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/uv \
    && /opt/uv/bin/pip install --no-cache-dir "uv==${UV_VERSION}"
WORKDIR /src
COPY pyproject.toml uv.lock ./
COPY platform/pyproject.toml platform/
COPY api/pyproject.toml api/
COPY definitions/pyproject.toml definitions/

FROM build AS build-api
RUN /opt/uv/bin/uv sync --frozen --no-dev --no-install-workspace --package examstutor-api
COPY platform/src platform/src
COPY api/src api/src
RUN /opt/uv/bin/uv sync --frozen --no-dev --no-editable --package examstutor-api

FROM build AS build-pipelines
RUN /opt/uv/bin/uv sync --frozen --no-dev --no-install-workspace --package examstutor-pipelines
COPY platform/src platform/src
COPY definitions/src definitions/src
RUN /opt/uv/bin/uv sync --frozen --no-dev --no-editable --package examstutor-pipelines

# --- runtime: the base image, a non-root user, no build tools --------------------------
FROM ${BASE_IMAGE} AS runtime
RUN groupadd --gid 1000 examstutor \
    && useradd --uid 1000 --gid 1000 --no-create-home --home-dir /tmp \
       --shell /usr/sbin/nologin examstutor \
    && mkdir -p /opt/examstutor /var/lib/examstutor/home /var/lib/examstutor/exports \
    && chown 1000:1000 /var/lib/examstutor/home /var/lib/examstutor/exports
# Nothing is written to the root filesystem: bytecode was compiled at build time,
# HOME and EXAMSTUTOR_HOME (dev secrets, embedded PostgreSQL) live under /tmp.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    EXAMSTUTOR_HOME=/tmp/examstutor \
    EXAMSTUTOR_EXPORT_DIR=/var/lib/examstutor/exports
WORKDIR /opt/examstutor

# --- pipelines: the Dagster code location ------------------------------------------------
FROM runtime AS pipelines
ENV DAGSTER_HOME=/opt/dagster/dagster_home
# The single-host instance (PostgreSQL storage from DAGSTER_PG_*); on Kubernetes
# the chart mounts its own dagster.yaml over it.
COPY deploy/dagster/dagster.yaml /opt/dagster/dagster_home/dagster.yaml
COPY --from=build-pipelines /opt/venv /opt/venv
USER 1000:1000
EXPOSE 3030
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["dagster", "api", "grpc-health-check", "--port", "3030"]
CMD ["dagster", "api", "grpc", "--host", "0.0.0.0", "--port", "3030", \
     "-m", "examstutor_pipelines.definitions"]

# --- api: the Sanic service (the default target) ------------------------------------------
FROM runtime AS api
COPY --from=build-api /opt/venv /opt/venv
USER 1000:1000
EXPOSE 8000
# No curl in a slim image: the probe is Python's own urllib.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python3", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health/live', timeout=4).status == 200 else 1)"]
CMD ["sanic", "examstutor_api.app:create_app", "--factory", "--host=0.0.0.0", "--port=8000", \
     "--workers=2"]
