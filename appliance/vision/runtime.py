"""One LiteRT interpreter per model, with tensors addressed by name."""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from appliance.vision.models import FETCH_COMMAND, ModelError, check_file, load_manifest

logger = logging.getLogger(__name__)

TIMING_WINDOW = 512


def _interpreter_class() -> Any:
    """ai_edge_litert's Interpreter, else tflite_runtime's; ModelError if neither exists."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter  # type: ignore[no-redef]
        except ImportError as err:
            raise ModelError(
                "no TFLite runtime is installed; install ai-edge-litert "
                "(or tflite-runtime where it has no wheel) into the venv"
            ) from err
    return Interpreter


def _spec_for(path: Path) -> dict | None:
    """The manifest entry whose file name matches path, if any."""
    for spec in load_manifest()["models"].values():
        if spec["file"] == path.name:
            return spec
    return None


class Model:
    """A loaded .tflite model: feed inputs and read outputs by tensor name."""

    def __init__(self, path: Path, interpreter: Any) -> None:
        self.path = path
        self._it = interpreter
        self._in = {d["name"]: d for d in interpreter.get_input_details()}
        self._out = {d["name"]: d for d in interpreter.get_output_details()}
        self.input_names: tuple[str, ...] = tuple(self._in)
        self.output_names: tuple[str, ...] = tuple(self._out)
        self.invoke_ms: collections.deque[float] = collections.deque(maxlen=TIMING_WINDOW)

    @classmethod
    def load(cls, path: Path, num_threads: int = 2) -> Model:
        """Verify (when listed in the manifest) and load a model with one interpreter."""
        path = Path(path)
        spec = _spec_for(path)
        if spec is not None:
            problem = check_file(path, spec)
            if problem:
                raise ModelError(problem)
        elif not path.is_file():
            raise ModelError(f"model file {path} is missing; run {FETCH_COMMAND}")
        interpreter_cls = _interpreter_class()
        try:
            it = interpreter_cls(model_path=str(path), num_threads=int(num_threads))
            it.allocate_tensors()
        except (ValueError, RuntimeError, OSError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ModelError(
                f"model file {path} cannot be loaded ({first}); run {FETCH_COMMAND}"
            ) from err
        model = cls(path, it)
        if spec is not None:
            model._check_against(spec)
        logger.debug("loaded %s with %d thread(s)", path.name, num_threads)
        return model

    def _check_against(self, spec: dict) -> None:
        for kind, listed, actual in (("input", spec.get("inputs", []), self._in),
                                     ("output", spec.get("outputs", []), self._out)):
            for t in listed:
                d = actual.get(t["name"])
                if d is None or list(d["shape"]) != list(t["shape"]):
                    raise ModelError(
                        f"model file {self.path} lacks {kind} tensor {t['name']} "
                        f"{t['shape']}; run {FETCH_COMMAND}"
                    )

    def input_shape(self, name: str) -> tuple[int, ...]:
        """Shape of the named input tensor."""
        return tuple(int(x) for x in self._in[name]["shape"])

    def output_shape(self, name: str) -> tuple[int, ...]:
        """Shape of the named output tensor."""
        return tuple(int(x) for x in self._out[name]["shape"])

    def set_input(self, name: str, array: np.ndarray) -> None:
        """Copy one input into the interpreter (dtype and shape must match)."""
        d = self._in[name]
        if array.dtype != d["dtype"] or array.shape != tuple(d["shape"]):
            array = np.ascontiguousarray(array, dtype=d["dtype"]).reshape(d["shape"])
        self._it.set_tensor(d["index"], array)

    def fill_input(self, name: str, src: np.ndarray, scale: float, offset: float = 0.0) -> None:
        """Write src * scale + offset straight into the named input tensor (no extra copy)."""
        view = self._it.tensor(self._in[name]["index"])()
        try:
            dst = view.reshape(src.shape)
            np.multiply(src, np.float32(scale), out=dst)
            if offset:
                dst += np.float32(offset)
        finally:
            # The interpreter refuses to run while a view of its memory is alive.
            del view
            dst = None

    def write_input(self, name: str, write: Callable[[np.ndarray], None]) -> None:
        """Let `write` fill the named input tensor in place (float32, its own shape)."""
        view = self._it.tensor(self._in[name]["index"])()
        try:
            write(view)
        finally:
            del view  # the interpreter refuses to run while a view of its memory is alive

    def invoke(self) -> None:
        """Run the model once on the inputs already set, recording the time taken."""
        t0 = time.perf_counter()
        self._it.invoke()
        self.invoke_ms.append((time.perf_counter() - t0) * 1000.0)

    def output(self, name: str) -> np.ndarray:
        """A copy of the named output tensor after invoke()."""
        return self._it.get_tensor(self._out[name]["index"])

    def run(self, inputs: dict[str, np.ndarray],
            outputs: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
        """Set inputs by name, invoke, and return copies of the (selected) outputs by name."""
        for name, array in inputs.items():
            if name not in self._in:
                raise KeyError(f"{self.path.name} has no input {name!r}; "
                               f"inputs: {', '.join(self.input_names)}")
            self.set_input(name, array)
        self.invoke()
        return {n: self.output(n) for n in (outputs or self.output_names)}
