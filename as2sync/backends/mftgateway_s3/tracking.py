"""What became of an upload (issue 14's tracking), read from where its key is now:

- processed into ``AS2/files/<station>/<partner>/outbox/`` → DELIVERED as far as the bucket
  tells (the seed gives no per-message MDN status; matching ``AS2/raw-mdn/`` is not done yet);
- moved to ``AS2/duplicate/`` → FAILED with the reason (the gateway sent nothing: safe to
  send again under another name);
- still in ``AS2/send/`` → PENDING; past ``pickup_warn_seconds`` with the reason that the
  gateway has not picked it up (e.g. an unknown station/partner pair: nothing tells the
  client), for the warning, ``status`` and the metric;
- nowhere → PENDING with a reason: the gateway may be moving it, and an object it lost is for a
  person, never a silent resend.
"""

from __future__ import annotations

import threading

from as2sync.backends.base import Delivery, Tracked
from as2sync.backends.mftgateway_s3.client import S3Clients
from as2sync.backends.mftgateway_s3.finding import Place, Upload, find

NOT_PICKED_UP = "not picked up by the gateway"


def track_one(
    clients: S3Clients,
    upload: Upload,
    *,
    uploaded_at: float,
    now: float,
    pickup_warn: float,
    stop: threading.Event | None = None,
) -> Tracked:
    where = find(clients, upload, stop)
    remote = {"key": where.key} if where.key is not None else {}
    if where.place is Place.OUTBOX:
        return Tracked(Delivery.DELIVERED, delivery_status="processed", remote=remote)
    if where.place is Place.DUPLICATE:
        return Tracked(
            Delivery.FAILED,
            delivery_status="duplicate",
            reason=f"the gateway took {upload.name} for a same-name upload within six hours "
            "and did not send it (moved to AS2/duplicate/)",
            remote=remote,
        )
    if where.place is Place.SEND:
        waited = now - uploaded_at
        if waited >= pickup_warn:
            return Tracked(
                Delivery.PENDING,
                delivery_status="uploaded",
                reason=f"{NOT_PICKED_UP} after {int(waited)} s (is the station/partner pair "
                "known to the gateway?)",
                remote=remote,
            )
        return Tracked(Delivery.PENDING, delivery_status="uploaded", remote=remote)
    return Tracked(
        Delivery.PENDING,
        delivery_status="missing",
        reason=f"{upload.name} is neither in send/, outbox/ nor duplicate/",
    )
