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
        self._main: np.ndarray | None = None  # the main frame of the last reply

    @property
    def running(self) -> bool:
        """Whether the child process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def open(self, path: Path, max_side: int, main_side: int = 0) -> float:
        """Open a video; its frame rate. CameraError says why it cannot be used.

        Frames come as a view of at most max_side pixels a side and, when the video is
        larger than that and main_side > 0, the frame itself at most main_side a side.
        """
        reply, _ = self._call({"op": "open", "path": str(path), "max_side": max_side,
                               "main_side": main_side})
        return float(reply["fps"])

    def read(self) -> np.ndarray | None:
        """The next view of the open video (RGB), None at its end."""
        got = self.read_pair()
        return None if got is None else got[0]

    def read_pair(self) -> tuple[np.ndarray, np.ndarray | None] | None:
        """The next (view, main or None) of the open video, None at its end."""
        reply, frame = self._call({"op": "read"})
        if reply.get("end") or frame is None:
            return None
        return frame, self._main

    def grab(self) -> bool:
        """Skip one frame; False at the video's end."""
        reply, _ = self._call({"op": "grab"})
        return not reply.get("end")

    def image(self, path: Path, max_side: int, main_side: int = 0,
              ) -> tuple[np.ndarray, np.ndarray | None]:
        """An image file decoded to RGB: (view, main or None), as `open` describes."""
        _, frame = self._call({"op": "image", "path": str(path), "max_side": max_side,
                               "main_side": main_side})
        assert frame is not None
        return frame, self._main

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
                self._main = None
                if "shape" in reply:
                    frame = np.empty(tuple(reply["shape"]), np.uint8)
                    _read_into(proc.stdout, frame.data.cast("B"))
                if "main_shape" in reply:
                    self._main = np.empty(tuple(reply["main_shape"]), np.uint8)
                    _read_into(proc.stdout, self._main.data.cast("B"))
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
    main_side = 0

    def send(reply: dict[str, Any], frame: np.ndarray | None = None,
             main: np.ndarray | None = None) -> None:
        if frame is not None:
            frame = np.ascontiguousarray(frame)
            reply = {**reply, "shape": list(frame.shape)}
        if main is not None:
            main = np.ascontiguousarray(main)
            reply = {**reply, "main_shape": list(main.shape)}
        stdout.write(json.dumps(reply).encode() + b"\n")
        if frame is not None:
            stdout.write(frame.tobytes())
        if main is not None:
            stdout.write(main.tobytes())
        stdout.flush()

    def pair(rgb: np.ndarray, view_side: int, main: int) -> tuple[np.ndarray, np.ndarray | None]:
        """(view, main): area-shrunk by OpenCV here, as the camera's ISP shrinks its views."""
        h, w = rgb.shape[:2]
        if max(h, w) <= view_side:
            return rgb, None
        big = None
        if main > 0:
            big = rgb if max(h, w) <= main else _shrink(cv2, rgb, main)
        return _shrink(cv2, big if big is not None else rgb, view_side), big

    for line in stdin:
        request = json.loads(line)
        op = request.get("op")
        try:
            if op == "open":
                if cap is not None:
                    cap.release()
                cap, fps = _open_video(cv2, Path(request["path"]))
                max_side = int(request.get("max_side") or max_side)
                main_side = int(request.get("main_side") or 0)
                send({"ok": True, "fps": fps})
            elif op in ("read", "grab") and cap is None:
                send({"ok": False, "error": "no video is open"})
            elif op == "read":
                ok, bgr = cap.read()
                if ok:
                    send({"ok": True}, *pair(to_rgb(bgr, order="bgr", max_side=1 << 30),
                                             max_side, main_side))
                else:
                    send({"ok": False, "end": True})
            elif op == "grab":
                send({"ok": True} if cap.grab() else {"ok": False, "end": True})
            elif op == "image":
                send({"ok": True}, *pair(read_image(Path(request["path"]), 1 << 30),
                                         int(request.get("max_side") or max_side),
                                         int(request.get("main_side") or 0)))
            else:
                send({"ok": False, "error": f"unknown request {op!r}"})
        except CameraError as err:
            send({"ok": False, "error": str(err)})


def _shrink(cv2: Any, rgb: np.ndarray, side: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    s = side / max(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return np.ascontiguousarray(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA))


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
