"""`mooddj doctor [--json]`: check the box's environment; every problem gets a one-line fix.

Core checks live here; other packages add theirs through PLUGIN_CHECKS: each
entry names `module:function`, and `function(config) -> list[Check]` may be
sync or async. A plug-in module that does not exist (yet) is skipped; a plug-in
that raises shows as a failed check. Exit status is 1 when any check fails.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import os
import shutil
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from appliance.core import config as config_mod
from appliance.core.checks import Check, bad, ok, warn
from appliance.core.config import Config

PLUGIN_CHECKS = [
    "appliance.vision.doctor:checks",
    "appliance.music.doctor:checks",
    "appliance.panel.doctor:checks",
]
PLUGIN_TIMEOUT = 30.0
NET_TIMEOUT = 2.0
DISK_FAIL_BYTES = 50 << 20
DISK_WARN_BYTES = 200 << 20


# -- state directory, key, database, disk ---------------------------------


def check_state_dir(cfg: Config) -> list[Check]:
    """The state directory exists, is writable and is private."""
    d = cfg.paths.state
    if not d.exists():
        return [warn("state dir", f"{d} does not exist yet",
                     f"it is created at the first start (systemd: StateDirectory=mooddj), "
                     f"or: sudo install -d -m 0700 -o mooddj -g mooddj {d}")]
    if not d.is_dir():
        return [bad("state dir", f"{d} is not a directory", f"move {d} away and start again")]
    st = d.stat()
    mode = stat.S_IMODE(st.st_mode)
    out = []
    if not os.access(d, os.W_OK | os.X_OK):
        out.append(bad("state dir", f"{d} is not writable by this user",
                       f"run as the mooddj user (sudo -u mooddj mooddj doctor) or fix the "
                       f"owner: sudo chown mooddj:mooddj {d}"))
    if mode & 0o002 or mode & 0o020:
        out.append(bad("state dir permissions", f"{d} is writable by others (mode {mode:04o})",
                       f"chmod 0700 {d}"))
    elif mode not in (0o700, 0o750):
        out.append(warn("state dir permissions", f"{d} has mode {mode:04o}, expected 0700",
                        f"chmod 0700 {d}"))
    if not out:
        out.append(ok("state dir", f"{d} exists, writable, mode {mode:04o}"))
    return out


def check_renamed_keys(path: Path) -> list[Check]:
    """Old names of renamed keys in the config file: they work, the file should follow."""
    import tomllib

    try:
        data = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return []  # the config check reports a file it cannot read
    return [warn("config key", f"{old} was renamed {new}; the old name still works",
                 f"rename it in {path}") for old, new in config_mod.renamed_keys(data)[1]]


def check_runtime_dir(cfg: Config) -> list[Check]:
    """The runtime directory (the box's lock and status snapshot) is there and usable."""
    d = cfg.paths.runtime
    if not d.exists():
        return [warn("runtime dir", f"{d} does not exist (the box is not running)",
                     f"systemd creates it at each start (RuntimeDirectory=mooddj); by hand: "
                     f"sudo install -d -m 0750 -o mooddj -g mooddj {d}")]
    if not d.is_dir():
        return [bad("runtime dir", f"{d} is not a directory",
                    f"remove it (sudo rm {d}); the next start creates the directory")]
    mode = stat.S_IMODE(d.stat().st_mode)
    if mode & 0o002:
        return [bad("runtime dir permissions", f"{d} is writable by everyone (mode {mode:04o})",
                    f"sudo chmod 0750 {d} (systemd sets RuntimeDirectoryMode=0750)")]
    if not os.access(d, os.R_OK | os.X_OK):
        return [warn("runtime dir", f"{d} is not readable by this user, so `mooddj status` "
                     f"cannot see the box", "run as the mooddj user (sudo -u mooddj mooddj "
                     "status), or add yourself to the group: sudo usermod -aG mooddj $USER")]
    return [ok("runtime dir", f"{d} exists, mode {mode:04o}")]


def _open_db(cfg: Config) -> Any:
    from appliance.core.store import open_readonly

    return open_readonly(cfg.paths.database_path)


def check_key(cfg: Config) -> list[Check]:
    """The key file exists, is 0600 and opens every sealed value."""
    from appliance.core.crypto import KeyFileError, Sealer, read_key
    from appliance.core.secrets_store import count_sealed, pending_key_path, verify_sealed
    from appliance.schema import SEALED

    path = cfg.paths.key_path
    out: list[Check] = []
    if pending_key_path(path).exists():
        out.append(warn("key rotation", f"{pending_key_path(path)} exists: a key rotation or "
                        f"restore was interrupted", "start the box once (it finishes or undoes "
                        "it), or run `mooddj rotate-key` again"))
    sealed = 0
    db = None
    if cfg.paths.database_path.exists():
        try:
            db = _open_db(cfg)
            sealed = count_sealed(db, SEALED)
        except Exception:  # the database check reports the cause
            db = None
    try:
        if not path.exists():
            if sealed:
                out.append(bad("key file", f"{path} is missing but {sealed} sealed token(s) "
                               f"are stored", "restore it with `mooddj restore BACKUP`, or "
                               "`mooddj factory-reset` and link the accounts again"))
            else:
                out.append(warn("key file", f"{path} does not exist yet",
                                "it is created at the first start (systemctl start mooddj)"))
            return out
        out.extend(_owner_check("key file owner", path))
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode != 0o600:
            out.append(bad("key file permissions", f"{path} has mode {mode:04o}, not 0600",
                           f"chmod 0600 {path}"))
        try:
            sealer = Sealer(read_key(path))
        except KeyFileError as err:
            out.append(bad("key file", str(err), "restore the key with `mooddj restore BACKUP`"))
            return out
        problems = verify_sealed(db, sealer, SEALED) if db is not None else []
        if problems:
            out.append(bad("key file", f"the key does not open {len(problems)} of {sealed} "
                           f"sealed value(s): {problems[0]}",
                           "restore the matching key (`mooddj restore BACKUP`) or re-link "
                           "the accounts after `mooddj factory-reset`"))
        else:
            out.append(ok("key file", f"{path} present, key id {sealer.version}, opens "
                          f"{sealed} sealed value(s)"))
        return out
    finally:
        if db is not None:
            db.conn.close()


def _owner_check(name: str, path: Path) -> list[Check]:
    """A file in the state dir must belong to the dir's owner (the service user)."""
    want, have = path.parent.stat().st_uid, path.stat().st_uid
    if want == have:
        return []
    return [bad(name, f"{path} belongs to uid {have}, the state dir to uid {want}: the box "
                f"cannot open it", f"sudo chown --reference={path.parent} {path}")]


def check_database(cfg: Config) -> list[Check]:
    """The database passes quick_check and has every migration applied."""
    from appliance.core.schema import migration_state
    from appliance.core.store import StoreError, quick_check
    from appliance.schema import TABLES

    path = cfg.paths.database_path
    out: list[Check] = []
    aside = sorted(path.parent.glob(path.name + ".corrupt-*")) if path.parent.is_dir() else []
    if aside:
        out.append(warn("database history", f"a damaged database was moved aside: "
                        f"{aside[-1].name}", f"inspect or delete {aside[-1]} once it is not "
                        f"needed"))
    if not path.exists():
        out.append(warn("database", f"{path} does not exist yet",
                        "it is created at the first start (systemctl start mooddj)"))
        return out
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if p.exists():
            out.extend(_owner_check("database owner", p))
    try:
        reason = quick_check(path)
    except StoreError as err:
        return [*out, bad("database", str(err), "run as the mooddj user and check the disk")]
    if reason:
        out.append(bad("database", f"{path} is damaged: {reason}",
                       "the box moves it aside at the next start; to keep the data, "
                       "`mooddj restore BACKUP`"))
        return out
    db = _open_db(cfg)
    try:
        pending, unknown = migration_state(db, TABLES)
    finally:
        db.conn.close()
    size = sum(Path(f"{path}{s}").stat().st_size for s in ("", "-wal")
               if Path(f"{path}{s}").exists())
    if unknown:
        out.append(bad("database", f"written by a newer mooddj (migrations "
                       f"{', '.join(unknown)})", "upgrade mooddj, or restore an older backup"))
    elif pending:
        out.append(warn("database", f"integrity ok; {len(pending)} migration(s) pending "
                        f"({', '.join(pending)})", "they are applied at the next start "
                        "(sudo systemctl restart mooddj)"))
    else:
        out.append(ok("database", f"integrity ok, migrations applied, {size // 1024} KiB"))
    return out


def check_disk(cfg: Config) -> list[Check]:
    """Enough free space where the database lives."""
    d = cfg.paths.state
    while not d.exists() and d != d.parent:
        d = d.parent
    free = shutil.disk_usage(d).free
    text = f"{free / (1 << 20):.0f} MiB free on the state directory's filesystem"
    if free < DISK_FAIL_BYTES:
        return [bad("disk space", text, "free some space (sudo journalctl --vacuum-size=50M, "
                    "apt clean) or use a larger SD card")]
    if free < DISK_WARN_BYTES:
        return [warn("disk space", text, "free some space soon (sudo apt clean)")]
    return [ok("disk space", text)]


def check_box(cfg: Config) -> list[Check]:
    """Whether the box process is running (information for SSH maintenance)."""
    from appliance.maintenance.lock import box_running

    pid = box_running(cfg.paths.runtime)
    if pid is None:
        return [warn("box", "the box is not running", "sudo systemctl start mooddj "
                     "(logs: mooddj logs)")]
    return [ok("box", f"running (pid {pid})" if pid else "running")]


# -- plug-ins and the runner ---------------------------------------------


def _missing_module(err: ModuleNotFoundError, module: str) -> bool:
    return bool(err.name) and (module == err.name or module.startswith(f"{err.name}."))


async def run_plugin(spec: str, cfg: Config) -> list[Check]:
    """Run one `module:function` plug-in; [] if its module does not exist."""
    module, _, attr = spec.partition(":")
    name = f"plugin {module}"
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as err:
        if _missing_module(err, module):
            return []
        return [bad(name, f"cannot be imported: {err}", "reinstall mooddj (pip install -e .)")]
    except Exception as err:
        return [bad(name, f"cannot be imported: {err!r}", "reinstall mooddj or report a bug")]
    fn: Callable[[Config], list[Check] | Awaitable[list[Check]]] | None = getattr(
        mod, attr or "checks", None)
    if fn is None:
        return [bad(name, f"has no {attr or 'checks'}()", "report a bug")]
    try:
        result = fn(cfg)
        if inspect.isawaitable(result):
            result = await asyncio.wait_for(result, PLUGIN_TIMEOUT)
        checks = list(result)
    except PermissionError as err:
        return [bad(name, f"permission denied on {err.filename or 'a state file'}",
                    "run the doctor as the box's user: sudo -u mooddj mooddj doctor")]
    except Exception as err:
        return [bad(name, f"raised {err.__class__.__name__}: {err}",
                    "run `mooddj doctor` again; if it persists, report a bug")]
    bad_items = [c for c in checks if not isinstance(c, Check)
                 or c.status not in ("pass", "warn", "fail")]
    if bad_items:
        return [bad(name, f"returned {len(bad_items)} malformed result(s)", "report a bug")]
    return checks


CORE_CHECKS: list[Callable[[Config], list[Check]]] = [
    # GPIO is the panel plug-in's check (board model, lgpio, the chip itself).
    check_state_dir, check_runtime_dir, check_key, check_database, check_disk, check_box,
]


async def run_checks(cfg: Config | None = None, *, config_path: str | None = None,
                     plugins: list[str] | None = None, sim: bool = False) -> list[Check]:
    """Every core and plug-in check, in order; `cfg=None` loads the config itself.

    `sim`: the simulator's box, whose remotes are the stand-ins it starts on loopback,
    so the real hosts in the config are not what it talks to and are not looked up.
    """
    checks: list[Check] = []
    if cfg is None:
        try:
            cfg = config_mod.load(config_path)
            path = config_mod.resolve_path(config_path)
            checks.append(ok("config", f"{path} is valid" if path.exists() else
                             f"no {path}: using the defaults"))
            checks.extend(check_renamed_keys(path))
        except config_mod.ConfigError as err:
            checks.append(bad("config", str(err), "fix the file, then run `mooddj doctor`; "
                              "the other checks below use the defaults"))
            cfg = Config()
    else:
        checks.append(ok("config", "valid"))
    for fn in CORE_CHECKS:
        try:
            checks.extend(await asyncio.to_thread(fn, cfg))
        except PermissionError as err:
            # Not a bug: the box's files belong to its user (state dir 0700).
            checks.append(bad(fn.__name__.removeprefix("check_").replace("_", " "),
                              f"permission denied on {err.filename or 'a state file'}",
                              "run the doctor as the box's user: sudo -u mooddj mooddj doctor"))
        except Exception as err:
            checks.append(bad(fn.__name__.removeprefix("check_").replace("_", " "),
                              f"the check itself failed: {err!r}", "report a bug"))
    from appliance.maintenance.doctor_net import check_network

    if sim:
        checks.append(ok("network", "simulator: Spotify, sign-in and features are the "
                                    "stand-ins on 127.0.0.1 (started by mooddj run --sim)"))
    else:
        checks.extend(await check_network(cfg))
    for spec in PLUGIN_CHECKS if plugins is None else plugins:
        checks.extend(await run_plugin(spec, cfg))
    return checks


def render(checks: list[Check]) -> str:
    """Checks as lines for a terminal."""
    width = max((len(c.name) for c in checks), default=0)
    lines = []
    for c in checks:
        lines.append(f"{c.status.upper():4}  {c.name.ljust(width)}  {c.message}")
        if c.hint and c.status != "pass":
            lines.append(f"{'':4}  {'':{width}}  fix: {c.hint}")
    counts = {s: sum(c.status == s for c in checks) for s in ("pass", "warn", "fail")}
    lines.append(f"{counts['pass']} passed, {counts['warn']} warning(s), "
                 f"{counts['fail']} failed")
    return "\n".join(lines)
