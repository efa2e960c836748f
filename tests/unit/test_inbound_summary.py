"""The hourly info-level summary of polling."""

from __future__ import annotations

from structlog.testing import capture_logs

from as2sync.inbound.summary import PollSummary


def test_the_summary_counts_failed_polls_and_what_they_stored_before_failing() -> None:
    now = [1000.0]
    summary = PollSummary(lambda: now[0], period=60)
    with capture_logs() as logs:
        summary.polled(stored=2, failed=False)
        now[0] += 30
        summary.polled(stored=1, failed=True)  # stored one, then a storage error ended it
        assert logs == []
        now[0] += 31
        summary.polled(stored=0, failed=True)
    assert logs == [
        {
            "event": "inbound.summary",
            "log_level": "info",
            "polls": 3,
            "failed": 2,
            "stored": 3,
            "seconds": 61,
        }
    ]
