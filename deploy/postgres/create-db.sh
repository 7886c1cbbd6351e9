#!/usr/bin/env bash
# Create (or update) the OrleansMigrate PostgreSQL role + database and apply
# deploy/postgres/schema.sql (the Orleans ADO.NET clustering / persistence /
# reminders schema, Invariant "Npgsql"). Safe to re-run: the role's password is
# (re)set, an existing database is reused, and schema.sql is idempotent.
#
# Usage: deploy/postgres/create-db.sh [options]
#   -h, --host HOST        server host or unix-socket directory  [$OMIG_PG_HOST, $PGHOST, 127.0.0.1]
#   -p, --port PORT        server port                           [$OMIG_PG_PORT, $PGPORT, 5432]
#   -S, --superuser NAME   role used to create role/database     [$OMIG_PG_SUPERUSER, postgres]
#                          its password, if one is needed: $OMIG_PG_SUPERUSER_PASSWORD or $PGPASSWORD
#                          (or ~/.pgpass)
#   -d, --db NAME          database name                         [$OMIG_DB_NAME, orleansmigrate]
#   -u, --user NAME        application role (owns the schema)    [$OMIG_DB_USER, omig]
#   -w, --password PASS    application role password (REQUIRED)  [$OMIG_DB_PASSWORD]
#       --schema FILE      schema to apply                       [<this dir>/schema.sql]
#       --check-host HOST  host for the final "app role can log in with its password"
#                          check (default: --host); use the host the app will use
#       --no-login-check   skip that check (e.g. pg_hba does not admit this machine)
#       --help             this text
# psql is taken from $PSQL, else /usr/lib/postgresql/15/bin/psql, else PATH.
#
# Example:
#   OMIG_PG_SUPERUSER_PASSWORD=secret deploy/postgres/create-db.sh \
#       --host db.internal --port 5432 --password "$APP_DB_PASSWORD"
# The app then uses: Host=...;Port=...;Database=orleansmigrate;Username=omig;Password=...
set -Eeuo pipefail

die() { printf 'create-db: ERROR: %s\n' "$*" >&2; exit 1; }
log() { printf 'create-db: %s\n' "$*" >&2; }
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2; exit "${1:-2}"; }
trap 'rc=$?; printf "create-db: ERROR: failed at line %s (exit %s): %s\n" "$LINENO" "$rc" "$BASH_COMMAND" >&2' ERR

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

HOST=${OMIG_PG_HOST:-${PGHOST:-127.0.0.1}}
PORT=${OMIG_PG_PORT:-${PGPORT:-5432}}
SUPERUSER=${OMIG_PG_SUPERUSER:-postgres}
SUPERUSER_PASSWORD=${OMIG_PG_SUPERUSER_PASSWORD:-${PGPASSWORD:-}}
DB_NAME=${OMIG_DB_NAME:-orleansmigrate}
DB_USER=${OMIG_DB_USER:-omig}
DB_PASSWORD=${OMIG_DB_PASSWORD:-}
SCHEMA="$SCRIPT_DIR/schema.sql"
CHECK_HOST=""
LOGIN_CHECK=1

need_arg() { [ $# -ge 2 ] && [ -n "$2" ] || die "option $1 needs a value (see --help)"; }
while [ $# -gt 0 ]; do
    case "$1" in
        -h|--host)       need_arg "$@"; HOST=$2; shift 2 ;;
        -p|--port)       need_arg "$@"; PORT=$2; shift 2 ;;
        -S|--superuser)  need_arg "$@"; SUPERUSER=$2; shift 2 ;;
        -d|--db)         need_arg "$@"; DB_NAME=$2; shift 2 ;;
        -u|--user)       need_arg "$@"; DB_USER=$2; shift 2 ;;
        -w|--password)   need_arg "$@"; DB_PASSWORD=$2; shift 2 ;;
        --schema)        need_arg "$@"; SCHEMA=$2; shift 2 ;;
        --check-host)    need_arg "$@"; CHECK_HOST=$2; shift 2 ;;
        --no-login-check) LOGIN_CHECK=0; shift ;;
        --help)          usage 0 ;;
        *)               log "unknown argument: $1"; usage 2 ;;
    esac
done
CHECK_HOST=${CHECK_HOST:-$HOST}

[ -n "$DB_PASSWORD" ] || { log "the application role password is required (--password or OMIG_DB_PASSWORD)"; usage 2; }
[[ "$PORT" =~ ^[0-9]+$ ]] || die "port must be a number: $PORT"
[ -r "$SCHEMA" ] || die "schema file not readable: $SCHEMA"
for n in "$DB_NAME" "$DB_USER"; do
    # Plain lower-case identifiers only: they end up unquoted in connection strings
    # and in Npgsql/psql conventions, so avoid any case-folding surprises.
    [[ "$n" =~ ^[a-z_][a-z0-9_]{0,62}$ ]] || die "database/role names must match [a-z_][a-z0-9_]*: '$n'"
done

if [ -z "${PSQL:-}" ]; then
    if [ -x /usr/lib/postgresql/15/bin/psql ]; then PSQL=/usr/lib/postgresql/15/bin/psql
    else PSQL=$(command -v psql || true); fi
