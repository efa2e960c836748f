"""Exit codes, and the one place where an error becomes a message and an exit code.

=====  ===========  ==================================================================
code   name         meaning
=====  ===========  ==================================================================
0      OK           the command did its job
1      PROBLEM      it ran but found a problem: unhealthy, a send failed, the gateway
                    or the filesystem refused
2      CONFIG       bad configuration, usage (argparse) or credentials
3      LOCKED       another as2sync holds the lock
4      LEDGER       the ledger is unusable
130    INTERRUPTED  Ctrl-C
=====  ===========  ==================================================================

A restart cannot fix 2, 3 or 4, so the systemd unit lists exactly those in
``RestartPreventExitStatus``. Expected errors (the :mod:`as2sync.errors` tree) become one
message on stderr, never a traceback; every registered secret is masked in it.
"""

from __future__ import annotations

import sys
from enum import IntEnum

from as2sync.errors import As2SyncError, AuthError, ConfigError, LedgerError, LockError
from as2sync.log import scrub


class ExitCode(IntEnum):
    OK = 0
    PROBLEM = 1
    CONFIG = 2
    LOCKED = 3
    LEDGER = 4
    INTERRUPTED = 130


def report(exc: As2SyncError | KeyboardInterrupt) -> ExitCode:
    """Tell the operator on stderr what went wrong; return the exit code for it."""
    match exc:
        case KeyboardInterrupt():
            return ExitCode.INTERRUPTED
        case ConfigError(problems=problems):
            _say("configuration problems:" if len(problems) > 1 else "configuration problem:")
            for problem in problems:
                print(f"  {scrub(str(problem))}", file=sys.stderr)
            return ExitCode.CONFIG
        case AuthError():
            _say(f"the gateway rejected the credentials: {scrub(str(exc))}")
            return ExitCode.CONFIG
        case LockError():
            _say(scrub(str(exc)))
            return ExitCode.LOCKED
        case LedgerError():
            _say(scrub(str(exc)))
            return ExitCode.LEDGER
        case _:  # the gateway, the filesystem, anything else in the tree
            _say(scrub(str(exc)))
            return ExitCode.PROBLEM


def _say(message: str) -> None:
    print(f"as2sync: {message}", file=sys.stderr)
