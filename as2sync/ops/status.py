"""``as2sync status`` and ``as2sync messages``: what the ledger and the heartbeat say.

Both read from another process than the daemon's: the ledger is SQLite in WAL mode (readers
never block the writer) and the heartbeat is a small JSON file. Output is plain data (dicts)
so ``--json`` and the table rendering show the same facts.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from as2sync.backends.registry import registration
from as2sync.config import Config
from as2sync.daemon.health import Heartbeat, evaluate, process_alive, read_heartbeat
from as2sync.errors import ConfigError, ConfigProblem
from as2sync.folders.layout import discover, survey
from as2sync.ledger import inbound as inbound_ledger
from as2sync.ledger import outbound as outbound_ledger
from as2sync.ledger.db import open_ledger_read_only
from as2sync.outbound.scanner import Filter, scan_outbox


def _iso(ts: float | None) -> str | None:
    if not ts:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def _outbox_files(config: Config) -> tuple[int, float | None]:
    """Files waiting in outboxes (not yet claimed) and the oldest one's mtime.

    Uses the engine's own scanner and filter, so status counts exactly what will be sent.
    """
    flt = Filter(config.outbound.exclude, config.outbound.done_file_suffix)
    count, oldest = 0, None
    for pair in discover(config):
        for obs in scan_outbox(pair, flt):
            count += 1
            mtime = obs.mtime_ns / 1e9
            oldest = mtime if oldest is None else min(oldest, mtime)
    return count, oldest


def _certificates(config: Config, beat: Heartbeat | None, now: float) -> list[dict[str, Any]]:
    """The account's certificates as the daemon last read them, soonest expiry first."""
    rows = []
    for cert in (beat.certificates or []) if beat else []:
        days = cert.days_left(now)
        rows.append(
            {
                "alias": cert.alias,
                "type": cert.type,
                "subject": cert.subject,
                "belongs_to": list(cert.belongs_to),
                "expires": _iso(cert.expires_at),
                "days_left": days,
                "expired": cert.expired(now),
                "expiring": days is not None and days <= config.certificates.warn_days,
            }
        )
    return sorted(rows, key=lambda r: (r["days_left"] is None, r["days_left"] or 0, r["alias"]))


def collect_status(config: Config) -> dict[str, Any]:
    now = time.time()
    beat = read_heartbeat(config.state_dir)
    ledger = open_ledger_read_only(config.state_dir)
    try:
        with ledger.read() as session:
            out_counts = outbound_ledger.counts_by_state(session)
            in_counts = inbound_ledger.counts_by_state(session)
            claimed, oldest_claimed = outbound_ledger.waiting_files(session)
            pending_in = inbound_ledger.pending_count(session)
            out_failures = outbound_ledger.recent_failures(session, limit=10)
            in_failures = inbound_ledger.recent_failures(session, limit=10)
    finally:
        ledger.close()
    unclaimed, oldest_unclaimed = _outbox_files(config)
    oldest = min((t for t in (oldest_claimed, oldest_unclaimed) if t), default=None)
    partnerships: dict[str, dict[str, Any]] = {}
    for (station, partner), states in sorted(out_counts.items()):
        partnerships.setdefault(f"{station}/{partner}", {"outbound": {}, "inbound": {}})[
            "outbound"
        ] = states
    for row in in_counts:
        entry = partnerships.setdefault(
            f"{row.station}/{row.partner}", {"outbound": {}, "inbound": {}}
        )
        entry["inbound"][row.state] = row.count
    running = beat is not None and process_alive(beat.pid) and not beat.stopping
    reachable = None
    if beat is not None and (beat.gateway_ok_at or beat.gateway_error_at):
        reachable = (beat.gateway_ok_at or 0) >= (beat.gateway_error_at or 0)
    report: dict[str, Any] = {
        "generated_at": _iso(now),
        "daemon": {
            "running": running,
            "pid": beat.pid if beat else None,
            "started_at": _iso(beat.started_at) if beat else None,
            "healthy": not evaluate(config, beat, now),
            "problems": evaluate(config, beat, now),
        },
        "gateway": {
            "url": registration(config).address(config),
            "reachable": reachable,
            "last_ok_at": _iso(beat.gateway_ok_at) if beat else None,
            "last_error_at": _iso(beat.gateway_error_at) if beat else None,
            "last_error": beat.gateway_error if beat else None,
        },
        "last_poll_at": _iso(beat.last_poll_at) if beat else None,
        "last_send_at": _iso(beat.last_send_at) if beat else None,
        "backlog": {
            "outbox_files": unclaimed,
            "claimed_files": claimed,
            "oldest_waiting_at": _iso(oldest),
            "inbound_pending": pending_in,
        },
        "partnerships": partnerships,
        # Received messages the ledger refused to record: unread, tried every poll.
        "unrecorded_messages": [
            {**asdict(u), "since": _iso(u.since)} for u in (beat.unrecorded if beat else [])
        ],
        # Folders as2sync refuses (a symlinked partnership or box): nothing moves there.
        "folder_problems": [str(p) for p in survey(config).problems],
        "recent_failures": [
            {
                "direction": "out",
                "station": f.station,
                "partner": f.partner,
                "file": f.file,
                "message_id": f.message_id,
                "state": f.state,
                "reason": f.error,
                "at": _iso(f.finished_at or f.claimed_at),
            }
            for f in out_failures
        ]
        + [
            {
                "direction": "in",
                "station": m.station,
                "partner": m.partner,
                "file": ", ".join(os.path.basename(p) for p in m.files),
                "message_id": m.message_id,
                "state": m.state,
                "reason": m.last_error,
                "at": _iso(m.updated_at),
            }
            for m in in_failures
        ],
    }
    if beat is not None and beat.certificates is not None:  # the backend shows certificates
        report["certificates"] = _certificates(config, beat, now)
    return report


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def render_status(report: dict[str, Any]) -> str:
    daemon, gateway, backlog = report["daemon"], report["gateway"], report["backlog"]
    reach = {True: "reachable", False: "NOT reachable", None: "unknown"}[gateway["reachable"]]
    running = f"running (pid {daemon['pid']})" if daemon["running"] else "not running"
    verdict = "healthy" if daemon["healthy"] else "UNHEALTHY"
    last_error = f" (last error: {gateway['last_error']})" if gateway["reachable"] is False else ""
    poll, send = report["last_poll_at"] or "never", report["last_send_at"] or "never"
    oldest = backlog["oldest_waiting_at"] or "-"
    lines = [
        f"daemon:    {running}, {verdict}",
        f"gateway:   {gateway['url']} {reach}{last_error}",
        f"last poll: {poll}   last send: {send}",
        f"backlog:   {backlog['outbox_files']} in outboxes, {backlog['claimed_files']} being sent, "
        f"oldest since {oldest}; {backlog['inbound_pending']} inbound pending",
    ]
    for problem in daemon["problems"]:
        lines.append(f"  ! {problem}")
    for problem in report["folder_problems"]:
        lines.append(f"  ! refused folder {problem}")
    for u in report["unrecorded_messages"]:
        lines.append(
            f"  ! received message {u['message_id']} from {u['station']}/{u['partner']} "
            f"({u['file']}) cannot be recorded in the ledger since {u['since']}: {u['error']}; "
            "it stays unread on the gateway and is tried again every poll"
        )
    rows = []
    for name, entry in report["partnerships"].items():
        out = ", ".join(f"{k} {v}" for k, v in sorted(entry["outbound"].items())) or "-"
        inn = ", ".join(f"{k} {v}" for k, v in sorted(entry["inbound"].items())) or "-"
        rows.append([name, out, inn])
    lines += ["", _table(["partnership", "outbound", "inbound"], rows)]
    if "certificates" in report:
        lines += ["", "certificates:", _certificate_table(report["certificates"])]
    if report["recent_failures"]:
        fail_rows = [
            [
                f["at"] or "",
                f["direction"],
                f"{f['station']}/{f['partner']}",
                f["file"],
                f["reason"] or "",
            ]
            for f in report["recent_failures"]
        ]
        lines += [
            "",
            "recent failures:",
            _table(["time", "dir", "partnership", "file", "reason"], fail_rows),
        ]
    return "\n".join(lines)


