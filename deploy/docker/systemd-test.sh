#!/usr/bin/env bash
# Run deploy/systemd/as2sync.service under a real systemd (PID 1 of a podman container) and
# check what `systemd-analyze verify` cannot: that the daemon actually works inside the unit's
# sandbox (ProtectSystem=strict, PrivateUsers, MemoryDenyWriteExecute, SystemCallFilter, ...).
#
#  1. builds an image from the debootstrap base (deploy/docker/build-base.sh) with systemd,
#     procps (/bin/kill for ExecReload) and as2sync installed in /opt/as2sync;
#  2. starts it with systemd as PID 1, installs the unit, sysusers.d and tmpfiles.d files as
#     the README says, the config (root:as2sync 0640) and the password (root 0600, handed over
#     by LoadCredential=);
#  3. checks: `systemctl start` returns once the daemon sent READY=1, with a STATUS= line; a
#     file that another user of the as2sync group drops into an outbox is sent and its echo
#     arrives in inbox/ as a group-read/write file; `systemctl reload` (SIGHUP) keeps the same
#     process; WATCHDOG=1 pings keep a 4 s watchdog (a drop-in) from firing; `systemctl stop`
#     (SIGTERM) ends it with exit status 0; no restarts happened.
#
# Called by deploy/docker/test.sh (`make docker-test`); can also run on its own. Needs root.
# Environment: BASE_IMAGE, REBUILD_BASE=1, AS2SYNC_EXTRAS (default "metrics"), as for test.sh.
# The container is --privileged because systemd needs CAP_SYS_ADMIN to set up the sandbox.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$ROOT/deploy/docker
export CONTAINERS_CONF=${CONTAINERS_CONF:-$HERE/containers.conf}

BASE_IMAGE=${BASE_IMAGE:-localhost/as2sync-base:bookworm}
IMAGE=localhost/as2sync-systemd-test:$$
NAME=as2sync-systemd-test-$$
STATION=SYSTEMDTEST
PARTNER=LOOP
USERNAME=systemd-test@example.com
VENV_BIN=$ROOT/.venv/bin

STEP="starting"
WORK=""
EMULATOR_PID=""
CONTAINER_STARTED=0
IMAGE_BUILT=0

step() {
    STEP=$1
    echo "systemd-test: $STEP"
}

fail() {
    echo "systemd-test: $*" >&2
    exit 1
}

# Run a shell command inside the container.
in_box() {
    podman exec "$NAME" sh -c "$1"
}

