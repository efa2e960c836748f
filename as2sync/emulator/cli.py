"""``as2sync emulator``: serve the AS2 Gateway v1 emulator (or, with ``--api mftgateway``, the
MFT Gateway REST one) until SIGINT/SIGTERM.

Wired into :mod:`as2sync.cli` through :func:`add_arguments` and :func:`main`; also runnable as
``python -m as2sync.emulator``. On start it prints the base URL and the credentials it accepts
(these are demo credentials, printing them is the point). Exit codes: 0 after a clean stop
(signal), 2 when it cannot start (bad option, port in use, unreadable data dir).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from as2sync.emulator.mft.settings import MftSettings
from as2sync.emulator.settings import MIB, EmulatorSettings, Faults, PartnerSpec
from as2sync.emulator.state import EmulatorState

DEFAULT_STATIONS = ("MYSTATION",)
DEFAULT_PARTNERS = ("ACME", "LOOP:echo", "DOWN:fail")

SAMPLE_EDI = (
    "ISA*00*          *00*          *ZZ*{partner:<15}*ZZ*{station:<15}*260101*1200*U*00401*"
    "{n:09d}*0*P*>~GS*PO*{partner}*{station}*20260101*1200*{n}*X*004010~ST*850*0001~"
    "BEG*00*SA*PO-{n:05d}**20260101~PO1*1*10*EA*9.95**VP*SKU-{n:04d}~CTT*1~SE*5*0001~"
    "GE*1*{n}~IEA*1*{n:09d}~\n"
)


def _rate_limit(text: str) -> tuple[int, float]:
    count, sep, per = text.partition("/")
    try:
        limit = (int(count), float(per))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected REQUESTS/SECONDS like 50/10: {text}") from None
    if not sep or limit[0] < 1 or limit[1] <= 0:
        raise argparse.ArgumentTypeError(f"expected REQUESTS/SECONDS like 50/10: {text}")
    return limit


def _probability(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"a probability between 0 and 1: {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the emulator's options to ``parser``."""
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    add("--port", type=int, default=8080, help="port (default 8080; 0 picks a free one)")
    add("--user", default="demo@example.com", help="account user name (default demo@example.com)")
    add("--password", default="demo", help="account password (default demo)")
    add(
        "--station",
        action="append",
        metavar="AS2ID",
        help=f"a station AS2 ID; repeat for more (default {' '.join(DEFAULT_STATIONS)})",
    )
    add(
        "--partner",
        action="append",
        metavar="AS2ID[:echo|:fail]",
        help="a partner AS2 ID, optionally :echo (sends come back as received messages) or "
        f":fail (every send fails); repeat for more (default {' '.join(DEFAULT_PARTNERS)})",
    )
    add("--token-ttl", type=float, default=86400.0, metavar="S", help="token lifetime (86400)")
    limits = parser.add_mutually_exclusive_group()
    limits.add_argument(
        "--rate-limit",
        type=_rate_limit,
        default=(50, 10.0),
        metavar="N/S",
        help="at most N requests per S seconds (default 50/10, as the real service)",
    )
    limits.add_argument("--no-rate-limit", action="store_true", help="switch the rate limit off")
    add("--delivery-delay", type=float, default=2.0, metavar="S", help="queued -> sent (2.0)")
    add("--echo-delay", type=float, default=3.0, metavar="S", help="echo partner delay (3.0)")
    add(
        "--send-timeout",
        type=float,
        metavar="S",
        help="sendTimeout shown for every partner (default: the delivery delay, at least 1)",
    )
    add(
        "--batch-limit",
        type=int,
        default=10 * MIB,
        metavar="BYTES",
        help="batch-download aggregation limit (default 10 MiB)",
    )
    add("--data", type=Path, metavar="DIR", help="persist state in DIR (survives restarts)")
    add("--seed-messages", type=int, default=0, metavar="N", help="seed N received messages")
    add(
        "--received-sides",
        choices=("spec", "swapped"),
        default="swapped",
        help="senderId/receiverId of received messages: the spec's literal text, or swapped "
        "(sender = partner; default)",
    )
    add(
        "--strip-batch-brackets",
        action="store_true",
        help="name batch-zip folders without the message ID's <angle brackets>",
    )
    faults = parser.add_argument_group("fault injection (probabilities 0..1)")
    faults.add_argument("--error-before", type=_probability, default=0.0, metavar="P")
    faults.add_argument("--error-after", type=_probability, default=0.0, metavar="P")
    faults.add_argument("--drop", type=_probability, default=0.0, metavar="P")
    faults.add_argument("--drop-after", type=_probability, default=0.0, metavar="P")
    faults.add_argument("--truncate", type=_probability, default=0.0, metavar="P")
    faults.add_argument("--token-expiry", type=_probability, default=0.0, metavar="P")
    faults.add_argument("--rate-limit-burst", type=_probability, default=0.0, metavar="P")
    faults.add_argument("--latency", type=float, default=0.0, metavar="S")
    faults.add_argument(
        "--fault-endpoints",
        metavar="NAMES",
        help="comma-separated endpoints faults apply to (send,batch,list,get,attachment,...)",
    )
    faults.add_argument("--seed", type=int, metavar="N", help="random seed for the faults")
    add(
        "--api",
        choices=("as2gateway", "mftgateway"),
        default="as2gateway",
        help="the API to serve: AS2 Gateway v1 (default) or MFT Gateway REST (at the root, "
        "attachment URLs served by a second listener)",
    )
    mft = parser.add_argument_group("MFT Gateway (--api mftgateway)")
    mft.add_argument(
        "--list-marks-read",
        action="store_true",
        help="the inbox list itself marks what it returns as fetched (reading (b))",
    )
    mft.add_argument(
        "--attachments-mark-read", action="store_true", help="GET .../attachments marks read"
    )
    mft.add_argument(
        "--no-incomplete-list",
        action="store_true",
        help="/message/outbox/incomplete answers 404 (documented as coming soon)",
    )
    mft.add_argument(
        "--incomplete-partner",
        action="append",
        metavar="AS2ID",
        help="messages to this partner end incomplete (no MDN); repeat for more",
    )
    mft.add_argument(
        "--url-validity", type=float, default=600.0, metavar="S", help="signed URL validity (600)"
    )


