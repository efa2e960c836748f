"""Schema migrations: each step takes an existing ledger from one schema version to the next.

A step runs inside the transaction that records the new version (:func:`db.open_ledger`), so a
crash during a migration leaves the ledger at the old version, untouched, and the next start
migrates again. Steps change rows only; new tables come from ``create_all``.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from as2sync.ledger import inbound, outbound

# Version N's step takes a ledger at version N - 1 to N.
STEPS: dict[int, Callable[[Session], None]] = {
    2: inbound.key_by_exact_id,
    3: outbound.allow_returning,
}


def migrate(session: Session, found: int, target: int) -> None:
    """Run every step from version ``found`` up to ``target`` in order."""
    for version in range(found + 1, target + 1):
        STEPS[version](session)
