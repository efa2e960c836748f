#!/usr/bin/env bash
# `make docker-test`: build the Dockerfile with podman and run the image for real.
#
#  1. installs podman, runc and debootstrap (Debian 12 packages) if missing;
#  2. builds a local base image with debootstrap (no image registry needed) and builds the
#     Dockerfile on it with --build-arg BASE_IMAGE=...;
#  3. starts the emulator on the host (from .venv) with an echo partner;
#  4. runs the image with the folder tree and state dir mounted, the config mounted read-only
#     and the password as a podman secret (a file under /run/secrets, never an env var);
#  5. checks: a file dropped into the mounted outbox is sent and moved to sent/, the echo comes
#     back into inbox/, `as2sync health` and the image's HEALTHCHECK pass, the password is
#     not in the container's logs, and `podman stop` (SIGTERM to as2sync as PID 1) ends the
#     container with exit code 0;
#  6. runs deploy/docker/systemd-test.sh: the systemd unit, for real, under systemd as PID 1
#     of a container (skip with DOCKER_TEST_SYSTEMD=0);
#  7. removes everything it created (container, secret, emulator, temporary files, the test
#     image). The debootstrap base image is kept for the next run; DOCKER_TEST_PRUNE=1
#     removes it too.
#
# Needs root (debootstrap, rootful podman). Prints "docker-test: PASS" or "docker-test: FAIL".
# Environment: BASE_IMAGE (default localhost/as2sync-base:bookworm), REBUILD_BASE=1,
# AS2SYNC_EXTRAS (the image's extras, default "metrics"), DOCKER_TEST_PRUNE=1,
# DOCKER_TEST_SYSTEMD=0.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$ROOT/deploy/docker
export CONTAINERS_CONF=$HERE/containers.conf

BASE_IMAGE=${BASE_IMAGE:-localhost/as2sync-base:bookworm}
IMAGE=localhost/as2sync:docker-test-$$
NAME=as2sync-docker-test-$$
SECRET=as2sync-docker-test-pw-$$
STATION=DOCKERTEST
PARTNER=LOOP
USERNAME=docker-test@example.com
# The container's user (Dockerfile: USER 10001:10001) must own the mounted folders.
CONTAINER_UID=10001
VENV_BIN=$ROOT/.venv/bin

STEP="starting"
WORK=""
EMULATOR_PID=""
CONTAINER_STARTED=0
SECRET_CREATED=0
IMAGE_BUILT=0

step() {
    STEP=$1
    echo "docker-test: $STEP"
}

fail() {
    echo "docker-test: $*" >&2
    exit 1
}

