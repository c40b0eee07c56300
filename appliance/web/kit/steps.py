"""The first-run step bar: claim -> your name -> Spotify -> speaker -> music.

`steps_middleware` reads the box's setup step (one small query) for page views
of paired browsers while setup is not done; `steps_for` turns it and the
session into the bar base.html shows. Every step links to where it is done,
so a person who left can pick up where they were.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from appliance.web.kit.keys import DEPS, REQ_SESSION

REQ_SETUP_STEP = web.RequestKey("mooddj_setup_step", str)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_ORDER = ("unclaimed", "no_spotify", "no_speaker", "done")


@web.middleware
async def steps_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Before a page view, note the box's setup step (only page views: GET + HTML)."""
    reader = request.app[DEPS].setup_step
    if reader is not None and request.method == "GET" and \
            "text/html" in request.headers.get("Accept", ""):
        request[REQ_SETUP_STEP] = await request.app[DEPS].store.read(reader)
    return await handler(request)


def steps_for(request: web.Request) -> list[dict[str, str]]:
    """The bar's steps (label, href, state: done | current | todo), or [] once set up."""
    step = request.get(REQ_SETUP_STEP, "")
    sess = request.get(REQ_SESSION)
    if not step or step == "done" or sess is None:
        return []
    signed_in = bool(sess.paired and sess.user_id)
    if step != "unclaimed" and not signed_in:
        return []  # someone else set the box up; this browser only has to say who it is
    at = _ORDER.index(step) if step in _ORDER else 0
    done = [sess.paired or at > 0, signed_in, at > 1, at > 2]
    items = [("Claim", "/pair"), ("Your name", "/signin"), ("Spotify", "/spotify#link"),
             ("Speaker", "/spotify#speaker"), ("Music", "/")]
    out, current_given = [], False
    for i, (label, href) in enumerate(items):
        if i < len(done) and done[i]:
            state = "done"
        elif not current_given:
            state, current_given = "current", True
        else:
            state = "todo"
        out.append({"label": label, "href": href, "state": state})
    return out
