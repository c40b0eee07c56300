"""Neutral reads neutral without calibration: the population baseline and real faces."""

from __future__ import annotations

import numpy as np
import pytest
from vision_helpers import media, models_dir, replay_frames

from appliance.core.config import VisionConfig
from appliance.vision import geometry
from appliance.vision.pipeline import Pipeline
from appliance.vision.sources.replay import ReplaySource, read_image

# Faces a person labelled neutral by looking at the photos (box origin, original pixels).
NEUTRAL = {"t1.jpg": [(896, 78), (270, 158)], "multi_face.jpg": [(437, 222)]}


def test_the_default_baseline_is_the_population_neutral_face_of_the_shipped_regression():
    z = np.load(media("au_to_mesh_pls_v4.npz"))
    cues = geometry.neutral_mesh_cues(z["intercept"])
    assert cues.values() == pytest.approx(geometry.DEFAULT_BASELINE.values(), abs=1e-3)


def _faces_at(result, spots):
    out = []
    for x, y in spots:
        f = min(result.faces, key=lambda f: abs(f.box[0] - x) + abs(f.box[1] - y))
        assert abs(f.box[0] - x) + abs(f.box[1] - y) < 40, (x, y)
        out.append(f)
    return out


def test_neutral_stills_read_neutral_without_calibration():
    pipe = Pipeline(VisionConfig(max_faces=16), models_dir())
    faces = []
    for name, spots in NEUTRAL.items():
        faces += _faces_at(pipe.still(read_image(media(name))), spots)
    first = ReplaySource(media("single_face.mp4"), loop=False, realtime=False)
    with first:
        faces += pipe.still(first.read().rgb).faces  # the recording opens on a neutral face
    print("\nneutral stills:", [(f.mood, round(f.valence, 3)) for f in faces])
    assert all(f.mood == "neutral" for f in faces)
    assert abs(np.mean([f.valence for f in faces])) <= 0.1


def test_calibration_still_refines_the_baseline_per_person(tmp_path):
    path = tmp_path / "calibration.json"
    first = ReplaySource(media("single_face.mp4"), loop=False, realtime=False)
    with first:
        rgb = first.read().rgb
    probe = Pipeline(VisionConfig(), models_dir())
    raw = geometry.raw_cues(probe.still(rgb).faces[0].landmarks)
    geometry.save_baseline(path, raw, 1)
    pipe = Pipeline(VisionConfig(), models_dir(), calibration_path=path)
    assert pipe.baseline.values() == pytest.approx(raw.values(), abs=1e-4)
    assert np.abs(pipe.still(rgb).faces[0].cues.values()).max() < 1e-3  # their own neutral


def test_the_sad_then_happy_recording_rises_by_more_than_0_4_in_valence():
    pipe = Pipeline(VisionConfig(smoothing_seconds=0.5), models_dir())
    sad, happy = [], []
    for frame in replay_frames("WolfgangLanger_Pexels.mp4"):
        if frame.index % 4:
            continue
        r = pipe.process(frame.rgb, frame.t, frame.main)
        if r.faces and frame.t < 6.0:
            sad.append(r.faces[0].valence)
        elif r.faces and frame.t > 12.0:
            happy.append(r.faces[0].valence)
    print(f"\nsad part {np.mean(sad):+.2f}, happy part {np.mean(happy):+.2f}")
    assert np.mean(happy) > np.mean(sad) + 0.4
