"""The stand-in's accounts service: authorize page (approve/deny) and the PKCE token endpoint.

Like Spotify: redirect URIs must be registered, `localhost` is refused (loopback
IP literals only), codes are single use and bound to the PKCE challenge and the
redirect URI, refresh tokens rotate, and a refresh token older than the
configured age (Spotify: 6 months from authorization) answers `invalid_grant`.
"""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from aiohttp import web

from appliance.standins.spotify_json import SIM_KEY, oauth_error

if TYPE_CHECKING:
    from appliance.standins.spotify_server import SpotifySim


@dataclass
class Grant:
    """An authorization (what a code, refresh token or access token stands for)."""

    account: str
    client_id: str
    scopes: str
    authorized_at: float  # wall time of the user's approval


@dataclass
class PendingCode:
    grant: Grant
    redirect_uri: str
    challenge: str
    expires_at: float
    used: bool = False


def _redirect_problem(sim: SpotifySim, client_id: str, redirect_uri: str) -> str:
    parts = urlsplit(redirect_uri)
    if parts.hostname == "localhost":
        return "INVALID_CLIENT: Insecure redirect URI"
    if parts.scheme != "https" and parts.hostname not in ("127.0.0.1", "::1"):
        return "INVALID_CLIENT: Insecure redirect URI"
    allowed = sim.clients.get(client_id)
    if allowed is not None and redirect_uri not in allowed:
        return "INVALID_CLIENT: Invalid redirect URI"
    return ""


async def authorize_page(request: web.Request) -> web.Response:
    """Spotify's consent screen: who is signing in, what is asked, Agree / Cancel."""
    sim = request.app[SIM_KEY]
    q = request.query
    client_id = q.get("client_id", "")
    if client_id not in sim.clients:
        return web.Response(status=400, text="INVALID_CLIENT: Invalid client")
    problem = _redirect_problem(sim, client_id, q.get("redirect_uri", ""))
    if problem:
        return web.Response(status=400, text=problem)
    if q.get("response_type") != "code":
        return web.Response(status=400, text="unsupported_response_type")
    if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
        return web.Response(status=400, text="code_challenge_method must be S256")
    hidden = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                     for k, v in q.items())
    options = "".join(f'<option value="{html.escape(a)}">{html.escape(acc["display_name"])}'
                      f'</option>' for a, acc in sim.accounts.items())
    scopes = "".join(f"<li>{html.escape(s)}</li>" for s in q.get("scope", "").split())
    body = (f'<!doctype html><meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>Spotify (stand-in)</title><h1>Connect to the app</h1>"
            f"<form method=post action=/authorize>{hidden}"
            f"<label>Account <select name=account>{options}</select></label>"
            f"<p>The app asks for:</p><ul>{scopes}</ul>"
            f"<button name=decision value=approve>Agree</button>"
            f"<button name=decision value=deny>Cancel</button></form>")
    return web.Response(text=body, content_type="text/html")


async def authorize_decision(request: web.Request) -> web.Response:
    """Approve or deny: redirect to the registered redirect URI with a code or an error."""
    sim = request.app[SIM_KEY]
    form = await request.post()
    f = {k: str(v) for k, v in form.items()}
    client_id, redirect_uri = f.get("client_id", ""), f.get("redirect_uri", "")
    if client_id not in sim.clients or _redirect_problem(sim, client_id, redirect_uri):
        return web.Response(status=400, text="INVALID_CLIENT: Invalid client")
    sep = "&" if "?" in redirect_uri else "?"
    state = f.get("state", "")
    if f.get("decision") != "approve":
        params = {"error": "access_denied", **({"state": state} if state else {})}
        raise web.HTTPFound(redirect_uri + sep + urlencode(params))
    account = f.get("account") or sim.login_as
    scopes = sim.granted_scopes if sim.granted_scopes is not None else f.get("scope", "")
    code = secrets.token_urlsafe(48)
    sim.codes[code] = PendingCode(
        Grant(account, client_id, scopes, sim.wall()), redirect_uri,
        f.get("code_challenge", ""), sim.wall() + 600)
    params = {"code": code, **({"state": state} if state else {})}
    raise web.HTTPFound(redirect_uri + sep + urlencode(params))


def _challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip(
        "=")


def _issue(sim: SpotifySim, grant: Grant, refresh: bool) -> dict[str, Any]:
    access = "sim-at-" + secrets.token_urlsafe(32)
    sim.access_tokens[access] = (grant, sim.wall() + sim.access_ttl)
    body: dict[str, Any] = {"access_token": access, "token_type": "Bearer",
                            "expires_in": int(sim.access_ttl), "scope": grant.scopes}
    if refresh:
        rt = "sim-rt-" + secrets.token_urlsafe(40)
        sim.refresh_tokens[rt] = grant
        body["refresh_token"] = rt
    return body


async def token(request: web.Request) -> web.Response:
    """`POST /api/token`: authorization_code (PKCE) and refresh_token grants."""
    sim = request.app[SIM_KEY]
    form = {k: str(v) for k, v in (await request.post()).items()}
    client_id = form.get("client_id", "")
    if client_id not in sim.clients:
        return oauth_error(400, "invalid_client", "Invalid client")
    grant_type = form.get("grant_type")
    if grant_type == "authorization_code":
        pending = sim.codes.get(form.get("code", ""))
        if pending is None or pending.used or pending.expires_at < sim.wall():
            return oauth_error(400, "invalid_grant", "Invalid authorization code")
        if pending.grant.client_id != client_id or pending.redirect_uri != form.get(
                "redirect_uri"):
            return oauth_error(400, "invalid_grant", "Invalid redirect URI")
        if _challenge(form.get("code_verifier", "")) != pending.challenge:
            return oauth_error(400, "invalid_grant", "code_verifier was incorrect")
        pending.used = True
        return web.json_response(_issue(sim, pending.grant, refresh=True))
    if grant_type == "refresh_token":
        rt = form.get("refresh_token", "")
        grant = sim.refresh_tokens.get(rt)
        if grant is None or grant.client_id != client_id:
            return oauth_error(400, "invalid_grant", "Invalid refresh token")
        if sim.refresh_max_age is not None and sim.wall() - grant.authorized_at > \
                sim.refresh_max_age:
            return oauth_error(400, "invalid_grant", "Refresh token revoked")
        sim.token_refreshes += 1
        rotate = sim.rotate_refresh
        body = _issue(sim, grant, refresh=rotate)
        if rotate and sim.retire_rotated:
            sim.refresh_tokens.pop(rt, None)
        return web.json_response(body)
    return oauth_error(400, "unsupported_grant_type", "grant_type must be authorization_code "
                       "or refresh_token")


def bearer_account(request: web.Request) -> tuple[str | None, str]:
    """(account id, '') for a valid Bearer token, else (None, the 401 message)."""
    sim = request.app[SIM_KEY]
    auth = request.headers.get("Authorization", "")
    if not auth.startswith("Bearer "):
        return None, "No token provided"
    hit = sim.access_tokens.get(auth[7:].strip())
    if hit is None:
        return None, "Invalid access token"
    grant, expires_at = hit
    if expires_at <= sim.wall():
        return None, "The access token expired"
    return grant.account, ""


def add_routes(app: web.Application) -> None:
    """Register the accounts routes."""
    app.router.add_get("/authorize", authorize_page)
    app.router.add_post("/authorize", authorize_decision)
    app.router.add_post("/api/token", token)