def _certificate_table(certificates: list[dict[str, Any]]) -> str:
    rows = []
    for c in certificates:
        days = "?" if c["days_left"] is None else str(c["days_left"])
        mark = "EXPIRED" if c["expired"] else ("expiring" if c["expiring"] else "")
        rows.append(
            [c["alias"], c["type"], ", ".join(c["belongs_to"]), c["expires"] or "?", days, mark]
        )
    return _table(["alias", "type", "used by", "expires", "days left", ""], rows)


_AGE = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(value: str | None, now: float) -> float:
    """``2h``, ``3d`` (an age) or an ISO date/time; default 7 days."""
    if not value:
        return now - 7 * 86400
    match = _AGE.match(value.strip())
    if match:
        return now - float(match.group(1)) * _UNITS[match.group(2)]
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(
            [ConfigProblem("--since", f"{value!r} is neither an age like 2h/3d nor an ISO date")]
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def collect_messages(
    config: Config, direction: str | None, partner: str | None, since: str | None, limit: int
) -> list[dict[str, Any]]:
    cutoff = parse_since(since, time.time())
    rows: list[dict[str, Any]] = []
    ledger = open_ledger_read_only(config.state_dir)
    try:
        with ledger.read() as session:
            if direction in (None, "out"):
                for o in outbound_ledger.recent(
                    session, since=cutoff, partner=partner, limit=limit
                ):
                    rows.append(
                        {
                            "direction": "out",
                            "station": o.station,
                            "partner": o.partner,
                            "file": o.file,
                            "message_id": o.message_id,
                            "state": o.state,
                            "time": _iso(o.finished_at or o.submitted_at or o.claimed_at),
                            "delivery": o.delivery_status,
                            "mdn": o.mdn_status,
                            "error": o.error,
                        }
                    )
            if direction in (None, "in"):
                for m in inbound_ledger.recent(session, since=cutoff, partner=partner, limit=limit):
                    rows.append(
                        {
                            "direction": "in",
                            "station": m.station,
                            "partner": m.partner,
                            "file": ", ".join(os.path.basename(p) for p in m.files),
                            "message_id": m.message_id,
                            "state": m.state,
                            "time": _iso(m.stored_at or m.updated_at),
                            "delivery": None,
                            "mdn": None,
                            "error": m.last_error,
                        }
                    )
    finally:
        ledger.close()
    rows.sort(key=lambda r: r["time"] or "", reverse=True)
    return rows[:limit]


def render_messages(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no messages in that period"
    table = [
        [
            r["time"] or "",
            r["direction"],
            f"{r['station']}/{r['partner']}",
            r["file"],
            r["message_id"] or "",
            r["state"],
            "/".join(x for x in (r["delivery"], r["mdn"]) if x) or (r["error"] or ""),
        ]
        for r in rows
    ]
    return _table(["time", "dir", "partnership", "file", "message id", "state", "status"], table)
