"""Named crash points for the crash tests of the real process.

``failpoint("outbound.after_submit")`` does nothing unless the environment variable
``AS2SYNC_FAILPOINTS`` names that point, e.g. ``AS2SYNC_FAILPOINTS=outbound.after_submit@3``:
the third time the point is reached, the process kills itself with SIGKILL, exactly as if the
operator or the kernel had killed it at that line. Random-time SIGKILL tests find the common
windows; failpoints prove the rare ones (between a request and its ledger commit) are safe.

The variable is read once; with it unset the cost is one dict lookup.
"""

from __future__ import annotations

import os
import signal
import threading

_lock = threading.Lock()
_counts: dict[str, int] = {}


def _parse(spec: str) -> dict[str, int]:
    points: dict[str, int] = {}
    for item in spec.split(","):
        name, _, nth = item.strip().partition("@")
        if name:
            points[name] = int(nth) if nth.isdigit() else 1
    return points


_armed = _parse(os.environ.get("AS2SYNC_FAILPOINTS", ""))


def failpoint(name: str) -> None:
    """Kill this process with SIGKILL if ``name`` is armed and reached for the n-th time."""
    if name not in _armed:
        return
    with _lock:
        _counts[name] = _counts.get(name, 0) + 1
        if _counts[name] == _armed[name]:
            os.kill(os.getpid(), signal.SIGKILL)
