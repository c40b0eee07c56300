"""`mooddj`: the maintenance command (run the box, check it, inspect it, back it up).

Each subcommand lives in the module named in COMMANDS, which provides
`configure(parser)` and `run(args) -> int`; modules are imported only when
their command runs, so `mooddj status` never loads the vision models.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("appliance.cli.run", "run the box (the supervisor and all services)"),
    "doctor": ("appliance.cli.doctor", "check config, state, key, database, models, camera, GPIO"),
    "status": ("appliance.cli.status", "one screen of the running box's state"),
    "logs": ("appliance.cli.logs", "show the box's log (journal, or the simulator's file)"),
    "db": ("appliance.cli.db", "inspect users, identities and connections (no secrets)"),
    "backup": ("appliance.cli.backup", "online backup of the database and key to PATH"),
    "restore": ("appliance.cli.restore", "restore a backup made by `mooddj backup`"),
    "rotate-key": ("appliance.cli.rotate_key", "re-seal every secret under a new key"),
    "factory-reset": ("appliance.cli.factory_reset", "erase accounts, links and settings"),
    "pair": ("appliance.cli.pair", "print a one-time pairing code for a new browser"),
    "analyze": ("appliance.cli.analyze", "mood of an image, folder or video"),
    "calibrate": ("appliance.cli.calibrate", "record a neutral-face baseline"),
    "features": ("appliance.cli.features", "manage the track features cache (import CSV)"),
    "bench": ("appliance.cli.bench", "benchmarks: vision, player, soak"),
    "update": ("appliance.cli.update", "install the newest release beside this one; roll back "
                                       "if it fails"),
}


class _VersionAction(argparse.Action):
    """`--version`: asks the release's VERSION file or git only when it is given."""

    def __call__(self, parser: argparse.ArgumentParser, *_args: object, **_kw: object) -> None:
        from appliance.maintenance.version import installed

        print(f"mooddj {installed().describe()}")
        parser.exit()


def _needs_opencv() -> str:
    """What to do when OpenCV is missing: the `opencv` extra, which a Pi box leaves out."""
    return (f"it needs OpenCV, the `opencv` extra (on a Pi: sudo {sys.prefix}/bin/pip install "
            f"-c {sys.prefix}/constraints.txt 'opencv-python-headless>=4.8,<5')")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (imports each command's module to add its options)."""
    parser = argparse.ArgumentParser(
        prog="mooddj", description="MoodDJ: a mood-aware music appliance.")
    parser.add_argument("--version", action=_VersionAction, nargs=0,
                        help="show the installed version (tag or commit, and its date)")
    parser.add_argument("--config", metavar="PATH",
                        help="config file (default: $MOODDJ_CONFIG or /etc/mooddj/config.toml)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
        try:
            mod = importlib.import_module(module)
        except ImportError as err:
            p.set_defaults(_import_error=_needs_opencv() if err.name == "cv2" else str(err))
            continue
        mod.configure(p)
        _add_location_options(p)
    return parser


def _add_location_options(p: argparse.ArgumentParser, nested: bool = False) -> None:
    """`--config`, `--sim`, `--state-dir` on every command (after its name, as the README says).

    Sub-actions (`mooddj features stats ...`) take them too; there they default to SUPPRESS
    so `mooddj features --sim stats` keeps the value given before the action's name.
    """
    known = {opt for action in p._actions for opt in action.option_strings}
    if "--config" not in known:  # SUPPRESS: `mooddj --config X cmd` is not overwritten by None
        p.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS,
                       help="config file (default: $MOODDJ_CONFIG or /etc/mooddj/config.toml)")
    if "--sim" not in known:
        p.add_argument("--sim", action="store_true",
                       default=argparse.SUPPRESS if nested else False,
                       help="the simulator's box (state in ~/.local/state/mooddj-sim)")
    if "--state-dir" not in known:
        p.add_argument("--state-dir", metavar="DIR",
                       default=argparse.SUPPRESS if nested else None,
                       help="the box started with `mooddj run --state-dir DIR`")
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _add_location_options(sub, nested=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `mooddj` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    if getattr(args, "_import_error", None):
        print(f"mooddj {args.command}: unavailable: {args._import_error}", file=sys.stderr)
        return 1
    mod = importlib.import_module(args._module)
    try:
        return int(mod.run(args) or 0)
    except KeyboardInterrupt:
        return 130
    except ModuleNotFoundError as err:
        if err.name != "cv2":
            raise
        print(f"mooddj {args.command}: unavailable: {_needs_opencv()}", file=sys.stderr)
        return 1
    except PermissionError as err:
        # The box's state (0700) and runtime files belong to the mooddj user.
        where = f" on {err.filename}" if err.filename else ""
        again = " ".join(sys.argv[1:] if argv is None else argv)
        print(f"mooddj {args.command}: permission denied{where}: the box's files belong to "
              f"the mooddj user; run: sudo -u mooddj mooddj {again}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `mooddj ... | head` closed the pipe: stop quietly, like coreutils
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the flush at exit does not raise again
        return 141


if __name__ == "__main__":
    sys.exit(main())
