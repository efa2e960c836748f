"""Received messages deleted from the bucket once stored (``inbound.delete_after_store``; the
seed does not forbid it and the 70-day lifecycle deletes them anyway). Only the objects the
listing recorded are deleted (by key, from the message folder): an attachment the gateway
wrote after the message settled is never deleted unseen.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from as2sync.backends.mftgateway_s3.client import S3Clients
from as2sync.backends.mftgateway_s3.uploading import failure
from as2sync.errors import PermanentError

BATCH = 1000  # keys per DeleteObjects request: S3's most


def forget(
    clients: S3Clients,
    messages: Mapping[str, Sequence[str]],
    forgotten: Callable[[Sequence[str]], None],
) -> None:
    """Delete each message's recorded object keys (``messages``: remote ID → keys), calling
    ``forgotten`` with the remote IDs whose every object is deleted (a missing key counts as
    deleted: idempotent). Raises GatewayError when S3 refuses or fails."""
    for remote_id, object_keys in messages.items():
        for start in range(0, len(object_keys), BATCH):
            batch = object_keys[start : start + BATCH]
            try:
                answer = clients.writes.delete_objects(
                    Bucket=clients.bucket,
                    Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True},
                )
            except Exception as exc:
                raise failure(exc, remote_id) from exc
            errors = answer.get("Errors", [])
            if errors:
                first = errors[0]
                raise PermanentError(f"S3 did not delete {first.get('Key')}: {first.get('Code')}")
        forgotten([remote_id])
