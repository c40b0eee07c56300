"""JSON envelopes: `{"data": ...}` on success, `{"error": {"code", "message"}}` on failure."""

from __future__ import annotations

from typing import Any

from aiohttp import web


class ApiError(Exception):
    """Raise from a handler to answer `{"error": {"code", "message"}}` with `status`."""

    def __init__(self, status: int, code: str, message: str, *,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def json_data(data: Any, status: int = 200) -> web.Response:
    """A `{"data": data}` response."""
    return web.json_response({"data": data}, status=status)


def json_error(status: int, code: str, message: str) -> web.Response:
    """A `{"error": {"code", "message"}}` response with `status`."""
    return web.json_response({"error": {"code": code, "message": message}}, status=status)