def settings_from_args(args: argparse.Namespace) -> EmulatorSettings:
    """Build the settings; ValueError for inconsistent options."""
    endpoints = (
        tuple(e.strip() for e in args.fault_endpoints.split(",") if e.strip())
        if args.fault_endpoints
        else None
    )
    return EmulatorSettings(
        user=args.user,
        password=args.password,
        stations=tuple(args.station or DEFAULT_STATIONS),
        partners=tuple(PartnerSpec.parse(p) for p in (args.partner or DEFAULT_PARTNERS)),
        token_ttl=args.token_ttl,
        rate_limit=None if args.no_rate_limit else args.rate_limit,
        delivery_delay=args.delivery_delay,
        echo_delay=args.echo_delay,
        send_timeout=args.send_timeout,
        batch_limit_bytes=args.batch_limit,
        data_dir=args.data,
        received_sides=args.received_sides,
        batch_folder_brackets=not args.strip_batch_brackets,
        host=args.host,
        port=args.port,
        faults=Faults(
            error_before=args.error_before,
            error_after=args.error_after,
            drop=args.drop,
            drop_after=args.drop_after,
            truncate=args.truncate,
            token_expiry=args.token_expiry,
            rate_limit_burst=args.rate_limit_burst,
            latency=args.latency,
            endpoints=endpoints,
            seed=args.seed,
        ),
    )


def mft_settings_from_args(args: argparse.Namespace) -> MftSettings:
    """The MFT front-end's switches; ValueError for inconsistent options."""
    return MftSettings(
        list_marks_read=args.list_marks_read,
        attachments_mark_read=args.attachments_mark_read,
        incomplete_list=not args.no_incomplete_list,
        incomplete_partners=tuple(args.incomplete_partner or ()),
        url_validity=args.url_validity,
    )


def seed_messages(state: EmulatorState, count: int) -> list[str]:
    """Seed ``count`` received X12 850 purchase orders, round-robin over stations and partners."""
    stations = state.stations()
    partners = [p.as2_id for p in state.partners() if p.partner_type == "Production"]
    ids = []
    for n in range(1, count + 1):
        station = stations[n % len(stations)]
        partner = partners[n % len(partners)]
        edi = SAMPLE_EDI.format(partner=partner, station=station, n=n).encode()
        ids.append(
            state.seed_received(
                station, partner, [(f"PO-{n:05d}.edi", edi)], subject=f"Purchase order {n}"
            )
        )
    return ids


def main(args: argparse.Namespace) -> int:
    """Run until SIGINT/SIGTERM; 0 on a clean stop, 2 if the emulator cannot start."""
    # The servers are imported only when run, not at module level: `as2sync` builds this
    # sub-command's parser on every run, and production installs (the Docker image) have no
    # uvicorn/starlette (the emulator extra).
    try:
        settings = settings_from_args(args)
        mft_settings_from_args(args)  # refuse bad MFT options before anything starts
    except ValueError as exc:
        print(f"as2sync emulator: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        del signum, frame
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        if args.api == "mftgateway":
            _serve_mft(args, settings, stop)
        else:
            _serve_v1(args, settings, stop)
    except (OSError, RuntimeError, ValueError) as exc:
        print(f"as2sync emulator: cannot start: {exc}", file=sys.stderr)
        return 2
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("emulator stopped", flush=True)
    return 0


def _summary(emu: Any, settings: EmulatorSettings) -> str:
    partners = ", ".join(f"{p.as2_id} ({p.behaviour})" for p in emu.state.partners())
    limit = settings.rate_limit
    return (
        f"  admin URL:  {emu.admin_url}\n"
        f"  user:       {settings.user}\n"
        f"  password:   {settings.password}\n"
        f"  stations:   {', '.join(emu.state.stations())}\n"
        f"  partners:   {partners}\n"
        f"  rate limit: {f'{limit[0]}/{limit[1]:g}s' if limit else 'off'}\n"
        f"  data:       {settings.data_dir or 'in memory only'}\n"
        "Press Ctrl-C to stop."
    )


def _serve_v1(args: argparse.Namespace, settings: EmulatorSettings, stop: threading.Event) -> None:
    # Imported here, not at module level: see main.
    from as2sync.emulator.server import running_emulator

    with running_emulator(settings) as emu:
        if args.seed_messages > 0:
            seed_messages(emu.state, args.seed_messages)
        print(
            f"AS2 Gateway emulator running\n  base URL:   {emu.base_url}\n"
            + _summary(emu, settings),
            flush=True,
        )
        while not stop.wait(0.5):
            pass


def _serve_mft(args: argparse.Namespace, settings: EmulatorSettings, stop: threading.Event) -> None:
    from as2sync.emulator.mft.server import running_mft_emulator

    with running_mft_emulator(settings, mft_settings_from_args(args)) as emu:
        if args.seed_messages > 0:
            seed_messages(emu.state, args.seed_messages)
        print(
            "MFT Gateway emulator running\n"
            f"  base URL:   {emu.base_url}\n"
            f"  objects:    {emu.objects_url}\n" + _summary(emu, settings),
            flush=True,
        )
        while not stop.wait(0.5):
            pass
