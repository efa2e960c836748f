"""The raw baseline client: the fastest way to pull received messages off the emulator.

A bare loop: list 100 unread, POST the batch download with ``markAsRead=true`` for up to 100
IDs or 10 MiB of declared attachments, stream the zip into one scratch file, repeat until the
list is not full. No zip parsing, no checks, no fsync, no ledger, no inbox: it makes the same
requests as as2sync and does nothing else, so what it reaches is what the emulator and the
machine can serve at all.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from benchmarks.context import Context, say
from benchmarks.receiving import seed
from benchmarks.stats import RequestSummary
from tests.e2e.harness import PASSWORD, USER

BATCH_BYTES = 10 * 2**20
PAGE = 100


@dataclass(frozen=True)
class RawRun:
    messages: int
    attachment_bytes: int  # per message
    zip_bytes: int  # received in all
    seconds: float
    requests: RequestSummary

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    @property
    def megabytes_per_second(self) -> float:
        return self.messages * self.attachment_bytes / self.seconds / 1e6


def _request(client: httpx.Client, method: str, url: str, **kwargs: Any) -> httpx.Response:
    while True:
        response = client.request(method, url, **kwargs)
        if response.status_code == 429:
            time.sleep(float(response.headers.get("Retry-After", "1")))
            continue
        response.raise_for_status()
        return response


def _groups(records: list[dict[str, Any]]) -> list[list[str]]:
    """Message IDs in batches of at most 100 IDs and ``BATCH_BYTES`` of declared size."""
    groups: list[list[str]] = []
    size = 0
    for record in records:
        total = sum(int(a["size"]) for a in record["attachments"])
        if not groups or size + total > BATCH_BYTES or len(groups[-1]) >= PAGE:
            groups.append([])
            size = 0
        groups[-1].append(record["as2MessageId"])
        size += total
    return groups


def download_all(base_url: str, scratch: Path) -> tuple[int, int, float]:
    """Drain the unread list; returns (messages, zip bytes, seconds)."""
    messages = received = 0
    with httpx.Client(base_url=base_url, timeout=120) as client:
        started = time.monotonic()
        login = {"username": USER, "password": PASSWORD}
        client.headers["Authorization"] = _request(client, "POST", "/authorize", json=login).json()[
            "token"
        ]
        while True:
            params = {"unreadOnly": "true", "pageLength": str(PAGE), "sortDir": "asc"}
            page = _request(client, "GET", "/message/received", params=params).json()["records"]
            for ids in _groups(page):
                with (
                    client.stream(
                        "POST",
                        "/message/received/batch/attachments",
                        params={"markAsRead": "true"},
                        json=ids,
                    ) as response,
                    scratch.open("wb") as out,
                ):
                    response.raise_for_status()
                    for chunk in response.iter_bytes(1 << 16):
                        received += len(chunk)
                        out.write(chunk)
                messages += len(ids)
            if len(page) < PAGE:
                break
        return messages, received, time.monotonic() - started


def measure(ctx: Context, label: str, count: int, size: int) -> RawRun:
    """Seed ``count`` messages of ``size`` bytes on a fresh emulator (real limit) and drain
    them with the raw client; the result is also left on the board as ``raw.<label>``."""
    say(f"raw baseline {label}: {count} messages of {size:,} bytes")
    with ctx.workspace(f"raw-{label}") as ws:
        emu = ws.emulator()
        seed(emu, count, size)
        messages, received, seconds = download_all(emu.base_url, ws.directory / "batch.zip")
        run = RawRun(messages, size, received, seconds, emu.requests())
    if messages != count:
        raise AssertionError(f"raw client fetched {messages} of {count} messages")
    ctx.board[f"raw.{label}"] = run
    return run


def get_or_measure(ctx: Context, label: str, count: int, size: int) -> RawRun:
    """The raw run of ``label`` made earlier in this bench run, or a new one."""
    earlier = ctx.board.get(f"raw.{label}")
    if isinstance(earlier, RawRun) and earlier.messages == count:
        return earlier
    return measure(ctx, label, count, size)
