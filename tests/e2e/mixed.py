"""A mixed, both-directions workload for the whole-daemon tests, and its exactly-once checks.

:class:`MixedLoad` drops files into outboxes and seeds received messages on an
:class:`~tests.e2e.harness.EmulatorProcess` (through ``/_admin``, which is never faulted or
rate-limited). Every outbound file and every inbound attachment has unique bytes, so exactly-once
is checked by content: :meth:`MixedLoad.problems` lists everything that is lost, doubled, in the
wrong folder, corrupted or left half-done, and says nothing when the run was perfect.
"""

from __future__ import annotations

import base64
import hashlib
import random
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from as2sync.folders.layout import WORK_DIR
from tests.e2e.harness import EmulatorProcess, wait_until

Pair = tuple[str, str]  # (station, partner)

STATIONS = ("MYSTATION", "STATION2")
PARTNERS = ("ACME", "GLOBEX")
PAIRS: tuple[Pair, ...] = (("MYSTATION", "ACME"), ("MYSTATION", "GLOBEX"), ("STATION2", "ACME"))

# Names a trading partner may send: directories, traversal, absolute paths, backslashes,
# control characters, unicode, very long, duplicates within one message and across messages.
HOSTILE_NAMES = (
    "../../x.edi",
    "/etc/passwd",
    "a\\b.edi",
    "..",
    "fa\u00e7ture-\u00e9t\u00e9.edi",
    "ctl\x01\x1fname.edi",
    "L" * 300 + ".edi",
    "invoice.edi",
    "invoice.edi",
)


