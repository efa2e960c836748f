"""Receiving through the MFT Gateway REST API: the :class:`~as2sync.backends.base.Receiver`.

* pending: the unread inbox, oldest first, walked as :mod:`.pagination` says (the list shrinks
  as messages are marked read); for each new ID the message itself, read with
  ``markAsRead=false``, and the size of each attachment (a one-byte ranged GET of its signed
  URL: the API states no sizes, and the seam verifies every download against them);
* station and partner: a received message's ``receiverIdentifier`` and ``senderIdentifier``
  (the API has no station list to check them against); one without both is not handed out
  and is warned about once per process;
* download: the attachment URLs pending read (if still young) or fresh ones, checked
  against what was recorded (count and names, in order), each attachment streamed into its
  staging slot without ``Authorization``, an expired URL renewed
  (:meth:`MftClient.download_attachments`), sizes compared; never marked read here (the
  engine acknowledges after storing);
* acknowledge: ``GET /message/inbox/{id}?markAsRead=true``, one per message;
* forget: ``POST /message/inbox/delete``, at most 100 IDs per request.

* relist (reading (b) of issue 13, :class:`~as2sync.backends.base.Relisting`): if the list
  call itself marks what it returns, a process killed between a list answer and the engine's
  recording would never see those messages listed again. Within a process, IDs a list call
  returned stay owed until their page was handed out, and each relist hands the owed ones
  out first (a failed lookup after the list answer loses nothing; no request if none is
  owed). Across a kill, the walk: ``fetchAll=true`` lists read ones
  too: walked newest first, a page at a time, each page's IDs given to the ledger's ``known``;
  the unknown ones are looked up (metadata first: one received before ``since`` ends the walk
  before its attachments are asked for) and handed out. The walk ends at the first page the
  ledger knows entirely (what a killed walk hid lies just behind the messages that arrived
  since, because the engine relists before it lists anything new), at a short page, at a
  message older than ``since`` (the engine's floor: the ledger's creation, so an account's
  history from before this install is never fetched, and the retention horizon, so a pruned
  row is never taken for a new message) or after :data:`RELIST_MAX_PAGES`. Cost per pass in
  steady state: one list request, plus the lookups of messages that are new anyway.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence

import structlog

from as2sync.backends.base import (
    Attachment,
    KnownIds,
    Pending,
    Remote,
    Sink,
    Wanted,
    bare_message_id,
)
from as2sync.backends.mftgateway.capabilities import CAPABILITIES
from as2sync.backends.mftgateway.client import MAX_IDS, MAX_PAGE, Box, MftClient
from as2sync.backends.mftgateway.errors_map import UrlRefused
from as2sync.backends.mftgateway.parsing import AttachmentUrls, MessageInfo
from as2sync.errors import NotFound, PermanentError, ProtocolError, StorageError
from as2sync.failpoints import failpoint

log = structlog.get_logger("as2sync.inbound")

LISTING_REUSE_SECONDS = 120.0
LISTINGS_KEPT = 1000
RELIST_MAX_PAGES = 100
"""At most this many ``fetchAll`` pages per relisting pass (10,000 IDs at 100 a page)."""


def remote_facts(info: MessageInfo) -> Remote:
    """The AS2 facts kept per received message (the sidecar shows those it knows)."""
    facts: dict[str, object] = {"sender_id": info.partner, "receiver_id": info.station}
    if info.mdn_status:
        facts["mdn_status"] = info.mdn_status
    if info.internal_id is not None:
        facts["mft_id"] = info.internal_id  # text: it may exceed 2**53
    return facts


class _TooOld(Exception):
    """A relisted message received before the walk's floor (a message without a timestamp
    counts as older: it cannot be shown to be this install's)."""


