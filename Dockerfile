# syntax=docker/dockerfile:1
# amistore-operator image: docker build -t amistore-operator:0.1.0 .
#
# The base is pinned by its full tag. For reproducible builds also pin the digest the tag
# resolves to when you build (docker buildx imagetools inspect python:3.11.14-slim-bookworm)
# in both FROM lines, as python:3.11.14-slim-bookworm@sha256:<digest>, and let a bot
# (Renovate/Dependabot) keep tag and digest current. Both stages must use the same image.

# --- builder: a self-contained venv with the operator and its pinned runtime dependencies.
FROM python:3.11.14-slim-bookworm AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/amistore
COPY requirements/constraints.txt requirements/constraints.txt
COPY pyproject.toml README.md ./
COPY operator/ operator/
# The wheel, as tests/deploy/test_wheel.py builds and checks it, then installed with its
# runtime dependencies; the constraints pin them to the tested versions.
RUN /opt/amistore/bin/pip wheel --no-cache-dir --no-deps --wheel-dir /wheels . \
    && PIP_CONSTRAINT=requirements/constraints.txt \
    /opt/amistore/bin/pip install --no-cache-dir /wheels/amistore_operator-*.whl \
    && /opt/amistore/bin/pip uninstall --yes pip \
    && /opt/amistore/bin/python -m compileall -q /opt/amistore/lib

# --- runtime: the interpreter from the base image plus the venv, nothing else.
FROM python:3.11.14-slim-bookworm
LABEL org.opencontainers.image.title="amistore-operator" \
      org.opencontainers.image.description="Kubernetes operator tracking EC2 AMI store tasks" \
      org.opencontainers.image.source="https://github.com/amistore/amistore-operator" \
      org.opencontainers.image.licenses="Apache-2.0"
# Same path as in the builder: the venv's scripts point at /opt/amistore/bin/python.
COPY --from=builder /opt/amistore /opt/amistore
ENV PATH=/opt/amistore/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp
# A numeric non-root UID/GID (no passwd entry needed), so runAsNonRoot can verify it.
USER 65532:65532
EXPOSE 8000 8080
# Kubernetes probes check /healthz on 8080 (deploy/base/deployment.yaml); a Docker
# HEALTHCHECK would only duplicate them and needs curl, which the image does not carry.
HEALTHCHECK NONE
ENTRYPOINT ["amistore-operator"]
