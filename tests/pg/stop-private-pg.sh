#!/usr/bin/env bash
# Stop a private PostgreSQL started by tests/pg/start-private-pg.sh and delete it.
#
#   tests/pg/stop-private-pg.sh DATADIR        (DATADIR = $OMIG_PG_DATADIR)
#
# pg_ctl stop -m fast (falls back to -m immediate), then removes DATADIR. If the
# parent directory was created by start-private-pg.sh (mktemp, marker file
# .omig-private-pg), the whole parent is removed too. Refuses to delete anything
# that is not a PostgreSQL data directory. Set OMIG_PG_KEEP=1 to stop only.
set -Eeuo pipefail

log() { printf 'stop-private-pg: %s\n' "$*" >&2; }
die() { printf 'stop-private-pg: ERROR: %s\n' "$*" >&2; exit 1; }

case "${1:-}" in
    -h|--help|"") awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2
                  [ -n "${1:-}" ] && exit 0 || exit 2 ;;
esac
[ $# -eq 1 ] || die "exactly one argument expected: DATADIR"

PG_BINDIR=${OMIG_PG_BINDIR:-/usr/lib/postgresql/15/bin}
[ -d "$1" ] || die "no such directory: $1"
DATADIR=$(cd "$1" && pwd -P)
case "$DATADIR" in /|/tmp|/var|/home|/root|/usr|/etc|/work) die "refusing to touch $DATADIR" ;; esac
[ -f "$DATADIR/PG_VERSION" ] || die "$DATADIR is not a PostgreSQL data directory (no PG_VERSION)"

OWNER=$(stat -c %U "$DATADIR")
as_owner() {
    if [ "$(id -u)" -eq 0 ] && [ "$OWNER" != root ]; then runuser -u "$OWNER" -- "$@"; else "$@"; fi
}

if [ -f "$DATADIR/postmaster.pid" ]; then
    log "stopping postgres in $DATADIR"
    if ! as_owner "$PG_BINDIR/pg_ctl" -D "$DATADIR" -m fast -w -t 60 stop >&2; then
        log "fast stop failed; trying immediate"
        if ! as_owner "$PG_BINDIR/pg_ctl" -D "$DATADIR" -m immediate -w -t 30 stop >&2; then
            # Last resort: the postmaster we started is the first line of postmaster.pid.
            PID=$(head -n 1 "$DATADIR/postmaster.pid" 2>/dev/null || true)
            if [[ "$PID" =~ ^[0-9]+$ ]] && kill -0 "$PID" 2>/dev/null \
               && tr '\0' ' ' < "/proc/$PID/cmdline" | grep -q -- "$DATADIR"; then
                log "killing postmaster $PID"
                kill -KILL "$PID"
                sleep 1
            fi
        fi
    fi
    # A live postmaster must be gone before we delete its files.
    PID=$(head -n 1 "$DATADIR/postmaster.pid" 2>/dev/null || true)
    if [[ "$PID" =~ ^[0-9]+$ ]] && kill -0 "$PID" 2>/dev/null; then
        die "postmaster $PID still running; not deleting $DATADIR"
    fi
else
    log "no postmaster.pid in $DATADIR (server not running)"
fi

if [ "${OMIG_PG_KEEP:-0}" = 1 ]; then
    log "OMIG_PG_KEEP=1: leaving $DATADIR in place"
    exit 0
fi

PARENT=$(dirname "$DATADIR")
if [ -f "$PARENT/.omig-private-pg" ]; then
    log "removing $PARENT"
    rm -rf -- "$PARENT"
else
    log "removing $DATADIR"
    rm -rf -- "$DATADIR"
    # the env file start-private-pg.sh wrote next to it (default location only)
    if [ -f "$PARENT/pg.env" ] && grep -qxF "export OMIG_PG_DATADIR=$(printf '%q' "$DATADIR")" "$PARENT/pg.env"; then
        rm -f -- "$PARENT/pg.env"
    fi
fi
