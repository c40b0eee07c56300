"""`mooddj doctor` checks of the vision package: models, inference runtime, camera config."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def _check(name: str, status: str, message: str, hint: str = "") -> Any:
    """A core doctor Check (imported lazily so this module loads without it)."""
    from appliance.core.checks import Check

    return Check(name, status, message, hint)  # type: ignore[arg-type]


def check_runtime() -> list[Any]:
    """Is a LiteRT interpreter importable?"""
    for module, label in (("ai_edge_litert", "ai-edge-litert"),
                          ("tflite_runtime", "tflite-runtime")):
        if importlib.util.find_spec(module) is not None:
            return [_check("vision.runtime", "pass", f"TFLite runtime: {label}")]
    return [_check("vision.runtime", "fail", "no TFLite runtime is installed",
                   "install ai-edge-litert into the venv (tflite-runtime where it has no wheel)")]


def check_image_kernel() -> list[Any]:
    """Is the compiled image kernel built and loadable (else numpy stands in, slower)?"""
    from appliance.vision import native

    if native.load() is not None:
        return [_check("vision.image_kernel", "pass", f"compiled ({native.LIBRARY.name})")]
    return [_check("vision.image_kernel", "warn",
                   "not built: the mood loop uses numpy for its crops (slower, same result)",
                   f"build it: {native.BUILD_COMMAND} (needs gcc: sudo apt install gcc)")]


def check_models(models_dir: Path, detector: str, load: bool = True) -> list[Any]:
    """Every model file present with the manifest's SHA-256, and the ones in use loadable."""
    from appliance.vision.models import FETCH_COMMAND, MODEL_NAMES, ModelError, model_path

    out = []
    good = []
    for name in MODEL_NAMES:
        try:
            path = model_path(models_dir, name)
        except ModelError as err:
            out.append(_check(f"vision.model.{name}", "fail", str(err),
                              f"run {FETCH_COMMAND}"))
            continue
        good.append(name)
        out.append(_check(f"vision.model.{name}", "pass", f"{path.name} verified (SHA-256)"))
    if not load:
        return out
    from appliance.vision.detector import VARIANTS
    from appliance.vision.runtime import Model

    needed = {VARIANTS[detector].model if detector in VARIANTS else "", "face_landmark",
              "emotion"}
    for name in (n for n in good if n in needed):
        try:
            Model.load(model_path(models_dir, name), num_threads=1)
        except ModelError as err:
            out.append(_check(f"vision.load.{name}", "fail", str(err), f"run {FETCH_COMMAND}"))
    return out


def check_camera(camera: Any) -> list[Any]:
    """The configured frame source looks usable (without opening the camera)."""
    source = getattr(camera, "source", "")
    name = "vision.camera"
    if source == "picamera2":
        if importlib.util.find_spec("picamera2") is None:
            return [_check(name, "fail", "camera source picamera2 but the picamera2 module "
                           "is not importable",
                           "apt install python3-picamera2 and create the venv with "
                           "--system-site-packages, or set camera.source")]
        return [_check(name, "pass", "picamera2 is installed")]
    if source == "webcam":
        dev = Path(f"/dev/video{int(getattr(camera, 'device', 0))}")
        if not dev.exists():
            return [_check(name, "warn", f"webcam source but {dev} does not exist",
                           "plug in the webcam or set camera.device / camera.source")]
        return [_check(name, "pass", f"webcam {dev} present")]
    if source == "replay":
        path = Path(getattr(camera, "replay_path", "") or "")
        if not str(path) or str(path) == "." or not path.exists():
            return [_check(name, "fail", f"replay source but camera.replay_path {path} "
                           "does not exist",
                           "set camera.replay_path to a video, image or folder of images")]
        return [_check(name, "pass", f"replay of {path}")]
    return [_check(name, "fail", f"unknown camera source {source!r}",
                   "set camera.source to picamera2, webcam or replay")]


def checks(config: Any) -> list[Any]:
    """All vision checks for doctor: runtime, model files and camera configuration."""
    out = check_runtime()
    runtime_ok = out[0].status == "pass"
    out += check_image_kernel()
    out += check_models(config.paths.models, config.vision.detector, load=runtime_ok)
    out += check_camera(config.camera)
    return out