cleanup() {
    local rc=$?
    set +e
    if [[ $rc -ne 0 ]]; then
        if [[ $CONTAINER_STARTED == 1 ]]; then
            echo "---- container log (last 40 lines) ----" >&2
            podman logs --tail 40 "$NAME" >&2 2>&1
        fi
        if [[ -n $WORK && -s $WORK/podman.log ]]; then
            echo "---- podman messages ----" >&2
            grep -v 'unable to get systemd connection' "$WORK/podman.log" >&2
        fi
        if [[ -n $WORK && -f $WORK/emulator.log ]]; then
            echo "---- emulator log (last 20 lines) ----" >&2
            tail -n 20 "$WORK/emulator.log" >&2
        fi
    fi
    [[ $CONTAINER_STARTED == 1 ]] && podman rm --force --time 0 "$NAME" >/dev/null 2>&1
    [[ $SECRET_CREATED == 1 ]] && podman secret rm "$SECRET" >/dev/null 2>&1
    if [[ -n $EMULATOR_PID ]]; then
        kill -TERM "$EMULATOR_PID" 2>/dev/null && wait "$EMULATOR_PID" 2>/dev/null
    fi
    [[ $IMAGE_BUILT == 1 ]] && podman rmi --force "$IMAGE" >/dev/null 2>&1
    if [[ ${DOCKER_TEST_PRUNE:-0} == 1 ]]; then
        podman rmi --force "$BASE_IMAGE" >/dev/null 2>&1
    fi
    [[ -n $WORK ]] && rm -rf --one-file-system "$WORK"
    if [[ $rc -eq 0 ]]; then
        echo "docker-test: PASS"
    else
        echo "docker-test: FAIL (while: $STEP)" >&2
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Poll COMMAND... until it succeeds or SECONDS_ pass.
wait_for() {
    local seconds=$1 description=$2
    shift 2
    local deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            fail "timed out after ${seconds}s waiting for: $description"
        fi
        sleep 0.5
    done
}

[[ $EUID -eq 0 ]] || fail "needs root (debootstrap and rootful podman): sudo make docker-test"
[[ -x $VENV_BIN/as2sync ]] || fail "$VENV_BIN/as2sync missing: run make install first"
"$VENV_BIN/as2sync" emulator --help >/dev/null || fail "as2sync emulator does not start"

step "installing podman, runc, debootstrap if missing"
missing=()
for tool in podman runc debootstrap; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

step "building the base image $BASE_IMAGE (debootstrap bookworm + python3)"
bash "$HERE/build-base.sh" "$BASE_IMAGE"

step "building $IMAGE from the Dockerfile"
# --format docker keeps HEALTHCHECK (the OCI image format has no such field).
# --network host: pip in the builder stage reaches PyPI the way this host does.
IMAGE_BUILT=1
# --layers=false: no intermediate images are left behind once the test image is removed.
podman build --quiet --layers=false --format docker --network host \
    --build-arg BASE_IMAGE="$BASE_IMAGE" \
    --build-arg AS2SYNC_EXTRAS="${AS2SYNC_EXTRAS:-metrics}" \
    --tag "$IMAGE" "$ROOT" >/dev/null

WORK=$(mktemp -d /var/tmp/as2sync-docker-test.XXXXXX)
PASSWORD=$("$VENV_BIN/python" -c 'import secrets; print(secrets.token_urlsafe(24))')
PORT=$("$VENV_BIN/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

step "starting the emulator on 127.0.0.1:$PORT"
"$VENV_BIN/as2sync" emulator --host 127.0.0.1 --port "$PORT" \
    --user "$USERNAME" --password "$PASSWORD" \
    --station "$STATION" --partner "$PARTNER:echo" \
    --echo-delay 1 --no-rate-limit >"$WORK/emulator.log" 2>&1 &
EMULATOR_PID=$!
port_open() { (: <"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }
wait_for 30 "the emulator to listen on port $PORT" port_open

step "preparing folders, state dir, config and the password secret"
PAIR=$WORK/srv/$STATION/$PARTNER
mkdir -p "$PAIR"/{outbox,inbox,sent,failed} "$WORK/state"
chown -R "$CONTAINER_UID:$CONTAINER_UID" "$WORK/srv" "$WORK/state"
cat >"$WORK/config.yaml" <<EOF
gateway:
  url: http://127.0.0.1:$PORT/v1
  username: $USERNAME
  password_file: /run/secrets/as2sync_password
state_dir: /var/lib/as2sync
folders:
  root: /srv/as2
outbound:
  settle_seconds: 0.5
  scan_seconds: 2
  track_seconds: 1
inbound:
  poll_seconds: 1
log:
  format: json
EOF
chmod 0644 "$WORK/config.yaml"
printf '%s' "$PASSWORD" >"$WORK/password"
podman secret create "$SECRET" "$WORK/password" >/dev/null
SECRET_CREATED=1
rm -f "$WORK/password"

step "running the container"
# No --init: as2sync itself is PID 1, which is what the SIGTERM check below is about.
# --network host: the emulator listens on the host's loopback.
# podman cannot schedule the HEALTHCHECK without systemd here (it logs that); the check is
# run by hand below with `podman healthcheck run`.
CONTAINER_STARTED=1
podman run --detach --name "$NAME" --network host \
    --volume "$WORK/srv:/srv/as2" \
    --volume "$WORK/state:/var/lib/as2sync" \
    --volume "$WORK/config.yaml:/etc/as2sync/config.yaml:ro" \
    --secret "$SECRET,target=as2sync_password,uid=$CONTAINER_UID,gid=$CONTAINER_UID,mode=0400" \
    "$IMAGE" >/dev/null 2>>"$WORK/podman.log" || fail "podman run failed"
running() { [[ $(podman inspect --format '{{.State.Running}}' "$NAME") == true ]]; }
running || fail "the container exited at once"

step "checking that as2sync runs as the unprivileged user"
[[ $(podman exec "$NAME" id -u) == "$CONTAINER_UID" ]] || fail "the daemon does not run as uid $CONTAINER_UID"

step "waiting for 'as2sync health' to pass"
wait_for 60 "as2sync health to exit 0" podman exec "$NAME" as2sync health -c /etc/as2sync/config.yaml
echo "docker-test:   as2sync health: $(podman exec "$NAME" as2sync health -c /etc/as2sync/config.yaml)"

step "dropping a file into the mounted outbox"
# Written under an excluded name, then renamed: the daemon never sees a half-written file.
printf 'UNB+UNOA:2+DOCKERTEST+LOOP+%s\n' "$$" >"$PAIR/outbox/.invoice-$$.edi.part"
chown "$CONTAINER_UID:$CONTAINER_UID" "$PAIR/outbox/.invoice-$$.edi.part"
mv "$PAIR/outbox/.invoice-$$.edi.part" "$PAIR/outbox/invoice-$$.edi"
sent() { [[ -f $PAIR/sent/invoice-$$.edi && ! -e $PAIR/outbox/invoice-$$.edi ]]; }
wait_for 60 "invoice-$$.edi to move from outbox/ to sent/" sent
echo "docker-test:   sent/invoice-$$.edi"

step "waiting for the echo partner's copy to arrive in inbox/"
received() { find "$PAIR/inbox" -type f -name "invoice-$$.edi*" | grep -q .; }
wait_for 60 "invoice-$$.edi to arrive in inbox/" received
cmp -s "$PAIR/sent/invoice-$$.edi" "$(find "$PAIR/inbox" -type f -name "invoice-$$.edi*" | head -n1)" \
    || fail "the file received in inbox/ differs from the one sent"
echo "docker-test:   inbox/$(cd "$PAIR/inbox" && find . -type f -name "invoice-$$.edi*" | head -n1 | cut -c3-)"
[[ -z $(ls -A "$PAIR/failed") ]] || fail "files ended up in failed/: $(ls -A "$PAIR/failed")"

step "running the image's HEALTHCHECK"
podman healthcheck run "$NAME" >/dev/null 2>>"$WORK/podman.log" \
    || fail "podman healthcheck run reported unhealthy"
[[ $(podman inspect --format '{{.State.Health.Status}}' "$NAME") == healthy ]] \
    || fail "container health is not 'healthy'"

step "checking the password is not in the container's logs"
if podman logs "$NAME" 2>&1 | grep -qF -- "$PASSWORD"; then
    fail "the password appears in the container's logs"
fi

step "stopping with SIGTERM (podman stop) and checking for exit code 0"
# podman stop sends the image's STOPSIGNAL (SIGTERM) and SIGKILLs after 45 s (exit code 137).
STOP_START=$SECONDS
podman stop --time 45 "$NAME" >/dev/null 2>>"$WORK/podman.log"
EXIT_CODE=$(podman inspect --format '{{.State.ExitCode}}' "$NAME")
[[ $EXIT_CODE == 0 ]] || fail "the container exited with $EXIT_CODE after SIGTERM, not 0"
podman logs "$NAME" 2>&1 | grep -q '"daemon.stopped"' || fail "no daemon.stopped event in the log"
echo "docker-test:   exit code 0 after $((SECONDS - STOP_START)) s"

if [[ ${DOCKER_TEST_SYSTEMD:-1} == 1 ]]; then
    step "running deploy/systemd/as2sync.service under systemd in a container (systemd-test.sh)"
    bash "$HERE/systemd-test.sh"
fi
