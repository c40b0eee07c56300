"""`mooddj run`: build the box from the config and run it under the supervisor."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from appliance.cli.locations import SIM_STATE_DIR, fail, load_box_config, sim_overrides

if TYPE_CHECKING:
    pass


def configure(parser: argparse.ArgumentParser) -> None:
    """Options of `mooddj run`."""
    parser.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS,
                        help="config file (default: $MOODDJ_CONFIG or /etc/mooddj/config.toml)")
    parser.add_argument("--sim", action="store_true",
                        help="simulator mode: stand-ins on loopback, mock pins, replay camera, "
                             f"state in {SIM_STATE_DIR}")
    parser.add_argument("--camera", choices=("webcam", "replay", "picamera2"),
                        help="frame source (overrides camera.source)")
    parser.add_argument("--port", type=int, help="port of the setup page (overrides web.port)")
    parser.add_argument("--state-dir", metavar="DIR",
                        help="keep the database, key and runtime files under DIR")
    parser.add_argument("--recording", metavar="PATH",
                        help="simulator: video, image or folder the replay camera loops "
                             "(default: tests/media/single_face.mp4)")
    parser.add_argument("--stand-ins", metavar="URL",
                        help="simulator: use stand-ins already running at this control URL "
                             "(from `python -m appliance.standins`) instead of starting them")


def run(args: argparse.Namespace) -> int:
    """`mooddj run`: run the box until SIGTERM or Ctrl-C."""
    import errno

    from appliance.app.context import BoxError
    from appliance.app.preflight import first_problem
    from appliance.app.runner import run_box
    from appliance.core.logging_setup import setup_logging
    from appliance.maintenance.lock import BoxRunningError, acquire_box_lock

    stand_ins = None
    extra: dict[str, Any] = {}
    first = load_box_config(args)
    problem = first_problem(first, sim=bool(getattr(args, "sim", False)),
                            recording_given=bool(getattr(args, "recording", None)))
    if problem:
        return fail(problem)
    if getattr(args, "sim", False):
        from appliance.simmode import launcher

        state = Path(sim_overrides(args)["paths"]["state_dir"])
        try:
            stand_ins = launcher.start(state, getattr(args, "stand_ins", None))
            extra = stand_ins.info["config"]
        except launcher.SimError as err:
            if stand_ins is not None:
                stand_ins.stop()
            return fail(str(err))
    try:
        config = load_box_config(args, extra)
        setup_logging(config.log.level, config.paths.log_file or None)
        try:
            lock = acquire_box_lock(config.paths.runtime)
        except BoxRunningError as err:
            return fail(str(err))
        except OSError as err:
            why = "a file is in the way" if err.errno == errno.ENOTDIR else err.strerror
            flag = "pass a writable --state-dir or " if getattr(args, "state_dir", None) else ""
            return fail(f"runtime dir {config.paths.runtime} cannot be used: {why}; "
                        f"{flag}set paths.runtime_dir to a writable folder")
        try:
            return run_box(config, sim_mode=bool(getattr(args, "sim", False)),
                           stand_ins=stand_ins.info if stand_ins else None)
        except BoxError as err:
            return fail(str(err))
        finally:
            lock.release()
    finally:
        if stand_ins is not None:
            stand_ins.stop()
