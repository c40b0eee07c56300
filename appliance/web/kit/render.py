"""Jinja2 pages (autoescaped) from the top-level `web/templates/`, with the common context."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from appliance.web.kit.deps import NavItem
from appliance.web.kit.guards import current_user
from appliance.web.kit.keys import DEPS, NAV, REQ_SESSION, TEMPLATES
from appliance.web.kit.steps import steps_for


def make_environment(web_dir: Path) -> jinja2.Environment:
    """The template environment: autoescape on for every template, undefined is an error."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(web_dir / "templates")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


def add_nav(app: web.Application, href: str, label: str, *, order: int = 50,
            owner_only: bool = False) -> None:
    """Add a link to the navigation bar (call from your `add_routes(app)`)."""
    app[NAV].append(NavItem(href, label, order, owner_only))


def nav_for(request: web.Request) -> list[dict[str, Any]]:
    """Navigation entries this request may see, sorted, with the active one marked."""
    sess = request.get(REQ_SESSION)
    if sess is None or not sess.paired:
        return []
    user = current_user(request)
    nav: list[NavItem] = request.app[NAV]
    items = sorted(nav, key=lambda n: (n.order, n.label))
    out = []
    for item in items:
        if item.owner_only and not (user and user.is_owner):
            continue
        active = request.path == item.href or (
            item.href != "/" and request.path.startswith(item.href + "/"))
        out.append({"href": item.href, "label": item.label, "active": active})
    return out


def render(request: web.Request, template: str, context: dict[str, Any] | None = None,
           *, status: int = 200) -> web.Response:
    """Render `template` with `context` plus csrf_token, user, nav and box_name."""
    env: jinja2.Environment = request.app[TEMPLATES]
    sess = request.get(REQ_SESSION)
    deps = request.app[DEPS]
    ctx: dict[str, Any] = {
        "csrf_token": sess.csrf if sess else "",
        "user": current_user(request),
        "paired": bool(sess and sess.paired),
        "nav": nav_for(request),
        "box_name": deps.config.web.hostname,
        "version": deps.release,
        "path": request.path,
        "steps": steps_for(request),
    }
    ctx.update(context or {})
    body = env.get_template(template).render(ctx)
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8")
