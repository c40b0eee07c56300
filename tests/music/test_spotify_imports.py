"""spotipy's unused Redis cache does not cost the box the redis client's memory."""

from __future__ import annotations

import subprocess
import sys


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip()


def test_spotipy_loads_without_the_real_redis_client():
    out = _run("import sys, appliance.music.spotify_api, spotipy; "
               "print(hasattr(sys.modules['redis'], 'Redis'), spotipy.Spotify.__name__, "
               "len([m for m in sys.modules if m.startswith('redis.')]))")
    assert out == "False Spotify 0"


def test_a_real_redis_imported_first_is_left_alone():
    assert _run("import redis, appliance.music; print(hasattr(redis, 'Redis'))") == "True"
