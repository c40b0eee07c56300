"""`mooddj bench vision`: frames paired with their own model time, repeated runs, reader."""

from __future__ import annotations

import itertools
import json

import pytest
from vision_helpers import media, models_dir

from appliance.bench.vision import frames_of, repeated
from appliance.cli.main import main


@pytest.fixture
def cfg_file(tmp_path, monkeypatch):
    models_dir()
    path = tmp_path / "config.toml"
    path.write_text(f'[paths]\nstate_dir = "{tmp_path / "state"}"\n')
    monkeypatch.setenv("MOODDJ_CONFIG", str(path))
    return path


def test_repeated_bench_reports_every_run_and_the_spread(cfg_file, capsys):
    argv = ["bench", "vision", "--frames", "12", "--repeat", "2", "--idle-seconds", "0",
            "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    rep = out["repeat"]
    assert len(rep["runs"]["overhead_ratio"]) == 2
    for key in ("overhead_ratio", "overhead_ratio_paired", "per_frame_median_ms"):
        sp = rep["spread"][key]
        assert sp["min"] <= sp["median"] <= sp["max"]
    # Each frame is paired with the model time spent inside it: the pipeline costs more.
    assert out["overhead_ratio_paired"] > 1.0
    assert out["overhead_ms_per_frame"]["median"] > 0
    assert out["overhead_ms_per_frame"]["n"] == 12


def test_bench_refuses_a_repeat_below_one(cfg_file, capsys):
    assert main(["bench", "vision", "--repeat", "0", "--idle-seconds", "0"]) == 1
    assert "--repeat" in capsys.readouterr().err


def test_bench_reader_loops_a_video_with_time_running_on():
    src = frames_of(media("single_face.mp4"))
    try:
        times = [next(src)[1] for _ in range(80)]  # the recording has 72 frames
    finally:
        src.close()
    assert all(b > a for a, b in itertools.pairwise(times))
    still = frames_of(media("single_face.jpg"))
    rgb, _ = next(still)
    still.close()
    assert rgb.ndim == 3 and rgb.shape[2] == 3


def test_spread_of_repeated_runs():
    run = {"per_frame_ms": {"median": 2.0, "p95": 3.0}, "model_ms_per_frame": 1.6,
           "overhead_ratio": 1.25, "overhead_ratio_paired": 1.3,
           "overhead_ms_per_frame": {"median": 0.4}}
    other = {**run, "overhead_ratio": 1.15}
    rep = repeated([run, other, run])
    assert rep["runs"]["overhead_ratio"] == [1.25, 1.15, 1.25]
    assert rep["spread"]["overhead_ratio"] == {"min": 1.15, "median": 1.25, "max": 1.25}
