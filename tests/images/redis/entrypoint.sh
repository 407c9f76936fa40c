#!/bin/sh
# Stand-in for the official redis image's entrypoint: options alone run redis-server; without
# a configuration file the server listens on every address, protected mode off; it runs as
# the redis user.
set -eu
case ${1:-} in
-* | *.conf) set -- redis-server "$@" ;;
esac
if [ "${1:-}" = redis-server ]; then
    case ${2:-} in
    *.conf) ;;
    *) shift && set -- redis-server --bind 0.0.0.0 --protected-mode no "$@" ;;
    esac
    exec setpriv --reuid=redis --regid=redis --init-groups "$@"
fi
exec "$@"
