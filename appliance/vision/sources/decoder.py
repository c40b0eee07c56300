"""The replay camera's decoder: a child process that turns video and image files into frames.

OpenCV's FFmpeg stack costs the box 17 MiB or more of memory and a few codec threads,
and a crash in a codec would take the supervisor with it. On a Pi the camera's frames
come from libcamera and none of that is loaded; the simulator's camera gets the same
footing by decoding in this child, like the other stand-ins. The child answers one
JSON request per line on stdin; frames follow their JSON header as raw RGB bytes.
It exits when its stdin closes, so it never outlives the box.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any, BinaryIO

import numpy as np

from appliance.vision.sources.base import CameraError

logger = logging.getLogger(__name__)


class Decoder:
    """Client of one decoder child, started at the first request and again after a crash."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        """Whether the child process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def open(self, path: Path, max_side: int) -> float:
        """Open a video; its frame rate. CameraError says why it cannot be used."""
        reply, _ = self._call({"op": "open", "path": str(path), "max_side": max_side})
        return float(reply["fps"])

    def read(self) -> np.ndarray | None:
        """The next frame of the open video (RGB), None at its end."""
        reply, frame = self._call({"op": "read"})
        return None if reply.get("end") else frame

    def grab(self) -> bool:
        """Skip one frame; False at the video's end."""
        reply, _ = self._call({"op": "grab"})
        return not reply.get("end")

    def image(self, path: Path, max_side: int) -> np.ndarray:
        """An image file decoded to RGB."""
        _, frame = self._call({"op": "image", "path": str(path), "max_side": max_side})
        assert frame is not None
        return frame

    def close(self) -> None:
        """Stop the child (it exits as its stdin closes), even while a read waits on it."""
        proc = self._proc
        if proc is not None:
            # Not under the lock: a read stuck on a hung decoder holds it. Ending the child
            # ends that read (it sees the pipe close and raises CameraError).
            _end(proc)
        with self._lock:
            self._stop()

    def _call(self, request: dict[str, Any]) -> tuple[dict[str, Any], np.ndarray | None]:
        with self._lock:
            proc = self._start()
            assert proc.stdin is not None and proc.stdout is not None
            try:
                proc.stdin.write(json.dumps(request).encode() + b"\n")
                proc.stdin.flush()
                line = proc.stdout.readline()
                if not line:
                    raise EOFError("no answer")
                reply = json.loads(line)
                frame = None
                if "shape" in reply:
                    frame = np.empty(tuple(reply["shape"]), np.uint8)
                    _read_into(proc.stdout, frame.data.cast("B"))
            except (OSError, EOFError, ValueError) as err:
                self._stop()
                raise CameraError(f"the replay decoder process stopped ({err}); it restarts "
                                  f"at the next try") from None
        if not reply.get("ok") and not reply.get("end"):
            raise CameraError(str(reply.get("error") or "the replay decoder failed"))
        return reply, frame

    def _start(self) -> subprocess.Popen[bytes]:
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        if self._proc is not None:
            logger.warning("replay decoder exited with code %s; starting it again",
                           self._proc.returncode)
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "appliance.vision.sources.decoder"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        except OSError as err:
            raise CameraError(f"the replay decoder cannot start ({err.strerror})") from None
        return self._proc

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        _end(proc)
        if proc.stdout is not None:
            with contextlib.suppress(OSError, ValueError):
                proc.stdout.close()


def _end(proc: subprocess.Popen[bytes]) -> None:
    """Close the child's stdin (it exits), killing it if it has not within 2 s."""
    if proc.stdin is not None:
        with contextlib.suppress(OSError, ValueError):
            proc.stdin.close()
    try:
        proc.wait(timeout=2)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=2)


def _read_into(stream: IO[bytes], view: memoryview) -> None:
    got = 0
    while got < len(view):
        n = stream.readinto(view[got:])  # type: ignore[attr-defined]
        if not n:
            raise EOFError("frame cut short")
        got += n


def serve(stdin: BinaryIO, stdout: BinaryIO) -> None:
    """The child's loop: one request per line until stdin closes."""
    import cv2

    from appliance.vision.sources.base import to_rgb
    from appliance.vision.sources.replay import read_image

    cv2.setNumThreads(1)
    cap: Any = None
    max_side = 1 << 30

    def send(reply: dict[str, Any], frame: np.ndarray | None = None) -> None:
        if frame is not None:
            frame = np.ascontiguousarray(frame)
            reply = {**reply, "shape": list(frame.shape)}
        stdout.write(json.dumps(reply).encode() + b"\n")
        if frame is not None:
            stdout.write(frame.tobytes())
        stdout.flush()

    for line in stdin:
        request = json.loads(line)
        op = request.get("op")
        try:
            if op == "open":
                if cap is not None:
                    cap.release()
                cap, fps = _open_video(cv2, Path(request["path"]))
                max_side = int(request.get("max_side") or max_side)
                send({"ok": True, "fps": fps})
            elif op in ("read", "grab") and cap is None:
                send({"ok": False, "error": "no video is open"})
            elif op == "read":
                ok, bgr = cap.read()
                if ok:
                    send({"ok": True}, to_rgb(bgr, order="bgr", max_side=max_side))
                else:
                    send({"ok": False, "end": True})
            elif op == "grab":
                send({"ok": True} if cap.grab() else {"ok": False, "end": True})
            elif op == "image":
                send({"ok": True}, read_image(Path(request["path"]),
                                              int(request.get("max_side") or max_side)))
            else:
                send({"ok": False, "error": f"unknown request {op!r}"})
        except CameraError as err:
            send({"ok": False, "error": str(err)})


def _open_video(cv2: Any, path: Path) -> tuple[Any, float]:
    if not path.is_file():
        raise CameraError(f"video {path} does not exist")
    # One decoding thread: frames are small, and each FFmpeg thread keeps its own buffers.
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, 1])
    if not cap.isOpened():
        cap.release()
        raise CameraError(f"video {path} cannot be opened (unreadable or not a video)")
    ok, _ = cap.read()
    if not ok:
        cap.release()
        raise CameraError(f"video {path} has no readable frames (truncated or empty)")
    cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
    fps = cap.get(cv2.CAP_PROP_FPS)
    return cap, fps if math.isfinite(fps) and 1.0 <= fps <= 240.0 else 25.0


if __name__ == "__main__":  # pragma: no cover - the child process
    # Ctrl-C in the terminal reaches the whole process group: the box stops this child
    # itself (closing its stdin) once it has finished with the camera.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(BrokenPipeError):
        serve(sys.stdin.buffer, sys.stdout.buffer)
