"""Reading request bodies the same way on every route: JSON from scripts, forms from pages."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from appliance.web.kit.responses import ApiError


def sent_json(request: web.Request) -> bool:
    """True when the client speaks JSON (sent it, or asks for it): answer with JSON."""
    return request.content_type == "application/json" or \
        "application/json" in request.headers.get("Accept", "")


async def read_body(request: web.Request) -> dict[str, Any]:
    """The body as a dict: a JSON object, or the form's text fields; 400 on anything else."""
    if request.content_type == "application/json":
        try:
            data = await request.json()
        except ValueError:
            raise ApiError(400, "bad_json", "The request body is not valid JSON.") from None
        if not isinstance(data, dict):
            raise ApiError(400, "bad_json", "The request body must be a JSON object.")
        return data
    if not request.body_exists:  # (not can_read_body: the CSRF check may have read the form)
        return {}
    form = await request.post()
    return {k: v for k, v in form.items() if isinstance(v, str)}
