"""One file uploaded to its ``send/`` key, exactly as recorded at the claim, and what each
failure means (issue 14: an upload is never repeated blindly).

The bytes are read through :class:`~as2sync.backends.http.transfer.ClaimedBytes`: exactly the
recorded size, checked against the recorded SHA-256 before the last byte goes out, so a file a
writer changed after the claim never becomes a complete object. The writing client never
retries (see :mod:`.client`); what a failure means is decided here:

- no connection was made → ``TransientError`` (nothing was sent);
- S3 refused before storing (``SlowDown`` 503, ``RequestTimeout`` 400: the body was not read
  in time) → ``TransientError``; keys or bucket refused → ``AuthError`` / ``PermanentError``;
- any other server error, a lost answer (read timeout, connection reset) → ``UnknownOutcome``:
  a PutObject is atomic, so the object either exists now or never will; the key is looked up
  (:mod:`.finding`) before anything is uploaded again.
"""

from __future__ import annotations

import contextlib

from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
)

from as2sync.backends import base
from as2sync.backends.http.transfer import ClaimedBytes, open_file
from as2sync.backends.mftgateway_s3.client import S3Clients
from as2sync.errors import (
    AuthError,
    ContentChanged,
    GatewayError,
    PermanentError,
    StorageError,
    TransientError,
    UnknownOutcome,
)

NOT_STORED = frozenset({"SlowDown", "RequestTimeout", "ServiceUnavailable"})
REFUSED_KEYS = frozenset(
    {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken"}
)


def put(clients: S3Clients, key: str, item: base.OutboundFile) -> str:
    """Upload ``item`` to ``key`` in one PutObject; returns its ETag (without quotes: the MD5
    of the bytes). Raises as the module says, ``ContentChanged`` when the file is not the
    recorded bytes, ``StorageError`` when it cannot be read (nothing sent)."""
    with contextlib.ExitStack() as stack:
        body = ClaimedBytes(open_file(stack, item), item)
        body.check_size()
        try:
            answer = clients.writes.put_object(
                Bucket=clients.bucket,
                Key=key,
                Body=body,  # type: ignore[arg-type]  # a file-like object botocore reads
                ContentLength=item.size,
                ContentType=item.content_type or "application/octet-stream",
            )
        except (ContentChanged, StorageError):
            raise
        except Exception as exc:
            raise failure(exc, key) from exc
    return answer["ETag"].strip('"')


def failure(exc: Exception, key: str) -> GatewayError:
    """What a failed write request means (see the module). Never carries a credential: botocore
    errors name the operation, the code and S3's message only."""
    changed = _content_changed(exc)
    if changed is not None:
        raise changed
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError):
        return TransientError(f"S3 could not be reached for {key}: {exc}")
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in NOT_STORED:
            return TransientError(f"S3 did not store {key}: {code}", status=status)
        if code in REFUSED_KEYS:
            return AuthError(f"S3 refused the access keys for {key}: {code}", status=status)
        if status is not None and 400 <= status < 500:
            return PermanentError(f"S3 refused {key}: {code}", status=status)
    return UnknownOutcome(f"the upload of {key} may have been stored: {exc}")


def _content_changed(exc: BaseException) -> ContentChanged | None:
    # botocore may wrap what the body's read() raised; find it in the chain.
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ContentChanged):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None
