# syntax=docker/dockerfile:1
#
# wa-watchdog image: a wheel built in one stage, installed into a virtual environment in a
# second, and only that environment copied onto a slim Python runtime. No compiler, no build
# front-end, no source tree and no secret reaches the final image; the process runs as a fixed
# non-root uid (10001) so Kubernetes' runAsNonRoot can verify it.
#
#   docker build -t wa-watchdog:0.1.0 --build-arg VERSION=0.1.0 --build-arg REVISION="$(git rev-parse HEAD)" .
#   docker run --rm --read-only --tmpfs /tmp -p 9877:9877 -v "$PWD/wa-api-key:/run/secrets/wa-api-key:ro" \
#     -e WATCHDOG_TARGETS=prod=https://wa.example -e WA_API_KEY_FILE=/run/secrets/wa-api-key wa-watchdog:0.1.0
#
# The Python version is the one the test suite runs on; the project needs >= 3.11.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: the project's wheel only -------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# .dockerignore keeps everything else (tests, .venv, .git, local secrets) out of the context.
COPY pyproject.toml README.md ./
COPY watchdog ./watchdog
# pip fetches the build backend (hatchling, from pyproject's build-system) into an isolated
# environment that is thrown away with this stage.
RUN pip wheel --no-deps --wheel-dir /dist .

# --- install: the wheel and its runtime dependencies into /opt/venv ------------------------------
FROM ${PYTHON_IMAGE} AS install
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY --from=build /dist /dist
# --without-pip: the environment gets neither pip nor setuptools; the base image's pip
# installs into it from outside (pip --python).
RUN python -m venv --without-pip /opt/venv \
    && python -m pip --python /opt/venv/bin/python install /dist/*.whl

# --- runtime ---------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="wa-watchdog" \
      org.opencontainers.image.description="Monitoring agent for WhatsApp Business On-Premises API deployments: polls with the API key, exports to Prometheus, serves probes, raises alerts." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/wa-watchdog/wa-watchdog" \
      org.opencontainers.image.documentation="https://github.com/wa-watchdog/wa-watchdog#deploy-on-kubernetes"

# The base image's own installers are not needed at run time (the application lives in
# /opt/venv, which has no pip either): removing them leaves nothing that installs code. Then a
# fixed numeric uid/gid, no login shell, no home directory: the chart's securityContext and any
# PodSecurity "restricted" namespace rely on these numbers.
RUN python -m pip uninstall --yes --no-cache-dir pip setuptools wheel \
    && groupadd --system --gid 10001 watchdog \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin watchdog

COPY --from=install /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

USER 10001:10001
WORKDIR /tmp
EXPOSE 9877

# /livez never depends on the monitored API. Python's standard library (no curl in the image);
# the port follows WATCHDOG_LISTEN when it is set. Kubernetes ignores HEALTHCHECK and uses the
# chart's probes instead.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; port = os.environ.get('WATCHDOG_LISTEN', ':9877').rsplit(':', 1)[1]; urllib.request.urlopen(f'http://127.0.0.1:{port}/livez', timeout=4)"]

ENTRYPOINT ["watchdog"]
CMD ["run"]
