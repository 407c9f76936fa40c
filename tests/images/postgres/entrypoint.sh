#!/bin/sh
# Stand-in for the official postgres image's entrypoint: on the first start, initialises
# $PGDATA from POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB and POSTGRES_HOST_AUTH_METHOD;
# then runs the server as the postgres user.
set -eu

as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }

if [ "${1:-}" != postgres ]; then
    exec "$@"
fi
: "${PGDATA:=/var/lib/postgresql/data}"
user=${POSTGRES_USER:-postgres}
database=${POSTGRES_DB:-$user}
auth=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
mkdir -p "$PGDATA" /run/postgresql
chown postgres:postgres "$PGDATA" /run/postgresql
chmod 700 "$PGDATA"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$auth" != trust ]; then
        echo "error: the database is uninitialized and no superuser password is set:" \
            "set POSTGRES_PASSWORD, or POSTGRES_HOST_AUTH_METHOD=trust" >&2
        exit 1
    fi
    password_file=$(mktemp)
    printf '%s\n' "${POSTGRES_PASSWORD:-}" >"$password_file"
    chown postgres "$password_file"
    if [ -n "${POSTGRES_PASSWORD:-}" ]; then
        as_postgres initdb --username="$user" --pwfile="$password_file" \
            --auth-local=trust --auth-host="$auth" -D "$PGDATA" >/dev/null
    else
        as_postgres initdb --username="$user" --auth-local=trust --auth-host="$auth" \
            -D "$PGDATA" >/dev/null
    fi
    rm -f "$password_file"
    echo "host all all all $auth" >>"$PGDATA/pg_hba.conf"
    echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
    if [ "$database" != postgres ]; then
        as_postgres pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
        echo "CREATE DATABASE \"$database\"" |
            as_postgres psql -q -v ON_ERROR_STOP=1 --username="$user" --dbname=postgres
        as_postgres pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    fi
    echo "stand-in postgres: initialised $PGDATA (user $user, database $database)"
fi
exec setpriv --reuid=postgres --regid=postgres --init-groups "$@"
