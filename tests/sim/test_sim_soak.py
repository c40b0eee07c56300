"""`mooddj bench soak`: a short real run, and the figures it derives from samples."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from appliance.bench.soak_report import Sample, SoakResult, summary
from appliance.core.config import REPO_ROOT


def _sample(t: float, *, rss: float = 120.0, fds: int = 20, tasks: int | None = 18,
            restarts: int = 0, plays: int = 0) -> Sample:
    return Sample(t=t, rss_mib=rss, fds=fds, threads=12, tasks=tasks,
                  bus_dropped=0, restarts=restarts, player="playing", plays=plays, camera="face")


def _verdicts(result: SoakResult) -> dict[str, bool]:
    return {t["name"]: t["pass"] for t in result.figures()["targets"]}


def test_a_flat_run_passes_every_target_and_warm_up_is_left_out() -> None:
    result = SoakResult(minutes=1, speed=20, warmup=20, exit_code=0, crashes={"vision": 0})
    result.samples = [_sample(0, rss=90.0, fds=30, tasks=40)]  # start-up, before warm-up
    result.samples += [_sample(t, plays=t // 10) for t in range(20, 70, 5)]
    figures = result.figures()
    assert figures["pass"] is True
    assert figures["rss_mib"]["growth"] == 0.0 and figures["rss_mib"]["steady"] == 120.0
    assert figures["fds"] == {"start": 20, "end": 20, "growth": 0}
    assert figures["plays"] == 6 and figures["pauses_seen"] == 0
    assert "soak: PASS" in summary(result)


def test_growing_memory_fds_and_tasks_and_a_crash_each_fail_their_target() -> None:
    result = SoakResult(minutes=1, speed=20, warmup=0, exit_code=0, crashes={"player": 1})
    result.samples = [_sample(t, rss=100.0 + t / 5, fds=20 + t // 10, tasks=18 + t // 10)
                      for t in range(0, 60, 5)]
    verdicts = _verdicts(result)
    assert verdicts == {"RSS growth after warm-up": False, "steady-state RSS (box only)": True,
                        "open file descriptors": False, "asyncio tasks": False,
                        "service restarts": False, "clean exit on SIGTERM": True}
    assert "soak: FAIL" in summary(result)


def test_pauses_are_counted_from_the_player_states_sampled() -> None:
    result = SoakResult(minutes=1, speed=20, warmup=0, exit_code=0)
    states = ["playing", "fading", "paused", "paused", "playing", "paused", "playing"]
    for i, state in enumerate(states):
        result.samples.append(_sample(i * 5.0))
        result.samples[-1].player = state
    assert result.figures()["pauses_seen"] == 2


def test_big_steady_memory_and_an_unclean_exit_fail() -> None:
    result = SoakResult(minutes=1, speed=20, warmup=0, exit_code=-9)
    result.samples = [_sample(t, rss=180.0) for t in range(0, 30, 5)]
    verdicts = _verdicts(result)
    assert not verdicts["steady-state RSS (box only)"]
    assert not verdicts["clean exit on SIGTERM"]
    assert verdicts["RSS growth after warm-up"]


def test_missing_task_counts_fail_rather_than_pass() -> None:
    result = SoakResult(minutes=1, speed=20, warmup=0, exit_code=0)
    result.samples = [_sample(t, tasks=None) for t in range(0, 30, 5)]
    assert not _verdicts(result)["asyncio tasks"]


@pytest.mark.timeout(150)
def test_short_soak_run_reports_every_figure_and_the_box_exits_cleanly() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "appliance.cli", "bench", "soak", "--minutes", "0.3",
         "--interval", "2", "--json"],
        capture_output=True, text=True, cwd=str(REPO_ROOT), timeout=140)
    assert done.returncode in (0, 1), done.stderr[-2000:]  # 3 would mean it could not run
    report = json.loads(done.stdout)
    figures = report["figures"]
    assert figures["clean_exit"] is True and figures["exit_code"] == 0
    for name in ("rss_mib", "fds", "threads", "tasks"):
        assert figures[name]["start"] is not None and figures[name]["end"] is not None, name
    assert figures["rss_mib"]["steady"] > 0
    # The split: the box's own (anonymous) memory and the library code it maps.
    assert 0 < figures["rss_mib"]["steady_anon"] < figures["rss_mib"]["steady"]
    assert figures["rss_mib"]["steady_file"] > 0
    assert figures["rss_mib"]["children_steady"] > 0  # the replay decoder, shown apart
    assert figures["restarts"] == 0 and figures["bus_dropped"] == 0
    assert {t["name"] for t in figures["targets"]} >= {
        "RSS growth after warm-up", "steady-state RSS (box only)", "open file descriptors",
        "asyncio tasks", "service restarts"}
    assert report["setup"]["paired_by"] in ("button", "code") and report["setup"]["user_id"]
    assert len(report["samples"]) >= 5
    assert all(s["tasks"] for s in report["samples"])  # the supervisor counts its tasks
    assert figures["camera_switches"] >= 1
    assert "time" in done.stderr and "RSS MiB" in done.stderr  # the table over time


def test_summary_splits_steady_rss_into_anonymous_and_file_backed() -> None:
    result = SoakResult(minutes=1, speed=20, warmup=0, exit_code=0)
    result.samples = [_sample(t, rss=150.0) for t in range(0, 30, 5)]
    for s in result.samples:
        s.anon_mib = 90.0
    rss = result.figures()["rss_mib"]
    assert (rss["steady_anon"], rss["steady_file"]) == (90.0, 60.0)
    assert "90.0 MiB anonymous" in summary(result) and "60.0 MiB file-backed" in summary(result)
