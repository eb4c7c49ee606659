#!/bin/bash
# The stack's nightly database backup (service `backup`, the app image): `absensi db backup`
# into /var/backups/absensi (a volume) every night at BACKUP_AT (UTC; 19:00 is 02:00 in
# Jakarta), keeping BACKUP_KEEP_DAYS days. A task that starts with no dump of the last 25 hours
# (first deploy, a restart) backs up at once. A failed backup is retried every 15 minutes and
# makes the task unhealthy meanwhile (/tmp/backup-failed, read by the stack's healthcheck).
set -uo pipefail

dir=${BACKUP_DIR:-/var/backups/absensi}
at=${BACKUP_AT:-19:00}
keep=${BACKUP_KEEP_DAYS:-14}
failed=${BACKUP_FAILED_MARK:-/tmp/backup-failed}   # the stack's healthcheck reads it

backup() {
    if absensi db backup --output-dir "$dir" --keep-days "$keep"; then
        rm -f "$failed"
    else
        echo "backup: failed; next try in 15 minutes" >&2
        touch "$failed"
    fi
}

if [[ -z $(find "$dir" -maxdepth 1 -name 'absensi-*.sql.gz' -mmin -1500 2>/dev/null) ]]; then
    backup
fi
while :; do
    while [[ -e $failed ]]; do
        sleep 900
        backup
    done
    now=$(date -u +%s)
    next=$(date -u -d "$at" +%s)
    ((next > now)) || next=$((next + 86400))
    echo "backup: next at $(date -u -d "@$next" '+%Y-%m-%d %H:%M UTC')" >&2
    sleep $((next - now))
    backup
done
