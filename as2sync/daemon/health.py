"""The daemon's heartbeat file and the health verdict computed from it.

The running daemon rewrites ``state_dir/health.json`` (atomically: temp file + rename) every
few seconds with what each loop says about itself (:mod:`as2sync.daemon.liveness`: when it is next
due, whether its passes fail and with what) and when the gateway last answered.
``as2sync health`` and ``as2sync status`` read it from another process; no socket or port is
needed, which keeps the Docker HEALTHCHECK and monitoring scripts trivial.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from as2sync.backends.base import Certificate
from as2sync.config.schema import Config
from as2sync.daemon.liveness import LoopBeat
from as2sync.daemon.liveness import problems as loop_problems
from as2sync.inbound.unrecorded import UnrecordedMessage

HEALTH_FILE = "health.json"


@dataclass
class Heartbeat:
    pid: int = 0
    started_at: float = 0.0
    updated_at: float = 0.0
    loops: dict[str, LoopBeat] = field(default_factory=dict)
    gateway_ok_at: float | None = None
    gateway_error_at: float | None = None
    gateway_error: str | None = None
    last_poll_at: float | None = None
    last_send_at: float | None = None
    backlog: int = 0
    stopping: bool = False
    unrecorded: list[UnrecordedMessage] = field(default_factory=list)
    """Received messages the ledger refused to record (shown by ``status``; not a health
    problem: see :mod:`as2sync.inbound.unrecorded`)."""
    certificates: list[Certificate] | None = None
    """The account's certificates as the backend last read them; None when the backend shows
    none (AS2 Gateway v1) or they have not been read yet."""


def write_heartbeat(state_dir: Path, beat: Heartbeat) -> None:
    path = state_dir / HEALTH_FILE
    tmp = path.with_name(f".{HEALTH_FILE}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(asdict(beat)), encoding="utf-8")
    os.replace(tmp, path)  # no fsync: a lost heartbeat after a power cut is harmless


def read_heartbeat(state_dir: Path) -> Heartbeat | None:
    try:
        data = json.loads((state_dir / HEALTH_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    known = {k: v for k, v in data.items() if k in Heartbeat.__dataclass_fields__}
    try:
        beat = Heartbeat(**known)
        beat.loops = {str(k): _loop_beat(v) for k, v in dict(beat.loops).items()}
        beat.unrecorded = [_unrecorded(v) for v in list(beat.unrecorded)]
        if beat.certificates is not None:
            beat.certificates = [_certificate(v) for v in list(beat.certificates)]
    except (TypeError, ValueError):
        return None
    return beat


def _loop_beat(raw: object) -> LoopBeat:
    if isinstance(raw, int | float):  # written by a version that kept one time per loop
        return LoopBeat(due_at=float(raw))
    if not isinstance(raw, dict):
        raise ValueError(f"not a loop record: {raw!r}")
    return LoopBeat(**{k: v for k, v in raw.items() if k in LoopBeat.__dataclass_fields__})


def _unrecorded(raw: object) -> UnrecordedMessage:
    if not isinstance(raw, dict):
        raise ValueError(f"not an unrecorded message: {raw!r}")
    fields = UnrecordedMessage.__dataclass_fields__
    return UnrecordedMessage(**{k: v for k, v in raw.items() if k in fields})


def _certificate(raw: object) -> Certificate:
    if not isinstance(raw, dict):
        raise ValueError(f"not a certificate: {raw!r}")
    fields = {k: v for k, v in raw.items() if k in Certificate.__dataclass_fields__}
    fields["belongs_to"] = tuple(fields.get("belongs_to") or ())
    return Certificate(**fields)


def expired_certificates(beat: Heartbeat, now: float) -> list[str]:
    """One reason per expired certificate: its partnership stops (seed 002's CERT_HAS_EXPIRED)
    until it is renewed. One about to expire is only warned about (logs, status)."""
    found = []
    for cert in beat.certificates or []:
        if cert.expired(now):
            assert cert.expires_at is not None
            users = f", used by {', '.join(cert.belongs_to)}" if cert.belongs_to else ""
            found.append(
                f"certificate {cert.alias} ({cert.type}{users}) expired on "
                f"{datetime.fromtimestamp(cert.expires_at, UTC).date().isoformat()}: renew it "
                "on the gateway, the partnerships using it cannot exchange messages"
            )
    return found


def process_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def evaluate(config: Config, beat: Heartbeat | None, now: float) -> list[str]:
    """Reasons the daemon is unhealthy; an empty list means healthy."""
    if beat is None:
        return ["no heartbeat: the daemon is not running or has not started yet"]
    problems = []
    if not process_alive(beat.pid):
        problems.append(f"the daemon (pid {beat.pid}) is not running")
    max_age = config.health.max_loop_age_seconds
    if now - beat.updated_at > max_age:
        problems.append(f"heartbeat is {now - beat.updated_at:.0f}s old (limit {max_age:.0f}s)")
    limit = config.health.max_unreachable_seconds
    for name, loop in sorted(beat.loops.items()):
        problems += loop_problems(name, loop, now, max_loop_age=max_age, max_unreachable=limit)
    last_ok = beat.gateway_ok_at if beat.gateway_ok_at is not None else beat.started_at
    if now - last_ok > limit:
        detail = f": {beat.gateway_error}" if beat.gateway_error else ""
        problems.append(f"gateway not reachable for {now - last_ok:.0f}s{detail}")
    problems += expired_certificates(beat, now)
    return problems
