"""Named crash points for the crash tests of the real process.

``failpoint("outbound.after_submit")`` does nothing unless the environment variable
``AS2SYNC_FAILPOINTS`` names that point, e.g. ``AS2SYNC_FAILPOINTS=outbound.after_submit@3``:
the third time the point is reached, the process kills itself with SIGKILL, exactly as if the
operator or the kernel had killed it at that line. Random-time SIGKILL tests find the common
windows; failpoints prove the rare ones (between a request and its ledger commit) are safe.

A point armed as ``NAME:raise`` (or ``NAME@N:raise``) raises :class:`FailpointError` on every
hit from the n-th on instead: the real process then behaves as if that line had a bug, which
is how the e2e tests make a loop fail on every pass.

The variable is read once; with it unset the cost is one dict lookup. In-process tests (the
property tests of the exactly-once machinery) arm points with :func:`arm` and an ``on_hit``
that raises an exception nothing in as2sync catches, so nothing after the point runs.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable

_lock = threading.Lock()
_counts: dict[str, int] = {}
_RAISE = ":raise"


class FailpointError(RuntimeError):
    """Raised by a point armed with ``:raise``: stands for a bug at that line."""


def _parse(spec: str) -> tuple[dict[str, int], set[str]]:
    """``{name: nth}`` and the names armed to raise (from the n-th hit on)."""
    points: dict[str, int] = {}
    raising: set[str] = set()
    for item in spec.split(","):
        item = item.strip()
        if item.endswith(_RAISE):
            item = item[: -len(_RAISE)]
            raising.add(item.partition("@")[0])
        name, _, nth = item.partition("@")
        if name:
            points[name] = int(nth) if nth.isdigit() else 1
    return points, raising


def _sigkill(_name: str) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


_armed, _raising = _parse(os.environ.get("AS2SYNC_FAILPOINTS", ""))
_on_hit: Callable[[str], None] = _sigkill


def arm(spec: str, on_hit: Callable[[str], None] = _sigkill) -> None:
    """Replace what is armed with ``spec`` (same syntax as the variable; "" disarms all),
    counting hits from zero; ``on_hit(name)`` runs instead of the SIGKILL when one fires."""
    global _armed, _raising, _on_hit
    with _lock:
        _armed, _raising = _parse(spec)
        _counts.clear()
        _on_hit = on_hit


def failpoint(name: str) -> None:
    """Kill this process with SIGKILL if ``name`` is armed and reached for the n-th time
    (raise :class:`FailpointError` from then on if it is armed to raise)."""
    if name not in _armed:
        return
    with _lock:
        _counts[name] = _counts.get(name, 0) + 1
        nth = _armed.get(name, 1)
        if name in _raising:
            fire, raising = _counts[name] >= nth, True
        else:
            fire, raising = _counts[name] == nth, False
        on_hit = _on_hit
    if fire and raising:
        raise FailpointError(f"failpoint {name} (armed to raise)")
    if fire:
        on_hit(name)
