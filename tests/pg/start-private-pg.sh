#!/usr/bin/env bash
# Start a private, throw-away PostgreSQL 15 server for tests and create the
# OrleansMigrate database in it (via deploy/postgres/create-db.sh).
#
#   eval "$(tests/pg/start-private-pg.sh [BASE_DIR])"
#   ... run tests using $OMIG_PG_CONNSTR ...
#   tests/pg/stop-private-pg.sh "$OMIG_PG_DATADIR"
#
# stdout carries ONLY the `export ...` lines (so eval is safe); all progress
# and errors go to stderr. The same export lines are written to an env file
# ($BASE_DIR/pg.env unless OMIG_PG_ENV_FILE is set) for later `source`.
#
# Layout:  BASE_DIR/pgdata           cluster data dir (= OMIG_PG_DATADIR), also
#                                    holds the unix socket, server.log, initdb.log
#          BASE_DIR/pg.env           the export lines
# BASE_DIR defaults to a fresh mktemp dir; it is then removed by stop-private-pg.sh.
#
# Environment overrides (all optional):
#   OMIG_PG_PORT_START  first port to probe (default 55432; probes 200 ports)
#   OMIG_PG_BINDIR      PostgreSQL bin dir (default /usr/lib/postgresql/15/bin;
#                       installed with apt-get if missing and we are root)
#   OMIG_DB_NAME        database   (default orleansmigrate)
#   OMIG_DB_USER        app role   (default omig)
#   OMIG_DB_PASSWORD    app password (default: random)
#   OMIG_PG_ENV_FILE    where to write the export lines (default BASE_DIR/pg.env)
#   OMIG_PG_FSYNC       "on" to keep fsync (default off: test data is disposable)
#   OMIG_PG_SYNC_COMMIT "on" to keep synchronous_commit (default off). A test that crashes the server needs it: with
#                       it off, a commit already acknowledged to a grain can be lost by the crash, which no
#                       production database does (and the control plane rightly assumes never happens).
set -Eeuo pipefail

log() { printf 'start-private-pg: %s\n' "$*" >&2; }
die() { printf 'start-private-pg: ERROR: %s\n' "$*" >&2; exit 1; }
trap 'rc=$?; printf "start-private-pg: ERROR: failed at line %s (exit %s): %s\n" "$LINENO" "$rc" "$BASH_COMMAND" >&2' ERR

usage() {
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2
    exit "${1:-2}"
}

case "${1:-}" in -h|--help) usage 0 ;; esac
[ $# -le 1 ] || usage 2

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)
CREATE_DB="$REPO_ROOT/deploy/postgres/create-db.sh"
[ -f "$CREATE_DB" ] || die "missing $CREATE_DB"

PG_BINDIR=${OMIG_PG_BINDIR:-/usr/lib/postgresql/15/bin}
DB_NAME=${OMIG_DB_NAME:-orleansmigrate}
DB_USER=${OMIG_DB_USER:-omig}
DB_PASSWORD=${OMIG_DB_PASSWORD:-}
PORT_START=${OMIG_PG_PORT_START:-55432}
PG_SUPERUSER=postgres

# --- 1. PostgreSQL 15 binaries (install on a fresh Debian 12 if needed) -------
if [ ! -x "$PG_BINDIR/pg_ctl" ] || [ ! -x "$PG_BINDIR/initdb" ] || [ ! -x "$PG_BINDIR/psql" ]; then
    [ "$(id -u)" -eq 0 ] || die "$PG_BINDIR has no PostgreSQL 15 and we are not root to apt-get install postgresql-15"
    command -v apt-get >/dev/null || die "$PG_BINDIR missing and apt-get not available"
    log "installing postgresql-15 with apt-get (binaries missing in $PG_BINDIR)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update >&2 || die "apt-get update failed"
    # The package may create/start a default 'main' cluster on 5432; we do not use it.
    apt-get install -y --no-install-recommends postgresql-15 >&2 || die "apt-get install postgresql-15 failed"
    [ -x "$PG_BINDIR/pg_ctl" ] || die "postgresql-15 installed but $PG_BINDIR/pg_ctl still missing (set OMIG_PG_BINDIR?)"
fi
"$PG_BINDIR/postgres" --version | grep -q ' 15\.' || log "warning: $("$PG_BINDIR/postgres" --version) is not 15.x"

# --- 2. who runs the server (postgres refuses to run as root) -----------------
if [ "$(id -u)" -eq 0 ]; then
    id "$PG_SUPERUSER" >/dev/null 2>&1 || die "OS user '$PG_SUPERUSER' does not exist (normally created by the postgresql-15 package)"
    RUN_AS=(runuser -u "$PG_SUPERUSER" --)
    command -v runuser >/dev/null || RUN_AS=(su_wrap)
    OWNER="$PG_SUPERUSER"
else
    RUN_AS=()            # non-root: the server simply runs as the current user
    OWNER="$(id -un)"
