# guard-gateway as a container: `docker build -t guard-gateway .` from the repository root.
# Runs `guard-gateway run` as an unprivileged user; settings come from the environment or the
# env file GATEWAY_ENV_FILE names (deploy/gateway.env.example). See docs/operations.md.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY drivers ./drivers
COPY geofence ./geofence
COPY firmware-sim ./firmware-sim
RUN pip install ".[postgres]" && rm -rf /src

RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/guard-gateway \
        --create-home --shell /usr/sbin/nologin guard-gateway
USER guard-gateway
WORKDIR /var/lib/guard-gateway

# The API listens on all the container's interfaces; publish the port on an internal address.
ENV GATEWAY_API_HOST=0.0.0.0 \
    GATEWAY_API_PORT=8808
EXPOSE 8808

# Liveness: /health says 503 once the pipeline thread has ended.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('GATEWAY_API_PORT', '8808') + '/health', timeout=4)"]

ENTRYPOINT ["guard-gateway"]
CMD ["run"]
