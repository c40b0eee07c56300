"""The model manifest: which .tflite files the vision pipeline needs and how to check them."""

from __future__ import annotations

import hashlib
import logging
import threading
import tomllib
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from appliance.core.config import VisionConfig

logger = logging.getLogger(__name__)

MANIFEST_PATH = Path(__file__).resolve().parents[2] / "models" / "manifest.toml"
FETCH_COMMAND = "scripts/fetch-models"
MODEL_NAMES: tuple[str, ...] = (
    "face_detection_full_range",
    "face_detection_short_range",
    "face_landmark",
    "emotion",
    "face_detection_back",
)

_verified: dict[tuple[str, int, int], bool] = {}
_lock = threading.Lock()


class ModelError(Exception):
    """A model file is missing, damaged or cannot be loaded (message is one line)."""


@cache
def load_manifest() -> dict:
    """The parsed models/manifest.toml (sources and models tables)."""
    try:
        with open(MANIFEST_PATH, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as err:
        raise ModelError(f"model manifest {MANIFEST_PATH} is unreadable ({err.strerror}); "
                         "restore it from the repository") from err
    except tomllib.TOMLDecodeError as err:
        raise ModelError(f"model manifest {MANIFEST_PATH} is not valid TOML ({err}); "
                         "restore it from the repository") from err
    missing = [n for n in MODEL_NAMES if n not in data.get("models", {})]
    if missing:
        raise ModelError(f"model manifest {MANIFEST_PATH} lacks {', '.join(missing)}; "
                         "restore it from the repository")
    return data


def model_spec(name: str) -> dict:
    """The manifest entry of one model (file, sha256, size, inputs, outputs, ...)."""
    models = load_manifest()["models"]
    if name not in models:
        raise ModelError(f"unknown model {name!r}; known: {', '.join(MODEL_NAMES)}")
    return models[name]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_file(path: Path, spec: dict) -> str | None:
    """One-line problem with this model file, or None when it matches the manifest."""
    fix = f"run {FETCH_COMMAND}"
    if path.parent.resolve() != MANIFEST_PATH.parent:  # paths.models_dir names another folder
        fix += f" --dest {path.parent}"
    try:
        st = path.stat()
    except FileNotFoundError:
        return f"model file {path} is missing; {fix}"
    except OSError as err:
        return f"model file {path} is unreadable ({err.strerror}); {fix}"
    if not path.is_file():
        return f"model file {path} is not a file; {fix}"
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _lock:
        if _verified.get(key):
            return None
    if st.st_size != int(spec["size"]):
        return (f"model file {path} has {st.st_size} bytes, expected {spec['size']} "
                f"(damaged or a different version); {fix}")
    try:
        digest = _sha256(path)
    except OSError as err:
        return f"model file {path} is unreadable ({err.strerror}); {fix}"
    if digest != spec["sha256"]:
        return (f"model file {path} has the wrong SHA-256 {digest[:12]}... "
                f"(damaged or a different version); {fix}")
    with _lock:
        _verified[key] = True
    return None


def model_path(models_dir: Path, name: str) -> Path:
    """Path of a verified model file; raises ModelError naming the file and the fix."""
    spec = model_spec(name)
    path = Path(models_dir) / spec["file"]
    problem = check_file(path, spec)
    if problem:
        raise ModelError(problem)
    return path


def models_in_use(vision: VisionConfig) -> tuple[str, ...]:
    """The models the mood loop loads with this config (the others may be absent)."""
    names = [f"face_detection_{vision.detector}", "face_landmark", "emotion"]
    if vision.tile_detector != "off":
        names.append(f"face_detection_{vision.tile_detector}")
    return tuple(dict.fromkeys(names))


def verify_all(models_dir: Path, names: Sequence[str] = MODEL_NAMES) -> list[str]:
    """One line per model of `names` that is missing or wrong (empty when all are fine)."""
    problems = []
    for name in names:
        try:
            model_path(models_dir, name)
        except ModelError as err:
            problems.append(str(err))
    return problems
