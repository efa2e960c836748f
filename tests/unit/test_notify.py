"""systemd notify protocol, against a datagram socket of our own."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from as2sync.daemon.notify import Notifier, watchdog_interval


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(2)
    yield sock, path
    sock.close()


def test_ready_sends_ready_and_status_in_one_datagram(
    notify_socket: tuple[socket.socket, str],
) -> None:
    sock, path = notify_socket
    notifier = Notifier(path)
    notifier.ready("backlog 0")
    assert sock.recv(4096).decode().splitlines() == ["READY=1", "STATUS=backlog 0"]
    notifier.watchdog()
    assert sock.recv(4096) == b"WATCHDOG=1"
    notifier.status("line one\nline two")
    assert sock.recv(4096) == b"STATUS=line one line two"


def test_abstract_namespace_address_is_supported() -> None:
    name = "@as2sync-test-notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name[1:])
    sock.settimeout(2)
    try:
        Notifier(name).stopping()
        assert sock.recv(4096) == b"STOPPING=1"
    finally:
        sock.close()


def test_without_notify_socket_every_call_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    notifier = Notifier()
    assert not notifier.enabled
    notifier.ready("x")  # must not raise


def test_vanished_socket_does_not_crash_the_service(tmp_path: Path) -> None:
    Notifier(str(tmp_path / "gone")).ready("x")


class RecordingSocket(socket.socket):
    """A real datagram socket that records, for every send, whether it could block."""

    def __init__(self) -> None:
        super().__init__(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sends: list[tuple[float | None, bool]] = []  # (timeout in force, delivered)

    def sendto(self, data: bytes, address: object) -> int:  # type: ignore[override]
        timeout = self.gettimeout()
        try:
            sent = super().sendto(data, address)  # type: ignore[call-overload]
        except OSError:
            self.sends.append((timeout, False))
            raise
        self.sends.append((timeout, True))
        return int(sent)


def test_a_supervisor_that_does_not_read_never_blocks_the_service(
    notify_socket: tuple[socket.socket, str],
) -> None:
    # Found by the soak: the harness stopped reading after READY=1, the socket's queue filled,
    # and the main thread hung in sendto, deaf to SIGTERM. Now each send gives up in time, and
    # while sending fails the next ones are dropped without waiting at all.
    sock, path = notify_socket
    spy = RecordingSocket()
    notifier = Notifier(path, timeout=0.05, sock=spy)
    for i in range(200):  # far more than a unix datagram queue holds (max_dgram_qlen)
        notifier.status(f"status {i}")
    delivered = [timeout for timeout, ok in spy.sends if ok]
    dropped = [timeout for timeout, ok in spy.sends if not ok]
    assert len(spy.sends) == 200
    assert delivered and dropped  # the queue filled up part of the way
    assert spy.sends[: len(delivered)] == [(0.05, True)] * len(delivered)  # in order, then full
    assert dropped[0] == 0.05  # the first send that found the queue full waited (once) ...
    assert dropped[1:] == [0.0] * (len(dropped) - 1)  # ... every later one gave up at once
    assert sock.recv(4096) == b"STATUS=status 0"  # what fitted was delivered, in order
    sock.setblocking(False)
    while True:  # the supervisor catches up ...
        try:
            sock.recv(4096)
        except BlockingIOError:
            break
    sock.settimeout(2)
    notifier.stopping()  # ... and hears the service again
    assert sock.recv(4096) == b"STOPPING=1"
    assert spy.sends[-1] == (0.0, True)  # tried without waiting, and it went through
    notifier.status("again")
    assert spy.sends[-1] == (0.05, True)  # back to normal: a full queue may be waited for


def test_watchdog_interval_is_half_of_watchdog_usec(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "60000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert watchdog_interval() == 30.0
    monkeypatch.setenv("WATCHDOG_PID", "1")
    assert watchdog_interval() is None
    monkeypatch.delenv("WATCHDOG_USEC")
    assert watchdog_interval() is None
