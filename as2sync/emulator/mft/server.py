"""Run the MFT Gateway emulator: the API and its object store, two loopback listeners.

``running_mft_emulator(settings, mft)`` is the harness tests use::

    with running_mft_emulator(EmulatorSettings(rate_limit=None)) as emu:
        httpx.post(f"{emu.base_url}/authorize", json={...})
        emu.state.seed_received(...)        # the shared account's names, as for /v1
        emu.switches.update(list_marks_read=True)
        emu.state.journal.exchanges()       # what clients sent, names and headers

The object store listens on a port of its own (signed URLs point there), started first so
its address is known before the API hands out a URL. ``settings.port`` is the API's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from as2sync.emulator.mft.app import MftApi, create_mft_app
from as2sync.emulator.mft.boxes import Boxes
from as2sync.emulator.mft.objectstore import Signer, object_store_app
from as2sync.emulator.mft.recording import Recording
from as2sync.emulator.mft.sessions import RefreshTokens
from as2sync.emulator.mft.settings import MftSettings, Switches
from as2sync.emulator.middleware import GatewayMiddleware
from as2sync.emulator.server import serving
from as2sync.emulator.settings import EmulatorSettings
from as2sync.emulator.state import EmulatorState


@dataclass
class RunningMftEmulator:
    """A started MFT emulator. ``base_url`` is the API root (no version segment);
    ``admin_url`` ends in ``/_admin``; ``objects_url`` is the object store's root."""

    settings: EmulatorSettings
    state: EmulatorState
    switches: Switches
    host: str
    port: int
    objects_port: int

    def _url(self, port: int) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{port}"

    @property
    def base_url(self) -> str:
        return self._url(self.port)

    @property
    def admin_url(self) -> str:
        return f"{self.base_url}/_admin"

    @property
    def objects_url(self) -> str:
        return self._url(self.objects_port)


@contextmanager
def running_mft_emulator(
    settings: EmulatorSettings | None = None,
    mft: MftSettings | None = None,
    *,
    clock: Callable[[], float] = time.time,
    log_level: str = "warning",
) -> Iterator[RunningMftEmulator]:
    """Start the MFT emulator for the duration of the ``with`` block (see module docstring).
    ``clock`` (epoch seconds) drives tokens, URL expiry, timestamps and the queue."""
    settings = settings or EmulatorSettings()
    state = EmulatorState(settings, clock=clock)
    switches = Switches(mft or MftSettings())
    boxes = Boxes(state.store, switches)
    signer = Signer(lambda: switches.current.url_validity, clock=clock)
    refresh = RefreshTokens(lambda: switches.current.refresh_ttl, clock=clock)
    # The object store's requests are logged and faulted (drops need the middleware's hook)
    # like the API's, but are not the API's calls: no rate limit.
    objects = Recording(
        GatewayMiddleware(
            object_store_app(boxes, signer, state.account, state.fault_injector),
            state.account,
            state.fault_injector,
            state.journal,
            is_api=lambda path: True,
            rate_limited=False,
        ),
        state.journal,
        origin="objects",
    )
    with serving(objects, settings.host, 0, log_level=log_level) as objects_port:
        emu = RunningMftEmulator(settings, state, switches, settings.host, 0, objects_port)
        signer.base_url = emu.objects_url
        api = MftApi(state.account, state.store, boxes, switches, refresh, signer)
        app = create_mft_app(api, state.fault_injector, state.journal)
        with serving(app, settings.host, settings.port, log_level=log_level) as port:
            emu.port = port
            yield emu
