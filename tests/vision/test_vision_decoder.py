"""The replay camera decodes in a child process: OpenCV stays out, crashes are survived."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from vision_helpers import REPO, media

from appliance.vision.sources import CameraError
from appliance.vision.sources.decoder import Decoder
from appliance.vision.sources.replay import ReplaySource


def test_the_box_side_of_a_replay_never_imports_opencv():
    script = textwrap.dedent(f"""
        import sys
        from appliance.vision.sources.replay import ReplaySource
        from appliance.vision.pipeline import Pipeline
        src = ReplaySource({str(media("single_face.mp4"))!r}, loop=False, realtime=False)
        src.open()
        frames = [src.read() for _ in range(5)]
        src.close()
        assert all(f.rgb.shape[2] == 3 for f in frames)
        print("cv2" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "False"


def test_frames_match_what_opencv_decodes_in_process():
    import cv2

    path = media("single_face.mp4")
    cap = cv2.VideoCapture(str(path))
    expected = [cv2.cvtColor(cap.read()[1], cv2.COLOR_BGR2RGB) for _ in range(3)]
    cap.release()
    src = ReplaySource(path, loop=False, realtime=False, max_side=10_000)
    src.open()
    try:
        got = [src.read().rgb for _ in range(3)]
    finally:
        src.close()
    for a, b in zip(got, expected, strict=True):
        assert a.shape == b.shape and np.array_equal(a, b)


def test_a_killed_decoder_is_a_camera_error_then_restarts():
    src = ReplaySource(media("single_face.mp4"), loop=True, realtime=False)
    src.open()
    try:
        src.read()
        os.kill(src._decoder._proc.pid, signal.SIGKILL)
        with pytest.raises(CameraError, match="decoder process stopped"):
            for _ in range(3):
                src.read()
        # What the vision loop does after a camera error: close, open again.
        src.close()
        src.open()
        assert src.read().rgb.ndim == 3
    finally:
        src.close()
    assert not src._decoder.running


def test_the_decoder_explains_bad_files_and_unknown_requests(tmp_path):
    bad = tmp_path / "clip.mp4"
    bad.write_bytes(b"not a video at all" * 100)
    dec = Decoder()
    try:
        with pytest.raises(CameraError, match="cannot be opened"):
            dec.open(bad, 640)
        with pytest.raises(CameraError, match="no video is open"):
            dec.read()
        with pytest.raises(CameraError, match="does not exist"):
            dec.open(tmp_path / "missing.mp4", 640)
        with pytest.raises(CameraError, match="unknown request"):
            dec._call({"op": "rewind"})
        assert dec.open(media("single_face.mp4"), 320) > 0  # still serving
        frame = dec.read()
        assert frame is not None and max(frame.shape[:2]) <= 320
    finally:
        dec.close()
    assert not dec.running


def test_the_decoder_exits_with_its_parent():
    script = textwrap.dedent("""
        import sys
        from appliance.vision.sources.decoder import Decoder
        d = Decoder()
        d._start()
        print(d._proc.pid, flush=True)
        sys.stdin.read()
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, cwd=REPO)
    child = int(parent.stdout.readline())
    parent.kill()  # no clean-up code runs in the parent
    parent.wait(timeout=10)
    for _ in range(100):
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        # The child is not ours: it is reaped by init; a zombie counts as gone.
        with open(f"/proc/{child}/stat") as f:
            if f.read().split()[2] == "Z":
                break
        time.sleep(0.1)
    else:
        pytest.fail("the decoder outlived its parent")


def test_close_ends_a_read_stuck_on_a_hung_decoder():
    import threading

    dec = Decoder()
    dec.open(media("single_face.mp4"), 640)
    pid = dec._proc.pid
    os.kill(pid, signal.SIGSTOP)  # a decoder that never answers
    errors: list[Exception] = []

    def read() -> None:
        try:
            dec.read()
        except CameraError as err:
            errors.append(err)

    reader = threading.Thread(target=read)
    reader.start()
    time.sleep(0.3)
    started = time.monotonic()
    dec.close()
    reader.join(timeout=10)
    assert not reader.is_alive() and time.monotonic() - started < 8
    assert errors and "decoder process stopped" in str(errors[0])
    assert not dec.running
