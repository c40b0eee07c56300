"""Frame sources: the name table, replay of videos/images/folders, bad input, picamera2 facts."""

from __future__ import annotations

import shutil
import sys
import time
import types

import cv2
import numpy as np
import pytest
from vision_helpers import media

from appliance.core.config import CameraConfig
from appliance.vision.sources import (
    SOURCES,
    CameraError,
    FrameError,
    SourceEnded,
    create_source,
    to_rgb,
)
from appliance.vision.sources.replay import ReplaySource, read_image


def test_sources_are_chosen_by_name_from_an_explicit_table(tmp_path):
    assert set(SOURCES) == {"picamera2", "webcam", "replay"}
    src = create_source(CameraConfig(source="replay", replay_path=str(tmp_path)))
    assert isinstance(src, ReplaySource)
    with pytest.raises(CameraError, match="replay_path is empty"):
        create_source(CameraConfig(source="replay"))


def test_replay_plays_a_video_with_increasing_times_and_ends_without_loop():
    src = ReplaySource(media("single_face.mp4"), loop=False, realtime=False)
    with src:
        frames = []
        with pytest.raises(SourceEnded):
            while True:
                frames.append(src.read())
    assert len(frames) == 72 and src.fps == pytest.approx(30.0)
    assert frames[0].rgb.shape == (360, 640, 3) and frames[0].rgb.dtype == np.uint8
    ts = [f.t for f in frames]
    assert ts[0] == 0.0 and ts[-1] == pytest.approx(71 / 30) and np.all(np.diff(ts) > 0)


def test_replay_loops_and_switches_path_with_time_still_increasing():
    src = ReplaySource(media("single_face.mp4"), loop=True, realtime=False)
    with src:
        ts = [src.read().t for _ in range(80)]  # past the 72-frame end
        src.set_path(media("no_face.mp4"))
        after = src.read()
    assert np.all(np.diff(ts) > 0) and after.t > ts[-1]
    assert after.rgb.shape == (540, 960, 3) and src.path.name == "no_face.mp4"


def test_realtime_replay_hands_out_fresh_frames_and_skips_stale_ones():
    src = ReplaySource(media("single_face.mp4"), loop=False, realtime=True)
    t0 = time.monotonic()
    with src:
        first = src.read()
        time.sleep(0.5)
        late = src.read()
        elapsed = time.monotonic() - t0
    assert first.t < 0.1
    # The frame of "now" (stale ones skipped), not simply the next one.
    assert 0.45 <= late.t <= elapsed + 0.05 and late.index == 1


def test_image_and_folder_replay(tmp_path):
    img = media("single_face.jpg")
    src = ReplaySource(img, loop=True, realtime=False, image_fps=10)
    with src:
        a, b = src.read(), src.read()
    assert np.array_equal(a.rgb, b.rgb) and b.t == pytest.approx(0.1)
    shutil.copy(img, tmp_path / "a.jpg")
    (tmp_path / "b.png").write_bytes(b"")  # a broken image in the folder is skipped
    shutil.copy(img, tmp_path / "c.jpg")
    (tmp_path / "notes.txt").write_text("not an image")
    folder = ReplaySource(tmp_path, loop=False, realtime=False)
    with folder:
        frames = [folder.read(), folder.read()]
        with pytest.raises(SourceEnded):
            folder.read()
    assert len(frames) == 2


