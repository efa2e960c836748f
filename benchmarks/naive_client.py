"""The straightforward client a person would script from the API documentation.

It does what the documentation's sections 5.1, 6.1 and 7.1 suggest, one step after another:
list unread received messages, then for each message download every attachment
(``GET /message/received/:id/attachments/:index``) and mark it read
(``GET /message/received/:id?markAsRead=true``), and list again until nothing is unread. It
has no limiter of its own: on 429 it sleeps ``Retry-After`` and tries the same request again,
as anyone would after the first 429 in testing. It is given the benefit of the largest page
(``pageLength=100``; the documented default is 10). It writes files plainly (no temp file, no
fsync, no ledger): it is a baseline for request use, not for safety.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx


@dataclass
class NaiveResult:
    messages: int = 0
    files: int = 0
    requests: int = 0
    rate_limited: int = 0
    seconds: float = 0.0


class NaiveClient:
    def __init__(self, base_url: str, username: str, password: str, inbox: Path) -> None:
        self.client = httpx.Client(base_url=base_url, timeout=60)
        self.username = username
        self.password = password
        self.inbox = inbox
        self.result = NaiveResult()

    def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        while True:
            self.result.requests += 1
            response = self.client.request(method, url, **kwargs)
            if response.status_code == 429:
                self.result.rate_limited += 1
                time.sleep(float(response.headers.get("Retry-After", "1")))
                continue
            response.raise_for_status()
            return response

    def run(self) -> NaiveResult:
        started = time.monotonic()
        token = self._request(
            "POST", "/authorize", json={"username": self.username, "password": self.password}
        ).json()["token"]
        self.client.headers["Authorization"] = token
        while True:
            page = self._request(
                "GET", "/message/received", params={"unreadOnly": "true", "pageLength": "100"}
            ).json()
            if not page["records"]:
                break
            for message in page["records"]:
                mid = quote(message["as2MessageId"], safe="")
                for index, attachment in enumerate(message["attachments"]):
                    data = self._request(
                        "GET", f"/message/received/{mid}/attachments/{index}"
                    ).content
                    (self.inbox / Path(attachment["name"]).name).write_bytes(data)
                    self.result.files += 1
                self._request("GET", f"/message/received/{mid}", params={"markAsRead": "true"})
                self.result.messages += 1
        self.result.seconds = time.monotonic() - started
        self.client.close()
        return self.result
