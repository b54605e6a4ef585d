#!/bin/sh
# The container's entrypoint: on the first start, write the node's config and keys into
# the state volume ($GATEWAY_HOME, at level $GATEWAY_LEVEL, named $GATEWAY_NAME; joining the
# private Tor network in the directory $GATEWAY_TESTNET if that is set, else the public
# one); then run the given gateway command (default: run) with that config. SIGTERM
# reaches gateway directly (exec).
set -eu
home="${GATEWAY_HOME:-/var/lib/gateway}"
gateway="${GATEWAY_BIN:-gateway}"
config="$home/node.yaml"
init() {
    "$gateway" --config "$config" init --level "${GATEWAY_LEVEL:-standard}" \
        --name "${GATEWAY_NAME:-node}" --state-dir "$home/node" "$@"
}
if [ ! -f "$config" ]; then
    if [ -n "${GATEWAY_TESTNET:-}" ]; then
        init --testnet "$GATEWAY_TESTNET"
    else
        init
    fi
fi
exec "$gateway" --config "$config" "$@"
