"""`mooddj update`: a new release beside the running one, switched to, rolled back on failure.

The installed layout (scripts/install-pi.sh): <prefix>/releases/<version>/, `current` and
`previous` links, the source clone in <prefix>/src. One update, in order:

1. fetch the configured source (the release's VERSION `source`) into <prefix>/src; nothing
   to do when its head is the installed commit; a commit that failed before is reported
   and not tried again (`--retry` does);
2. a backup (`mooddj backup`: database, key, config, calibration) into <state>/backups;
3. the new release is built beside the running one by *its own* installer
   (`install-pi.sh --release-only`: code, venv, kernel, models, .pyc);
4. the doctor's failures of the running release are noted; the box is stopped;
5. the database is copied (the previous release's copy, `mooddj.db.pre-update-<version>`)
   and the new release migrates another copy, which then replaces the database;
6. `current` -> the new release, `previous` -> the old; the box is started: systemd's
   `start` of a Type=notify unit returns when it sent READY=1 (or failed, or timed out);
   the box must still be active a few seconds later and the new doctor may fail no
   check that passed before;
7. otherwise: rollback: the box is stopped, `current` -> the old release, the database
   copy from step 5 goes back, the box is started again; the failed commit is recorded.
8. success: releases beyond current and previous (and their venvs) are removed.

The result of the last update is <prefix>/update.json (the owner's page shows it).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from appliance.core.config import Config
from appliance.maintenance.version import CODE_ROOT, Version, installed, of_commit

SERVICE = "mooddj.service"
# The owner's page asks for an update by creating this file in the state dir; the path
# unit mooddj-update.path then starts `mooddj update --requested` as root.
REQUEST_NAME = "update-request"
# After READY=1 the box must stay up this long (a crash in the first seconds counts).
SETTLE_SECONDS = 5.0


class UpdateError(Exception):
    """The update cannot go on; the message says why and what to do."""


@dataclass(frozen=True)
class Layout:
    """Where the installer put things (derived from the running code's location)."""

    prefix: Path

    @property
    def releases(self) -> Path:
        return self.prefix / "releases"

    @property
    def current(self) -> Path:
        return self.prefix / "current"

    @property
    def previous(self) -> Path:
        return self.prefix / "previous"

    @property
    def src(self) -> Path:
        return self.prefix / "src"

    @property
    def result_file(self) -> Path:
        return self.prefix / "update.json"

    @classmethod
    def of_running_code(cls, root: Path = CODE_ROOT) -> Layout:
        """The layout around `root`, or UpdateError when this is no installed release."""
        if root.parent.name != "releases" or not (root / "VERSION").is_file():
            raise UpdateError(f"{root} is not an installed release (a checkout updates with "
                              f"git pull; a box is installed by scripts/install-pi.sh)")
        return cls(root.parent.parent)

    def release_of(self, link: Path) -> Path | None:
        """The release a link points to, or None."""
        try:
            return (self.prefix / os.readlink(link)).resolve()
        except OSError:
            return None


@dataclass
class Outcome:
    """What an update did, as stored in update.json and printed."""

    status: str  # "up-to-date", "updated", "rolled-back", "refused", "failed"
    message: str
    installed: dict[str, str] = field(default_factory=dict)
    available: dict[str, str] = field(default_factory=dict)
    failed_commits: list[str] = field(default_factory=list)
    finished: str = ""

    def ok(self) -> bool:
        return self.status in ("up-to-date", "updated")


def systemctl(*args: str, timeout: float = 300) -> bool:
    """One systemctl call; True when it succeeded."""
    try:
        return subprocess.run(["systemctl", *args], capture_output=True, timeout=timeout,
                              check=False).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def _git(root: Path, *args: str, check: bool = True) -> str:
    proc = subprocess.run(["git", "-c", "safe.directory=*", "-C", str(root), *args],
                          capture_output=True, text=True, timeout=600, check=False)
    if check and proc.returncode != 0:
        raise UpdateError(f"git {' '.join(args)} failed: {proc.stderr.strip()[-300:]}")
    return proc.stdout.strip()


def fetch(layout: Layout, current: Version) -> Version:
    """Fetch the source's head into <prefix>/src; its version (the commit to install)."""
    source = current.source
    if not layout.src.joinpath(".git").is_dir():
        if not source:
            raise UpdateError("the installed release names no source to update from; "
                              "reinstall with scripts/install-pi.sh --git URL")
        proc = subprocess.run(["git", "clone", "--quiet", source, str(layout.src)],
                              capture_output=True, text=True, timeout=1800, check=False)
        if proc.returncode != 0:
            raise UpdateError(f"cannot clone {source}: {proc.stderr.strip()[-300:]}")
    _git(layout.src, "fetch", "--quiet", "--tags", "origin", "HEAD")
    found = of_commit(layout.src, "FETCH_HEAD", source or _git(layout.src, "remote", "get-url",
                                                               "origin", check=False))
    if found is None:
        raise UpdateError(f"the source {source} has no commit to install")
    return found


def read_outcome(layout: Layout) -> dict:
    """The last update's result (empty when there was none)."""
    try:
        data = json.loads(layout.result_file.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_outcome(layout: Layout, outcome: Outcome) -> Outcome:
    outcome.finished = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    tmp = layout.result_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(outcome), indent=2) + "\n")
    tmp.chmod(0o644)
    os.replace(tmp, layout.result_file)
    return outcome


