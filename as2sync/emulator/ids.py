"""AS2 message IDs in the formats real software produces.

Sent messages get the gateway's own format, as in the spec's ``Link`` example
(``<90766548.41.1573209810390@as2gateway.com>``). Received messages come from partners running
other AS2 software, so they rotate through formats seen in the wild; several contain characters
that need care in URLs and query strings (``+``, ``=``, ``$``), which is the point: a client that
does not encode IDs correctly fails against the emulator, not in production.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Callable

_counter = itertools.count(1)
_rotation = itertools.count(0)
_lock = threading.Lock()


def _next() -> int:
    with _lock:
        return next(_counter)


def _safe(as2_id: str) -> str:
    """An AS2 ID as it may appear in a message ID's domain part (no spaces or brackets)."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in as2_id) or "AS2"


def gateway_id(rng: random.Random, now_ms: int) -> str:
    """The AS2 Gateway's format: ``<90766548.41.1573209810390@as2gateway.com>``."""
    return f"<{rng.randrange(10_000_000, 99_999_999)}.{_next()}.{now_ms}@as2gateway.com>"


def openas2_id(rng: random.Random, now_ms: int, sender: str, receiver: str) -> str:
    """OpenAS2: ``<OPENAS2-22112026083015+0000-1234@OpenAS2A_OID>`` (ddMMyyyyHHmmssZ)."""
    stamp = time.strftime("%d%m%Y%H%M%S", time.gmtime(now_ms / 1000))
    return f"<OPENAS2-{stamp}+0000-{rng.randrange(1000, 9999)}@{_safe(sender)}_{_safe(receiver)}>"


def mendelson_id(rng: random.Random, now_ms: int, sender: str, receiver: str) -> str:
    """mendelson: ``<mendelson_opensource_AS2-1637051234567-3@mycompany_AS2>``."""
    del rng, receiver  # mendelson uses its own AS2 ID only
    return f"<mendelson_opensource_AS2-{now_ms}-{_next()}@{_safe(sender)}>"


def javamail_id(rng: random.Random, now_ms: int, sender: str, receiver: str) -> str:
    """JavaMail-based stacks: ``<1870239418.12.1637051234567.JavaMail.as2@host>``."""
    del receiver
    host = f"{_safe(sender)}.example"
    return f"<{rng.randrange(10**9, 2**31)}.{_next()}.{now_ms}.JavaMail.as2@{host}>"


def base64ish_id(rng: random.Random, now_ms: int, sender: str, receiver: str) -> str:
    """Commercial stacks that put a base64 token in the ID: ``+``, ``=`` and ``$`` included."""
    del now_ms, receiver
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+"
    token = "".join(rng.choice(alphabet) for _ in range(22))
    return f"<AS2-{token}==${_next()}@{_safe(sender)}>"


RECEIVED_FORMATS: tuple[Callable[[random.Random, int, str, str], str], ...] = (
    openas2_id,
    mendelson_id,
    javamail_id,
    base64ish_id,
)


def received_id(rng: random.Random, now_ms: int, sender: str, receiver: str) -> str:
    """A received message's ID from ``sender`` (the partner), in a rotating real-world format."""
    with _lock:
        turn = next(_rotation)
    make = RECEIVED_FORMATS[turn % len(RECEIVED_FORMATS)]
    return make(rng, now_ms, sender, receiver)
