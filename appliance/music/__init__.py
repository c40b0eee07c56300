"""Spotify linking and client, track features, mood-to-music selection and the player."""

import sys
import types

# spotipy imports redis when it is imported, only for its optional Redis token cache, which
# the box never uses (tokens are sealed in mooddj.db). The redis client would cost ~6 MiB of
# the box's 150 MB budget, so unless someone in this process imported the real redis first,
# a module with the one name spotipy imports takes its place. Using it says so.
if "redis" not in sys.modules:
    _redis = types.ModuleType("redis", "Not loaded in mooddj: spotipy's Redis cache is unused.")
    _redis.RedisError = type("RedisError", (Exception,), {})  # type: ignore[attr-defined]

    def _unavailable(name: str) -> object:
        raise AttributeError(f"redis.{name}: the redis client is not loaded in mooddj")

    _redis.__getattr__ = _unavailable  # type: ignore[method-assign]
    sys.modules["redis"] = _redis
