"""FaceTracker on real recordings: tracking between detector runs, losses, bad frames."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from appliance.vision.faces import Face
from appliance.vision.tracker import FaceTracker, as_rgb_frame


@pytest.fixture(scope="module")
def tracker(models_dir):
    return FaceTracker(models_dir, "full_range", max_faces=4, num_threads=2, detect_every=15)


def test_single_face_video_is_tracked_with_the_detector_on_few_frames(tracker,
                                                                     single_face_frames):
    tracker.reset()
    runs0, frames0 = tracker.detector_runs, tracker.frames
    ids = set()
    for frame in single_face_frames:
        faces = tracker.process(frame)
        assert len(faces) == 1
        ids.add(faces[0].track_id)
        assert set(tracker.stage_ms) == {"detect", "landmarks"}
        assert tracker.stage_ms["landmarks"] > 0
    runs = tracker.detector_runs - runs0
    n = tracker.frames - frames0
    print(f"single_face.mp4: detector ran on {runs} of {n} frames")
    assert n == len(single_face_frames)
    assert runs <= 0.2 * n
    assert runs >= 1  # the first frame
    assert len(ids) == 1


def test_tracked_face_fields(tracker, single_face_frames):
    tracker.reset()
    face = tracker.process(single_face_frames[0])[0]
    face = tracker.process(single_face_frames[1])[0]  # a tracked (not detected) frame
    assert tracker.stage_ms["detect"] == 0.0
    assert isinstance(face, Face)
    h, w = single_face_frames[0].shape[:2]
    x, y, bw, bh = face.box
    assert x >= 0 and y >= 0 and x + bw <= w and y + bh <= h and bw > 50 and bh > 50
    assert face.landmarks.shape == (468, 3) and face.landmarks.dtype == np.float32
    assert 0.5 <= face.presence <= 1.0 and 0.6 <= face.score <= 1.0
    np.testing.assert_array_equal(face.keypoint(33), face.landmarks[33, :2])
    assert 0.3 * bw < face.inter_ocular() < 0.8 * bw
    # The next ROI came from these landmarks: centred on their box, 1.5x the long side.
    assert face.roi.size > max(bw, bh)


def test_the_models_used_are_exposed_by_name(tracker, single_face_frames):
    tracker.reset()
    tracker.process(single_face_frames[0])  # on its own too: a frame with a face runs both
    assert set(tracker.models) == {"face_detection_full_range", "face_landmark"}
    assert len(tracker.models["face_landmark"].invoke_ms) > 0


def test_empty_scene_reports_no_face_and_runs_the_detector_every_frame(tracker, load_video):
    tracker.reset()
    runs0 = tracker.detector_runs
    # Includes frames 21-22, where the detector fires on cartoon letters.
    frames = load_video("no_face.mp4", start=18, count=8)
    for frame in frames:
        assert tracker.process(frame) == []
    assert tracker.detector_runs - runs0 == len(frames)


def test_person_leaving_is_noticed_on_the_first_empty_frame(tracker, load_video):
    tracker.reset()
    # face_noface.mov: the person is gone from frame 72 on.
    counts = [len(tracker.process(f)) for f in load_video("face_noface.mov", start=64,
                                                          count=14)]
    assert counts[:8] == [1] * 8
    assert counts[8:] == [0] * 6


def test_person_arriving_is_found_on_the_first_frame_with_them(tracker, load_video):
    tracker.reset()
    # noface_face.mov: the person appears at frame 96.
    counts = [len(tracker.process(f)) for f in load_video("noface_face.mov", start=90,
                                                          count=12)]
    assert counts == [0] * 6 + [1] * 6


def test_group_photo_tracks_several_faces_with_distinct_stable_ids(models_dir, group_jpg):
    tr = FaceTracker(models_dir, "full_range", max_faces=16)
    first = tr.process(group_jpg)
    second = tr.process(group_jpg)
    print(f"t1.jpg: tracker reports {len(first)} of 6 faces")
    assert len(first) >= 5
    assert len({f.track_id for f in first}) == len(first)
    assert sorted(f.track_id for f in second) == sorted(f.track_id for f in first)
    for f in second:
        match = next(g for g in first if g.track_id == f.track_id)
        assert abs(f.center[0] - match.center[0]) < 0.1 * match.box[2]
    limited = FaceTracker(models_dir, "full_range", max_faces=2)
    assert len(limited.process(group_jpg)) == 2


def test_lost_face_is_found_again_after_a_blank_frame(tracker, single_face_frames):
    tracker.reset()
    assert len(tracker.process(single_face_frames[0])) == 1
    runs = tracker.detector_runs
    blank = np.zeros_like(single_face_frames[0])
    assert tracker.process(blank) == []
    assert tracker.detector_runs == runs + 1  # lost -> detector on the same frame
    assert len(tracker.process(single_face_frames[2])) == 1


def test_reset_makes_the_next_frame_run_the_detector(tracker, single_face_frames):
    tracker.reset()
    tracker.process(single_face_frames[0])
    runs = tracker.detector_runs
    tracker.process(single_face_frames[1])
    assert tracker.detector_runs == runs
    tracker.reset()
    tracker.process(single_face_frames[2])
    assert tracker.detector_runs == runs + 1


def test_short_range_detector_tracks_the_close_face(models_dir, single_face_frames):
    tr = FaceTracker(models_dir, "short_range")
    assert "face_detection_short_range" in tr.models
    assert all(len(tr.process(f)) == 1 for f in single_face_frames[:5])


@pytest.mark.parametrize("convert", [
    lambda rgb: cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY),
    lambda rgb: cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)[..., None],
    lambda rgb: cv2.cvtColor(rgb, cv2.COLOR_RGB2RGBA),
    lambda rgb: rgb.astype(np.float32) / 255.0,
    lambda rgb: rgb[:, ::-1][:, ::-1],  # a non-contiguous view
], ids=["gray", "gray1", "rgba", "float01", "view"])
def test_convertible_frames_are_converted_and_the_face_found(tracker, single_face_jpg, convert):
    tracker.reset()
    assert len(tracker.process(convert(single_face_jpg))) == 1


@pytest.mark.parametrize("bad,match", [
    (np.zeros((480, 640, 2), np.uint8), "1, 3 or 4 channels"),
    (np.zeros((480,), np.uint8), "HxW"),
    (np.zeros((0, 640, 3), np.uint8), "HxW"),
    (np.zeros((480, 640, 3), np.int32), "uint8"),
    ([[1, 2], [3, 4]], "numpy array"),
])
def test_unusable_frames_raise_a_clear_value_error(tracker, bad, match):
    with pytest.raises(ValueError, match=match):
        tracker.process(bad)


def test_rgb_frames_pass_through_without_a_copy(single_face_jpg):
    assert as_rgb_frame(single_face_jpg) is single_face_jpg


def test_unknown_detector_name_is_rejected(models_dir):
    with pytest.raises(ValueError, match="short_range"):
        FaceTracker(models_dir, "medium_range")
