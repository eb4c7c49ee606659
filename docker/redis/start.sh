#!/bin/sh
# Start one Redis server of the Swarm stack (redis-N; REDIS_NODE_NAME), as a replica of the
# current primary unless it is the primary. The Sentinels know which one that is; when none
# answers (the first deploy), REDIS_INITIAL_PRIMARY (redis-1) is. A former primary that comes
# back therefore starts as a replica of the new one. TLS only, passwords from the secrets,
# written to a private file (never on a command line), replication over TLS.
set -eu

self=${REDIS_NODE_NAME:?set REDIS_NODE_NAME (redis-N)}
master=${REDIS_MASTER_NAME:-absensi}
sentinels=${REDIS_SENTINEL_HOSTS:-sentinel-1 sentinel-2 sentinel-3}
# (movable for tests/image/test_data_tier_scripts.py)
secrets=${REDIS_SECRETS_DIR:-/run/secrets}
conf=${REDIS_CONF:-/tmp/redis.conf}
primary=""
for sentinel in $sentinels; do
    primary=$(REDISCLI_AUTH="$(cat "$secrets/sentinel_password")" timeout 3 redis-cli \
        --tls --cacert "$secrets/ca.pem" -h "$sentinel" -p 26379 --raw \
        SENTINEL get-master-addr-by-name "$master" 2>/dev/null | head -n 1) || primary=""
    # a host name, nothing else (an error reply is no answer)
    case "$primary" in *[!A-Za-z0-9._-]*) primary="" ;; esac
    [ -n "$primary" ] && break
done
if [ -z "$primary" ]; then
    primary=${REDIS_INITIAL_PRIMARY:-redis-1}
    echo "redis/start: no Sentinel answers: $primary is the primary" >&2
else
    echo "redis/start: the Sentinels name $primary as the primary" >&2
fi

umask 077
{
    echo "port 0"
    echo "tls-port 6379"
    echo "tls-cert-file $secrets/redis_cert.pem"
    echo "tls-key-file $secrets/redis_key.pem"
    echo "tls-ca-cert-file $secrets/ca.pem"
    echo "tls-auth-clients no"
    echo "tls-replication yes"
    printf 'requirepass "%s"\n' "$(cat "$secrets/redis_password")"
    printf 'masterauth "%s"\n' "$(cat "$secrets/redis_password")"
    # replicas and Sentinels name this server by its service name, which survives restarts
    echo "replica-announce-ip $self"
    echo "appendonly yes"
    echo "dir /data"
    echo "maxclients 20000"
    if [ "$primary" != "$self" ]; then
        echo "replicaof $primary 6379"
    fi
} >"$conf"
exec redis-server "$conf"
