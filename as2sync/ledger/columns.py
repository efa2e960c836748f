"""Column types shared by the ledger's tables."""

from __future__ import annotations

import enum

from sqlalchemy import Enum


def enum_column(cls: type[enum.StrEnum], *, length: int) -> Enum:
    """A column type holding members of ``cls`` (states, kinds), stored as their value strings.

    No CHECK constraint: a member added later needs no table rebuild (SQLite cannot alter a
    constraint), only a new schema version that keeps older as2sync versions out. The stored
    strings are the enum's values, so a table written while the column was a plain string
    reads unchanged; ``length`` is the one that table was created with.
    """
    return Enum(
        cls,
        native_enum=False,
        create_constraint=False,
        length=length,
        values_callable=lambda members: [m.value for m in members],
    )
