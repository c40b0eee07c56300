"""Emotion CNN on the aligned crop (real model), and the fusion of CNN and cues."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from vision_helpers import media, models_dir, synthetic_face

from appliance.core.config import VisionConfig
from appliance.vision import geometry
from appliance.vision.expression import EmotionClassifier, face_crop
from appliance.vision.fusion import EMOTIONS, LABELS, cnn_moods, fuse
from appliance.vision.models import ModelError, model_path
from appliance.vision.runtime import Model
from appliance.vision.sources.replay import ReplaySource


def _marked_image(landmarks: np.ndarray) -> np.ndarray:
    """A dark image with a bright dot on the mouth and a dim one on the right eye."""
    img = np.full((480, 640, 3), 20, np.uint8)
    mouth = landmarks[[geometry.MOUTH_R, geometry.MOUTH_L], :2].mean(axis=0)
    eye = landmarks[[geometry.R_EYE_OUTER, geometry.R_EYE_INNER], :2].mean(axis=0)
    cv2.circle(img, tuple(int(v) for v in mouth), 12, (255, 255, 255), -1)
    cv2.circle(img, tuple(int(v) for v in eye), 12, (120, 120, 120), -1)
    return img


@pytest.mark.parametrize("angle", [0.0, 30.0, -50.0])
def test_crop_is_aligned_on_the_eye_line_whatever_the_roll(angle):
    lm = synthetic_face(angle_deg=angle, scale=80)
    crop = face_crop(_marked_image(lm), lm)
    assert crop.shape == (64, 64) and crop.dtype == np.float32
    assert crop.min() >= -1.0 and crop.max() <= 1.0
    ys, xs = np.nonzero(crop > 0.9)  # the mouth dot
    assert 28 <= xs.mean() <= 36 and ys.mean() > 40  # bottom centre
    ys, xs = np.nonzero((crop > -0.2) & (crop < 0.2))  # the eye dot: upper left
    assert xs.mean() < 28 and ys.mean() < 32


def test_crops_of_a_rolled_face_match_the_upright_one():
    up = synthetic_face(scale=80)
    rolled = synthetic_face(scale=80, angle_deg=35)
    a = face_crop(_marked_image(up), up)
    b = face_crop(_marked_image(rolled), rolled)
    assert np.abs(a - b).mean() < 0.05


def test_emotion_model_tensors_and_class_order():
    model = Model.load(model_path(models_dir(), "emotion"), 1)
    clf = EmotionClassifier(model)
    assert clf.size == 64
    assert EMOTIONS == ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    p = clf.classify(np.zeros((64, 64), np.float32))
    assert p.shape == (7,) and p.sum() == pytest.approx(1.0, abs=1e-5)


def test_a_model_that_is_not_the_emotion_cnn_is_refused():
    model = Model.load(model_path(models_dir(), "face_landmark"), 1)
    with pytest.raises(ModelError, match="not the emotion model"):
        EmotionClassifier(model)


def _frames_with_landmarks(indices: set[int]):
    from appliance.vision.tracker import FaceTracker

    cfg = VisionConfig()
    tracker = FaceTracker(models_dir(), cfg.detector, cfg.max_faces, 1, cfg.detect_every)
    src = ReplaySource(media("single_face.mp4"), loop=False, realtime=False)
    src.open()
    out = {}
    try:
        for _ in range(max(indices) + 1):
            frame = src.read()
            faces = tracker.process(frame.rgb)
            if frame.index in indices:
                assert len(faces) == 1
                out[frame.index] = (frame.rgb, faces[0].landmarks)
    finally:
        src.close()
    return out


def test_cnn_reads_the_neutral_start_and_the_smile_of_the_real_recording():
    clf = EmotionClassifier.load(models_dir())
    frames = _frames_with_landmarks({4, 40})
    neutral = clf(*frames[4])
    smile = clf(*frames[40])
    assert EMOTIONS[int(np.argmax(neutral))] == "neutral"
    assert EMOTIONS[int(np.argmax(smile))] == "happy"
    assert smile[EMOTIONS.index("happy")] > 0.8


def test_fusion_maps_cnn_emotions_onto_the_five_moods():
    def one_hot(name):
        v = np.zeros(7)
        v[EMOTIONS.index(name)] = 1.0
        return v

    assert LABELS[int(np.argmax(cnn_moods(one_hot("disgust"))))] == "angry"
    assert LABELS[int(np.argmax(cnn_moods(one_hot("surprise"))))] == "surprised"
    happy = fuse(one_hot("happy"), None)
    sad = fuse(one_hot("sad"), None)
    surprised = fuse(one_hot("surprise"), None)
    assert happy.mood == "happy" and happy.valence > 0.5 and happy.confidence > 0.9
    assert sad.mood == "sad" and sad.valence < -0.3 and sad.arousal < 0
    assert surprised.arousal > happy.arousal > fuse(one_hot("neutral"), None).arousal


def test_fusion_weighs_cnn_and_geometry_together():
    neutral_cnn = np.zeros(7)
    neutral_cnn[EMOTIONS.index("neutral")] = 1.0
    smile = geometry.cues(synthetic_face(smile=0.1, widen=0.2))
    cnn_only = fuse(neutral_cnn, None)
    both = fuse(neutral_cnn, smile)
    assert both.valence > cnn_only.valence + 0.1  # the smile pulls valence up
    assert both.probs[LABELS.index("happy")] > cnn_only.probs[LABELS.index("happy")]
    assert sum(both.probs) == pytest.approx(1.0)
    nothing = fuse(None, None)
    assert nothing.confidence == pytest.approx(1 / 5)