def doctor_failures(release: Path) -> set[str] | None:
    """Names of the checks `mooddj doctor` of that release fails (None: it did not run)."""
    try:
        proc = subprocess.run([str(release / "bin" / "mooddj"), "doctor", "--json"],
                              capture_output=True, text=True, timeout=300, check=False)
        checks = json.loads(proc.stdout)["checks"]
    except (OSError, ValueError, KeyError, TypeError, subprocess.TimeoutExpired):
        return None
    return {c["name"] for c in checks if c.get("status") == "fail"}


def _relink(layout: Layout, name: Path, release: Path) -> None:
    tmp = name.with_name(f".{name.name}.new")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    tmp.symlink_to(release.relative_to(layout.prefix))
    os.replace(tmp, name)


def _copy_owned(src: Path, dst: Path) -> None:
    """An online-safe SQLite copy of src at dst, owned like src (the service user's)."""
    from appliance.maintenance.backup import copy_database

    with contextlib.suppress(FileNotFoundError):
        dst.unlink()
    copy_database(src, dst)
    st = src.stat()
    os.chown(dst, st.st_uid, st.st_gid)
    dst.chmod(0o600)


def _replace_db(copy: Path, db: Path) -> None:
    for suffix in ("-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{db}{suffix}").unlink()
    os.replace(copy, db)


def _started() -> bool:
    if not systemctl("start", SERVICE):
        return False
    time.sleep(SETTLE_SECONDS)
    return systemctl("is-active", "--quiet", SERVICE)


def prune(layout: Layout) -> list[str]:
    """Remove releases other than current and previous, and venvs no release uses."""
    keep = {layout.release_of(layout.current), layout.release_of(layout.previous)}
    removed = []
    for rel in sorted(layout.releases.iterdir()):
        if rel.resolve() not in keep:
            shutil.rmtree(rel)
            removed.append(rel.name)
    used = "".join((r / "bin" / "mooddj").read_text() for r in keep
                   if r is not None and (r / "bin" / "mooddj").is_file())
    for venv in sorted((layout.prefix / "venvs").glob("*")):
        if f"{venv}/" not in used:
            shutil.rmtree(venv)
    return removed


def build_release(layout: Layout) -> Path:
    """The new release, built beside the running one by the source's own installer."""
    proc = subprocess.run(["bash", str(layout.src / "scripts" / "install-pi.sh"),
                           "--release-only"], capture_output=True, text=True, timeout=3600,
                          check=False, env={**os.environ, "MOODDJ_PREFIX": str(layout.prefix)})
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines or not lines[-1].startswith("release: "):
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise UpdateError(f"building the new release failed:\n{tail}")
    return Path(lines[-1].removeprefix("release: "))


def migrate_in_place(db: Path) -> None:
    """Apply this release's migrations to the database at db (a copy, during an update)."""
    from appliance.schema import open_store

    open_store(db).close()


def migrate_copy(release: Path, db: Path, copy: Path) -> None:
    """The new release migrates a copy of the database (the original stays as it is)."""
    _copy_owned(db, copy)
    st = db.stat()
    proc = subprocess.run([str(release / "bin" / "mooddj"), "update", "--migrate-copy",
                           str(copy)],
                          capture_output=True, text=True, timeout=600, check=False,
                          user=st.st_uid if os.geteuid() == 0 else None)
    if proc.returncode != 0:
        copy.unlink(missing_ok=True)
        raise UpdateError(f"the new release could not migrate a copy of the database: "
                          f"{proc.stderr.strip()[-300:]}")