def emulator_args() -> list[str]:
    """``--station``/``--partner`` arguments declaring :data:`STATIONS` and :data:`PARTNERS`."""
    args = [a for s in STATIONS for a in ("--station", s)]
    return args + [a for p in PARTNERS for a in ("--partner", p)]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class MixedLoad:
    """Files out and messages in, each with unique bytes; remembers what must arrive where."""

    def __init__(self, root: Path, emulator: EmulatorProcess, rng: random.Random) -> None:
        self.root = root
        self.emulator = emulator
        self.rng = rng
        for station, partner in PAIRS:
            (root / station / partner / "outbox").mkdir(parents=True, exist_ok=True)
        self.files: dict[tuple[str, str, str], bytes] = {}  # (station, partner, name) -> bytes
        self.expected_in: dict[Pair, Counter[str]] = {p: Counter() for p in PAIRS}
        self.message_ids: list[str] = []

    @property
    def attachments(self) -> int:
        return sum(sum(c.values()) for c in self.expected_in.values())

    def drop(self, n: int, sizes: tuple[int, ...] = (50, 3_000, 40_000)) -> None:
        """Drop ``n`` files, round-robin over the pairs, each appearing whole (tmp + rename)."""
        for _ in range(n):
            k = len(self.files)
            station, partner = PAIRS[k % len(PAIRS)]
            name = f"out-{k:04}." + self.rng.choice(("edi", "xml", "csv"))
            data = f"ISA*{k}*".encode() + self.rng.randbytes(self.rng.choice(sizes))
            outbox = self.root / station / partner / "outbox"
            tmp = outbox / f".{name}.tmp"  # dot-files are excluded until the rename
            tmp.write_bytes(data)
            tmp.rename(outbox / name)
            self.files[(station, partner, name)] = data

    def seed(self, n: int, sizes: tuple[int, ...] = (100, 2_000, 12_000)) -> None:
        """Seed ``n`` received messages of 1-3 attachments, some with hostile names."""
        for _ in range(n):
            k = len(self.message_ids)
            station, partner = PAIRS[(k * 2 + 1) % len(PAIRS)]
            attachments = []
            for j in range(self.rng.choice((1, 1, 2, 3))):
                if self.rng.random() < 0.3:
                    name = self.rng.choice(HOSTILE_NAMES)
                else:
                    name = f"in-{k:04}-{j}.edi"
                data = f"message {k} attachment {j}\n".encode() + self.rng.randbytes(
                    self.rng.choice(sizes)
                )
                attachments.append((name, data))
                self.expected_in[(station, partner)][sha(data)] += 1
            self.message_ids.append(self.emulator.seed(station, partner, attachments))

    def seed_big(self, size: int, count: int = 3) -> None:
        """Seed one message of ``count`` attachments of ``size`` bytes: with a batch limit
        below ``count * size`` it can never come whole in a batch (fetched one by one, then
        marked read explicitly)."""
        k = len(self.message_ids)
        station, partner = PAIRS[k % len(PAIRS)]
        attachments = []
        for j in range(count):
            data = f"big message {k} attachment {j}\n".encode() + self.rng.randbytes(size)
            attachments.append((f"big-{k:04}-{j}.edi", data))
            self.expected_in[(station, partner)][sha(data)] += 1
        self.message_ids.append(self.emulator.seed(station, partner, attachments))

    # ------------------------------------------------------------------ observations

    def sent(self) -> dict[tuple[str, str, str], bytes]:
        found = {}
        for station, partner in PAIRS:
            sent = self.root / station / partner / "sent"
            if sent.is_dir():
                for path in sent.iterdir():
                    found[(station, partner, path.name)] = path.read_bytes()
        return found

    def all_sent(self) -> bool:
        return len(self.sent()) >= len(self.files)

    def inbox(self, pair: Pair) -> Counter[str]:
        """SHA-256 of every file in the pair's inbox (any depth, work folder excluded)."""
        inbox = self.root / pair[0] / pair[1] / "inbox"
        found: Counter[str] = Counter()
        if inbox.is_dir():
            for path in inbox.rglob("*"):
                if path.is_file():
                    found[sha(path.read_bytes())] += 1
        return found

    def all_stored(self) -> bool:
        return sum(sum(self.inbox(p).values()) for p in PAIRS) >= self.attachments

    def all_read(self) -> bool:
        read = {m["message_id"]: m["read"] for m in self.emulator.snapshot()["received"]}
        return all(read.get(m, False) for m in self.message_ids)

    def done(self) -> bool:
        return self.all_sent() and self.all_stored() and self.all_read()

    def problems(self) -> list[str]:
        """Everything that is not exactly-once; empty when the run was perfect."""
        found: list[str] = []
        # Outbound, on the gateway: each (station, partner, name, bytes) submitted exactly once.
        submitted: Counter[tuple[str, str, str, str]] = Counter()
        for sub in self.emulator.submissions(content=True):
            for a in sub["attachments"]:
                data = base64.b64decode(a["content_base64"])
                submitted[(sub["station"], sub["partner"], a["name"], sha(data))] += 1
        expected = Counter((s, p, n, sha(d)) for (s, p, n), d in self.files.items())
        if extra := submitted - expected:
            found.append(f"submitted twice or unknown: {sorted(extra.elements())[:5]}")
        if lost := expected - submitted:
            found.append(f"never submitted: {sorted(lost.elements())[:5]}")
        snapshot = self.emulator.snapshot()
        if snapshot["duplicate_submissions"]:
            found.append(f"emulator duplicate_submissions: {snapshot['duplicate_submissions']}")
        # Outbound, locally: every file in its pair's sent/, byte-identical, under its own name.
        sent = self.sent()
        if sent != self.files:
            missing = sorted(set(self.files) - set(sent))[:5]
            unexpected = sorted(set(sent) - set(self.files))[:5]
            differ = [k for k in self.files if k in sent and sent[k] != self.files[k]][:5]
            found.append(f"sent/: missing {missing}, unexpected {unexpected}, differ {differ}")
        # Inbound: every attachment exactly once, byte-identical, in the right inbox.
        for pair in PAIRS:
            inbox = self.inbox(pair)
            if lost_in := self.expected_in[pair] - inbox:
                found.append(f"{pair} inbox lacks {sum(lost_in.values())} attachment(s)")
            if extra_in := inbox - self.expected_in[pair]:
                found.append(f"{pair} inbox has {sum(extra_in.values())} extra/doubled file(s)")
        read = {m["message_id"]: m["read"] for m in snapshot["received"]}
        if unread := [m for m in self.message_ids if not read.get(m, False)]:
            found.append(f"{len(unread)} message(s) not marked read, e.g. {unread[:3]}")
        # Nothing half-done or refused.
        for station, partner in PAIRS:
            base = self.root / station / partner
            for folder in (
                base / "outbox",
                base / "failed",
                base / WORK_DIR / "processing",
                base / WORK_DIR / "incoming",
            ):
                if folder.is_dir() and (rest := sorted(p.name for p in folder.iterdir())):
                    found.append(f"left in {folder.relative_to(self.root)}: {rest[:5]}")
        if errors := [str(p) for p in self.root.rglob("*.error")]:
            found.append(f".error files written: {errors[:5]}")
        return found


def wait_done(
    load: MixedLoad, timeout: float, context: str, output: Callable[[], str] | None = None
) -> None:
    """Wait until ``load`` is done; on time-out fail with what is still missing, ``context``
    (the seed) and the daemon's last output when ``output`` is given."""
    try:
        wait_until(load.done, timeout, interval=0.25, what="every file sent, every message stored")
    except AssertionError as exc:
        raise AssertionError(
            f"{context}: {exc}: {load.problems()}\n{output() if output else ''}"
        ) from None
