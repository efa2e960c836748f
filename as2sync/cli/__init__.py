"""The ``as2sync`` command line: parse the arguments, run one command, turn errors into exit codes.

* :mod:`~as2sync.cli.parser`: the sub-commands and their options;
* :mod:`~as2sync.cli.commands`: one function per sub-command, returning its exit code;
* :mod:`~as2sync.cli.exits`: the exit codes, and the one place where errors become messages.

Anything outside the :mod:`as2sync.errors` tree is a bug and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from as2sync import log as logsetup
from as2sync.cli.exits import report
from as2sync.cli.parser import build_parser
from as2sync.errors import As2SyncError


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command: Callable[..., int] = args.handler
    # Until a command configures logging from its config file, only warnings are shown.
    logsetup.configure("warning", "auto")
    try:
        return int(command(args))
    except (As2SyncError, KeyboardInterrupt) as exc:
        return int(report(exc))
