"""warp.c: the mood loop's affine sampling in C, built at install time, loaded with ctypes.

numpy needs ~1 ms to sample a face crop bilinearly; this kernel needs a tenth of that,
without OpenCV's 17+ MiB. `scripts/setup` and `scripts/install-pi.sh` build it with the
system's C compiler (`python -m appliance.vision.native`); where it is not built,
imageops falls back to numpy (the same pixels, slower) and `mooddj doctor` says so.
"""

from __future__ import annotations

import ctypes
import logging
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "warp.c"
LIBRARY = HERE / "_warp.so"
BUILD_COMMAND = "python -m appliance.vision.native"

_lib: ctypes.CDLL | None = None
_tried = False


class BuildError(Exception):
    """The kernel could not be compiled; the message says why and what to install."""


def compiler() -> str | None:
    """The C compiler to use, if any."""
    for name in ("cc", "gcc", "clang"):
        path = shutil.which(name)
        if path:
            return path
    return None


def build(force: bool = False) -> Path:
    """Compile warp.c into _warp.so next to it (skipped when up to date)."""
    if not force and LIBRARY.exists() and LIBRARY.stat().st_mtime >= SOURCE.stat().st_mtime:
        return LIBRARY
    cc = compiler()
    if cc is None:
        raise BuildError("no C compiler found; install one (apt install gcc) to build the "
                         "image kernel, or run with the slower numpy fallback")
    tmp = LIBRARY.with_name(f"{LIBRARY.name}.{os.getpid()}.tmp")  # two builds never collide
    cmd = [cc, "-O3", "-shared", "-fPIC", "-std=c99", "-Wall", "-o", str(tmp), str(SOURCE)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise BuildError(f"compiling {SOURCE.name} failed: {done.stderr.strip()[-500:]}")
    tmp.replace(LIBRARY)  # atomic: a running box never sees half a library
    return LIBRARY


def load() -> ctypes.CDLL | None:
    """The built kernel, or None (then imageops uses numpy). Looked up once."""
    global _lib, _tried
    if _tried:
        return _lib
    _tried = True
    if not LIBRARY.exists():
        logger.info("image kernel not built (%s); using numpy", BUILD_COMMAND)
        return None
    try:
        lib = ctypes.CDLL(str(LIBRARY))
        fn = lib.mooddj_warp_affine_u8
        fn_f32 = lib.mooddj_warp_affine_f32
    except (OSError, AttributeError) as err:
        logger.warning("image kernel %s cannot be loaded (%s); using numpy; rebuild with %s",
                       LIBRARY, err, BUILD_COMMAND)
        return None
    common: list[Any] = [
        ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_ssize_t, ctypes.c_int,
        ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
    fn.restype = fn_f32.restype = ctypes.c_int
    fn.argtypes = common
    fn_f32.argtypes = [*common, ctypes.c_float, ctypes.c_float]
    _lib = lib
    return _lib


def main() -> int:
    """Build the kernel and say so (used by scripts/setup and scripts/install-pi.sh)."""
    import sys

    try:
        path = build(force="--force" in sys.argv[1:])
    except (BuildError, OSError, subprocess.SubprocessError) as err:
        print(f"image kernel not built: {err}", file=sys.stderr)
        return 1
    print(f"image kernel ready: {path}")
    return 0

