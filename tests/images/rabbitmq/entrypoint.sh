#!/bin/sh
# Stand-in for the official rabbitmq image's entrypoint: RABBITMQ_DEFAULT_USER, _PASS and
# _VHOST become the default user and virtual host (guest/guest and / otherwise); guest may
# connect from other containers.
set -eu
if [ "${1:-}" = rabbitmq-server ]; then
    {
        echo "loopback_users.guest = false"
        echo "listeners.tcp.default = 5672"
        echo "log.console = true"
        [ -z "${RABBITMQ_DEFAULT_USER:-}" ] || echo "default_user = $RABBITMQ_DEFAULT_USER"
        [ -z "${RABBITMQ_DEFAULT_PASS:-}" ] || echo "default_pass = $RABBITMQ_DEFAULT_PASS"
        [ -z "${RABBITMQ_DEFAULT_VHOST:-}" ] || echo "default_vhost = $RABBITMQ_DEFAULT_VHOST"
    } >/etc/rabbitmq/rabbitmq.conf
    mkdir -p /var/lib/rabbitmq /var/log/rabbitmq
    chown rabbitmq:rabbitmq /var/lib/rabbitmq /var/log/rabbitmq
fi
exec "$@"
