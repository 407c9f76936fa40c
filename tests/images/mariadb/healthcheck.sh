#!/bin/sh
# Stand-in for the official mariadb image's healthcheck.sh, for the options compose files use:
# --connect (the server accepts TCP connections, which it does only once initialised) and
# --innodb_initialized (InnoDB is available). Connects as root with the image's root password.
set -eu
query="SELECT 1"
for option in "$@"; do
    case $option in
    --connect) ;;
    --innodb_initialized)
        query="SELECT 1 FROM information_schema.ENGINES WHERE ENGINE = 'InnoDB' AND SUPPORT IN ('YES', 'DEFAULT', 'ENABLED')"
        ;;
    *)
        echo "healthcheck.sh (stand-in): $option is not supported" >&2
        exit 2
        ;;
    esac
done
answer=$(MYSQL_PWD=${MARIADB_ROOT_PASSWORD:-${MYSQL_ROOT_PASSWORD:-}} \
    mariadb --protocol=tcp --host=127.0.0.1 --user=root --batch --skip-column-names \
    --execute="$query")
[ "$answer" = 1 ]
