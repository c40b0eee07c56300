"""The order services start in: dependencies first, names unique, no cycles."""

from __future__ import annotations

from collections.abc import Iterable

from appliance.core.service import Service


class SupervisorError(Exception):
    """The set of services cannot be supervised (unknown dependency, cycle, duplicate)."""


def start_order(services: Iterable[Service]) -> list[Service]:
    """Services sorted so each comes after its dependencies (stable otherwise)."""
    items = list(services)
    by_name: dict[str, Service] = {}
    for svc in items:
        if svc.name in by_name:
            raise SupervisorError(f"two services are named {svc.name!r}; names must be unique")
        by_name[svc.name] = svc
    for svc in items:
        for dep in svc.depends_on:
            if dep not in by_name:
                known = ", ".join(sorted(by_name)) or "none"
                raise SupervisorError(f"service {svc.name!r} depends on {dep!r}, which is not "
                                      f"configured (services: {known})")
    order: list[Service] = []
    placed: set[str] = set()
    while len(order) < len(items):
        ready = [s for s in items if s.name not in placed
                 and all(d in placed for d in s.depends_on)]
        if not ready:
            raise SupervisorError("services depend on each other in a cycle: "
                                  + _cycle(by_name, [s for s in items if s.name not in placed]))
        order.append(ready[0])
        placed.add(ready[0].name)
    return order


def _cycle(by_name: dict[str, Service], left: list[Service]) -> str:
    """One dependency cycle among `left` (each of which has a dependency in `left`)."""
    left_names = {s.name for s in left}
    path: list[str] = []
    name = left[0].name
    while name not in path:
        path.append(name)
        name = next(d for d in by_name[name].depends_on if d in left_names)
    return " -> ".join([*path[path.index(name):], name])
