#!/bin/sh
# Stand-in for the official mariadb image's entrypoint: on the first start, initialises
# /var/lib/mysql from the MARIADB_* variables (or their MYSQL_* names); root may connect from
# any host, as in the official image.
set -eu

if [ "${1:-}" != mariadbd ]; then
    exec "$@"
fi
root_password=${MARIADB_ROOT_PASSWORD:-${MYSQL_ROOT_PASSWORD:-}}
allow_empty=${MARIADB_ALLOW_EMPTY_ROOT_PASSWORD:-${MYSQL_ALLOW_EMPTY_PASSWORD:-}}
random_root=${MARIADB_RANDOM_ROOT_PASSWORD:-${MYSQL_RANDOM_ROOT_PASSWORD:-}}
database=${MARIADB_DATABASE:-${MYSQL_DATABASE:-}}
user=${MARIADB_USER:-${MYSQL_USER:-}}
password=${MARIADB_PASSWORD:-${MYSQL_PASSWORD:-}}
datadir=/var/lib/mysql

quote() { printf "'%s'" "$(printf '%s' "$1" | sed "s/\\\\/\\\\\\\\/g; s/'/\\\\'/g")"; }

mkdir -p "$datadir" /run/mysqld
chown mysql:mysql "$datadir" /run/mysqld
set -- "$@" --user=mysql --bind-address=0.0.0.0 --skip-name-resolve
if [ ! -d "$datadir/mysql" ]; then
    if [ -z "$root_password" ] && [ -z "$allow_empty" ] && [ -z "$random_root" ]; then
        echo "error: the database is uninitialized and no root password option is set:" \
            "set MARIADB_ROOT_PASSWORD, MARIADB_ALLOW_EMPTY_ROOT_PASSWORD or" \
            "MARIADB_RANDOM_ROOT_PASSWORD" >&2
        exit 1
    fi
    if [ -n "$random_root" ] && [ -z "$root_password" ]; then
        root_password=$(head -c 18 /dev/urandom | base64)
        echo "GENERATED ROOT PASSWORD: $root_password"
    fi
    mariadb-install-db --user=mysql --datadir="$datadir" --skip-test-db \
        --auth-root-authentication-method=normal >/dev/null
    init=/run/mysqld/stand-in-init.sql
    {
        echo "DELETE FROM mysql.global_priv WHERE User = '' OR (User = 'root' AND Host <> 'localhost');"
        echo "FLUSH PRIVILEGES;"
        echo "ALTER USER 'root'@'localhost' IDENTIFIED BY $(quote "$root_password");"
        echo "CREATE USER 'root'@'%' IDENTIFIED BY $(quote "$root_password");"
        echo "GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;"
        if [ -n "$database" ]; then
            echo "CREATE DATABASE IF NOT EXISTS \`$database\`;"
        fi
        if [ -n "$user" ]; then
            echo "CREATE USER $(quote "$user")@'%' IDENTIFIED BY $(quote "$password");"
            if [ -n "$database" ]; then
                echo "GRANT ALL ON \`$database\`.* TO $(quote "$user")@'%';"
            fi
        fi
    } >"$init"
    chown mysql "$init"
    set -- "$@" --init-file="$init"
    echo "stand-in mariadb: initialised $datadir${database:+ (database $database)}"
fi
exec "$@"
