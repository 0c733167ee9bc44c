# syntax=docker/dockerfile:1
#
# EduFlow production image: Gunicorn serving the Django application, static files collected at
# build time and served by WhiteNoise, running as an unprivileged user. The same image runs the
# Celery worker and beat (see docker-compose.yml).
#
#   docker build -t eduflow .
#   docker run --rm -p 8000:8000 -e SECRET_KEY=... -e ALLOWED_HOSTS=localhost \
#       -e DATABASE_URL=postgres://... -e RUN_MIGRATIONS=1 eduflow
#
# Configuration is read from the environment at run time (README, "Configuration"); nothing
# secret is baked into the image.

ARG PYTHON_IMAGE=python:3.11-slim

# --- Stage 1: build wheels for every pinned dependency --------------------------------------------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

WORKDIR /build
COPY requirements.txt .
RUN pip wheel --no-cache-dir --wheel-dir /wheels -r requirements.txt

# --- Stage 2: runtime ----------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    EDUFLOW_DATA_DIR=/app/var \
    STATIC_ROOT=/app/staticfiles

RUN groupadd --system --gid 10001 eduflow \
    && useradd --system --uid 10001 --gid eduflow --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin eduflow

# Install from the wheels of the first stage only (no index, no compiler); the wheels are
# mounted for this one step, so they never become a layer of this image.
COPY requirements.txt /tmp/requirements.txt
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python -m venv /opt/venv \
    && pip install --no-cache-dir --no-index --find-links=/wheels -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

WORKDIR /app
COPY . .

# Static files are collected (hashed and compressed for WhiteNoise) with production settings.
# The secret key and host below exist only for this command: they are not kept in the image.
# The code is byte-compiled now because the service cannot write next to it: it stays owned by
# root (read-only for the service); only var/ (media, local data) is writable.
RUN SECRET_KEY=build-only-not-a-secret ALLOWED_HOSTS=build.invalid DJANGO_DEBUG=0 \
        EDUFLOW_DATA_DIR=/tmp/build-data \
        python manage.py collectstatic --noinput \
    && rm -rf /tmp/build-data \
    && python -m compileall -q /app \
    && mkdir -p /app/var/media \
    && chown -R eduflow:eduflow /app/var \
    && chmod 0755 /app/docker/entrypoint.sh

USER eduflow

EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "/app/docker/healthcheck.py", "/health/live/"]

ENTRYPOINT ["/app/docker/entrypoint.sh"]
CMD ["gunicorn", "--config", "eduflow/gunicorn.conf.py"]
