#!/usr/bin/env bash
# Build the image and prove it end to end with Docker: the node runs as `gateway` (never
# root), its state lands in the named volume and survives a restart and a new container (the
# same onion address), the HEALTHCHECK turns healthy, and `docker stop` ends it cleanly.
#
#   scripts/docker-smoke.sh                                   # from the repo root or anywhere
#   BUILD_ARGS="--build-arg PIP_NO_INDEX=1" scripts/docker-smoke.sh   # offline: see Dockerfile
#   SKIP_BUILD=1 IMAGE=gateway scripts/docker-smoke.sh        # an image built already
#
# The node cannot join the public Tor network from a test run, so a private Tor network on
# 127.0.0.1 (`gateway testnet up`) runs in a container of the same image, and the node joins
# it through GATEWAY_TESTNET; both use the host's network (--network host), so every packet
# stays on loopback. Everything made here is removed at the end (the image is kept);
# KEEP=1 keeps the containers and volumes to look at.
set -euo pipefail
cd "$(dirname "$0")/.."
docker="${DOCKER:-docker}"
image="${IMAGE:-gateway}"
level="${LEVEL:-high}"
prefix="${PREFIX:-gateway-smoke}"
wait_max="${WAIT_MAX:-300}"  # seconds to wait for healthy (the image's start period is 240 s)
net="$prefix-testnet"
node="$prefix-node"
state="$prefix-state"
netvol="$prefix-net"

say() { printf '\n== %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
log_has() {  # log_has CONTAINER TEXT (no grep -q in a pipe: with pipefail its early exit fails)
    local out
    out=$("$docker" logs "$1" 2>&1)
    grep -q -- "$2" <<<"$out"
}
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

cleanup() {
    if [ "${KEEP:-0}" = 1 ]; then
        echo "kept: containers $node $net, volumes $state $netvol"
        return
    fi
    "$docker" rm -f "$node" "$net" >/dev/null 2>&1 || true
    "$docker" volume rm "$state" "$netvol" >/dev/null 2>&1 || true
}
trap cleanup EXIT
KEEP=0 cleanup  # what an earlier run left

if [ "${SKIP_BUILD:-0}" != 1 ]; then
    say "build $image"
    t=$(now)
    # shellcheck disable=SC2086  # BUILD_ARGS is a list of options
    "$docker" build --network host ${BUILD_ARGS:-} -t "$image" .
    echo "built in $(since "$t") s"
fi
size=$("$docker" image inspect --format '{{.Size}}' "$image")
echo "image $image: $((size / 1000000)) MB"

say "private Tor network (in a container of the image, on 127.0.0.1)"
# the volume's root takes the image's /var/lib/gateway (owner gateway), so the node's user can
# read the network's client.conf from it
"$docker" run -d --name "$net" --network host -v "$netvol:/var/lib/gateway" \
    --entrypoint sh "$image" -c 'gateway testnet up --dir /var/lib/gateway/net && exec sleep infinity' \
    >/dev/null
for _ in $(seq 1 120); do
    "$docker" exec "$net" test -f /var/lib/gateway/net/client.conf 2>/dev/null &&
        log_has "$net" "network up" && break
    [ "$("$docker" inspect --format '{{.State.Running}}' "$net")" = true ] ||
        { "$docker" logs "$net"; fail "the test network's container stopped"; }
    sleep 1
done
"$docker" logs "$net" 2>&1 | grep "network up" || fail "the test network did not come up"

run_node() {  # a new container on the state volume
    "$docker" run -d --name "$node" --network host \
        -v "$state:/var/lib/gateway" -v "$netvol:/testnet:ro" \
        -e GATEWAY_TESTNET=/testnet/net -e GATEWAY_LEVEL="$level" -e GATEWAY_NAME=smoke \
        "$image" >/dev/null
}

wait_healthy() {  # prints the seconds from $1 until docker calls the container healthy
    local t="$1" h
    while true; do
        h=$("$docker" inspect --format '{{.State.Status}}/{{.State.Health.Status}}' "$node")
        case "$h" in
            running/healthy) since "$t"; return 0 ;;
            running/*) ;;
            *) "$docker" logs "$node" >&2; fail "the node's container is $h" ;;
        esac
        [ "$(since "$t" | cut -d. -f1)" -lt "$wait_max" ] ||
            { "$docker" logs "$node" >&2; fail "not healthy after $wait_max s ($h)"; }
        sleep 1
    done
}

published_after() {  # seconds from the container's start to the node's "onion service published"
    local started ts
    started=$("$docker" inspect --format '{{.State.StartedAt}}' "$node")
    ts=$("$docker" logs "$node" 2>&1 | grep '"onion service published"' | tail -n 1 |
        sed -E 's/.*"ts": "([^"]+)".*/\1/')
    awk -v a="$(date -d "$started" +%s.%N)" -v b="$(date -d "$ts" +%s.%N)" \
        'BEGIN { printf "%.1f", b - a }'
}

