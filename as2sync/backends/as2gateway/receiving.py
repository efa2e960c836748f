"""Receiving through the AS2 Gateway v1 API: drain the unread list, batch downloads, mark read.

The v1 strategies behind :class:`~as2sync.backends.base.Receiver`:

* pending: page 0 of the unread list, oldest first, per configured partner type
  (``inbound.partner_type``), until drained (:mod:`.poller`);
* station resolution: which side of a message is the station is decided by the account's
  station list (GET /station, cached, refreshed once per pass when a message names no known
  station), never by trusting ``senderId``/``receiverId``; a message that resolves to no
  station is not handed out (it stays unread) and is warned about once per process;
* download: batch zips with ``markAsRead=true``, 206 truncation, the learned batch limit and
  attachment-by-attachment downloads (:mod:`.download`);
* acknowledge: GET with ``markAsRead=true``, one request per message;
* forget: bulk DELETE of the received folder, at most 100 IDs per request.

The v1 facts of a received message travel in :attr:`Pending.remote` under the names
:data:`REMOTE_FACTS` (the ledger keeps them; the metadata sidecar shows them).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence

import structlog

from as2sync.backends.as2gateway.capabilities import CAPABILITIES
from as2sync.backends.as2gateway.client import MAX_BATCH
from as2sync.backends.as2gateway.download import Downloader
from as2sync.backends.as2gateway.model import (
    Folder,
    Gateway,
    MessageInfo,
    PartnerType,
    resolve_sides,
)
from as2sync.backends.as2gateway.poller import unread_pages
from as2sync.backends.base import Pending, Remote, Sink, Wanted, bare_message_id
from as2sync.config.schema import Config, InboundPartnerType
from as2sync.errors import NotFound, PermanentError

log = structlog.get_logger("as2sync.inbound")

REMOTE_FACTS = (
    "partner_type",
    "sender_id",
    "receiver_id",
    "signed",
    "encrypted",
    "compressed",
    "mdn_status",
)
"""The v1 facts kept per received message, as :attr:`Pending.remote` names them."""


def partner_types(setting: InboundPartnerType) -> list[PartnerType]:
    if setting is InboundPartnerType.BOTH:
        return [PartnerType.PRODUCTION, PartnerType.TEST]
    return [PartnerType(setting.value)]


def remote_facts(info: MessageInfo) -> Remote:
    """The v1 facts of a listed message, as the ledger keeps them."""
    return {name: getattr(info, name) for name in REMOTE_FACTS}


def pending_of(info: MessageInfo, station: str, partner: str) -> Pending:
    return Pending(
        remote_id=info.message_id,
        station=station,
        partner=partner,
        persisted_ms=info.persisted_ms,
        attachments=info.attachments,
        subject=info.subject,
        remote=remote_facts(info),
    )


class As2Receiver:
    """The :class:`~as2sync.backends.base.Receiver` half of the v1 backend.

    One per daemon (it keeps the station cache and the learned batch limit for its life);
    used by one inbound loop at a time.
    """

    capabilities = CAPABILITIES

    def __init__(self, client: Gateway, config: Config, clock: Callable[[], float]) -> None:
        self._client = client
        self._config = config
        self._clock = clock
        self._downloader = Downloader(client, config.inbound.batch_max_bytes)
        self._stations: set[str] | None = None
        self._stations_refreshed = False
        self._unresolved_logged: set[str] = set()

    # -- what is pending --------------------------------------------------------------------

    def pending(self, stop: threading.Event) -> Iterator[Sequence[Pending]]:
        """Unread messages of every configured partner type, a page at a time; see
        :mod:`.poller`. A message no station of the account is a side of is left unread."""
        self._stations_refreshed = False
        seen: set[str] = set()
        for partner_type in partner_types(self._config.inbound.partner_type):
            for page in unread_pages(self._client, partner_type, stop, seen):
                resolved = [p for info in page if (p := self._place(info)) is not None]
                if resolved:
                    yield resolved

    def _place(self, info: MessageInfo) -> Pending | None:
        sides = self._resolve(info)
        if sides is not None:
            return pending_of(info, *sides)
        if info.message_id not in self._unresolved_logged:
            self._unresolved_logged.add(info.message_id)
            log.warning(
                "inbound.no_station",
                station=None,
                partner=None,
                message_id=info.message_id,
                file=", ".join(a.name for a in info.attachments),
                sender_id=info.sender_id,
                receiver_id=info.receiver_id,
            )
        return None

    def _resolve(self, info: MessageInfo) -> tuple[str, str] | None:
        if self._stations is None:
            self._stations = {s.as2_id for s in self._client.stations()}
            self._stations_refreshed = True
        sides = resolve_sides(info, self._stations)
        if sides is None and not self._stations_refreshed:
            # A station added since we last asked: refresh once per pass, not per message.
            self._stations = {s.as2_id for s in self._client.stations()}
            self._stations_refreshed = True
            sides = resolve_sides(info, self._stations)
        return sides

    # -- downloading ------------------------------------------------------------------------

    def download(self, wanted: Sequence[Wanted], sink: Sink, stop: threading.Event) -> None:
        self._downloader.download(wanted, sink, stop)

    @property
    def batch_limit_below(self) -> int | None:
        """What a 206 taught about the gateway's batch limit (None: nothing yet)."""
        return self._downloader.batch_limit_below

    # -- one message ------------------------------------------------------------------------

    def lookup(self, remote_ids: Sequence[str]) -> Pending:
        """The first of ``remote_ids`` the gateway has, then the last one with angle brackets
        added (an operator may type an ID without them). Stations are asked afresh: an
        operator is waiting on this answer."""
        last = remote_ids[-1]
        candidates = dict.fromkeys([*remote_ids, f"<{bare_message_id(last)}>"])
        error: NotFound | None = None
        for candidate in candidates:
            try:
                info = self._client.get_received(candidate)
            except NotFound as exc:
                error = error or exc
                continue
            self._stations = None
            sides = self._resolve(info)
            if sides is None:
                raise PermanentError(
                    f"message {last}: neither {info.sender_id} nor {info.receiver_id} "
                    "is a station of this account"
                )
            return pending_of(info, *sides)
        assert error is not None
        raise error

    def acknowledge(self, remote_ids: Sequence[str]) -> set[str]:
        """Mark each read (the API has no bulk form); returns the IDs the gateway no longer has."""
        gone: set[str] = set()
        for remote_id in remote_ids:
            try:
                self._client.mark_read(remote_id)
            except NotFound:
                gone.add(remote_id)
        return gone

    def forget(self, remote_ids: Sequence[str], forgotten: Callable[[Sequence[str]], None]) -> None:
        """Bulk DELETE, at most :data:`MAX_BATCH` IDs per request."""
        ids = list(remote_ids)
        for start in range(0, len(ids), MAX_BATCH):
            chunk = ids[start : start + MAX_BATCH]
            self._client.delete(Folder.RECEIVED, chunk)
            forgotten(chunk)
