#!/bin/sh
# Entry point of the EduFlow image: applies migrations only when asked (RUN_MIGRATIONS=1), then
# runs the given command (by default Gunicorn) in place of this shell, so it receives signals.
# docker-compose.yml applies migrations in its one-shot `migrate` service instead.
set -eu

if [ "${RUN_MIGRATIONS:-0}" = "1" ]; then
    echo "entrypoint: applying database migrations (RUN_MIGRATIONS=1)" >&2
    python manage.py migrate --noinput
fi

exec "$@"