fi
[ -n "$PSQL" ] && [ -x "$PSQL" ] || die "psql not found (install postgresql-client-15 or set PSQL)"

# Never read ~/.psqlrc; fail on the first SQL error; no pager/prompts.
export PGCONNECT_TIMEOUT=${PGCONNECT_TIMEOUT:-10}
# Superuser password (if any) via the standard libpq variable; unset otherwise so
# a stray PGPASSWORD does not leak into the superuser connection.
if [ -n "$SUPERUSER_PASSWORD" ]; then export PGPASSWORD="$SUPERUSER_PASSWORD"; else unset PGPASSWORD; fi
su_psql() {   # su_psql DBNAME [psql args...]
    local db=$1; shift
    "$PSQL" -X -q -v ON_ERROR_STOP=1 --no-password -h "$HOST" -p "$PORT" -U "$SUPERUSER" -d "$db" "$@"
}

log "connecting to $HOST:$PORT as $SUPERUSER"
su_psql postgres -tAc 'SELECT 1' >/dev/null \
    || die "cannot connect to $HOST:$PORT as '$SUPERUSER' (server up? password in OMIG_PG_SUPERUSER_PASSWORD/PGPASSWORD?)"
PRIVS=$(su_psql postgres -tAc "SELECT CASE WHEN rolsuper THEN 'super' WHEN rolcreaterole AND rolcreatedb THEN 'create' ELSE 'none' END FROM pg_roles WHERE rolname = current_user")
[ "$PRIVS" != none ] || die "'$SUPERUSER' needs SUPERUSER (or CREATEROLE+CREATEDB) to create the role and database"

# --- role: create or reset password (values passed as psql variables -> properly quoted)
log "ensuring role '$DB_USER'"
su_psql postgres -v role="$DB_USER" -v pw="$DB_PASSWORD" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'role', :'pw')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role')
\gexec
SELECT format('ALTER ROLE %I WITH LOGIN PASSWORD %L', :'role', :'pw')
\gexec
SQL
if [ "$PRIVS" = create ]; then
    # Not a real superuser (e.g. a managed service's admin role): it must be a member
    # of the app role to make it the database owner and to SET ROLE to it below.
    su_psql postgres -v role="$DB_USER" <<'SQL'
SELECT format('GRANT %I TO current_user', :'role')
WHERE NOT pg_has_role(current_user, :'role', 'MEMBER')
\gexec
SQL
fi

# --- database: create if missing (UTF8, C collation: Orleans never sorts by text)
log "ensuring database '$DB_NAME'"
CREATED=$(su_psql postgres -tA -v db="$DB_NAME" -v role="$DB_USER" <<'SQL'
SELECT 'exists' FROM pg_database WHERE datname = :'db';
SQL
)
if [ "$CREATED" != exists ]; then
    su_psql postgres -v db="$DB_NAME" -v role="$DB_USER" <<'SQL'
SELECT format('CREATE DATABASE %I OWNER %I ENCODING %L LC_COLLATE %L LC_CTYPE %L TEMPLATE template0',
              :'db', :'role', 'UTF8', 'C', 'C')
\gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'db')
\gexec
SQL
else
    log "database '$DB_NAME' already exists; reusing it"
fi
su_psql postgres -v db="$DB_NAME" -v role="$DB_USER" <<'SQL'
SELECT format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO %I', :'db', :'role')
\gexec
SQL
# PG15: public schema is owned by pg_database_owner; grant explicitly in case the
# database was pre-created by someone else.
su_psql "$DB_NAME" -v role="$DB_USER" <<'SQL'
SELECT format('GRANT USAGE, CREATE ON SCHEMA public TO %I', :'role')
\gexec
SQL

# --- schema: applied as the application role (SET ROLE) so it owns every object,
# in one transaction (-1): either all of schema.sql applies or nothing does.
log "applying $(basename "$SCHEMA") as role '$DB_USER'"
PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning" \
    su_psql "$DB_NAME" -1 \
    -c "SET ROLE \"$DB_USER\"" -f "$SCHEMA" \
    || die "applying $SCHEMA failed; the transaction was rolled back, nothing was changed by it"

# --- sanity: the app role can log in with its password and sees the query table
if [ "$LOGIN_CHECK" -eq 1 ]; then
    log "checking login as '$DB_USER' via $CHECK_HOST:$PORT"
    N=$(PGPASSWORD="$DB_PASSWORD" "$PSQL" -X -q -tA -v ON_ERROR_STOP=1 --no-password \
            -h "$CHECK_HOST" -p "$PORT" -U "$DB_USER" -d "$DB_NAME" \
            -c 'SELECT count(*) FROM OrleansQuery') \
        || die "role '$DB_USER' cannot log in to $CHECK_HOST:$PORT/$DB_NAME with the given password (pg_hba.conf? use --no-login-check to skip)"
    [ "$N" -gt 0 ] || die "OrleansQuery is empty after applying the schema"
    log "ok: $N Orleans queries installed in $DB_NAME"
fi
log "done: Host=<host>;Port=$PORT;Database=$DB_NAME;Username=$DB_USER;Password=<password>"