def check(layout: Layout) -> tuple[Version, Version]:
    """(installed, available) without changing anything but the source clone."""
    current = layout.release_of(layout.current)
    if current is None:
        raise UpdateError(f"{layout.current} does not point at a release")
    mine = installed(current)
    return mine, fetch(layout, mine)


def update(layout: Layout, cfg: Config, *, retry: bool = False,
           config_path: Path | None = None, calibration_path: Path | None = None,
           say: Callable[[str], None] = print) -> Outcome:
    """One whole update (see the module docstring); never raises for a failed start."""
    lock_fd = os.open(layout.prefix / "update.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UpdateError("another update is running") from None
        return _update_locked(layout, cfg, retry, config_path, calibration_path, say)
    finally:
        os.close(lock_fd)


def _update_locked(layout: Layout, cfg: Config, retry: bool, config_path: Path | None,
                   calibration_path: Path | None, say: Callable[[str], None]) -> Outcome:
    old_release = layout.release_of(layout.current)
    old_previous = layout.release_of(layout.previous)
    mine, new = check(layout)
    failed = list(read_outcome(layout).get("failed_commits", []))

    def outcome(status: str, message: str, now: Version = mine) -> Outcome:
        return _write_outcome(layout, Outcome(status, message, asdict(now), asdict(new),
                                              list(failed)))

    if new.commit == mine.commit:
        return outcome("up-to-date", f"{mine.describe()} is the newest")
    if new.commit in failed and not retry:
        return outcome("refused", f"{new.describe()} failed to start before and was rolled "
                                  f"back; it is not tried again (mooddj update --retry tries "
                                  f"anyway)")
    assert old_release is not None
    say(f"updating {mine.describe()} -> {new.describe()}")
    from appliance.maintenance.backup import make_backup

    backups = cfg.paths.state / "backups"
    backups.mkdir(mode=0o700, exist_ok=True)
    if cfg.paths.database_path.exists():
        result = make_backup(cfg.paths.database_path, cfg.paths.key_path, backups,
                             config_path=config_path, calibration_path=calibration_path)
        say(f"backup: {result.path}")
    _git(layout.src, "checkout", "--quiet", "--detach", new.commit)
    say("building the new release beside the running one")
    release = build_release(layout)
    before = doctor_failures(old_release)
    say("stopping the box")
    systemctl("stop", SERVICE)
    db = cfg.paths.database_path
    saved = db.with_name(f"{db.name}.pre-update-{mine.name}")
    if db.exists():
        _copy_owned(db, saved)
        migrated = db.with_name(f"{db.name}.update-{new.name}")
        try:
            migrate_copy(release, db, migrated)
        except UpdateError as err:
            systemctl("start", SERVICE)
            failed.append(new.commit)
            return outcome("failed", f"{err}; the box runs {mine.describe()} as before")
        _replace_db(migrated, db)
    _relink(layout, layout.previous, old_release)
    _relink(layout, layout.current, release)
    say(f"starting {new.describe()}")
    why = ""
    if not _started():
        why = "the box did not report ready (systemd) in time"
    else:
        after = doctor_failures(release)
        if before is not None and after is not None and after - before:
            why = f"doctor fails {', '.join(sorted(after - before))}"
    if not why:
        removed = prune(layout)
        if removed:
            say(f"removed old release(s): {', '.join(removed)}")
        return outcome("updated", f"now running {new.describe()}", now=new)
    say(f"{why}: rolling back to {mine.describe()}")
    systemctl("stop", SERVICE)
    systemctl("reset-failed", SERVICE)
    _relink(layout, layout.current, old_release)
    if old_previous is not None and old_previous.is_dir():
        _relink(layout, layout.previous, old_previous)
    else:
        layout.previous.unlink(missing_ok=True)
    if saved.exists():
        _replace_db(saved, db)
    failed.append(new.commit)
    back = _started()
    prune(layout)  # the failed release and a venv only it used
    state = "serving again" if back else "NOT serving either: see `mooddj logs`"
    return outcome("rolled-back", f"{new.describe()} failed ({why}); rolled back to "
                                  f"{mine.describe()}, {state}")
