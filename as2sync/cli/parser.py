"""The sub-commands of ``as2sync`` and their options; each names its function in
:mod:`as2sync.cli.commands`."""

from __future__ import annotations

import argparse
from pathlib import Path

from as2sync import __version__
from as2sync.cli import commands


def _config_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c",
        "--config",
        help="config file (default: $AS2SYNC_CONFIG, else /etc/as2sync/config.yaml)",
    )


def build_parser() -> argparse.ArgumentParser:
    import as2sync.emulator.cli as emulator_cli

    parser = argparse.ArgumentParser(
        prog="as2sync",
        description="Sync local outbox/inbox folders with the AS2 Gateway REST API, exactly once.",
    )
    parser.add_argument("--version", action="version", version=f"as2sync {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the daemon in the foreground (systemd, Docker)")
    _config_arg(run)
    run.add_argument("--once", action="store_true", help="one full cycle, then exit (cron)")
    run.add_argument(
        "--new-ledger",
        action="store_true",
        help="start with a new, empty ledger although the folders show earlier work (only "
        "when the ledger is lost and cannot be restored from a backup)",
    )
    run.set_defaults(handler=commands.run)

    check = sub.add_parser("check", help="validate the configuration")
    _config_arg(check)
    check.add_argument(
        "--online",
        action="store_true",
        help="also log in and check stations/partners on the gateway",
    )
    check.set_defaults(handler=commands.check)

    status = sub.add_parser("status", help="counts, backlog, failures, gateway reachability")
    _config_arg(status)
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(handler=commands.status)

    messages = sub.add_parser("messages", help="recent history from the ledger")
    _config_arg(messages)
    direction = messages.add_mutually_exclusive_group()
    direction.add_argument("--in", dest="inbound", action="store_true", help="received only")
    direction.add_argument("--out", dest="outbound", action="store_true", help="sent only")
    messages.add_argument("--partner", help="only this partner")
    messages.add_argument(
        "--since", help="only since this time: ISO date/time, or an age like 2h, 3d (default 7d)"
    )
    messages.add_argument("--limit", type=int, default=100, help="at most this many rows")
    messages.add_argument("--json", action="store_true", help="machine-readable output")
    messages.set_defaults(handler=commands.messages)

    retry = sub.add_parser("retry", help="send a failed file again, or fetch a message again")
    _config_arg(retry)
    retry.add_argument("target", metavar="FILE|MESSAGE_ID")
    retry.set_defaults(handler=commands.retry)

    send = sub.add_parser("send", help="send one file now, through the same ledger and rules")
    _config_arg(send)
    send.add_argument("file", type=Path)
    send.add_argument("--station", required=True)
    send.add_argument("--partner", required=True)
    send.set_defaults(handler=commands.send)

    health = sub.add_parser("health", help="exit 0 if the daemon is healthy, 1 if not")
    _config_arg(health)
    health.add_argument("-q", "--quiet", action="store_true", help="print nothing")
    health.set_defaults(handler=commands.health)

    emulator = sub.add_parser("emulator", help="run the local AS2 Gateway emulator")
    emulator_cli.add_arguments(emulator)
    emulator.set_defaults(handler=emulator_cli.main)

    demo = sub.add_parser("demo", help="emulator + daemon on demo folders, to try as2sync")
    demo.add_argument("--dir", type=Path, default=Path("demo"), help="demo folder (default ./demo)")
    demo.add_argument("--port", type=int, default=0, help="emulator port (default: a free one)")
    demo.add_argument(
        "--api",
        choices=("as2gateway", "mftgateway"),
        default="as2gateway",
        help="which gateway API to emulate and drive (default as2gateway)",
    )
    demo.set_defaults(handler=commands.demo)
    return parser
