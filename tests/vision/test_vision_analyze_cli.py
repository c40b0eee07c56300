"""`mooddj analyze`, `mooddj calibrate` and `mooddj bench vision` through the real CLI."""

from __future__ import annotations

import json

import cv2
import pytest
from vision_helpers import media, models_dir

from appliance.cli.main import main
from appliance.core import config as config_mod
from appliance.vision.fusion import EMOTIONS
from appliance.vision.pipeline import Pipeline
from appliance.vision.sources import SourceEnded
from appliance.vision.sources.replay import ReplaySource


@pytest.fixture
def cfg_file(tmp_path, monkeypatch):
    models_dir()
    path = tmp_path / "config.toml"
    path.write_text(f'[paths]\nstate_dir = "{tmp_path / "state"}"\n')
    monkeypatch.setenv("MOODDJ_CONFIG", str(path))
    return path


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_analyze_image_prints_the_documented_json(cfg_file, capsys):
    out = _json(capsys, ["analyze", str(media("single_face.jpg")), "--json"])
    assert out["source"].endswith("single_face.jpg")
    assert len(out["faces"]) == 1
    face = out["faces"][0]
    assert set(face) >= {"box", "score", "valence", "arousal", "mood", "confidence", "emotions"}
    assert len(face["box"]) == 4 and all(isinstance(v, int) for v in face["box"])
    assert set(face["emotions"]) == set(EMOTIONS)
    assert face["mood"] == "happy" and face["valence"] > 0.3
    assert out["room"] == {"people": 1, "valence": face["valence"],
                           "arousal": face["arousal"], "mood": "happy"}
    assert "timeline" not in out


def test_analyze_video_timeline_uses_the_box_smoothing(cfg_file, capsys):
    out = _json(capsys, ["analyze", str(media("single_face.mp4")), "--json", "--every", "3"])
    timeline = out["timeline"]
    assert len(timeline) == 24 and out["frames"] == 24
    assert set(timeline[0]) >= {"t", "people", "valence", "arousal", "mood"}
    # The same pipeline and smoothing, frame by frame, gives the same numbers.
    cfg = config_mod.load(cfg_file)
    pipe = Pipeline(cfg.vision, cfg.paths.models)
    src = ReplaySource(media("single_face.mp4"), loop=False, realtime=False)
    expected = []
    with src:
        while True:
            try:
                f = src.read()
            except SourceEnded:
                break
            if f.index % 3 == 0:
                r = pipe.process(f.rgb, f.t).room
                expected.append((round(f.t, 3), r.people, round(r.valence, 3), r.mood))
    got = [(e["t"], e["people"], e["valence"], e["mood"]) for e in timeline]
    assert got == expected
    assert timeline[-1]["valence"] > timeline[0]["valence"] + 0.1  # the smile shows
    assert timeline[0]["people"] == 0 and timeline[-1]["people"] == 1  # arrival debounce
    assert len(out["faces"]) == 1 and out["faces"][0]["frames"] == 24


def test_analyze_prints_a_readable_table_without_json(cfg_file, capsys):
    assert main(["analyze", str(media("single_face.mp4")), "--every", "6"]) == 0
    text = capsys.readouterr().out
    assert "1 face(s)" in text and "room: 1 people" in text and "timeline" in text
    assert "happy" in text


def test_analyze_annotates_images_and_videos(cfg_file, tmp_path, capsys):
    img_out = tmp_path / "annotated.png"
    assert main(["analyze", str(media("single_face.jpg")), "--annotate", str(img_out)]) == 0
    drawn = cv2.imread(str(img_out))
    original = cv2.imread(str(media("single_face.jpg")))
    assert drawn.shape == original.shape and (drawn != original).any()
    vid_out = tmp_path / "annotated.mp4"
    assert main(["analyze", str(media("single_face.mp4")), "--every", "4", "--annotate",
                 str(vid_out)]) == 0
    cap = cv2.VideoCapture(str(vid_out))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    assert n == 18


def test_analyze_folder_reports_each_image(cfg_file, tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(media("single_face.jpg").read_bytes())
    (folder / "b.jpg").write_bytes(b"")
    out = _json(capsys, ["analyze", str(folder), "--json"])
    assert [len(i.get("faces", [])) for i in out["images"]] == [1, 0]
    assert "not a decodable image" in out["images"][1]["error"]


def test_analyze_bad_input_fails_with_one_clear_line(cfg_file, tmp_path, capsys):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    assert main(["analyze", str(empty)]) == 1
    err = capsys.readouterr().err
    assert "empty or not a decodable image" in err and len(err.strip().splitlines()) == 1
    garbage = tmp_path / "clip.mp4"
    garbage.write_bytes(b"\x00" * 1000)
    assert main(["analyze", str(garbage)]) == 1
    assert "clip.mp4" in capsys.readouterr().err
    assert main(["analyze", str(tmp_path / "nothing.jpg")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_missing_models_name_the_file_and_the_fetch_command(tmp_path, monkeypatch, capsys):
    path = tmp_path / "config.toml"
    path.write_text(f'[paths]\nmodels_dir = "{tmp_path / "nomodels"}"\n')
    monkeypatch.setenv("MOODDJ_CONFIG", str(path))
    assert main(["analyze", str(media("single_face.jpg"))]) == 1
    err = capsys.readouterr().err
    assert "fetch-models" in err and ".tflite" in err


def test_calibrate_saves_a_neutral_baseline_that_the_pipeline_uses(cfg_file, tmp_path, capsys):
    assert main(["calibrate", "--from", str(media("single_face.mp4")), "--seconds", "0.4"]) == 0
    saved = tmp_path / "state" / "calibration.json"
    assert str(saved) in capsys.readouterr().out
    doc = json.loads(saved.read_text())
    assert doc["samples"] >= 5 and abs(doc["baseline"]["mouth_corner_lift"]) < 0.03
    cfg = config_mod.load(cfg_file)
    pipe = Pipeline(cfg.vision, cfg.paths.models, calibration_path=saved)
    assert pipe.baseline is not None
    assert pipe.baseline.as_dict() == doc["baseline"]
    assert main(["calibrate", "--from", str(media("no_face.mp4")), "--out",
                 str(tmp_path / "x.json")]) == 1
    assert "sit alone in front of the camera" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


def test_bench_vision_reports_stage_model_and_loop_figures(cfg_file, capsys):
    out = _json(capsys, ["bench", "vision", "--frames", "20", "--idle-seconds", "0.5", "--json"])
    assert out["frames"] == 20 and out["per_frame_ms"]["median"] > 0
    assert {"emotion", "face_landmark"} <= set(out["models_ms"])
    assert out["models_ms"]["face_landmark"]["invokes"] >= 20
    assert out["overhead_ratio"] > 0  # a figure to print, not a timing to assert
    assert 0 <= out["detector_run_ratio"] <= 1 and out["peak_rss_mb"] > 0
    assert "cpu_percent_one_core" in out["idle"] and "max_lag_ms" in out["event_loop"]
    figures = {k: out[k] for k in ("per_frame_ms", "overhead_ratio")}
    print(f"\nbench (20 frames): {json.dumps(figures)} idle "
          f"{out['idle']['cpu_percent_one_core']}% lag {out['event_loop']['max_lag_ms']} ms")