fi
su_wrap() { local q; q=$(printf '%q ' "$@"); su -s /bin/bash "$PG_SUPERUSER" -c "$q"; }
as_owner() { if [ ${#RUN_AS[@]} -eq 0 ]; then "$@"; else "${RUN_AS[@]}" "$@"; fi; }

# --- 3. directories -------------------------------------------------------------
CREATED_BASE=0
if [ $# -eq 1 ]; then
    BASE_DIR=$1
    mkdir -p "$BASE_DIR"
    BASE_DIR=$(cd "$BASE_DIR" && pwd)
else
    BASE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/omig-pg.XXXXXX")
    CREATED_BASE=1
fi
DATADIR="$BASE_DIR/pgdata"
ENV_FILE=${OMIG_PG_ENV_FILE:-$BASE_DIR/pg.env}
[ ! -e "$DATADIR/PG_VERSION" ] || die "$DATADIR already holds a cluster; stop/remove it first (tests/pg/stop-private-pg.sh $DATADIR)"
if [ "$CREATED_BASE" -eq 1 ]; then
    # marker: lets stop-private-pg.sh remove the whole mktemp dir, not just pgdata
    : > "$BASE_DIR/.omig-private-pg"
fi
mkdir -p "$DATADIR"
chmod 700 "$DATADIR"
if [ "$(id -u)" -eq 0 ]; then
    chown "$OWNER": "$BASE_DIR" "$DATADIR"
    [ ! -e "$BASE_DIR/.omig-private-pg" ] || chown "$OWNER": "$BASE_DIR/.omig-private-pg"
    as_owner test -w "$DATADIR" || die "user '$OWNER' cannot write $DATADIR (a parent directory is not traversable for it?); pick another BASE_DIR"
fi
# unix sockets are limited to ~107 bytes of path
[ ${#DATADIR} -lt 90 ] || die "data dir path too long for a unix socket: $DATADIR"

# --- 4. initdb --------------------------------------------------------------------
log "initdb in $DATADIR (owner $OWNER)"
as_owner "$PG_BINDIR/initdb" -D "$DATADIR" -U "$PG_SUPERUSER" -E UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host=scram-sha-256 >"$BASE_DIR/initdb.log" 2>&1 \
    || { cat "$BASE_DIR/initdb.log" >&2; die "initdb failed"; }
mv "$BASE_DIR/initdb.log" "$DATADIR/initdb.log"   # keep everything of the server inside DATADIR

FSYNC=off; [ "${OMIG_PG_FSYNC:-off}" = on ] && FSYNC=on
SYNC_COMMIT=off; [ "${OMIG_PG_SYNC_COMMIT:-off}" = on ] && SYNC_COMMIT=on
# Only local connections: unix socket (trust, inside the data dir) and 127.0.0.1
# with a password (scram). Nothing on other interfaces.
as_owner tee "$DATADIR/pg_hba.conf" >/dev/null <<'EOF'
# TYPE  DATABASE  USER  ADDRESS        METHOD
local   all       all                  trust
host    all       all   127.0.0.1/32   scram-sha-256
EOF
as_owner tee -a "$DATADIR/postgresql.conf" >/dev/null <<EOF

# --- OrleansMigrate private test server (tests/pg/start-private-pg.sh) ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '$DATADIR'
max_connections = 200
shared_buffers = 64MB
fsync = $FSYNC
synchronous_commit = $SYNC_COMMIT
full_page_writes = off
logging_collector = off
log_min_messages = warning
EOF

# --- 5. pick a free port and start (retry if somebody grabs it meanwhile) ----------
port_in_use() {
    local p=$1
    if command -v ss >/dev/null 2>&1; then
        [ -n "$(ss -Htln "sport = :$p" 2>/dev/null)" ] && return 0
    fi
    # fallback / double check: can we connect to it?
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && return 0
    return 1
}

PORT=""
port=$PORT_START
for attempt in 1 2 3 4 5; do
    while port_in_use "$port"; do
        port=$((port + 1))
        [ "$port" -lt $((PORT_START + 200)) ] || die "no free port in $PORT_START..$((PORT_START + 199))"
    done
    log "starting postgres on 127.0.0.1:$port"
    if as_owner "$PG_BINDIR/pg_ctl" -D "$DATADIR" -l "$DATADIR/server.log" -w -t 60 \
            -o "-p $port" start >&2; then
        PORT=$port
        break
    fi
    log "start on port $port failed (attempt $attempt); server.log tail:"
    tail -n 5 "$DATADIR/server.log" >&2 || true
    port=$((port + 1))
done
[ -n "$PORT" ] || die "could not start postgres (see $DATADIR/server.log)"

# From here on, do not leave a running server behind if something fails.
cleanup_on_error() {
    log "stopping the server again because setup failed"
    as_owner "$PG_BINDIR/pg_ctl" -D "$DATADIR" -m immediate -w stop >&2 || true
}
trap 'rc=$?; printf "start-private-pg: ERROR: failed at line %s (exit %s): %s\n" "$LINENO" "$rc" "$BASH_COMMAND" >&2; cleanup_on_error' ERR

# --- 6. role + database + schema ------------------------------------------------------
if [ -z "$DB_PASSWORD" ]; then
    DB_PASSWORD=$(LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c 24 || true)
fi
# Superuser over the unix socket in the data dir (trust auth, no password needed).
PSQL="$PG_BINDIR/psql" "$CREATE_DB" \
    --host "$DATADIR" --port "$PORT" --superuser "$PG_SUPERUSER" \
    --db "$DB_NAME" --user "$DB_USER" --password "$DB_PASSWORD" \
    --check-host 127.0.0.1 >&2

# --- 7. tell the caller --------------------------------------------------------------
CONNSTR="Host=127.0.0.1;Port=$PORT;Database=$DB_NAME;Username=$DB_USER;Password=$DB_PASSWORD"
{
    printf 'export OMIG_PG_PORT=%q\n' "$PORT"
    printf 'export OMIG_PG_DATADIR=%q\n' "$DATADIR"
    printf 'export OMIG_PG_CONNSTR=%q\n' "$CONNSTR"
    printf 'export OMIG_PG_ENV_FILE=%q\n' "$ENV_FILE"
} > "$ENV_FILE.tmp"
mv "$ENV_FILE.tmp" "$ENV_FILE"
chmod 600 "$ENV_FILE"
log "ready: 127.0.0.1:$PORT db=$DB_NAME user=$DB_USER; env in $ENV_FILE; stop with: tests/pg/stop-private-pg.sh $DATADIR"
cat "$ENV_FILE"
