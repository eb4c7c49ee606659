#!/bin/bash
# Start one Galera node of the Swarm stack (mariadb-N), then hand over to the image's own
# entrypoint (docker-entrypoint.sh: it initialises an empty data directory with Galera off).
#
# Which node starts a new cluster (--wsrep-new-cluster), decided only while no other node is
# Synced (asked on their health port):
#   - the node with GALERA_BOOTSTRAP=yes (mariadb-1) on its very first start (empty data
#     directory: the first deploy);
#   - the node whose grastate.dat says safe_to_bootstrap: 1 (the last one to stop cleanly);
#   - the node the operator names after a crash of all three: GALERA_FORCE_BOOTSTRAP=yes
#     (`docker service update --env-add GALERA_FORCE_BOOTSTRAP=yes absensi_mariadb-N` on the
#     most advanced one, then --env-rm once the cluster is back).
# Every other start joins the running cluster (IST, or SST with mariabackup).
#
# It also starts the node's health responder on port 9200 (galera/health.sh through socat):
# HAProxy sends writes only to a node that answers 200 there.
set -euo pipefail

self=${GALERA_NODE_NAME:?set GALERA_NODE_NAME (mariadb-N)}
peers=${GALERA_PEERS:-tasks.mariadb-1 tasks.mariadb-2 tasks.mariadb-3}
# (the paths and the port can be moved for tests/image/test_data_tier_scripts.py)
datadir=${GALERA_DATADIR:-/var/lib/mysql}
secrets=${GALERA_SECRETS_DIR:-/run/secrets}
sst_cnf=${GALERA_SST_CNF:-/etc/mysql/mariadb.conf.d/99-absensi-sst.cnf}
health_port=${GALERA_HEALTH_PORT:-9200}
grastate=$datadir/grastate.dat

say() { echo "galera/start: $*" >&2; }

# mariabackup (SST donor) logs in as root through the socket; the password stays in a file
# only mysql may read, never on a command line.
( umask 077; printf '[mariadb]\nwsrep_sst_auth = root:%s\n' \
    "$(cat "$secrets/mariadb_root_password")" >"$sst_cnf" )
chown mysql:mysql "$sst_cnf"

# The health responder, as the mysql user (one short-lived process per check).
gosu mysql socat -T 5 "TCP-LISTEN:$health_port,reuseaddr,fork" EXEC:/usr/local/bin/galera-health &

synced_peer() {
    local peer answer
    for peer in $peers; do
        [[ $peer == "tasks.$self" ]] && continue
        answer=$(timeout 3 bash -c "exec 3<>/dev/tcp/$peer/$health_port &&
            printf 'GET / HTTP/1.0\r\n\r\n' >&3 && head -n1 <&3" 2>/dev/null || true)
        if [[ $answer == *" 200 "* ]]; then
            echo "$peer"
            return 0
        fi
    done
    return 1
}

bootstrap=no
if peer=$(synced_peer); then
    say "$peer is Synced: joining the cluster"
elif [[ ${GALERA_FORCE_BOOTSTRAP:-no} == yes && -f $grastate ]]; then
    say "GALERA_FORCE_BOOTSTRAP=yes: this node starts the cluster from its own data"
    sed -i 's/^safe_to_bootstrap: 0/safe_to_bootstrap: 1/' "$grastate"
    bootstrap=yes
elif [[ ! -s $grastate && ! -d $datadir/mysql && ${GALERA_BOOTSTRAP:-no} == yes ]]; then
    say "first start of the first node: a new cluster"
    bootstrap=yes
elif [[ -f $grastate ]] && grep -q '^safe_to_bootstrap: 1' "$grastate"; then
    say "this node stopped last and cleanly (safe_to_bootstrap: 1): it starts the cluster"
    bootstrap=yes
else
    say "no Synced peer yet: joining (the restart policy retries until one is)"
fi
if [[ $bootstrap == yes ]]; then
    set -- "$@" --wsrep-new-cluster
fi
exec docker-entrypoint.sh "$@" --wsrep-node-name="$self"
