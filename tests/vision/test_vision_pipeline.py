"""The whole pipeline on the real recordings, replayed as fast as possible, and on bad frames."""

from __future__ import annotations

import numpy as np
import pytest
from vision_helpers import (
    FACE_NOFACE_LEAVES_AT,
    NOFACE_FACE_ARRIVES_AT,
    media,
    models_dir,
)

from appliance.core.config import VisionConfig
from appliance.vision.pipeline import FrameResult, Pipeline
from appliance.vision.sources import FrameError, SourceEnded
from appliance.vision.sources.replay import ReplaySource, read_image


def play(pipe: Pipeline, name: str, every: int = 1) -> list[FrameResult]:
    src = ReplaySource(media(name), loop=False, realtime=False)
    out = []
    with src:
        while True:
            try:
                frame = src.read()
            except SourceEnded:
                return out
            if frame.index % every == 0:
                out.append(pipe.process(frame.rgb, frame.t))


@pytest.fixture(scope="module")
def pipe() -> Pipeline:
    return Pipeline(VisionConfig(smoothing_seconds=0.3, dwell_seconds=0.5, leave_seconds=0.5,
                                 arrive_seconds=0.5), models_dir())


def test_single_face_recording_one_face_smile_raises_valence_and_reads_happy(pipe):
    pipe.reset()
    results = play(pipe, "single_face.mp4", every=2)
    assert all(len(r.faces) == 1 for r in results)  # one face throughout
    start = [r for r in results if r.t < 0.45]
    middle = [r for r in results if 1.0 <= r.t <= 2.0]
    v_start = np.mean([r.faces[0].valence for r in start])
    v_middle = np.mean([r.faces[0].valence for r in middle])
    assert v_middle > v_start + 0.4
    assert all(r.faces[0].mood == "neutral" for r in start)
    assert all(r.faces[0].mood == "happy" for r in middle)
    # The smoothed room follows: higher valence in the middle, and its label reaches happy.
    assert np.mean([r.room.valence for r in middle]) > np.mean([r.room.valence for r in start])
    assert any(r.room.mood == "happy" for r in middle)
    # Tracking, not detecting, carries the face: besides one sweep of the detector's
    # tiles after the face arrives, the detector runs every detect_every frames at most.
    tiled = pipe.tracker.tiled
    sweep = -(-tiled.tile_count(640, 360) // tiled.tiles_per_pass)
    assert pipe.detector_runs <= 0.2 * len(results) + sweep


def _presence_changes(results: list[FrameResult]) -> list[tuple[float, int, int]]:
    return [(r.t, *r.room.presence_changed) for r in results if r.room.presence_changed]


def test_presence_changes_within_a_second_of_the_person_leaving(pipe):
    pipe.reset()
    results = play(pipe, "face_noface.mov")
    changes = _presence_changes(results)
    assert changes[0][1:] == (1, 0)  # arrives at the start
    t, people, previous = changes[1]
    assert (people, previous) == (0, 1)
    assert abs(t - FACE_NOFACE_LEAVES_AT) <= 1.0, (t, FACE_NOFACE_LEAVES_AT)
    assert len(changes) == 2  # the cartoon never counts as a person


def test_presence_changes_within_a_second_of_the_person_arriving(pipe):
    pipe.reset()
    results = play(pipe, "noface_face.mov")
    changes = _presence_changes(results)
    assert len(changes) >= 1
    t, people, previous = changes[0]
    assert (people, previous) == (1, 0)
    assert abs(t - NOFACE_FACE_ARRIVES_AT) <= 1.0, (t, NOFACE_FACE_ARRIVES_AT)


def test_empty_scene_reports_no_face(pipe):
    pipe.reset()
    results = play(pipe, "no_face.mp4", every=3)
    assert results and all(not r.faces and r.room.people == 0 for r in results)


def test_group_photo_finds_most_faces():
    pipe = Pipeline(VisionConfig(max_faces=16), models_dir())
    result = pipe.still(read_image(media("t1.jpg")))
    print(f"\nt1.jpg: {len(result.faces)} faces found (6 people in the photo)")
    assert len(result.faces) >= 4
    assert result.room.people == len(result.faces)


def test_bad_frames_raise_a_clear_error_and_the_pipeline_keeps_working(pipe):
    pipe.reset()
    with pytest.raises(FrameError, match="shape"):
        pipe.process(np.zeros((480, 640, 7), np.uint8), 0.0)
    with pytest.raises(FrameError):
        pipe.process(np.zeros((3,), np.uint8), 0.1)
    rgb = read_image(media("single_face.jpg"))
    ok = pipe.process(rgb, 0.2)
    assert len(ok.faces) == 1


def test_gray_alpha_and_huge_frames_are_handled(pipe):
    rgb = read_image(media("single_face.jpg"))
    gray = rgb.mean(axis=2).astype(np.uint8)
    assert len(pipe.still(gray).faces) == 1
    rgba = np.concatenate([rgb, np.full((*rgb.shape[:2], 1), 255, np.uint8)], axis=2)
    assert len(pipe.still(rgba).faces) == 1
    huge = np.kron(rgb, np.ones((5, 5, 1), np.uint8))  # 2860 x 2810
    result = pipe.still(huge)
    assert result.scale > 1.4 and len(result.faces) == 1
    box = result.faces[0].summary(result.scale)["box"]
    small = pipe.still(rgb).faces[0].box
    assert box[0] == pytest.approx(small[0] * 5, rel=0.1)  # reported in the original's pixels
