#!/bin/sh
# Start one Sentinel of the Swarm stack (sentinel-N; SENTINEL_NODE_NAME). Three Sentinels,
# quorum 2, watch the primary `absensi` (REDIS_MASTER_NAME) and promote a replica when it is
# gone; every app process asks them for the primary (REDIS_SENTINELS). The primary to watch
# at start: what the other Sentinels say, else REDIS_INITIAL_PRIMARY (the first deploy).
# TLS for clients, for the other Sentinels and towards Redis; passwords from the secrets.
set -eu

self=${SENTINEL_NODE_NAME:?set SENTINEL_NODE_NAME (sentinel-N)}
master=${REDIS_MASTER_NAME:-absensi}
quorum=${SENTINEL_QUORUM:-2}
sentinels=${REDIS_SENTINEL_HOSTS:-sentinel-1 sentinel-2 sentinel-3}
# (movable for tests/image/test_data_tier_scripts.py)
secrets=${REDIS_SECRETS_DIR:-/run/secrets}
conf=${SENTINEL_CONF:-/data/sentinel.conf}   # Sentinel rewrites its file: it must be writable
data_dir=$(dirname "$conf")
primary=""
for sentinel in $sentinels; do
    [ "$sentinel" = "$self" ] && continue
    primary=$(REDISCLI_AUTH="$(cat "$secrets/sentinel_password")" timeout 3 redis-cli \
        --tls --cacert "$secrets/ca.pem" -h "$sentinel" -p 26379 --raw \
        SENTINEL get-master-addr-by-name "$master" 2>/dev/null | head -n 1) || primary=""
    # a host name, nothing else (an error reply is no answer)
    case "$primary" in *[!A-Za-z0-9._-]*) primary="" ;; esac
    [ -n "$primary" ] && break
done
[ -n "$primary" ] || primary=${REDIS_INITIAL_PRIMARY:-redis-1}
# Sentinel refuses a primary whose name does not resolve yet (its task is starting).
waited=0
until getent hosts "$primary" >/dev/null; do
    [ "$waited" -ge 120 ] && { echo "sentinel: $primary does not resolve" >&2; exit 69; }
    sleep 2
    waited=$((waited + 2))
done
echo "sentinel: watching $primary as the primary of $master (quorum $quorum)" >&2

umask 077
{
    echo "port 0"
    echo "tls-port 26379"
    echo "tls-cert-file $secrets/redis_cert.pem"
    echo "tls-key-file $secrets/redis_key.pem"
    echo "tls-ca-cert-file $secrets/ca.pem"
    echo "tls-auth-clients no"
    echo "tls-replication yes"
    echo "dir $data_dir"
    echo "sentinel resolve-hostnames yes"
    echo "sentinel announce-hostnames yes"
    echo "sentinel announce-ip $self"
    printf 'requirepass "%s"\n' "$(cat "$secrets/sentinel_password")"
    printf 'sentinel sentinel-pass "%s"\n' "$(cat "$secrets/sentinel_password")"
    echo "sentinel monitor $master $primary 6379 $quorum"
    printf 'sentinel auth-pass %s "%s"\n' "$master" "$(cat "$secrets/redis_password")"
    echo "sentinel down-after-milliseconds $master 5000"
    echo "sentinel failover-timeout $master 60000"
    echo "sentinel parallel-syncs $master 1"
} >"$conf"
exec redis-server "$conf" --sentinel
