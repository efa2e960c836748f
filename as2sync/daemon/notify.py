"""systemd's notify protocol (sd_notify) in a few lines: datagrams to ``$NOTIFY_SOCKET``.

No dependency is needed: the protocol is newline-separated ``KEY=VALUE`` assignments sent as
one datagram to a unix socket (an ``@`` prefix means the abstract namespace). Outside systemd
``NOTIFY_SOCKET`` is unset and every call is a no-op.
"""

from __future__ import annotations

import os
import socket

import structlog

log = structlog.get_logger(__name__)


# A datagram to a receiver whose queue is full blocks the sender. systemd reads promptly, but
# a supervisor that does not (or a stuck one) must not freeze the thread that handles SIGTERM,
# the heartbeat and reloads: a notification that cannot go out within this is dropped, and
# while sending fails, the next ones are tried without waiting (one stall per spell, not one
# per heartbeat).
SEND_TIMEOUT_SECONDS = 1.0


class Notifier:
    def __init__(
        self,
        address: str | None = None,
        *,
        timeout: float = SEND_TIMEOUT_SECONDS,
        sock: socket.socket | None = None,
    ) -> None:
        """``address`` defaults to ``$NOTIFY_SOCKET``; ``sock`` is an unbound AF_UNIX datagram
        socket to send from (tests pass one that records its sends), made here by default."""
        address = address if address is not None else os.environ.get("NOTIFY_SOCKET")
        self._address = ("\0" + address[1:]) if address and address.startswith("@") else address
        self._sock: socket.socket | None = None
        self._failing = False
        self._timeout = timeout
        if self._address:
            self._sock = sock or socket.socket(
                socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC
            )

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def send(self, **fields: str) -> None:
        """Send ``KEY=VALUE`` lines, e.g. ``send(READY="1", STATUS="ok")``."""
        if self._sock is None or self._address is None:
            return
        payload = "\n".join(f"{k}={v.replace(chr(10), ' ')}" for k, v in fields.items())
        try:
            self._sock.settimeout(0.0 if self._failing else self._timeout)
            self._sock.sendto(payload.encode(), self._address)
        except OSError as exc:
            # systemd gone or not reading: the service itself must go on. Said once per spell,
            # not every heartbeat.
            level = log.debug if self._failing else log.warning
            level("notify.failed", error=str(exc) or type(exc).__name__, dropped=payload[:80])
            self._failing = True
        else:
            if self._failing:
                log.info("notify.recovered")
            self._failing = False

    def ready(self, status: str) -> None:
        self.send(READY="1", STATUS=status)

    def watchdog(self) -> None:
        self.send(WATCHDOG="1")

    def status(self, status: str) -> None:
        self.send(STATUS=status)

    def stopping(self) -> None:
        self.send(STOPPING="1")

    def reloading(self) -> None:
        self.send(RELOADING="1")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def watchdog_interval() -> float | None:
    """Half of ``$WATCHDOG_USEC`` in seconds (systemd's advice), if this process is watched."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or not usec.isdigit() or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 2_000_000
