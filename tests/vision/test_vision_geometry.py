"""Geometric cues: invariance to size and roll, each cue follows its movement, calibration file."""

from __future__ import annotations

import json

import pytest
from vision_helpers import synthetic_face

from appliance.vision import geometry
from appliance.vision.fusion import LABELS, fuse, geometry_moods


def test_neutral_schematic_face_is_close_to_the_default_baseline():
    c = geometry.cues(synthetic_face())
    assert all(abs(v) < 0.01 for v in c.as_dict().values()), c


@pytest.mark.parametrize(("scale", "angle"), [(40.0, 0.0), (100.0, 25.0), (300.0, -40.0)])
def test_cues_do_not_depend_on_face_size_position_or_roll(scale, angle):
    ref = geometry.raw_cues(synthetic_face(smile=0.05))
    moved = geometry.raw_cues(synthetic_face(smile=0.05, scale=scale, angle_deg=angle,
                                             center=(900.0, 100.0)))
    for k, v in ref.as_dict().items():
        assert moved.as_dict()[k] == pytest.approx(v, abs=2e-3), k


def test_each_cue_follows_its_movement():
    base = geometry.raw_cues(synthetic_face())
    assert geometry.raw_cues(synthetic_face(smile=0.06)).mouth_corner_lift > \
        base.mouth_corner_lift + 0.05
    assert geometry.raw_cues(synthetic_face(smile=-0.05)).mouth_corner_lift < \
        base.mouth_corner_lift - 0.04
    assert geometry.raw_cues(synthetic_face(widen=0.2)).mouth_width > base.mouth_width + 0.15
    assert geometry.raw_cues(synthetic_face(mouth_open=0.3)).mouth_open > 0.25
    assert geometry.raw_cues(synthetic_face(brow_up=0.1)).brow_raise > base.brow_raise + 0.08
    assert geometry.raw_cues(synthetic_face(brow_gap=0.35)).brow_gap < base.brow_gap - 0.1
    assert geometry.raw_cues(synthetic_face(eye_open=0.25)).eye_open > base.eye_open + 0.08


def test_baseline_is_subtracted():
    personal = geometry.raw_cues(synthetic_face(smile=0.03, brow_up=0.05))
    c = geometry.cues(synthetic_face(smile=0.03, brow_up=0.05), personal)
    assert all(abs(v) < 1e-9 for v in c.as_dict().values())


@pytest.mark.parametrize(("face", "expected"), [
    ({"smile": 0.08, "widen": 0.15}, "happy"),
    ({"smile": -0.06}, "sad"),
    ({"brow_gap": 0.38, "brow_up": -0.08}, "angry"),
    ({"mouth_open": 0.3, "brow_up": 0.1, "eye_open": 0.22}, "surprised"),
    ({}, "neutral"),
])
def test_geometry_alone_names_the_expression(face, expected):
    q = geometry_moods(geometry.cues(synthetic_face(**face)))
    assert LABELS[int(q.argmax())] == expected
    assert fuse(None, geometry.cues(synthetic_face(**face))).mood == expected


def test_frontality_drops_as_the_face_turns():
    assert geometry.frontality(synthetic_face()) == pytest.approx(1.0)
    assert geometry.frontality(synthetic_face(turn=0.5)) < 0.4


def test_degenerate_landmarks_are_rejected():
    with pytest.raises(ValueError):
        geometry.raw_cues(synthetic_face(scale=0.0))


def test_calibration_round_trip_and_bad_files(tmp_path):
    base = geometry.raw_cues(synthetic_face(smile=0.02))
    path = tmp_path / "sub" / "calibration.json"
    geometry.save_baseline(path, base, samples=12)
    doc = json.loads(path.read_text())
    assert doc["samples"] == 12 and set(doc["baseline"]) == set(base.as_dict())
    loaded = geometry.load_baseline(path)
    assert loaded.as_dict() == base.as_dict()
    with pytest.raises(geometry.CalibrationError, match="does not exist"):
        geometry.load_baseline(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(geometry.CalibrationError, match="mooddj calibrate"):
        geometry.load_baseline(tmp_path / "bad.json")


def test_calibration_path_defaults_to_the_state_dir(tmp_path):
    assert geometry.calibration_path("", tmp_path) == tmp_path / "calibration.json"
    assert geometry.calibration_path("/etc/x.json", tmp_path).as_posix() == "/etc/x.json"
