"""Middlewares applied to every route (ours and other packages'), outermost first."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from appliance.identity.sessions import COOKIE_NAME
from appliance.web.kit import csrf
from appliance.web.kit.keys import (
    DEPS,
    HOSTS,
    REQ_CLEAR_COOKIE,
    REQ_NEW_TOKEN,
    REQ_SESSION,
    SESSIONS,
    UNPAIRED_PREFIXES,
)
from appliance.web.kit.responses import ApiError, json_error
from appliance.web.kit.security import SECURITY_HEADERS

logger = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

JSON_PREFIXES = ("/api/", "/auth/", "/user/")
ALWAYS_OPEN = ("/pair", "/static/", "/api/csrf", "/favicon.ico")

_STATUS_CODES = {
    400: "bad_request", 401: "not_signed_in", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 409: "conflict", 413: "body_too_large", 415: "unsupported_type",
    421: "wrong_host", 429: "rate_limited",
}


def wants_json(request: web.Request) -> bool:
    """True for API paths and for clients that do not ask for HTML."""
    if request.path.startswith(JSON_PREFIXES):
        return True
    return "text/html" not in request.headers.get("Accept", "")


def _error(request: web.Request, status: int, code: str, message: str) -> web.Response:
    if wants_json(request):
        return json_error(status, code, message)
    from appliance.web.kit.render import render  # render imports guards; keep the cycle lazy

    try:
        return render(request, "error.html", {"status": status, "message": message},
                      status=status)
    except Exception:
        logger.exception("error page could not be rendered")
        return web.Response(text=message, status=status, content_type="text/plain")


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """ApiError and HTTP errors become JSON (or a page); crashes become a plain 500."""
    try:
        return await handler(request)
    except ApiError as err:
        resp = _error(request, err.status, err.code, err.message)
        resp.headers.update(err.headers)
        return resp
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _STATUS_CODES.get(exc.status, "http_error")
        message = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else (
            exc.reason or "Request failed.")
        if exc.status == 413:
            message = "The request body is too large; send less data."
        if exc.status == 404:
            message = "There is nothing at this address; go back to the home page."
        resp = _error(request, exc.status, code, message)
        for h in ("Allow", "Retry-After"):
            if h in exc.headers:
                resp.headers[h] = exc.headers[h]
        return resp
    except RecursionError:  # request.json() on absurdly nested JSON (any stranger can send it)
        logger.warning("refused over-nested input on %s %s", request.method, request.path)
        return _error(request, 400, "bad_json", "The request body is nested too deeply; "
                      "send plain JSON.")
    except ConnectionResetError:  # the client went away mid-request: nothing to answer
        logger.info("client left during %s %s", request.method, request.path)
        return web.Response(status=400, text="client left")
    except Exception:
        logger.exception("unhandled error on %s %s", request.method, request.path)
        return _error(request, 500, "internal_error",
                      "Something went wrong on the box; try again, and check `mooddj logs`.")


@web.middleware
async def host_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse requests whose Host is not this box (DNS rebinding)."""
    host = request.headers.get("Host")
    if not request.app[HOSTS].allows(host) and not _is_local_address(request, host):
        return json_error(421, "wrong_host",
                          "This box only answers to its own names and addresses; "
                          "open http://mooddj.local or its IP address.")
    return await handler(request)


def _is_local_address(request: web.Request, host: str | None) -> bool:
    """True if Host is the very address this connection arrived on (an IP that appeared
    after start, e.g. a new DHCP lease); a rebinding attacker's Host is a name, never that."""
    if not host or request.transport is None:
        return False
    sock = request.transport.get_extra_info("sockname")
    if not sock:
        return False
    from appliance.web.kit.security import split_host

    return split_host(host) == str(sock[0]).split("%", 1)[0].lower()


@web.middleware
async def body_limit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse bodies larger than web.max_body_bytes before reading them."""
    limit = request.app[DEPS].config.web.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, "body_too_large",
                       f"The request body is larger than {limit} bytes; send less data.")
    return await handler(request)


def _apply_cookie(request: web.Request, resp: web.StreamResponse) -> None:
    token = request.get(REQ_NEW_TOKEN)
    if token:
        max_age = request.app[SESSIONS].cookie_max_age() if not token.startswith("a.") else None
        resp.set_cookie(COOKIE_NAME, token, max_age=max_age, path="/", httponly=True,
                        samesite="Strict")
    elif request.get(REQ_CLEAR_COOKIE):
        resp.del_cookie(COOKIE_NAME, path="/")


@web.middleware
async def session_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Load the browser's session (or start an anonymous one) and set the cookie."""
    sessions = request.app[SESSIONS]
    sess = await sessions.load(request.cookies.get(COOKIE_NAME))
    if sess is None:
        token, sess = sessions.new_anonymous()
        request[REQ_NEW_TOKEN] = token
    request[REQ_SESSION] = sess
    try:
        resp = await handler(request)
    except web.HTTPException as exc:
        _apply_cookie(request, exc)
        raise
    if not resp.prepared:
        _apply_cookie(request, resp)
    return resp


@web.middleware
async def csrf_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every state-changing request needs the session's CSRF token and a matching Origin."""
    if request.method not in csrf.SAFE_METHODS:
        problem = await csrf.check(request, request.get(REQ_SESSION))
        if problem:
            raise ApiError(403, *problem)
    elif request.path == "/ws":
        origin = request.headers.get("Origin", "")
        from appliance.web.kit.security import origin_matches

        if not origin_matches(origin, request.host):
            raise ApiError(403, "bad_origin", "Live updates only work from the box's own page.")
    return await handler(request)


@web.middleware
async def pairing_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Until a browser is paired, only the pairing page and a few open paths answer."""
    sess = request.get(REQ_SESSION)
    path = request.path
    if sess is not None and sess.paired:
        return await handler(request)
    unpaired: list[str] = request.app[UNPAIRED_PREFIXES]
    open_paths = ALWAYS_OPEN + tuple(unpaired)
    if path.startswith(open_paths):
        return await handler(request)
    if request.method in ("GET", "HEAD") and not wants_json(request):
        raise web.HTTPSeeOther("/pair")
    raise ApiError(403, "not_paired",
                   "This browser is not paired with the box yet; open /pair and press its code on "
                   "the box.")


def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: the security headers on every response, no-store on non-static."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if not request.path.startswith("/static/"):
        response.headers["Cache-Control"] = "no-store"


async def on_response_prepare(request: web.Request, response: web.StreamResponse) -> None:
    """Signal adapter for `security_headers`."""
    security_headers(request, response)


MIDDLEWARES = (errors_middleware, host_middleware, body_limit_middleware, session_middleware,
               csrf_middleware, pairing_middleware)