onion() {
    "$docker" exec "$node" gateway --config /var/lib/gateway/node.yaml status |
        awk '/^onion:/ { print $2 }'
}

stop_node() {  # docker stop (SIGTERM); prints the seconds it took and checks the exit
    local t code
    t=$(now)
    "$docker" stop "$node" >/dev/null
    took=$(since "$t")
    code=$("$docker" inspect --format '{{.State.ExitCode}}' "$node")
    case "$code" in 0 | 143) ;; *) "$docker" logs "$node" >&2; fail "exit code $code after SIGTERM" ;; esac
    "$docker" logs "$node" 2>&1 | tail -n 3 | grep '"node stopped"' >/dev/null ||
        fail "no 'node stopped' line at the end of the log"
    echo "docker stop: $took s, exit code $code, log ends with 'node stopped'"
}

say "first start (level $level): a new node in the volume $state"
t=$(now)
run_node
first_healthy=$(wait_healthy "$t")
first_published=$(published_after)
echo "published $first_published s after the container started"
echo "healthy after $first_healthy s: $("$docker" inspect --format '{{(index .State.Health.Log 0).Output}}' "$node" | head -n 1)"
log_has "$node" "created keys" || fail "the first start made no keys"
address=$(onion)
echo "onion: $address"

say "never root"
user=$("$docker" exec "$node" id -un)
[ "$user" = gateway ] || fail "docker exec runs as $user"
"$docker" top "$node" -eo pid,uid,args
uids=$("$docker" top "$node" -eo pid,uid | awk 'NR > 1 { print $2 }' | sort -u | tr '\n' ' ')
[ "$uids" = "$("$docker" exec "$node" id -u) " ] || fail "processes run as uids $uids"
echo "every process (gateway run and its tor) runs as uid $uids(gateway)"

say "state in the volume"
"$docker" exec "$node" sh -c 'ls -ld /var/lib/gateway /var/lib/gateway/node.yaml /var/lib/gateway/node/hs/hostname'
inside=$("$docker" run --rm --entrypoint cat -v "$state:/v:ro" "$image" /v/node/hs/hostname)
[ "$inside" = "$address" ] || fail "the volume's hs/hostname says $inside, the node $address"
echo "the volume holds node.yaml and the keys of $address"

say "docker stop"
stop_node
first_stop=$took

say "docker start (same container): same address"
t=$(now)
"$docker" start "$node" >/dev/null
restart_healthy=$(wait_healthy "$t")
restart_published=$(published_after)
[ "$(onion)" = "$address" ] || fail "the address changed to $(onion)"
echo "healthy after $restart_healthy s, onion $address"
stop_node

say "a new container on the same volume: same address, keys kept"
"$docker" rm "$node" >/dev/null
t=$(now)
run_node
new_healthy=$(wait_healthy "$t")
new_published=$(published_after)
[ "$(onion)" = "$address" ] || fail "the address changed to $(onion)"
log_has "$node" "created keys" && fail "the new container made new keys"
"$docker" exec "$node" gateway --config /var/lib/gateway/node.yaml status
echo "healthy after $new_healthy s, onion $address"
stop_node

say "summary"
echo "image $image: $((size / 1000000)) MB"
echo "from docker run/start to healthy: $first_healthy s (first start), $restart_healthy s (docker start), $new_healthy s (new container)"
echo "from the container's start to the onion published: $first_published s, $restart_published s, $new_published s"
echo "(docker runs the first health check one --interval, 30 s, after the start)"
echo "docker stop: $first_stop s (first), exit code 0 or 143"
echo "onion $address kept across a restart and a new container"
echo "PASS"
