"""A small MFT Gateway simulator on a moto bucket (seed 004's rules, as tests need them):
:meth:`GatewaySim.process` picks up what waits in ``AS2/send/<st>/<pa>/`` and moves it to
``AS2/files/<st>/<pa>/outbox/<timestamp-random>/<name>``, or, for a name uploaded to the same
pair within six hours, to ``AS2/duplicate/<st>/<pa>/<name>`` (not sent); :meth:`receive`
drops a received message into ``AS2/files/<st>/<pa>/inbox/<timestamp-random>/``. Its clock is
the test's (the six-hour rule in test time)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from as2sync.backends.mftgateway_s3.client import S3Clients

SIX_HOURS = 6 * 3600


@dataclass
class GatewaySim:
    clients: S3Clients
    clock: Callable[[], float]
    seen: dict[tuple[str, str, str], float] = field(default_factory=dict)
    sent: list[tuple[str, str, str, bytes]] = field(default_factory=list)
    """(station, partner, name, bytes) of every upload the gateway sent, in order."""
    duplicates: list[str] = field(default_factory=list)
    _serial: itertools.count[int] = field(default_factory=lambda: itertools.count(100000))

    def _objects(self, prefix: str) -> list[str]:
        paginator = self.clients.reads.get_paginator("list_objects_v2")
        return [
            e["Key"]
            for page in paginator.paginate(Bucket=self.clients.bucket, Prefix=prefix)
            for e in page.get("Contents", [])
        ]

    def _get(self, key: str) -> bytes:
        return self.clients.reads.get_object(Bucket=self.clients.bucket, Key=key)["Body"].read()

    def _folder(self) -> str:
        return f"{int(self.clock() * 1000):013d}-{next(self._serial)}"

    def process(self) -> int:
        """Pick up every upload waiting in send/; returns how many."""
        done = 0
        for key in self._objects("AS2/send/"):
            _, _, station, partner, name = key.split("/", 4)
            data = self._get(key)
            now = self.clock()
            last = self.seen.get((station, partner, name))
            if last is not None and now - last < SIX_HOURS:
                target = f"AS2/duplicate/{station}/{partner}/{name}"
                self.duplicates.append(name)
            else:
                self.seen[(station, partner, name)] = now
                target = f"AS2/files/{station}/{partner}/outbox/{self._folder()}/{name}"
                self.sent.append((station, partner, name, data))
            # The gateway writes its own object (a copy keeps the MD5 ETag of a single part).
            self.clients.writes.put_object(Bucket=self.clients.bucket, Key=target, Body=data)
            self.clients.writes.delete_object(Bucket=self.clients.bucket, Key=key)
            done += 1
        return done

    def receive(self, station: str, partner: str, files: Mapping[str, bytes]) -> str:
        """A received message's attachments in a new inbox folder; returns its prefix."""
        prefix = f"AS2/files/{station}/{partner}/inbox/{self._folder()}/"
        for name, data in files.items():
            self.clients.writes.put_object(Bucket=self.clients.bucket, Key=prefix + name, Body=data)
        return prefix
