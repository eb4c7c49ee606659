#!/bin/bash
# The health of this Galera node, as one HTTP answer (socat runs this once per connection on
# port 9200, for HAProxy's httpchk) or as an exit status (the container's healthcheck):
#   200 / exit 0  the node is Synced (wsrep_local_state 4) and ready (wsrep_ready ON)
#   503 / exit 1  anything else, also when the server does not answer
# --allow-donor: a donor (state 2, giving a copy to a joining node) counts as healthy: the
# container must not be restarted in the middle of an SST, but HAProxy sends it no writes.
set -uo pipefail

allowed="4"
[[ ${1:-} == --allow-donor ]] && allowed="4 2"
# an HTTP request on stdin (from socat): read its first line, never wait long
read -r -t 1 _request || true

status=$(MYSQL_PWD="$(cat /run/secrets/mariadb_root_password 2>/dev/null)" mariadb --protocol=socket \
    -uroot -N -B --connect-timeout=2 -e "SHOW GLOBAL STATUS WHERE Variable_name IN
    ('wsrep_local_state', 'wsrep_ready', 'wsrep_local_state_comment')" 2>/dev/null)
state=$(awk '$1 == "wsrep_local_state" {print $2}' <<<"$status")
ready=$(awk '$1 == "wsrep_ready" {print $2}' <<<"$status")
comment=$(awk '$1 == "wsrep_local_state_comment" {print $2}' <<<"$status")

healthy=no
for ok in $allowed; do
    [[ $state == "$ok" && ( $ready == ON || $ok == 2 ) ]] && healthy=yes
done
body="${comment:-no answer}"
if [[ $healthy == yes ]]; then
    printf 'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s\n' \
        $((${#body} + 1)) "$body"
    exit 0
fi
printf 'HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s\n' \
    $((${#body} + 1)) "$body"
exit 1
