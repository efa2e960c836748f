"""A backend made of a sending half and a receiving half: the delegation written once.

The REST backends keep their strategies in two classes (a :class:`~.base.Sender` and a
:class:`~.base.Receiver` over one client, so one token and one rate limit); a backend class
inherits :class:`Halves`, sets both in its constructor, and adds only what is its own (the
operator checks, optional capabilities such as relisting or certificates).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence

from as2sync.backends.base import (
    Doubt,
    Located,
    OutboundMessage,
    Pending,
    Receipt,
    Receiver,
    Remote,
    Sender,
    SentRef,
    Sink,
    Tracked,
    Wanted,
)


class Halves:
    _sender: Sender
    _receiver: Receiver

    # -- sending ------------------------------------------------------------------------------

    def claim_remote(self, station: str, partner: str) -> Remote:
        return self._sender.claim_remote(station, partner)

    def submit(self, message: OutboundMessage) -> Receipt:
        return self._sender.submit(message)

    def locate(
        self,
        station: str,
        partner: str,
        rows: Sequence[Doubt],
        *,
        attributed: Iterable[str],
        now: float,
        grace: float,
        stop: threading.Event | None = None,
    ) -> dict[int, Located]:
        return self._sender.locate(
            station, partner, rows, attributed=attributed, now=now, grace=grace, stop=stop
        )

    def track(self, station: str, partner: str, sent: Sequence[SentRef]) -> dict[int, Tracked]:
        return self._sender.track(station, partner, sent)

    # -- receiving ----------------------------------------------------------------------------

    def pending(self, stop: threading.Event) -> Iterator[Sequence[Pending]]:
        return self._receiver.pending(stop)

    def download(self, wanted: Sequence[Wanted], sink: Sink, stop: threading.Event) -> None:
        self._receiver.download(wanted, sink, stop)

    def lookup(self, remote_ids: Sequence[str]) -> Pending:
        return self._receiver.lookup(remote_ids)

    def acknowledge(self, remote_ids: Sequence[str]) -> set[str]:
        return self._receiver.acknowledge(remote_ids)

    def forget(self, remote_ids: Sequence[str], forgotten: Callable[[Sequence[str]], None]) -> None:
        self._receiver.forget(remote_ids, forgotten)
