# as2sync container image: the daemon in the foreground, state and folders on volumes.
#
#   docker build -t as2sync .
#   docker run -d --name as2sync --stop-timeout 45 \
#     -v /srv/as2:/srv/as2 -v as2sync-state:/var/lib/as2sync \
#     -v /etc/as2sync/config.yaml:/etc/as2sync/config.yaml:ro \
#     -v /etc/as2sync/password:/run/secrets/as2sync_password:ro \
#     as2sync
# with `password_file: /run/secrets/as2sync_password` in the config (README, "Running in Docker").
#
# BASE_IMAGE is any Debian-like image with python3 (3.11+) and its venv module. The default
# is the official slim image; `make docker-test` passes a local debootstrap-built image
# instead, because no image registry is reachable there.
ARG BASE_IMAGE=python:3.11-slim-bookworm

# ---- builder: build the package and its dependencies into a self-contained venv ----------
FROM ${BASE_IMAGE} AS builder

# Extras baked into the image; "metrics" lets `metrics.listen` work. The emulator is left out
# of production images on purpose.
ARG AS2SYNC_EXTRAS=metrics
# pip uses the base image's own configuration (/etc/pip.conf: a PyPI mirror, if it has one).
# Behind a proxy: --build-arg HTTPS_PROXY=... (predefined build arg, kept out of the image).
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /src
# .dockerignore lets only pyproject.toml, README.md and the as2sync package through.
COPY . .
# The venv lives where it will run, so its scripts' #! lines stay valid after the copy.
# pip and setuptools are not needed at run time; removing them shrinks what can be attacked.
RUN python3 -m venv /opt/as2sync \
    && /opt/as2sync/bin/pip install --no-cache-dir "/src[${AS2SYNC_EXTRAS}]" \
    && /opt/as2sync/bin/pip uninstall --yes --quiet pip setuptools \
    && /opt/as2sync/bin/as2sync --version

# ---- final: the base image plus the venv, running as an unprivileged numeric user --------
FROM ${BASE_IMAGE}

LABEL org.opencontainers.image.title="as2sync" \
      org.opencontainers.image.description="Folder bridge to the AS2 Gateway REST API, exactly once" \
      org.opencontainers.image.licenses="MIT"

# A fixed, numeric UID/GID (not a name) so Kubernetes runAsNonRoot can check it and so
# host folders can be chowned to it: chown -R 10001:10001 /srv/as2 (or use a shared GID).
# /var/lib/as2sync and /srv/as2 are created owned by it before VOLUME, so new named
# volumes start out writable by the daemon.
# (--no-log-init: a high UID would otherwise grow /var/log/lastlog to gigabytes.)
RUN groupadd --gid 10001 as2sync \
    && useradd --uid 10001 --gid 10001 --no-create-home --no-log-init \
       --home-dir /var/lib/as2sync --shell /usr/sbin/nologin as2sync \
    && mkdir -p /var/lib/as2sync /srv/as2 /etc/as2sync \
    && chown 10001:10001 /var/lib/as2sync /srv/as2 \
    && chmod 0750 /var/lib/as2sync

COPY --from=builder /opt/as2sync /opt/as2sync

# PYTHONDONTWRITEBYTECODE: the venv is root-owned and read-only to the daemon.
# AS2SYNC_CONFIG: `docker exec <c> as2sync status` finds the config without -c.
ENV PATH=/opt/as2sync/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    AS2SYNC_CONFIG=/etc/as2sync/config.yaml

USER 10001:10001
WORKDIR /var/lib/as2sync

# state_dir (ledger, lock, heartbeat) and folders.root. Mount real storage on both: the
# ledger is what makes sends exactly-once across restarts, so it must outlive the container.
VOLUME ["/var/lib/as2sync", "/srv/as2"]

# The daemon is PID 1 here and installs its own SIGTERM/SIGINT/SIGHUP handlers: SIGTERM
# starts no new request, lets requests already sent finish within shutdown_timeout_seconds
# (default 8 s, inside docker stop's default 10 s) and exits 0. If you raise that timeout,
# give `docker stop` more: docker stop -t 45 (or stop_grace_period: 45s).
# It starts no child processes, so no init is needed to reap them; `--init` does no harm.
STOPSIGNAL SIGTERM

# Healthy only while the daemon's loops progress and the gateway answered recently.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["as2sync", "health", "-c", "/etc/as2sync/config.yaml"]

ENTRYPOINT ["as2sync"]
CMD ["run", "-c", "/etc/as2sync/config.yaml"]
