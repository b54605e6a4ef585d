# gateway in a container: Debian's tor, the package in a venv, the node's state in a volume.
#
#   docker build -t gateway .
#   docker run -d --name gateway -v gateway-state:/var/lib/gateway -e GATEWAY_LEVEL=high gateway
#   docker exec gateway gateway status          # level, tor, onion address
#   docker logs gateway                         # JSON log lines (scrubbed as the level says)
#
# The container runs as the unprivileged user `gateway`; the first start writes
# /var/lib/gateway/node.yaml and the node's keys (its onion address) into the volume.
# Nothing is published on the host: the node is reached through Tor only. See docs/SERVICE.md.
FROM debian:bookworm-slim

RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        tor python3 python3-venv ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --user-group --home-dir /var/lib/gateway --shell /usr/sbin/nologin gateway \
    && install -d -o gateway -g gateway -m 0700 /var/lib/gateway

COPY pyproject.toml README.md /opt/gateway/src/
COPY gateway /opt/gateway/src/gateway
RUN python3 -m venv /opt/gateway/venv \
    && /opt/gateway/venv/bin/pip install --no-cache-dir /opt/gateway/src \
    && ln -s /opt/gateway/venv/bin/gateway /usr/local/bin/gateway
COPY docker/entrypoint.sh /usr/local/bin/gateway-entrypoint

ENV GATEWAY_HOME=/var/lib/gateway \
    GATEWAY_LEVEL=standard \
    PYTHONUNBUFFERED=1
VOLUME ["/var/lib/gateway"]
USER gateway
WORKDIR /var/lib/gateway

# healthy = the node runs and its onion service is published (asked through its local API)
HEALTHCHECK --interval=30s --timeout=15s --start-period=240s --retries=3 \
    CMD ["gateway", "--config", "/var/lib/gateway/node.yaml", "status", "--check"]

ENTRYPOINT ["/usr/local/bin/gateway-entrypoint"]
CMD ["run"]