cleanup() {
    local rc=$?
    set +e
    if [[ $rc -ne 0 && $CONTAINER_STARTED == 1 ]]; then
        echo "---- systemctl status / journal of as2sync.service ----" >&2
        in_box 'systemctl status --no-pager as2sync; journalctl --no-pager -u as2sync -n 40' >&2 2>&1
    fi
    if [[ $rc -ne 0 && -n $WORK && -f $WORK/emulator.log ]]; then
        echo "---- emulator log (last 20 lines) ----" >&2
        tail -n 20 "$WORK/emulator.log" >&2
    fi
    [[ $CONTAINER_STARTED == 1 ]] && podman rm --force --time 0 "$NAME" >/dev/null 2>&1
    if [[ -n $EMULATOR_PID ]]; then
        kill -TERM "$EMULATOR_PID" 2>/dev/null && wait "$EMULATOR_PID" 2>/dev/null
    fi
    [[ $IMAGE_BUILT == 1 ]] && podman rmi --force "$IMAGE" >/dev/null 2>&1
    [[ -n $WORK ]] && rm -rf --one-file-system "$WORK"
    if [[ $rc -eq 0 ]]; then
        echo "systemd-test: PASS"
    else
        echo "systemd-test: FAIL (while: $STEP)" >&2
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

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

[[ $EUID -eq 0 ]] || fail "needs root (rootful podman)"
[[ -x $VENV_BIN/as2sync ]] || fail "$VENV_BIN/as2sync missing: run make install first"
bash "$HERE/build-base.sh" "$BASE_IMAGE"

WORK=$(mktemp -d /var/tmp/as2sync-systemd-test.XXXXXX)

step "building $IMAGE (base + systemd + as2sync in /opt/as2sync)"
cat >"$WORK/Containerfile" <<EOF
FROM $BASE_IMAGE
RUN apt-get update -qq \\
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \\
       systemd systemd-sysv procps >/dev/null 2>&1 \\
    && apt-get clean && rm -rf /var/lib/apt/lists/*
COPY . /src
RUN python3 -m venv /opt/as2sync \\
    && /opt/as2sync/bin/pip install --quiet --no-cache-dir "/src[${AS2SYNC_EXTRAS:-metrics}]" \\
    && rm -rf /src
STOPSIGNAL SIGRTMIN+3
CMD ["/sbin/init"]
EOF
IMAGE_BUILT=1
# The context is the repository, so .dockerignore admits only the package sources.
podman build --quiet --layers=false --network host -f "$WORK/Containerfile" \
    --tag "$IMAGE" "$ROOT" >/dev/null

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

step "booting systemd in a container"
CONTAINER_STARTED=1
podman run --detach --name "$NAME" --privileged --systemd=always --network host \
    "$IMAGE" >/dev/null 2>"$WORK/podman.log" || { cat "$WORK/podman.log" >&2; fail "podman run failed"; }
booted() { [[ $(podman exec "$NAME" systemctl is-system-running 2>/dev/null) =~ ^(running|degraded)$ ]]; }
wait_for 60 "systemd to finish booting" booted
# A container's / is a private mount; systemd moves each service's credentials mount into
# /run/credentials/ and needs shared propagation for that (on a real host it already is).
in_box 'mount --make-rshared /'

step "installing the unit, the as2sync user and /srv/as2 as the README says"
in_box 'mkdir -p /etc/sysusers.d /etc/tmpfiles.d'
podman cp "$ROOT/deploy/systemd/as2sync.service" "$NAME:/etc/systemd/system/as2sync.service"
podman cp "$ROOT/deploy/systemd/as2sync.sysusers.conf" "$NAME:/etc/sysusers.d/as2sync.conf"
podman cp "$ROOT/deploy/systemd/as2sync.tmpfiles.conf" "$NAME:/etc/tmpfiles.d/as2sync.conf"
cat >"$WORK/config.yaml" <<EOF
gateway:
  url: http://127.0.0.1:$PORT/v1
  username: $USERNAME
  # No password here: LoadCredential= hands it over as \$CREDENTIALS_DIRECTORY/password.
folders:
  root: /srv/as2
outbound:
  settle_seconds: 0.5
  scan_seconds: 2
  track_seconds: 1
inbound:
  poll_seconds: 1
EOF
printf '%s' "$PASSWORD" >"$WORK/password"
podman cp "$WORK/config.yaml" "$NAME:/tmp/config.yaml"
podman cp "$WORK/password" "$NAME:/tmp/password"
rm -f "$WORK/password"
in_box "set -e
    chown root:root /etc/systemd/system/as2sync.service /etc/sysusers.d/as2sync.conf /etc/tmpfiles.d/as2sync.conf
    systemd-sysusers >/dev/null 2>&1
    systemd-tmpfiles --create /etc/tmpfiles.d/as2sync.conf
    install -d -m 0755 /etc/as2sync
    install -m 0640 -o root -g as2sync /tmp/config.yaml /etc/as2sync/config.yaml
    install -m 0600 -o root -g root /tmp/password /etc/as2sync/password
    rm -f /tmp/config.yaml /tmp/password
    useradd --create-home --groups as2sync ediapp
    runuser -u ediapp -- sh -c 'umask 007; mkdir -p /srv/as2/$STATION/$PARTNER/outbox /srv/as2/$STATION/$PARTNER/inbox'
    # A short watchdog, so that a few seconds of running show the daemon pings it in time
    # (WATCHDOG=1 at least every WATCHDOG_USEC); the shipped 60 s would take minutes.
    mkdir -p /etc/systemd/system/as2sync.service.d
    printf '[Service]\\nWatchdogSec=4s\\n' > /etc/systemd/system/as2sync.service.d/watchdog-test.conf
    systemctl daemon-reload"

step "systemctl start as2sync (returns once the daemon sent READY=1)"
START_TIME=$SECONDS
in_box 'systemctl start as2sync' || fail "systemctl start as2sync failed"
[[ $(in_box 'systemctl is-active as2sync') == active ]] || fail "as2sync.service is not active"
STATUS_TEXT=$(in_box 'systemctl show -p StatusText --value as2sync')
[[ -n $STATUS_TEXT ]] || fail "the daemon sent no STATUS= line"
echo "systemd-test:   Status: \"$STATUS_TEXT\""
MAIN_PID=$(in_box 'systemctl show -p MainPID --value as2sync')
echo "systemd-test:   $(in_box 'systemd-analyze security as2sync 2>/dev/null | tail -n 1')"

step "a file dropped by another member of the as2sync group is sent and echoed back"
PAIR=/srv/as2/$STATION/$PARTNER
in_box "runuser -u ediapp -- sh -c 'umask 007; printf \"UNB+UNOA:2+$STATION+$PARTNER\n\" > $PAIR/outbox/.order.edi.part && mv $PAIR/outbox/.order.edi.part $PAIR/outbox/order.edi'"
sent() { in_box "test -f $PAIR/sent/order.edi && test ! -e $PAIR/outbox/order.edi"; }
wait_for 60 "order.edi to move from outbox/ to sent/" sent
received() { in_box "test -f $PAIR/inbox/order.edi"; }
wait_for 60 "order.edi to arrive in inbox/" received
OWNER_MODE=$(in_box "stat -c '%U:%G %a' $PAIR/inbox/order.edi")
[[ $OWNER_MODE == "as2sync:as2sync 660" ]] || fail "inbox/order.edi is $OWNER_MODE, expected as2sync:as2sync 660 (UMask=0007, setgid tree)"
in_box "runuser -u ediapp -- sh -c 'cat $PAIR/inbox/order.edi >/dev/null && rm $PAIR/inbox/order.edi'" \
    || fail "a member of the as2sync group cannot pick up (read and remove) an inbox file"
echo "systemd-test:   sent/order.edi, inbox/order.edi ($OWNER_MODE), picked up by ediapp"

step "the watchdog (4 s here) is pinged: still the same process after 10 s"
[[ $(in_box 'systemctl show -p WatchdogUSec --value as2sync') == 4s ]] || fail "the 4 s watchdog drop-in is not in effect"
sleep_until=$((START_TIME + 10))
while ((SECONDS < sleep_until)); do sleep 0.5; done
[[ $(in_box 'systemctl show -p MainPID --value as2sync') == "$MAIN_PID" ]] || fail "the daemon was restarted (watchdog?)"
[[ $(in_box 'systemctl show -p NRestarts --value as2sync') == 0 ]] || fail "the daemon was restarted (watchdog?)"

step "systemctl reload as2sync (SIGHUP) keeps the same process"
in_box 'systemctl reload as2sync' || fail "systemctl reload as2sync failed"
sleep 1
[[ $(in_box 'systemctl is-active as2sync') == active ]] || fail "as2sync.service is not active after reload"
[[ $(in_box 'systemctl show -p MainPID --value as2sync') == "$MAIN_PID" ]] || fail "reload restarted the daemon"

step "systemctl stop as2sync (SIGTERM) ends it with exit status 0"
in_box 'systemctl stop as2sync'
RESULT=$(in_box 'systemctl show -p Result --value as2sync')
EXIT_STATUS=$(in_box 'systemctl show -p ExecMainStatus --value as2sync')
RESTARTS=$(in_box 'systemctl show -p NRestarts --value as2sync')
[[ $RESULT == success && $EXIT_STATUS == 0 ]] || fail "stop ended with Result=$RESULT ExecMainStatus=$EXIT_STATUS"
[[ $RESTARTS == 0 ]] || fail "the service was restarted $RESTARTS time(s)"
if in_box 'journalctl --no-pager -u as2sync | grep -q Traceback'; then
    fail "a traceback in the service's journal"
fi
echo "systemd-test:   Result=success, exit status 0, no restarts"
