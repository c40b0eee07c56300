"""The installed version: the release's VERSION file (written by the installer), else git.

A release in /opt/mooddj/releases/<version>/ has no .git; scripts/install-pi.sh writes
`VERSION` there (version = the nearest tag or the commit, commit, its date, the source it
came from). A checkout (development, the simulator) asks git.
"""

from __future__ import annotations

import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

import appliance

CODE_ROOT = Path(appliance.__file__).resolve().parent.parent


@dataclass(frozen=True)
class Version:
    """One version of the code: name (tag or commit), full commit, commit date, source."""

    name: str
    commit: str = ""
    date: str = ""
    source: str = ""

    def describe(self) -> str:
        """`v1.2 (3f2a1bc, 2026-12-05)`, or the bare name when git told nothing more."""
        extra = [x for x in (self.commit[:7], self.date[:10]) if x and x not in self.name]
        return f"{self.name} ({', '.join(extra)})" if extra else self.name


def git(root: Path, *args: str) -> str:
    """Output of one read-only git command in root ("" when it fails)."""
    proc = subprocess.run(["git", "-c", "safe.directory=*", "-C", str(root), *args],
                          capture_output=True, text=True, timeout=60, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else ""


def of_commit(root: Path, rev: str = "HEAD", source: str = "") -> Version | None:
    """The version of `rev` in the git repository at root, or None."""
    commit = git(root, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    if not commit:
        return None
    name = git(root, "describe", "--tags", "--always", commit) or commit[:7]
    return Version(name, commit, git(root, "log", "-1", "--format=%cI", commit), source)


def installed(root: Path = CODE_ROOT) -> Version:
    """The version of the code at root (by default the running code)."""
    try:
        data = tomllib.loads((root / "VERSION").read_text())
        return Version(str(data.get("version", "")), str(data.get("commit", "")),
                       str(data.get("date", "")), str(data.get("source", "")))
    except (OSError, tomllib.TOMLDecodeError):
        pass
    if (root / ".git").exists():
        found = of_commit(root)
        if found is not None:
            dirty = git(root, "describe", "--tags", "--always", "--dirty")
            return Version(dirty or found.name, found.commit, found.date, str(root))
    return Version(appliance.__version__)
