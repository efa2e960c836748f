"""What every benchmark is given: its sizes, a way to get a fresh workspace, and a board on
which benchmarks leave figures for later ones (the raw baseline compares with the inbound run).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from benchmarks import rig

MB = 1_000_000


@dataclass(frozen=True)
class Sizes:
    """How much load each benchmark uses. The defaults keep ``make bench`` near ten minutes on
    two cores; ``--quick`` scales them down to a smoke run of about three."""

    out_files: int = 300
    out_bundled_files: int = 2000
    bundle: int = 10
    out_file_bytes: int = 2_000
    latency_files: int = 20
    latency_interval: float = 2.5
    in_doubt_files: int = 100
    in_doubt_interval: float = 0.3
    out_unthrottled_files: int = 600
    in_small: int = 2000
    in_small_bytes: int = 2_000
    in_big: int = 400
    in_big_bytes: int = 1 * MB
    in_truncating: int = 200
    in_unthrottled: int = 2000
    memory_messages: int = 20
    memory_bytes: int = 9_500_000
    mixed_files: int = 250
    mixed_messages: int = 1000
    naive_messages: int = 200

    def quick(self) -> Sizes:
        return replace(
            self,
            out_files=120,
            out_bundled_files=600,
            latency_files=8,
            in_doubt_files=30,
            out_unthrottled_files=200,
            in_small=500,
            in_big=100,
            in_truncating=50,
            in_unthrottled=500,
            memory_messages=5,
            mixed_files=80,
            mixed_messages=300,
            naive_messages=60,
        )


@dataclass
class Context:
    sizes: Sizes
    workdir: Path | None = None
    keep: bool = False
    board: dict[str, Any] = field(default_factory=dict)

    @contextmanager
    def workspace(self, name: str) -> Iterator[rig.Workspace]:
        with rig.workspace(self.workdir, self.keep, name) as ws:
            yield ws


def say(text: str) -> None:
    """Progress on stdout (the report goes to BENCHMARKS.md)."""
    print(f"    {text}", flush=True)
