"""Schema migrations: each step takes an existing ledger from one schema version to the next.

A step runs inside the transaction that records the new version (:func:`db.open_ledger`), so a
crash during a migration leaves the ledger at the old version, untouched, and the next start
migrates again. Steps change rows only; new tables come from ``create_all``.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from as2sync.ledger import inbound, outbound


def backend_neutral(session: Session) -> None:
    """Version 4: what only one backend needs moves into a ``remote`` JSON column on both
    sides (the backend seam); the rows in flight keep every fact they had."""
    outbound.backend_neutral(session)
    inbound.backend_neutral(session)


# Version N's step takes a ledger at version N - 1 to N.
STEPS: dict[int, Callable[[Session], None]] = {
    2: inbound.key_by_exact_id,
    3: outbound.allow_returning,
    4: backend_neutral,
}


def migrate(session: Session, found: int, target: int) -> None:
    """Run every step from version ``found`` up to ``target`` in order."""
    for version in range(found + 1, target + 1):
        STEPS[version](session)
