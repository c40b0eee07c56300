"""Reading request bodies the same way on every route: JSON from scripts, forms from pages.

Whatever a stranger sends is a 400, never a crash: an unknown charset or
Content-Transfer-Encoding, a broken multipart header, bytes that are not the
declared text, and JSON's non-standard NaN, Infinity or a number too large for a
float (1e400) are all refused here.
"""

from __future__ import annotations

import json
import math
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import MultiDictProxy

from appliance.web.kit.responses import ApiError

BAD_FORM = "The form could not be read; reload the page and try again."


def sent_json(request: web.Request) -> bool:
    """True when the client speaks JSON (sent it, or asks for it): answer with JSON."""
    return request.content_type == "application/json" or \
        "application/json" in request.headers.get("Accept", "")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


def _loads(text: str) -> Any:
    return json.loads(text, parse_constant=_no_constant, parse_float=_finite)


async def read_json(request: web.Request) -> Any:
    """The body as JSON (any value), strictly: 400 `bad_json` when it is not."""
    try:
        return await request.json(loads=_loads)
    except (ValueError, LookupError):  # bad JSON or bytes, NaN, 1e400, unknown charset
        raise ApiError(400, "bad_json", "The request body is not valid JSON.") from None


async def read_form(request: web.Request) -> MultiDictProxy[Any]:
    """The urlencoded or multipart form; 400 `bad_request` when it cannot be read."""
    try:
        return await request.post()
    except (ValueError, LookupError, RuntimeError, HttpProcessingError):
        # ValueError: missing boundary or name; LookupError: unknown charset;
        # RuntimeError: unknown Content-Transfer-Encoding; HttpProcessingError: a broken
        # part header.
        raise ApiError(400, "bad_request", BAD_FORM) from None


async def read_body(request: web.Request) -> dict[str, Any]:
    """The body as a dict: a JSON object, or the form's text fields; 400 on anything else."""
    if request.content_type == "application/json":
        data = await read_json(request)
        if not isinstance(data, dict):
            raise ApiError(400, "bad_json", "The request body must be a JSON object.")
        return data
    if not request.body_exists:  # (not can_read_body: the CSRF check may have read the form)
        return {}
    form = await read_form(request)
    return {k: v for k, v in form.items() if isinstance(v, str)}
