"""Both directions at once, through every fault the emulator can inject, then SIGKILLs.

The emulator and the daemon are separate processes. Faults: 5xx before and after the action,
dropped connections before and after the action, truncated bodies, latency, 429 bursts and
token expiry, together at 10-20 %. The end state must be exact: every file submitted once
(no duplicate caused by an error after the action), every attachment stored once and
byte-identical, every message marked read.
"""

from __future__ import annotations

import base64
import random
import time
from pathlib import Path

import pytest

from tests.e2e.harness import DaemonProcess, EmulatorProcess, wait_until, write_config

pytestmark = pytest.mark.e2e

SEED = 20261123
PAIRS = [("MYSTATION", "ACME"), ("MYSTATION", "GLOBEX"), ("OTHERSTATION", "ACME")]
FAULTS = [
    "--error-before", "0.12", "--error-after", "0.12", "--drop", "0.1", "--drop-after", "0.1",
    "--truncate", "0.15", "--latency", "0.01", "--rate-limit-burst", "0.1",
    "--token-expiry", "0.1", "--seed", str(SEED),
]  # fmt: skip


def _content(rng: random.Random, n: int) -> bytes:
    return b"ISA*%05d*" % n + rng.randbytes(rng.randrange(10, 3000)) + b"~"


def test_chaos_both_directions_end_exactly_once(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    emulator = EmulatorProcess(
        tmp_path,
        "--no-rate-limit", "--delivery-delay", "0.1", "--batch-limit", "20000",
        "--station", "MYSTATION", "--station", "OTHERSTATION",
        "--partner", "ACME", "--partner", "GLOBEX",
        *FAULTS,
    )  # fmt: skip
    emulator.start()
    config = write_config(
        tmp_path,
        emulator.base_url,
        outbound={
            "settle_seconds": 0.1,
            "scan_seconds": 1,
            "track_seconds": 0.5,
            "reconcile_grace_seconds": 1,
            "max_in_flight": 4,
        },
        inbound={"poll_seconds": 0.3},
        gateway={"timeout_seconds": 5},
    )
    root = tmp_path / "root"
    sent: dict[tuple[str, str, str], bytes] = {}
    seeded: dict[tuple[str, str, str], bytes] = {}
    message_ids: list[str] = []
    daemon = DaemonProcess(config)

    def wave(count: int) -> None:
        for _ in range(count):
            station, partner = rng.choice(PAIRS)
            n = len(sent) + len(seeded)
            outbox = root / station / partner / "outbox"
            outbox.mkdir(parents=True, exist_ok=True)
            data = _content(rng, n)
            (outbox / f"out-{n:05d}.edi").write_bytes(data)
            sent[(station, partner, f"out-{n:05d}.edi")] = data
            attachments = [
                (f"in-{n:05d}-{k}.edi", _content(rng, n)) for k in range(rng.randint(1, 3))
            ]
            message_ids.append(emulator.seed(station, partner, attachments))
            for name, body in attachments:
                seeded[(station, partner, name)] = body

    try:
        wave(40)
        daemon.start()
        for _ in range(4):  # SIGKILL mid-chaos, more work each time
            wave(15)
            wait_until(lambda: daemon.alive(), 5)
            time.sleep(rng.uniform(0.3, 1.2))
            daemon.kill()
            daemon.start()
        emulator.admin("POST", "/faults", json={})  # the storm passes; the backlog drains

        def done() -> bool:
            return all((root / s / p / "sent" / name).exists() for (s, p, name) in sent) and all(
                (root / s / p / "inbox" / name).exists() for (s, p, name) in seeded
            )

        wait_until(done, 120, interval=0.3, what=f"everything done (seed {SEED})")
        snapshot = emulator.snapshot()
        wait_until(
            lambda: all(m["read"] for m in emulator.snapshot()["received"]),
            30,
            what=f"every message read (seed {SEED})",
        )
        assert daemon.terminate() == 0
    except BaseException:
        print(daemon.output()[-5000:])
        raise
    finally:
        daemon.close()
        emulator.kill()

    submitted: dict[tuple[str, str, str], bytes] = {}
    emulator.start()
    try:
        for sub in emulator.submissions(content=True):
            for att in sub["attachments"]:
                key = (sub["station"], sub["partner"], att["name"])
                assert key not in submitted, f"{key} submitted twice (seed {SEED})"
                submitted[key] = base64.b64decode(att["content_base64"])
        assert emulator.snapshot()["duplicate_submissions"] == []
    finally:
        emulator.kill()
    assert submitted == sent, f"seed {SEED}"
    for (station, partner, name), body in sent.items():
        assert (root / station / partner / "sent" / name).read_bytes() == body
    for (station, partner, name), body in seeded.items():
        assert (root / station / partner / "inbox" / name).read_bytes() == body, name
    inbox_files = [p for p in root.glob("*/*/inbox/*") if p.is_file()]
    assert len(inbox_files) == len(seeded), f"extra files in inboxes (seed {SEED})"
    assert len(snapshot["received"]) == len(message_ids)
    injected = snapshot["fault_counts"]
    # The rolls are random and the daemon makes few requests (batches, bundles), so the count
    # varies from run to run; what matters is that several kinds hit it, repeatedly.
    assert len(injected) >= 4 and sum(injected.values()) >= 12, f"too little chaos: {injected}"
    print(f"faults injected (seed {SEED}): {injected}")
    assert not list(root.glob("*/*/failed/*")), "nothing may end in failed/"
