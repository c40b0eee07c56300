"""CSRF defence for a plain-HTTP LAN page: a per-session token plus an Origin check.

Browsers send no Fetch-Metadata over http://192.168.x.x and cookies cannot be
`Secure`, so every state-changing request must carry the session's token (header
`X-CSRF-Token` or form field `csrf_token`), and an Origin header, when present,
must name this very Host (`Origin: null`, which browsers send on form posts under
`Referrer-Policy: no-referrer`, counts as absent). SameSite=Strict on the cookie
is the third layer.
"""

from __future__ import annotations

import hmac

from aiohttp import web

from appliance.identity.sessions import WebSession
from appliance.web.kit.bodies import read_form
from appliance.web.kit.security import origin_matches

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
HEADER = "X-CSRF-Token"
FIELD = "csrf_token"


async def check(request: web.Request, session: WebSession | None) -> tuple[str, str] | None:
    """None if the request may change state, else (code, message) for a 403."""
    origin = request.headers.get("Origin")
    # With Referrer-Policy: no-referrer, browsers send `Origin: null` on form posts:
    # treat it as absent (the token below is required either way).
    if origin is not None and origin != "null" and not origin_matches(origin, request.host):
        return ("bad_origin", "This request came from another site and was refused; "
                "use the box's own page.")
    if session is None:
        return ("csrf_missing", "Your session is missing; reload the page and try again.")
    sent = request.headers.get(HEADER, "")
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        # Parsed here even when the header carries the token: aiohttp keeps the result for
        # the handler, and a malformed body is a 400 for every route instead of a crash.
        form = await read_form(request)
        value = form.get(FIELD, "")
        sent = sent or (value if isinstance(value, str) else "")
    if not sent:
        return ("csrf_missing", "The security token is missing; reload the page and try again.")
    if not hmac.compare_digest(sent.encode(), session.csrf.encode()):
        return ("csrf_invalid",
                "The security token is wrong or old; reload the page and try again.")
    return None
