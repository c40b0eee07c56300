"""A face that never moves (a poster, a photo on the wall) is not a person in the room."""

from __future__ import annotations

import cv2
import numpy as np
from vision_helpers import media, models_dir

from appliance.bench.distance import background, camera
from appliance.core.config import VisionConfig
from appliance.vision.pipeline import Pipeline
from appliance.vision.sources.replay import ReplaySource, read_image
from appliance.vision.stillness import Stillness

CFG = VisionConfig(still_seconds=10.0, arrive_seconds=0.5, leave_seconds=1.0)


def test_a_poster_shot_with_fresh_sensor_noise_leaves_the_room_after_the_still_time():
    face = cv2.resize(read_image(media("single_face.jpg")), None, fx=0.6, fy=0.6,
                      interpolation=cv2.INTER_AREA)  # ~37 px wide in the view
    clean = background(media("no_face.mp4").parent)
    clean[400:400 + face.shape[0], 900:900 + face.shape[1]] = face
    rng = np.random.default_rng(4)
    pipe = Pipeline(CFG, models_dir())
    results = []
    for i in range(70):  # 14 s at 5 frames per second
        view, main = camera(clean, rng)
        results.append(pipe.process(view, i * 0.2, main))
    assert all(len(r.faces) == 1 for r in results)  # tracked all along
    early = [r for r in results if r.t < 9.0]
    late = [r for r in results if r.t >= 12.0]
    assert all(not r.faces[0].still and r.room.people == 1 for r in early[3:])
    assert all(r.faces[0].still for r in late) and late[-1].room.people == 0


def test_a_real_person_sitting_in_front_of_the_box_is_never_taken_for_a_picture():
    pipe = Pipeline(CFG, models_dir())
    src = ReplaySource(media("single_face.mp4"), loop=True, realtime=False)
    still = people = 0
    with src:
        for i in range(70 * 6):
            frame = src.read()
            if i % 6:  # 5 of the recording's 30 frames per second
                continue
            r = pipe.process(frame.rgb, frame.t, frame.main)
            still += sum(f.still for f in r.faces)
            people = r.room.people
    assert still == 0 and people == 1


def test_stillness_needs_the_whole_window_and_forgets_tracks_that_are_gone():
    s = Stillness(seconds=2.0)
    assert not any(s.update(1, t / 10, 100.0, 100.0, 20.0) for t in range(19))
    assert s.update(1, 2.0, 100.0, 100.0, 20.0)  # 2 s without moving
    assert s.update(1, 2.1, 104.0, 100.0, 20.0)  # one frame's jump (the mesh) is filtered
    assert s.update(1, 2.2, 100.0, 100.0, 20.0)
    for t in range(22, 45):
        moved = s.update(2, t / 10, 100.0 + 3.0 * (t % 4), 100.0, 20.0)  # 0.45 IOD sway
    assert not moved
    s.keep({2})
    assert 1 not in s._tracks
    assert not Stillness(seconds=0).update(1, 10.0, 1.0, 1.0, 20.0)  # 0: never
