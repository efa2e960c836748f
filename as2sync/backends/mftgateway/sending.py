"""Sending through the MFT Gateway REST API: the :class:`~as2sync.backends.base.Sender`.

* claim facts: none (MFT Gateway has no partner types: any two files of a partnership may
  share a message);
* submit: one ``POST /message/submit`` (:meth:`MftClient.submit`), never repeated once a byte
  may have left; the ID from the body or the raw ``Link`` header;
* locate: by content in every outbox box (:mod:`.locating`, :mod:`.matching`);
* track: by box (:mod:`.tracking`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence

from as2sync.backends.base import Doubt, Located, OutboundMessage, Receipt, Remote, SentRef, Tracked
from as2sync.backends.mftgateway import locating, tracking
from as2sync.backends.mftgateway.capabilities import CAPABILITIES
from as2sync.backends.mftgateway.client import MftClient


class MftSender:
    """The sending half of the MFT backend; safe to call from several threads."""

    capabilities = CAPABILITIES

    def __init__(self, client: MftClient) -> None:
        self._client = client

    def claim_remote(self, station: str, partner: str) -> Remote:
        return {}

    def submit(self, message: OutboundMessage) -> Receipt:
        remote_id = self._client.submit(
            message.station, message.partner, message.files, subject=message.subject
        )
        return Receipt(remote_id)

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
        return locating.locate(
            self._client,
            station,
            partner,
            rows,
            attributed=attributed,
            now=now,
            grace=grace,
            stop=stop,
        )

    def track(self, station: str, partner: str, sent: Sequence[SentRef]) -> dict[int, Tracked]:
        return tracking.track(self._client, station, partner, sent)
