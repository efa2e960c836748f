"""The one exception the emulator's request handlers raise: an HTTP status and its message.

Every error response of the emulated API is the spec's Generic Response ``{"message": "..."}``
(section 3.1); :mod:`as2sync.emulator.app` turns this exception into exactly that.
"""

from __future__ import annotations


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def not_found(message: str) -> ApiError:
    return ApiError(404, message)


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)
