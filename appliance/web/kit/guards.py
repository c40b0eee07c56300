"""Who is asking: the current session and user, and guards that refuse with JSON errors."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from appliance.identity.sessions import WebSession
from appliance.web.kit.keys import REQ_SESSION, UNPAIRED_PREFIXES
from appliance.web.kit.responses import ApiError


@dataclass(frozen=True)
class CurrentUser:
    """The signed-in user of this request."""

    user_id: str
    display_name: str
    role: str  # owner | member
    session_id: str  # the session's key (a hash, never the cookie value)

    @property
    def is_owner(self) -> bool:
        return self.role == "owner"


def current_session(request: web.Request) -> WebSession:
    """This request's browser session (anonymous until paired); set by the session middleware."""
    sess = request.get(REQ_SESSION)
    if sess is None:
        raise ApiError(500, "no_session", "The session layer did not run; reload the page.")
    return sess


def is_paired(request: web.Request) -> bool:
    """True if this browser has proved physical presence (button or pairing code)."""
    sess = request.get(REQ_SESSION)
    return bool(sess and sess.paired)


def current_user(request: web.Request) -> CurrentUser | None:
    """The signed-in user, or None."""
    sess = request.get(REQ_SESSION)
    if sess is None or not sess.user_id or not sess.paired:
        return None
    return CurrentUser(sess.user_id, sess.display_name, sess.role, sess.key)


def require_paired(request: web.Request) -> WebSession:
    """The session if this browser is paired, else a JSON 403."""
    sess = current_session(request)
    if not sess.paired:
        raise ApiError(403, "not_paired",
                       "This browser is not paired with the box; open /pair and press its code "
                       "on the box.")
    return sess


def require_user(request: web.Request) -> CurrentUser:
    """The signed-in user, else a JSON 401."""
    user = current_user(request)
    if user is None:
        raise ApiError(401, "not_signed_in", "Sign in first: open /signin on this browser.")
    return user


def require_owner(request: web.Request) -> CurrentUser:
    """The signed-in owner, else a JSON 401/403."""
    user = require_user(request)
    if not user.is_owner:
        raise ApiError(403, "owner_only", "Only the box's owner can do this; ask them.")
    return user


def allow_unpaired(app: web.Application, prefix: str) -> None:
    """Let browsers that are not paired reach paths starting with `prefix` (e.g. "/panel")."""
    app[UNPAIRED_PREFIXES].append(prefix)
