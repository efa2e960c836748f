"""One emulated account's parts, wired together, and the names its users call.

The parts, each with its own lock (documented where it lives): :class:`Account` (credentials,
tokens, stations, partners, rate limit), :class:`MessageStore` (messages, their life cycle and
persistence), :class:`FaultInjector` (fault knobs and their seeded random sequence) and
:class:`Journal` (request log, submissions, admin overview); :class:`Folders` is the ``/v1``
API's view of the store. An API front-end takes the parts it needs (``app.create_app`` hands
them out); a second front-end shares the same parts, so both serve one account.

Locks are taken in one order only: store, then account, then data dir; the fault injector's and
the journal's request-log locks are taken alone. No part calls into one earlier in that order.

:class:`EmulatorState` exists for the callers that hold "the emulator" rather than a part: the
harness (``running_emulator(...).state``), the CLI and hundreds of tests, which seed and inspect
through ``emu.state.seed_received(...)`` and the like. Each such name is bound below to the part
that owns it; there is no logic here.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from as2sync.emulator.account import Account
from as2sync.emulator.datadir import DataDir
from as2sync.emulator.faults import FaultInjector
from as2sync.emulator.folders import Folders
from as2sync.emulator.journal import Journal
from as2sync.emulator.settings import EmulatorSettings, Faults
from as2sync.emulator.store import MessageStore


class EmulatorState:
    """The parts of one emulated account (see the module docstring).

    With ``settings.data_dir`` the account and the store are restored from it (ValueError for a
    state file of another version), and a fresh directory gets its first state file at once, so
    the token signing secret survives a restart from the start.
    """

    def __init__(
        self, settings: EmulatorSettings, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.settings = settings
        data = DataDir(settings.data_dir) if settings.data_dir else None
        saved = data.load() if data is not None else None
        self.account = Account(settings, clock=clock, data=data, saved=saved)
        self.store = MessageStore(settings, self.account, clock=clock, data=data, saved=saved)
        self.fault_injector = FaultInjector(settings.faults)
        self.journal = Journal(self.account, self.store, self.fault_injector)
        self.folders = Folders(self.store, settings)
        if data is not None and saved is None:
            data.write({**self.account.persisted(), **self.store.persisted()})

        # The names callers use, each bound to its owner.
        self.add_station = self.account.add_station
        self.add_partner = self.account.add_partner
        self.stations = self.account.stations
        self.partners = self.account.partners
        self.expire_tokens = self.account.expire_tokens
        self.issued_tokens = self.account.issued_tokens
        self.seed_received = self.store.seed_received
        self.received_ids = self.store.received_ids
        self.received = self.store.received
        self.is_read = self.store.is_read
        self.set_read = self.store.set_read
        self.mark_unread = self.folders.mark_unread
        self.delete = self.folders.delete
        self.set_faults = self.fault_injector.set
        self.fault_counts = self.fault_injector.counts
        self.submissions = self.journal.submissions
        self.duplicate_submission_ids = self.journal.duplicate_submission_ids
        self.duplicate_submissions = self.journal.duplicate_submissions
        self.request_log = self.journal.request_log
        self.clear_request_log = self.journal.clear_request_log
        self.snapshot = self.journal.snapshot

    @property
    def faults(self) -> Faults:
        """The fault configuration in force."""
        return self.fault_injector.current
