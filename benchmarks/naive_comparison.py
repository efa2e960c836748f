"""Benchmark 7: as2sync against the straightforward client (:mod:`benchmarks.naive_client`) on
the same emulator, the same limit and the same messages."""

from __future__ import annotations

from benchmarks.context import Context, say
from benchmarks.naive_client import NaiveClient
from benchmarks.receiving import receive, seed, verify_inbox
from benchmarks.report import Figure, Section
from benchmarks.stats import inbound_request_bound, per_hundred
from tests.e2e.harness import PASSWORD, USER

WHAT = """
The same small messages fetched by the client a person would script from the API docs (list
unread; per message GET its attachment and GET it with `markAsRead=true`; sleep on 429 and
retry) and by as2sync, each against a fresh emulator with the real limit of 50 requests per
10 s. Requests are counted in the emulator's log (429 answers shown separately). The bound
for requests per 100 messages is 2 (one list, one batch download).
"""


def run(ctx: Context) -> Section:
    section = Section("naive", "7. as2sync vs the straightforward client", WHAT)
    n = ctx.sizes.naive_messages
    size = ctx.sizes.in_small_bytes
    bound = per_hundred(inbound_request_bound(n, 100), n)
    say(f"naive client: {n} messages")
    with ctx.workspace("naive") as ws:
        emu = ws.emulator()
        digests = seed(emu, n, size)
        ws.inbox().mkdir(parents=True)
        naive = NaiveClient(emu.base_url, USER, PASSWORD, ws.inbox()).run()
        verify_inbox(ws, digests)
        naive_requests = emu.requests()
    say(f"as2sync: {n} messages")
    with ctx.workspace("naive-as2sync") as ws:
        emu = ws.emulator()
        ours = receive(ws, emu, n, size)
    naive_answered = naive_requests.total - naive_requests.rate_limited
    section.add(
        Figure(
            "naive: requests per 100 messages",
            per_hundred(naive_answered, n),
            "",
            bound=bound,
            lower_is_better=True,
            note=naive_requests.describe(),
        )
    )
    section.add(
        Figure(
            "as2sync: requests per 100 messages",
            per_hundred(ours.requests.total - ours.requests.rate_limited, n),
            "",
            bound=bound,
            lower_is_better=True,
            note=f"{ours.requests.describe()}",
        )
    )
    naive_rate = n / naive.seconds
    section.add(Figure("naive: messages/s", naive_rate, "msg/s"))
    section.add(
        Figure(
            "as2sync: messages/s",
            ours.rate,
            "msg/s",
            note=f"{ours.rate / naive_rate:.0f} times the naive client's rate",
        )
    )
    section.add(Figure("naive: 429 answers", naive_requests.rate_limited, ""))
    section.details.append(
        f"{n} messages of {size:,} bytes; naive client {naive.seconds:.1f} s, as2sync "
        f"{ours.seconds:.2f} s"
    )
    return section
