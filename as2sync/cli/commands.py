"""One function per ``as2sync`` sub-command; each returns its exit code.

They take the parsed arguments, do their one job, and raise from the error tree;
:mod:`as2sync.cli.exits` turns those errors into messages and exit codes. The modules doing
the work are imported inside each command, so ``as2sync health`` (a Docker HEALTHCHECK every
few seconds) does not load the daemon.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from as2sync import log as logsetup
from as2sync.cli.exits import ExitCode
from as2sync.config import Config, find_config, load_config
from as2sync.folders.layout import survey


def _config_path(args: argparse.Namespace) -> Path:
    return find_config(args.config, os.environ)


def _load(args: argparse.Namespace, *, read_only: bool = False) -> Config:
    """The config for a command. ``read_only`` commands (status, messages, health) need neither
    the password nor the folders: they only read the state_dir."""
    return load_config(
        _config_path(args), check_folders=not read_only, require_password=not read_only
    )


def run(args: argparse.Namespace) -> int:
    from as2sync.daemon.service import Daemon

    config = _load(args)
    logsetup.configure(config.log.level, config.log.format.value)
    daemon = Daemon(config, _config_path(args), new_ledger=args.new_ledger)
    daemon.install_signal_handlers()
    daemon.open()
    try:
        if args.once:
            tty = sys.stderr.isatty()

            def progress(message: str) -> None:
                if tty:
                    print(f"as2sync: {message}", file=sys.stderr)

            return ExitCode.OK if daemon.run_once(progress) else ExitCode.PROBLEM
        daemon.run_forever()
        return ExitCode.OK
    finally:
        daemon.close()


def check(args: argparse.Namespace) -> int:
    """Exit 0 when the configuration is usable, even with refused folders: those are problems
    of the folder tree, not of the configuration; the daemon serves every other partnership
    (and lists them in ``status``), so they are warnings that must not fail a deployment."""
    from as2sync.backends.registry import registration

    config = _load(args)
    found = survey(config)
    pairs = found.pairs
    print(f"configuration OK: gateway {registration(config).describe(config)}")
    print(f"folders: {config.folders.root} ({len(pairs)} station/partner folder pair(s))")
    for pair in pairs:
        print(f"  {pair.station} -> {pair.partner}: {pair.base}")
    for refused in found.problems:
        print(f"warning: refused folder {refused}", file=sys.stderr)
    if not args.online:
        return ExitCode.OK
    from as2sync.backends.registry import make_backend

    backend = make_backend(config)
    try:
        problems = backend.online_problems(pairs)
    finally:
        backend.close()
    if problems:
        print("online check found problems:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return ExitCode.PROBLEM
    print("online check OK: logged in; every station and partner exists on the gateway")
    return ExitCode.OK


def health(args: argparse.Namespace) -> int:
    from as2sync.daemon.health import evaluate, read_heartbeat

    config = _load(args, read_only=True)
    problems = evaluate(config, read_heartbeat(config.state_dir), time.time())
    if not args.quiet:
        if problems:
            for problem in problems:
                print(f"unhealthy: {problem}")
        else:
            print("healthy")
    return ExitCode.PROBLEM if problems else ExitCode.OK


def status(args: argparse.Namespace) -> int:
    from as2sync.ops.status import collect_status, render_status

    config = _load(args, read_only=True)
    report = collect_status(config)
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        print(render_status(report))
    return ExitCode.OK


def messages(args: argparse.Namespace) -> int:
    from as2sync.ops.status import collect_messages, render_messages

    config = _load(args, read_only=True)
    direction = "in" if args.inbound else "out" if args.outbound else None
    rows = collect_messages(config, direction, args.partner, args.since, args.limit)
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
    else:
        print(render_messages(rows))
    return ExitCode.OK


def retry(args: argparse.Namespace) -> int:
    from as2sync.ops.operate import retry_target

    config = _load(args)
    logsetup.configure(config.log.level, config.log.format.value)
    print(retry_target(config, args.target))
    return ExitCode.OK


def send(args: argparse.Namespace) -> int:
    from as2sync.ops.operate import send_now

    config = _load(args)
    logsetup.configure(config.log.level, config.log.format.value)
    message_id = send_now(config, args.file, args.station, args.partner)
    print(f"sent {args.file.name} to {args.partner} as {message_id}")
    return ExitCode.OK


def demo(args: argparse.Namespace) -> int:
    from as2sync.ops.demo import run_demo

    run_demo(args.dir, args.port, args.api)
    return ExitCode.OK
