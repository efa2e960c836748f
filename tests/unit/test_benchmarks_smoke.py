"""The pure parts of the benchmarks: the bound arithmetic and the report (no timing here)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from benchmarks import procfs
from benchmarks.report import Figure, Section, Target, kept_soak_section, render
from benchmarks.stats import (
    inbound_request_bound,
    kind_of,
    min_span,
    per_hundred,
    percentile,
    ratio,
    summarize,
    sustained,
)
from tests.soak.run import write_section


def _ideal_limited(n: int, limit: int = 50, per: float = 10.0) -> list[float]:
    """Arrival times of ``n`` requests sent as fast as a 50-per-10-s window admits them."""
    return [per * (k // limit) + 0.001 * (k % limit) for k in range(n)]


def test_percentile_interpolates_between_closest_ranks() -> None:
    assert percentile([1, 2, 3, 4], 50) == pytest.approx(2.5)
    assert percentile([5], 99) == 5
    assert percentile([3, 1, 2], 0) == 1
    assert percentile([3, 1, 2], 100) == 3


def test_percentile_refuses_no_values_and_out_of_range() -> None:
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_ratio_is_none_without_a_positive_bound() -> None:
    assert ratio(4.5, 5.0) == pytest.approx(0.9)
    assert ratio(None, 5.0) is None
    assert ratio(1.0, 0.0) is None


def test_min_span_counts_whole_windows_after_the_first_burst() -> None:
    assert min_span(1) == 0
    assert min_span(50) == 0
    assert min_span(51) == 10
    assert min_span(300) == 50


def test_sustained_rate_of_an_ideal_limited_client_is_the_bound_not_more() -> None:
    span = sustained(_ideal_limited(300))
    assert span is not None
    assert span.first == 50
    assert span.count == 200
    assert span.rate == pytest.approx(5.0, rel=1e-3)


def test_sustained_rate_leaves_out_the_first_burst() -> None:
    # Fifty at once, then one every 0.4 s: the burst must not inflate the figure.
    times = [0.0] * 50 + [10 + 0.4 * k for k in range(101)]
    span = sustained(times)
    assert span is not None
    assert span.rate == pytest.approx(2.5)


def test_sustained_needs_more_than_one_window_after_the_burst() -> None:
    assert sustained(_ideal_limited(100)) is None
    assert sustained(_ideal_limited(101)) is not None


@pytest.mark.parametrize(
    ("method", "path", "kind"),
    [
        ("POST", "/v1/authorize", "authorize"),
        ("GET", "/v1/station", "directory"),
        ("POST", "/v1/message/received/batch/attachments", "batch"),
        ("GET", "/v1/message/received", "list received"),
        ("GET", "/v1/message/sent", "list sent/failed/queued"),
        ("GET", "/v1/message/received/<a@b>/attachments/0", "attachment"),
        ("GET", "/v1/message/received/<a@b>", "get received"),
        ("POST", "/v1/message/MYSTATION/ACME", "submit"),
        ("POST", "/v1/message/received/<a@b>/markUnread", "mark unread"),
        ("GET", "/v1/nothing", "other"),
    ],
)
def test_requests_are_classified_by_method_and_path(method: str, path: str, kind: str) -> None:
    assert kind_of(method, path) == kind


def test_summary_counts_429_apart_from_the_kinds() -> None:
    summary = summarize(
        [
            ["POST", "/v1/message/S/P", 202],
            ["POST", "/v1/message/S/P", 429],
            ["POST", "/v1/message/S/P", 202],
            ["GET", "/v1/message/received", 200],
        ]
    )
    assert summary.total == 4
    assert summary.rate_limited == 1
    assert summary.by_kind == {"submit": 2, "list received": 1}
    assert summary.count("submit", "list received") == 3


def test_inbound_bound_is_two_per_hundred_small_messages() -> None:
    assert inbound_request_bound(2000, 100) == 40
    assert per_hundred(inbound_request_bound(2000, 100), 2000) == 2


def test_inbound_bound_for_ten_per_batch_is_eleven_per_hundred() -> None:
    assert inbound_request_bound(400, 10) == 44
    assert inbound_request_bound(50, 9) == 1 + 6
    assert inbound_request_bound(100, 9) == 1 + 12
    assert inbound_request_bound(0, 10) == 0


def test_lower_is_better_figures_take_bound_over_value_as_ratio() -> None:
    fig = Figure("requests per 100", 2.5, "", bound=2.0, lower_is_better=True)
    assert fig.ratio == pytest.approx(0.8)
    assert Figure("x", 4.5, "files/s", bound=5.0).ratio == pytest.approx(0.9)


def test_targets_on_ratio_and_on_value() -> None:
    on_ratio = Target(">=", 0.9, on_ratio=True)
    assert Figure("a", 4.6, "files/s", bound=5.0, target=on_ratio).met is True
    assert Figure("a", 4.4, "files/s", bound=5.0, target=on_ratio).met is False
    assert Figure("a", None, "files/s", bound=5.0, target=on_ratio).met is None
    assert Figure("p50", 2.15, "s", target=Target("<=", 2.2)).met is True
    assert Figure("429", 1, "", target=Target("==", 0)).met is False


def test_report_lists_every_figure_with_its_bound_and_a_missed_target() -> None:
    section = Section("k", "1. Outbound", "what it measures")
    section.add(Figure("files/s", 4.0, "files/s", bound=5.0, target=Target(">=", 0.9, True)))
    section.details.append("a detail")
    text = render(
        intro="intro",
        machine={"CPUs (nproc)": "2"},
        started="2026-01-01 00:00 UTC",
        command=".venv/bin/python -m benchmarks.run",
        total_seconds=60,
        sections=[section],
        options="default sizes",
    )
    assert (
        "| 1. Outbound | files/s | 4.00 files/s | 5.00 files/s | 0.80 | ratio ≥ 0.9 | **NO** |"
        in text
    )
    assert "`.venv/bin/python -m benchmarks.run`" in text
    assert "- a detail" in text


def test_counts_render_as_whole_numbers_and_rates_with_decimals() -> None:
    section = Section("k", "T", "w")
    section.add(Figure("429 answers", 8, "", target=Target("==", 0)))
    section.add(Figure("rate", 8.0, "msg/s"))
    text = render(
        intro="", machine={}, started="", command="c", total_seconds=1, sections=[section],
        options="",
    )  # fmt: skip
    assert "| T | 429 answers | 8 | – | – | = 0 | **NO** |" in text
    assert "| T | rate | 8.00 msg/s |" in text


def test_a_soak_result_survives_a_new_report() -> None:
    old = "# old\n\n<!-- soak:begin -->\n## Soak\n30 minutes, flat RSS\n<!-- soak:end -->\n"
    soak = kept_soak_section(old)
    assert soak == "<!-- soak:begin -->\n## Soak\n30 minutes, flat RSS\n<!-- soak:end -->"
    text = render(
        intro="", machine={}, started="", command="c", total_seconds=1, sections=[],
        options="", soak=soak,
    )  # fmt: skip
    assert text.rstrip().endswith("<!-- soak:end -->")
    assert kept_soak_section("# no soak here") is None


def test_a_soak_result_replaces_the_last_one_and_survives_a_bench_rewrite(tmp_path: Path) -> None:
    report = tmp_path / "BENCHMARKS.md"
    report.write_text("# as2sync benchmarks\n\nfigures\n")
    write_section(report, ["## Soak", "", "first run"])
    write_section(report, ["## Soak", "", "second run"])
    text = report.read_text()
    assert text.startswith("# as2sync benchmarks\n\nfigures\n")
    assert "second run" in text and "first run" not in text
    kept = kept_soak_section(text)
    assert kept is not None and "second run" in kept


def test_context_switches_counts_every_thread_of_the_process() -> None:
    """Two threads hand a turn back and forth 200 times; they are still alive (waiting to be
    let go) when the count is read, since an ended thread no longer counts."""
    pid = os.getpid()
    ping, pong, release = threading.Event(), threading.Event(), threading.Event()
    finished = [threading.Event(), threading.Event()]

    def player(mine: threading.Event, theirs: threading.Event, over: threading.Event) -> None:
        for _ in range(200):
            mine.wait()
            mine.clear()
            theirs.set()
        over.set()
        release.wait()

    threads = [
        threading.Thread(target=player, args=(ping, pong, finished[0])),
        threading.Thread(target=player, args=(pong, ping, finished[1])),
    ]
    before = procfs.context_switches(pid)
    for t in threads:
        t.start()
    ping.set()
    for over in finished:
        over.wait()
    after = procfs.context_switches(pid)
    release.set()
    for t in threads:
        t.join()
    assert after - before >= 200  # each turn handed over wakes a waiting thread
