"""May this process create a ledger? Only where as2sync has not worked before.

The ledger alone remembers what the gateway and the folders cannot tell: received messages
that the batch download marked read on the gateway but that are not stored yet, sends whose
outcome is in doubt, the content sent within the duplicate window. Started with an empty
ledger after the old one vanished (a lost volume, a deleted file), as2sync would never fetch
those messages again and could send those files twice. So a command that does work (``run``,
``send``, ``retry``) creates a ledger only when nothing shows that one existed: no
``.as2sync/`` work area in any partnership folder and no heartbeat in the state_dir. Otherwise
it refuses (exit 4) until the operator restores the ledger or says ``--new-ledger``.
"""

from __future__ import annotations

from pathlib import Path

import structlog

from as2sync.config import Config
from as2sync.daemon.health import HEALTH_FILE
from as2sync.errors import LedgerError
from as2sync.folders.layout import WORK_DIR, discover
from as2sync.ledger.db import LEDGER_FILE, Ledger, ledger_absent, open_ledger

log = structlog.get_logger(__name__)


class LedgerMissing(LedgerError):
    """The ledger is missing or empty where as2sync has worked before."""


def work_evidence(config: Config) -> list[Path]:
    """What shows that as2sync has worked with these folders or this state_dir before."""
    found = [config.state_dir / HEALTH_FILE] if (config.state_dir / HEALTH_FILE).exists() else []
    found += [pair.base / WORK_DIR for pair in discover(config) if (pair.base / WORK_DIR).is_dir()]
    return found


def open_for_work(config: Config, *, new_ledger: bool = False) -> Ledger:
    """The ledger for a command that sends or receives; creates it only where that is safe.

    ``new_ledger``: the operator accepts starting empty although work exists (the way out the
    refusal names). Raises LedgerMissing, or LedgerError as :func:`open_ledger` does.
    """
    if ledger_absent(config.state_dir):
        evidence = work_evidence(config)
        if evidence and not new_ledger:
            raise LedgerMissing(_refusal(config, evidence))
        if evidence:
            log.warning(
                "ledger.created_over_earlier_work",
                ledger=str(config.state_dir / LEDGER_FILE),
                evidence=[str(p) for p in evidence[:5]],
            )
        else:
            log.info("ledger.created", ledger=str(config.state_dir / LEDGER_FILE))
    return open_ledger(config.state_dir)


def _refusal(config: Config, evidence: list[Path]) -> str:
    shown = ", ".join(str(p) for p in evidence[:3]) + (" ..." if len(evidence) > 3 else "")
    return (
        f"the ledger {config.state_dir / LEDGER_FILE} is missing or empty, but as2sync has "
        f"worked here before ({shown}). Starting with an empty ledger would never fetch "
        "again the received messages that were already marked read on the gateway but not "
        "yet stored, and could send again files whose send is in doubt. Restore the ledger "
        "from a backup; or, accepting that risk, start once with `as2sync run --new-ledger`"
    )
