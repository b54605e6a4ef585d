#!/bin/sh
# The container's entrypoint: on the first start, write the node's config and keys into
# the state volume ($GATEWAY_HOME, at level $GATEWAY_LEVEL); then run the given gateway
# command (default: run) with that config. SIGTERM reaches gateway directly (exec).
set -eu
home="${GATEWAY_HOME:-/var/lib/gateway}"
gateway="${GATEWAY_BIN:-gateway}"
config="$home/node.yaml"
if [ ! -f "$config" ]; then
    "$gateway" --config "$config" init --level "${GATEWAY_LEVEL:-standard}" \
        --name "${GATEWAY_NAME:-node}" --state-dir "$home/node"
fi
exec "$gateway" --config "$config" "$@"
