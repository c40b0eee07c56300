"""Checks `mooddj run` makes before anything starts: one line naming each problem and its fix."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from appliance.core.config import Config


def models_problem(config: Config) -> str:
    """One line naming a missing or damaged model file and the fix, or ''."""
    from appliance.vision.models import models_in_use, verify_all

    problems = verify_all(config.paths.models, models_in_use(config.vision))
    return problems[0] if problems else ""


def port_problem(config: Config) -> str:
    """One line when the setup page's port is taken (or not ours to use), or ''."""
    import socket

    from appliance.web.service import listen_problem

    host, port = config.web.host or "0.0.0.0", config.web.port
    if port == 0:
        return ""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError:
        return ""  # a bad web.host: the web service reports it with its own message
    family, kind, proto, _name, addr = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp binds it
        try:
            sock.bind(addr)
        except OSError as err:
            return listen_problem(err, host, port)
    return ""


def recording_problem(config: Config, *, given: bool) -> str:
    """One line if the simulator's replay camera has nothing to replay, or ''.

    `given`: the person named the recording (--recording), so no fetch script can help.
    """
    if config.camera.source != "replay":
        return ""
    path = Path(config.camera.replay_path)
    if path.exists():
        return ""
    fix = ("pass --recording PATH" if given
           else "run scripts/fetch-test-media, or pass --recording PATH")
    return f"recording {path} not found; {fix}"


def first_problem(config: Config, *, sim: bool, recording_given: bool = False) -> str:
    """The first problem that would stop the box, or ''."""
    return (models_problem(config)
            or (recording_problem(config, given=recording_given) if sim else "")
            or port_problem(config))
