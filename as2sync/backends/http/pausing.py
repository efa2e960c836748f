"""The one way a gateway-side wait sleeps: interrupted at once when the daemon stops.

Rate-limit pauses and retry back-offs can last minutes; on SIGTERM they must end immediately
(``shutdown_timeout_seconds`` is for a request already in flight, not for a wait). Tests
inject ``sleep`` so that nothing really waits.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


def pause(
    seconds: float,
    stop: threading.Event | None,
    sleep: Callable[[float], None] | None = None,
) -> None:
    """Wait ``seconds``: through ``sleep`` when injected, else until ``stop`` is set."""
    if sleep is not None:
        sleep(seconds)
    elif stop is not None:
        stop.wait(seconds)
    else:
        time.sleep(seconds)