class _Listings:
    """Attachment listings read by ``pending`` for the download that usually follows at once:
    kept :data:`LISTING_REUSE_SECONDS` (well inside the URLs' 10 minutes), at most
    :data:`LISTINGS_KEPT`. Saves one API request per message."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._kept: OrderedDict[str, tuple[float, AttachmentUrls]] = OrderedDict()

    def put(self, identifier: str, urls: AttachmentUrls) -> None:
        with self._lock:
            self._kept[identifier] = (self._clock(), urls)
            self._kept.move_to_end(identifier)
            while len(self._kept) > LISTINGS_KEPT:
                self._kept.popitem(last=False)

    def take(self, identifier: str) -> AttachmentUrls | None:
        with self._lock:
            entry = self._kept.pop(identifier, None)
        if entry is None or self._clock() - entry[0] > LISTING_REUSE_SECONDS:
            return None
        return entry[1]


class MftReceiver:
    """The receiving half of the MFT backend; one per daemon, used by one loop at a time."""

    capabilities = CAPABILITIES

    def __init__(self, client: MftClient, *, page_length: int = MAX_PAGE) -> None:
        self._client = client
        self._page_length = page_length
        self._unplaced_logged: set[str] = set()
        self._listings = _Listings()
        self._owed: dict[str, None] = {}  # listed, not yet handed out (ordered)
        self._too_old: set[str] = set()  # relisted IDs shown older than a floor (it only rises)

    # -- what is pending --------------------------------------------------------------------

    def pending(self, stop: threading.Event) -> Iterator[Sequence[Pending]]:
        """Unread messages, a batch of new IDs at a time, each looked up before it is handed
        out; stops between requests once ``stop`` is set. Listed IDs stay owed until their
        page was handed out (or they proved gone or unplaceable): a list call may have marked
        them read, so :meth:`relist` hands them out next time."""
        for batch in self._client.walk(Box.INBOX, page_length=self._page_length):
            self._owed.update(dict.fromkeys(batch))
            page = self._look_up(batch, stop)
            if page:
                yield page
                for item in page:
                    self._owed.pop(item.remote_id, None)
            if stop.is_set():
                return

    def _look_up(
        self, identifiers: Sequence[str], stop: threading.Event, *, not_before_ms: int | None = None
    ) -> list[Pending]:
        """Each of ``identifiers`` as a :class:`Pending`, until ``stop``; one gone or without
        a station is no longer owed. :class:`_TooOld` passes through."""
        page: list[Pending] = []
        for identifier in identifiers:
            if stop.is_set():
                break
            try:
                found = self._pending(identifier, not_before_ms=not_before_ms)
            except NotFound:
                found = None  # deleted since it was listed
            if found is None:
                self._owed.pop(identifier, None)
            else:
                page.append(found)
        return page

    def relist(
        self, known: KnownIds, since: float | None, stop: threading.Event
    ) -> Iterator[Sequence[Pending]]:
        """What this process listed and did not hand out, then (``since`` given) the walk of
        the module docstring."""
        owed = list(self._owed)
        if owed:
            have = known(owed)
            for identifier in have:
                self._owed.pop(identifier, None)
            page = self._look_up([i for i in owed if i not in have], stop)
            if page:
                yield page
                for item in page:
                    self._owed.pop(item.remote_id, None)
        if since is not None and not stop.is_set():
            yield from self._walk_all(known, since, stop)

    def _walk_all(
        self, known: KnownIds, since: float, stop: threading.Event
    ) -> Iterator[Sequence[Pending]]:
        """Messages the server has (read or not) and the ledger does not know, newest first;
        bounded as the module docstring says."""
        floor_ms = int(since * 1000)
        seen: set[str] = set()
        for page_number in range(RELIST_MAX_PAGES):
            ids = self._client.list_page(
                Box.INBOX,
                page=page_number,
                page_length=self._page_length,
                ascending=False,
                fetch_all=True,
            )
            fresh = [i for i in dict.fromkeys(ids) if i not in seen]
            seen.update(fresh)
            have = known(fresh) if fresh else set()
            unknown = [i for i in fresh if i not in have]
            # An ID shown older than a floor before is so still (the floor only rises).
            cut = next((n for n, i in enumerate(unknown) if i in self._too_old), None)
            if cut is not None:
                unknown = unknown[:cut]
            found: list[Pending] = []
            too_old = cut is not None
            for identifier in unknown:
                try:
                    found += self._look_up([identifier], stop, not_before_ms=floor_ms)
                except _TooOld:
                    if len(self._too_old) >= LISTINGS_KEPT:
                        self._too_old.clear()  # only a cache: costs one GET per pass if lost
                    self._too_old.add(identifier)
                    too_old = True
                    break
            if found:
                yield found
            if stop.is_set() or too_old or not unknown or len(ids) < self._page_length:
                return

    def _pending(self, identifier: str, *, not_before_ms: int | None = None) -> Pending | None:
        info = self._client.inbox_message(identifier, mark_read=False)
        if not_before_ms is not None and (info.timestamp_ms or 0) < not_before_ms:
            raise _TooOld(identifier)
        if not info.station or not info.partner:
            if identifier not in self._unplaced_logged:
                self._unplaced_logged.add(identifier)
                log.warning(
                    "inbound.no_station",
                    station=info.station,
                    partner=info.partner,
                    message_id=identifier,
                )
            return None
        urls = self._client.attachment_urls(Box.INBOX, identifier)
        sizes = self._client.attachment_sizes(Box.INBOX, identifier, urls=urls)
        self._listings.put(identifier, urls)
        return Pending(
            remote_id=identifier,
            station=info.station,
            partner=info.partner,
            persisted_ms=info.timestamp_ms or 0,
            attachments=tuple(Attachment(name, size) for name, size in sizes),
            subject=info.subject or None,
            remote=remote_facts(info),
        )

    # -- downloading ------------------------------------------------------------------------

    def download(self, wanted: Sequence[Wanted], sink: Sink, stop: threading.Event) -> None:
        """One message after the other (the API has no batch download); a server failure
        (``GatewayError`` other than the per-message outcomes below) ends the call."""
        for item in wanted:
            if stop.is_set():
                return
            self._download(item, sink)

    def _download(self, item: Wanted, sink: Sink) -> None:
        try:
            # The listing pending() read, while its URLs are young (an expired one is
            # renewed on its 403 anyway); else a fresh one.
            urls = self._listings.take(item.remote_id) or self._client.attachment_urls(
                Box.INBOX, item.remote_id
            )
        except NotFound as exc:
            sink.not_served([item.key], f"the gateway does not serve it now: {exc}")
            return
        listed = [a.name for a in urls.attachments]
        recorded = [a.name for a in item.attachments]
        if listed != recorded:
            sink.refused(
                [item.key], f"the gateway lists attachments {listed}, {recorded} were recorded"
            )
            return
        todo = [i for i in range(len(recorded)) if i not in item.done]
        slot = sink.stage(item.key)
        try:
            self._client.download_attachments(
                Box.INBOX, item.remote_id, lambda i, _name: slot.temp_for(i), only=todo, urls=urls
            )
            failpoint("inbound.after_download")  # downloaded, not yet made durable or stored
            for index in todo:
                size = slot.add_download(index)
                if size != item.attachments[index].size:
                    sink.refused(
                        [item.key],
                        f"attachment {index} has {size} bytes, "
                        f"{item.attachments[index].size} were listed",
                    )
                    return
        except (OSError, StorageError) as exc:
            sink.storage_failed([item.key], exc)
            return
        except (NotFound, UrlRefused) as exc:
            sink.not_served([item.key], str(exc))
            return
        except ProtocolError as exc:
            sink.refused([item.key], str(exc))
            return
        sink.store([slot], acknowledged=[False])

    # -- one message ------------------------------------------------------------------------

    def lookup(self, remote_ids: Sequence[str]) -> Pending:
        """The first of ``remote_ids`` the gateway has, then the last one with angle brackets
        added (an operator may type an ID without them)."""
        last = remote_ids[-1]
        candidates = dict.fromkeys([*remote_ids, f"<{bare_message_id(last)}>"])
        error: NotFound | None = None
        for candidate in candidates:
            try:
                found = self._pending(candidate)
            except NotFound as exc:
                error = error or exc
                continue
            if found is None:
                raise PermanentError(f"message {last}: the gateway names no station for it")
            return found
        assert error is not None
        raise error

    def acknowledge(self, remote_ids: Sequence[str]) -> set[str]:
        """Mark each read (one GET each); returns the IDs the gateway no longer has."""
        gone: set[str] = set()
        for remote_id in remote_ids:
            try:
                self._client.mark_read(remote_id)
            except NotFound:
                gone.add(remote_id)
        return gone

    def forget(self, remote_ids: Sequence[str], forgotten: Callable[[Sequence[str]], None]) -> None:
        """Batch delete, at most :data:`MAX_IDS` per request (a 404: all already gone)."""
        ids = list(remote_ids)
        for start in range(0, len(ids), MAX_IDS):
            chunk = ids[start : start + MAX_IDS]
            self._client.delete(Box.INBOX, chunk)
            forgotten(chunk)