def test_unreadable_truncated_and_empty_inputs_give_clear_errors(tmp_path):
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00not a video" * 100)
    with pytest.raises(CameraError, match=r"garbage\.mp4"):
        ReplaySource(garbage).open()
    with pytest.raises(CameraError, match="does not exist"):
        ReplaySource(tmp_path / "nope.mp4").open()
    (tmp_path / "empty_folder").mkdir()
    with pytest.raises(CameraError, match="no images"):
        ReplaySource(tmp_path / "empty_folder").open()
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(CameraError, match="empty or not a decodable image"):
        read_image(empty)
    with pytest.raises(CameraError, match="empty or not a decodable image"):
        ReplaySource(empty).open()
    # A video cut off halfway plays what it has, then ends cleanly.
    data = media("single_face.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    try:
        src = ReplaySource(cut, loop=False, realtime=False)
        src.open()
    except CameraError as err:
        assert "cut.mp4" in str(err)
    else:
        n = 0
        with pytest.raises(SourceEnded):
            while True:
                src.read()
                n += 1
        src.close()
        assert n < 72


def test_switching_to_a_bad_path_fails_on_read_and_keeps_failing_visibly(tmp_path):
    src = ReplaySource(media("single_face.mp4"), loop=True, realtime=False)
    src.open()
    src.read()
    src.set_path(tmp_path / "missing.mp4")
    with pytest.raises(CameraError, match=r"missing\.mp4"):
        src.read()
    src.close()
    with pytest.raises(CameraError, match=r"missing\.mp4"):
        src.open()


def test_images_with_alpha_gray_16_bit_and_huge_sizes_become_rgb(tmp_path):
    rgba = np.zeros((100, 120, 4), np.uint8)
    rgba[..., 2] = 200  # BGR order on disk: red
    rgba[..., 3] = 128
    cv2.imwrite(str(tmp_path / "alpha.png"), rgba)
    out = read_image(tmp_path / "alpha.png")
    assert out.shape == (100, 120, 3) and out[0, 0].tolist() == [200, 0, 0]
    cv2.imwrite(str(tmp_path / "gray.png"), np.full((50, 60), 77, np.uint8))
    assert read_image(tmp_path / "gray.png")[0, 0].tolist() == [77, 77, 77]
    cv2.imwrite(str(tmp_path / "deep.png"), np.full((50, 60, 3), 65535, np.uint16))
    assert read_image(tmp_path / "deep.png")[0, 0].tolist() == [255, 255, 255]
    cv2.imwrite(str(tmp_path / "huge.jpg"), np.zeros((4000, 6000, 3), np.uint8))
    assert read_image(tmp_path / "huge.jpg").shape == (1280, 1920, 3)


@pytest.mark.parametrize("bad", [np.zeros((7,), np.uint8), np.zeros((480, 640, 5), np.uint8),
                                 np.zeros((4, 4, 3), np.uint8), np.zeros((480, 640, 3), np.int64),
                                 "not an array"])
def test_wrong_shape_or_type_frames_raise_frame_error(bad):
    with pytest.raises(FrameError):
        to_rgb(bad)


def _fake_picamera2(monkeypatch, fail_open: bool = False):
    """An honest stand-in for the picamera2 module: records what the source asked for."""
    calls: dict = {"closed": 0, "stopped": 0}

    class Request:
        def make_array(self, name):
            calls["array_name"] = name
            arr = np.zeros((480, 640, 3), np.uint8)
            arr[..., 0] = 255  # "BGR888" is R,G,B in memory: channel 0 is red
            return arr

        def release(self):
            calls["released"] = calls.get("released", 0) + 1

    class Picamera2:
        def __init__(self, num=0):
            if fail_open:
                raise RuntimeError("Failed to acquire camera: Device or resource busy")

        def create_video_configuration(self, **kw):
            calls["config"] = kw
            return kw

        def configure(self, cfg):
            calls["configured"] = cfg

        def start(self):
            calls["started"] = True

        def captured_request(self, flush=None):
            import contextlib

            calls["flush"] = flush

            @contextlib.contextmanager
            def cm():
                r = Request()
                try:
                    yield r
                finally:
                    r.release()
            return cm()

        def stop(self):
            calls["stopped"] += 1

        def close(self):
            calls["closed"] += 1

    mod = types.ModuleType("picamera2")
    mod.Picamera2 = Picamera2
    monkeypatch.setitem(sys.modules, "picamera2", mod)
    return calls


def test_picamera2_asks_for_rgb_fresh_frames_and_releases_the_camera(monkeypatch):
    calls = _fake_picamera2(monkeypatch)
    src = create_source(CameraConfig(source="picamera2", width=320, height=240, fps=10))
    src.open()
    frame = src.read()
    src.close()
    cfg = calls["config"]
    assert cfg["main"] == {"size": (320, 240), "format": "BGR888"}  # R,G,B bytes in memory
    assert cfg["queue"] is False and calls["flush"] is True  # never a stale queued frame
    assert cfg["controls"]["FrameRate"] == 10.0
    assert frame.rgb[0, 0].tolist() == [255, 0, 0]  # red stays red: no channel swap
    assert calls["released"] == 1 and calls["stopped"] == 1 and calls["closed"] == 1
    src.close()  # idempotent
    assert calls["closed"] == 1


def test_picamera2_busy_or_missing_gives_a_camera_error(monkeypatch):
    _fake_picamera2(monkeypatch, fail_open=True)
    with pytest.raises(CameraError, match="resource busy"):
        create_source(CameraConfig(source="picamera2")).open()
    monkeypatch.setitem(sys.modules, "picamera2", None)  # not installed
    with pytest.raises(CameraError, match="python3-picamera2"):
        create_source(CameraConfig(source="picamera2")).open()


def test_missing_webcam_gives_a_camera_error():
    with pytest.raises(CameraError, match="webcam 63 cannot be opened"):
        create_source(CameraConfig(source="webcam", device=63)).open()


_SIGTERM_CHILD = r'''
import sys, time, types
marker = sys.argv[1]

class Picamera2:
    def __init__(self, num=0): pass
    def create_video_configuration(self, **kw): return kw
    def configure(self, cfg): pass
    def start(self): pass
    def stop(self): open(marker, "a").write("stopped\n")
    def close(self): open(marker, "a").write("closed\n")

mod = types.ModuleType("picamera2")
mod.Picamera2 = Picamera2
sys.modules["picamera2"] = mod
from appliance.vision.sources.picamera2 import Picamera2Source
src = Picamera2Source()
src.open()
print("ready", flush=True)
time.sleep(30)
'''


def test_picamera2_releases_the_camera_on_sigterm(tmp_path):
    import signal
    import subprocess

    from vision_helpers import REPO

    marker = tmp_path / "released.txt"
    child = subprocess.Popen([sys.executable, "-c", _SIGTERM_CHILD, str(marker)], cwd=REPO,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        child.send_signal(signal.SIGTERM)
        code = child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert code == -signal.SIGTERM  # still dies of SIGTERM, as the sender expects
    assert marker.read_text().split() == ["stopped", "closed"]


def test_replay_from_the_config_delivers_frames_at_the_camera_size_like_the_camera():
    cam = CameraConfig(source="replay", width=320, height=240, replay_realtime=False,
                       replay_path=str(media("no_face.mp4")))  # a 960x540 recording
    with create_source(cam) as src:
        frame = src.read()
    assert frame.rgb.shape == (180, 320, 3)  # fitted inside 320x240, aspect kept


# Sensor modes as `rpicam-hello --list-cameras` and picamera2 list them (Raspberry Pi
# camera documentation): size and the crop of the pixel array each mode reads.
IMX708_MODES = [
    {"size": (1536, 864), "crop_limits": (768, 432, 3072, 1728), "bit_depth": 10, "fps": 120.13},
    {"size": (2304, 1296), "crop_limits": (0, 0, 4608, 2592), "bit_depth": 10, "fps": 56.03},
    {"size": (4608, 2592), "crop_limits": (0, 0, 4608, 2592), "bit_depth": 10, "fps": 14.35},
]
IMX219_MODES = [
    {"size": (640, 480), "crop_limits": (1000, 752, 1280, 960), "bit_depth": 10, "fps": 206.65},
    {"size": (1640, 1232), "crop_limits": (0, 0, 3280, 2464), "bit_depth": 10, "fps": 41.85},
    {"size": (1920, 1080), "crop_limits": (680, 692, 1920, 1080), "bit_depth": 10, "fps": 47.57},
    {"size": (3280, 2464), "crop_limits": (0, 0, 3280, 2464), "bit_depth": 10, "fps": 21.19},
]
IMX477_MODES = [
    {"size": (1332, 990), "crop_limits": (696, 528, 2664, 1980), "bit_depth": 10, "fps": 120.05},
    {"size": (2028, 1080), "crop_limits": (0, 440, 4056, 2160), "bit_depth": 12, "fps": 50.03},
    {"size": (2028, 1520), "crop_limits": (0, 0, 4056, 3040), "bit_depth": 12, "fps": 40.01},
    {"size": (4056, 3040), "crop_limits": (0, 0, 4056, 3040), "bit_depth": 12, "fps": 10.0},
]


@pytest.mark.parametrize(("modes", "array", "size"), [
    (IMX708_MODES, (4608, 2592), (2304, 1296)),  # Camera Module 3 and 3 Wide
    (IMX219_MODES, (3280, 2464), (1640, 1232)),  # Camera Module 2
    (IMX477_MODES, (4056, 3040), (2028, 1520)),  # HQ camera
])
def test_picamera2_main_stream_uses_the_binned_mode_that_sees_the_whole_sensor(
        modes, array, size):
    from appliance.vision.sources.picamera2 import choose_mode

    assert choose_mode(modes, array)["size"] == size


def test_picamera2_gives_a_lores_view_and_the_high_resolution_main_frame(monkeypatch):
    calls = _fake_picamera2(monkeypatch)
    mod = sys.modules["picamera2"]
    base = mod.Picamera2
    rgb = np.zeros((1296, 2304, 3), np.uint8)
    rgb[..., 0] = 200  # a red picture

    class Request:
        def make_array(self, name):
            if name == "main":
                return rgb
            small = cv2.resize(rgb, (640, 360), interpolation=cv2.INTER_AREA)
            return cv2.cvtColor(small, cv2.COLOR_RGB2YUV_I420)  # the Pi 4's lores format

        def release(self):
            pass

    class Picamera2(base):
        sensor_modes = IMX708_MODES
        camera_properties = {"Model": "imx708", "PixelArraySize": (4608, 2592)}

        def captured_request(self, flush=None):
            import contextlib

            return contextlib.nullcontext(Request())

    mod.Picamera2 = Picamera2
    src = create_source(CameraConfig(source="picamera2", fps=10))
    src.open()
    frame = src.read()
    src.close()
    cfg = calls["config"]
    assert cfg["main"] == {"size": (2304, 1296), "format": "BGR888"}
    assert cfg["lores"] == {"size": (640, 360), "format": "YUV420"}
    assert cfg["sensor"]["output_size"] == (2304, 1296)
    assert frame.rgb.shape == (360, 640, 3) and frame.main.shape == (1296, 2304, 3)
    assert abs(int(frame.rgb[10, 10, 0]) - 200) <= 3 and frame.rgb[10, 10, 1] <= 3


def test_yuv420_view_converts_like_opencv():
    from appliance.vision.imageops import yuv420_to_rgb

    rng = np.random.default_rng(2)
    rgb = cv2.GaussianBlur((rng.random((360, 640, 3)) * 255).astype(np.uint8), (0, 0), 3)
    i420 = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)
    ours = yuv420_to_rgb(i420, 640, 360).astype(int)
    assert np.abs(ours - cv2.cvtColor(i420, cv2.COLOR_YUV2RGB_I420)).max() <= 1
    with pytest.raises(ValueError, match="YUV420"):
        yuv420_to_rgb(i420[:300], 640, 360)


def test_replay_of_a_high_resolution_recording_gives_the_view_and_the_main_frame():
    cam = CameraConfig(source="replay", replay_realtime=False,
                       replay_path=str(media("small_faces.mp4")))  # 1920x1080
    with create_source(cam) as src:
        frame = src.read()
    assert frame.rgb.shape == (360, 640, 3) and frame.main.shape == (1080, 1920, 3)
    small = cv2.resize(frame.main, (640, 360), interpolation=cv2.INTER_AREA)
    assert np.abs(small.astype(int) - frame.rgb).mean() < 1.0  # the same picture
    off = CameraConfig(source="replay", replay_realtime=False, main="off",
                       replay_path=str(media("small_faces.mp4")))
    with create_source(off) as src:
        assert src.read().main is None
    with create_source(CameraConfig(source="replay", replay_realtime=False,
                                    replay_path=str(media("single_face.mp4")))) as src:
        assert src.read().main is None  # no larger than the view: nothing more to give


def test_a_bad_main_setting_is_a_clear_camera_error():
    with pytest.raises(CameraError, match=r"camera\.main"):
        create_source(CameraConfig(source="replay", replay_path="x", main="big"))


def test_webcam_frames_larger_than_the_view_are_kept_as_the_main_frame():
    from appliance.vision.sources.webcam import WebcamSource

    bgr = np.zeros((1080, 1920, 3), np.uint8)
    bgr[..., 2] = 180  # red in BGR
    view, main = WebcamSource(main="auto")._split(bgr)
    assert view.shape == (360, 640, 3) and main.shape == (1080, 1920, 3)
    assert view[0, 0, 0] == 180 and main[0, 0, 0] == 180
    assert WebcamSource(main="off")._split(bgr)[1] is None
