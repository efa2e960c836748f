"""Run the emulator: uvicorn in a background thread, on a socket bound before it starts.

``running_emulator(settings)`` is the harness the test suite, the benchmarks and the CLI share::

    with running_emulator(EmulatorSettings(rate_limit=None)) as emu:
        httpx.post(f"{emu.base_url}/authorize", json={...})
        emu.state.seed_received(...)

The socket is bound (``SO_REUSEADDR``) before the server thread starts, so ``base_url`` is
known and connectable on return, and a restarted emulator can take over the same port at once.
Leaving the context stops the server, closing idle keep-alive connections, and joins the thread.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn
from starlette.types import ASGIApp

from as2sync.emulator.app import create_app
from as2sync.emulator.settings import EmulatorSettings
from as2sync.emulator.state import EmulatorState

STARTUP_TIMEOUT = 10.0
SHUTDOWN_TIMEOUT = 10.0


@dataclass
class RunningEmulator:
    """A started emulator. ``base_url`` ends in ``/v1``; ``admin_url`` in ``/_admin``."""

    settings: EmulatorSettings
    state: EmulatorState
    host: str
    port: int

    @property
    def root_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1"

    @property
    def admin_url(self) -> str:
        return f"{self.root_url}/_admin"


class _Server(uvicorn.Server):
    """uvicorn's server, polling every 5-10 ms instead of 100 ms when starting to stop and
    shutting down, so a test suite that starts an emulator per test does not spend its time
    waiting. The shutdown is uvicorn's own (stop listening, close idle connections, let running
    requests finish within ``timeout_graceful_shutdown``) without its fixed 100 ms pauses."""

    async def main_loop(self) -> None:
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864000
            await asyncio.sleep(0.01)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        state = getattr(self, "server_state", None)
        servers = getattr(self, "servers", None)
        if state is None or servers is None:  # a uvicorn whose internals moved: its own way
            await super().shutdown(sockets)
            return
        for server in servers:
            server.close()
        for connection in list(state.connections):
            connection.shutdown()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.config.timeout_graceful_shutdown or 0)
        while (state.connections or state.tasks) and not self.force_exit:
            if loop.time() > deadline:
                for task in state.tasks:
                    task.cancel()
                break
            await asyncio.sleep(0.005)
        for server in servers:
            await server.wait_closed()


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must say TCP explicitly: asyncio sets TCP_NODELAY on accepted sockets only then, and
    # without it every response pays ~40 ms of Nagle + delayed-ACK (headers and body are two
    # writes).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


@contextmanager
def running_emulator(
    settings: EmulatorSettings | None = None,
    *,
    clock: Callable[[], float] = time.time,
    log_level: str = "warning",
) -> Iterator[RunningEmulator]:
    """Start the emulator for the duration of the ``with`` block (see module docstring).

    ``clock`` (epoch seconds) drives tokens, timestamps and the queue; tests may inject one.
    Raises RuntimeError if the server does not come up within a few seconds.
    """
    settings = settings or EmulatorSettings()
    state = EmulatorState(settings, clock=clock)
    with serving(create_app(state), settings.host, settings.port, log_level=log_level) as port:
        yield RunningEmulator(settings, state, settings.host, port)


@contextmanager
def serving(app: ASGIApp, host: str, port: int, *, log_level: str = "warning") -> Iterator[int]:
    """Serve ``app`` on ``host:port`` (0: a free port) from a background thread for the
    duration of the ``with`` block; yields the port, connectable on return. Every front-end
    of the emulator (and a second listener such as the MFT object store) is started this way.
    Raises RuntimeError if the server does not come up within a few seconds.
    """
    sock = _bind(host, port)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        http="h11",  # the connection-drop fault relies on its transport (see middleware.py)
        lifespan="off",
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=2,
        timeout_keep_alive=30,
    )
    server = _Server(config)
    errors: list[BaseException] = []

    def serve() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # reported to the starting thread below
            errors.append(exc)

    thread = threading.Thread(target=serve, name=f"as2sync-emulator-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not server.started:
        if errors or not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError(f"emulator did not start on {host}:{port}: {errors}")
        time.sleep(0.005)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(SHUTDOWN_TIMEOUT)
        if thread.is_alive():
            server.force_exit = True
            thread.join(SHUTDOWN_TIMEOUT)
            logging.getLogger(__name__).warning("emulator thread did not stop in time")
        sock.close()
