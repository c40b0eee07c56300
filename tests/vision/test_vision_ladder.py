"""The distance ladder's own bookkeeping: its rungs, the wide module's rows, the tally."""

from __future__ import annotations

import pytest
from vision_helpers import media, models_dir

from appliance.bench import distance
from appliance.core.config import VisionConfig
from appliance.vision.pipeline import Pipeline


@pytest.fixture(scope="module")
def small_ladder():
    pipe = Pipeline(VisionConfig(max_faces=8), models_dir())
    src = next(s for s in distance.load_sources(media("single_face.jpg").parent)
               if s.name == "single_face.jpg")
    found = pipe.still(src.rgb)
    src.boxes = [tuple(v * found.scale for v in f.box) for f in found.faces]
    bg = distance.background(media("no_face.mp4").parent)
    ladder = (distance.scenes([src], bg, widths=(20,))
              + distance.scenes([src], bg, seed=8, widths=distance.WIDE_RUNGS))
    return pipe, ladder


def test_the_ladder_keeps_the_issues_rungs_and_adds_the_wide_modules_below_them():
    assert distance.RUNGS == (20, 24, 28, 32, 40, 48, 64)
    assert distance.WIDE_RUNGS == (14, 16)
    assert set(distance.WIDTHS) == set(distance.RUNGS) | set(distance.WIDE_RUNGS)


def test_a_wide_rung_shrinks_the_face_to_its_width_and_the_report_marks_its_row(small_ladder):
    pipe, ladder = small_ladder
    assert sorted(sc.width for sc in ladder) == [14, 16, 20]
    for sc in ladder:
        assert sc.centres[sc.target][2] == pytest.approx(sc.width, abs=0.01)
    rows = distance.run_pipeline(pipe, ladder)
    n = distance.burst_length(pipe)
    assert rows[20].found == 1 and rows[20].false == 0  # found and read at 20 px
    assert all(rows[w].faces == 1 and rows[w].frames == n for w in (14, 16, 20))
    out = {"scenes": 3, "sources": {"single_face.jpg": 1}, "view": [640, 360],
           "main": [1920, 1080], "widths": list(distance.WIDTHS),
           "wide_widths": list(distance.WIDE_RUNGS),
           "pipelines": {"now": {str(w): r.summary() for w, r in rows.items()}}}
    lines = distance.report(out).splitlines()
    marked = [ln.split()[0] for ln in lines if ln.rstrip().endswith("wide")]
    assert marked == ["14", "16"]
    assert any(ln.split()[:1] == ["20"] for ln in lines)  # the rungs are not marked
