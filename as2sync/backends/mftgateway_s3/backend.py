"""The MFT Gateway S3 backend: one :class:`~as2sync.backends.base.Backend` over one bucket's
clients, put together from the modules that each do one job.

Sending: the name an upload goes under is chosen before the submit (:meth:`name_message`,
the :class:`~as2sync.backends.base.Naming` seam: the six-hour same-name rule of
:mod:`.names`) and recorded with the row, so a lookup after an unknown outcome knows its
key. An upload is never taken as sent on its own answer: the gateway may still move it to
``duplicate/``. The submit returns no ID; the row is located (:mod:`.finding`) until the
gateway has processed it: found in ``files/…/outbox/`` it is sent (its outbox key is the
message's ID), found in ``duplicate/`` it goes to failed/ (nothing was sent), still in
``send/`` it waits, and only when it is in none of the three after the grace period was it
provably never stored and is uploaded again.

Receiving: the bucket keeps no read flag; :mod:`.listing` lists each pair's inbox, the ledger
remembers what was stored, :meth:`acknowledge` does nothing.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from as2sync.backends import base
from as2sync.backends.base import (
    UPLOAD_NAME,
    Doubt,
    Found,
    Hold,
    Located,
    OutboundMessage,
    Pending,
    Receipt,
    Remote,
    SentRef,
    Sink,
    Tracked,
    Wanted,
)
from as2sync.backends.mftgateway_s3 import (
    bundling,
    downloading,
    finding,
    forgetting,
    keys,
    listing,
    names,
    pairs,
    tracking,
    uploading,
)
from as2sync.backends.mftgateway_s3.capabilities import CAPABILITIES
from as2sync.backends.mftgateway_s3.client import S3Clients
from as2sync.backends.mftgateway_s3.finding import Place, Upload
from as2sync.backends.mftgateway_s3.names import SameName
from as2sync.errors import InvalidRequest, NotFound, TransientError
from as2sync.folders.layout import PartnerDirs

BUNDLE_NAME = "bundle.zip"
"""The name several files of one message are uploaded under as one zip (made unique by the
same-name rule like any other)."""

KEY = "key"
MD5 = "md5"


def _read_failure(exc: Exception, what: str) -> TransientError:
    return TransientError(f"S3 could not be asked about {what}: {exc}")


class S3Backend:
    """Both halves over one bucket's clients."""

    capabilities = CAPABILITIES
    naming_window = float(names.WINDOW_SECONDS + names.CLOCK_SKEW_SECONDS)

    def __init__(
        self,
        clients: S3Clients,
        *,
        same_name: SameName = SameName.SUFFIX,
        pairs: Callable[[], Iterable[tuple[str, str]]] = lambda: (),
        settle_seconds: float = 5.0,
        pickup_warn_seconds: float = 900.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.clients = clients
        self._same_name = same_name
        self._pairs = pairs
        self._settle = settle_seconds
        self._pickup_warn = pickup_warn_seconds
        self._clock = clock
        self._listed_keys: dict[str, list[str]] = {}

    def close(self) -> None:
        self.clients.reads.close()
        self.clients.writes.close()

    # -- what the daemon and the operator commands ask ---------------------------------------

    def sendable_problems(self, station: str, partner: str) -> list[tuple[str, str]]:
        """None that can be told in advance: the bucket lists no stations or partners (an
        upload for an unknown pair stays in send/, reported as not picked up)."""
        return []

    def online_problems(self, pairs: Sequence[PartnerDirs]) -> list[str]:
        """``as2sync check --online``: the bucket can be read with these keys."""
        try:
            self.clients.reads.head_bucket(Bucket=self.clients.bucket)
        except (ClientError, BotoCoreError) as exc:
            return [f"bucket {self.clients.bucket} cannot be read: {exc}"]
        return []

    def wake(self) -> None:
        """Nothing waits outside boto3's own timeouts."""

    def requests_in_use(self) -> int:
        return 0  # no client-side rate limit

    # -- sending ----------------------------------------------------------------------------

    def claim_remote(self, station: str, partner: str) -> Remote:
        return {}

    def name_message(
        self, message: OutboundMessage, used: Mapping[str, float], now: float
    ) -> Remote | Hold:
        """base.Naming: an earlier attempt's name while it is still free (its upload provably
        never arrived), else the file's own name, a stamped variant of it, or a hold."""
        earlier = message.remote.get(UPLOAD_NAME)
        if isinstance(earlier, str) and names.free_at(earlier, used) is None:
            return self._named(message, earlier)
        wanted = message.files[0].name if len(message.files) == 1 else BUNDLE_NAME
        chosen = names.choose(wanted, used, now, self._same_name)
        if chosen is None:
            until = names.free_at(wanted, used)
            assert until is not None  # choose holds only a used name
            return Hold(
                until,
                f"{wanted} was uploaded to this partner less than six hours ago; held until "
                f"{time.strftime('%Y-%m-%d %H:%M:%SZ', time.gmtime(until))} "
                "(outbound.s3_same_name: hold)",
            )
        return self._named(message, chosen)

    @staticmethod
    def _named(message: OutboundMessage, name: str) -> Remote:
        return {UPLOAD_NAME: name, KEY: keys.send_key(message.station, message.partner, name)}

    def submit(self, message: OutboundMessage) -> Receipt:
        """One PutObject to the recorded key. The receipt has no ID: the row is located until
        the gateway has processed the upload (see the module)."""
        if len(message.files) > CAPABILITIES.max_files_per_message:
            raise InvalidRequest(
                f"{len(message.files)} files in one message: at most "
                f"{CAPABILITIES.max_files_per_message}"
            )
        name = message.remote.get(UPLOAD_NAME)
        if not isinstance(name, str):
            raise InvalidRequest("no upload name was recorded for this message")
        key = keys.send_key(message.station, message.partner, name)
        if len(message.files) == 1:
            item = message.files[0]
            md5 = uploading.put(self.clients, key, item)
            return Receipt(None, {MD5: md5, "size": item.size, "sha256": item.sha256})
        with tempfile.TemporaryDirectory(prefix=base.TMP_PREFIX) as tmp:
            archive = bundling.bundle(message.files, Path(tmp) / "bundle.zip", name)
            md5 = uploading.put(self.clients, key, archive)
            return Receipt(None, {MD5: md5, "size": archive.size, "sha256": archive.sha256})

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
        taken = set(attributed)
        found: dict[int, Located] = {}
        for row in rows:
            if not row.settle:
                continue
            upload = _upload(station, partner, row.remote, row.files)
            if upload is None:
                # Named before every submit: a row without a name was never uploaded.
                found[row.id] = Located(Found.ABSENT, why="no upload was made")
                continue
            try:
                where = finding.find(self.clients, upload, stop, skip=taken)
            except finding.Stopped:
                return {}
            except (ClientError, BotoCoreError) as exc:
                raise _read_failure(exc, upload.name) from exc
            found[row.id] = self._located(row, upload, where, now, grace)
            if where.key is not None and where.place is not Place.SEND:
                taken.add(where.key)
        return found

    def _located(
        self, row: Doubt, upload: Upload, where: finding.Where, now: float, grace: float
    ) -> Located:
        keyed: dict[str, object] = {KEY: where.key} if where.key else {}
        keyed |= {"size": upload.size, "sha256": upload.sha256}
        if where.place is Place.OUTBOX:
            assert where.key is not None
            return Located(Found.FOUND, where.key, where="outbox", remote=keyed)
        if where.place is Place.DUPLICATE:
            return Located(
                Found.AMBIGUOUS,
                why=f"the gateway took {upload.name} for a same-name upload within six hours "
                "and moved it to AS2/duplicate/ without sending it",
                remote=keyed,
            )
        if where.place is Place.SEND:
            waited = now - row.started_at
            late = waited >= self._pickup_warn
            why = f"{tracking.NOT_PICKED_UP} after {int(waited)} s" if late else "uploaded"
            return Located(Found.WAIT, why=why, remote=keyed)
        if now - row.started_at < grace:
            return Located(Found.WAIT, why=f"{upload.name} is not in the bucket yet")
        if upload.size < 0:
            # A zip whose upload answer was lost: its bytes were never learned, so an object
            # of its name cannot be told apart from another; never uploaded blindly again.
            return Located(
                Found.AMBIGUOUS, why=f"the bundle {upload.name} cannot be compared with the bucket"
            )
        return Located(
            Found.ABSENT, why=f"{upload.name} is neither in send/, outbox/ nor duplicate/"
        )

    def track(self, station: str, partner: str, sent: Sequence[SentRef]) -> dict[int, Tracked]:
        now = self._clock()
        out: dict[int, Tracked] = {}
        for ref in sent:
            upload = _upload(station, partner, ref.remote, ())
            if upload is None:
                continue
            try:
                out[ref.id] = tracking.track_one(
                    self.clients,
                    upload,
                    uploaded_at=ref.started_at,
                    now=now,
                    pickup_warn=self._pickup_warn,
                )
            except (ClientError, BotoCoreError) as exc:
                raise _read_failure(exc, upload.name) from exc
        return out

    # -- receiving --------------------------------------------------------------------------

    def _all_pairs(self) -> list[tuple[str, str]]:
        """The configured pairs and those the bucket has folders for."""
        try:
            found = pairs.discover(self.clients)
        except (ClientError, BotoCoreError) as exc:
            raise _read_failure(exc, "the station/partner folders") from exc
        return sorted({*self._pairs(), *found})

    def pending(self, stop: threading.Event) -> Iterator[Sequence[Pending]]:
        for station, partner in self._all_pairs():
            if stop.is_set():
                return
            try:
                listed = listing.list_inbox(
                    self.clients,
                    station,
                    partner,
                    now=self._clock(),
                    settle=self._settle,
                    stop=stop,
                )
            except (ClientError, BotoCoreError) as exc:
                raise _read_failure(exc, f"the inbox of {station}/{partner}") from exc
            for message in listed.messages:
                self._listed_keys[message.remote_id] = list(message.remote.get("keys", ()))
            if listed.messages:
                yield listed.messages

    def download(self, wanted: Sequence[Wanted], sink: Sink, stop: threading.Event) -> None:
        downloading.download(self.clients, wanted, sink, stop)

    def lookup(self, remote_ids: Sequence[str]) -> Pending:
        for remote_id in remote_ids:
            rest = remote_id.removeprefix(keys.FILES_PREFIX).rstrip("/").split("/")
            if not remote_id.startswith(keys.FILES_PREFIX) or len(rest) != 4 or rest[2] != "inbox":
                continue  # not a received message's folder
            try:
                listed = listing.list_inbox(
                    self.clients, rest[0], rest[1], now=self._clock(), settle=0.0
                )
            except (ClientError, BotoCoreError) as exc:
                raise _read_failure(exc, remote_id) from exc
            for message in listed.messages:
                if message.remote_id == remote_id:
                    return message
        raise NotFound(f"none of {', '.join(remote_ids)} is in the bucket")

    def acknowledge(self, remote_ids: Sequence[str]) -> set[str]:
        return set()  # no read flag: the ledger is the memory

    def forget(self, remote_ids: Sequence[str], forgotten: Callable[[Sequence[str]], None]) -> None:
        """Deletes the object keys this process listed for each message (an attachment written
        after the listing is never deleted unseen); a message not listed since the start is
        listed again now."""
        messages: dict[str, list[str]] = {}
        for remote_id in remote_ids:
            listed = self._listed_keys.get(remote_id)
            try:
                messages[remote_id] = listed if listed is not None else self._keys_of(remote_id)
            except (ClientError, BotoCoreError) as exc:
                raise _read_failure(exc, remote_id) from exc
        forgetting.forget(self.clients, messages, forgotten)
        for remote_id in remote_ids:
            self._listed_keys.pop(remote_id, None)

    def _keys_of(self, remote_id: str) -> list[str]:
        """The objects of a received message folder as they are now."""
        paginator = self.clients.reads.get_paginator("list_objects_v2")
        return [
            entry["Key"]
            for page in paginator.paginate(Bucket=self.clients.bucket, Prefix=remote_id)
            for entry in page.get("Contents", [])
        ]


def _upload(
    station: str, partner: str, remote: Remote, files: Sequence[base.Content]
) -> Upload | None:
    name = remote.get(UPLOAD_NAME)
    if not isinstance(name, str):
        return None
    md5 = remote.get(MD5)
    sha256 = remote.get("sha256")
    size = remote.get("size")
    if len(files) == 1:
        sha256, size = files[0].sha256, files[0].size
    return Upload(
        station,
        partner,
        name,
        size if isinstance(size, int) else -1,
        md5 if isinstance(md5, str) else None,
        sha256 if isinstance(sha256, str) else "",
    )
