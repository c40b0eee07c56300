"""Typed views of Spotify Web API objects (devices, tracks, playback state)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Device:
    """A Spotify Connect device as listed by `GET /me/player/devices`."""

    id: str
    name: str
    type: str
    is_active: bool
    is_restricted: bool
    volume_percent: int | None

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Device:
        vol = d.get("volume_percent")
        return cls(id=str(d.get("id") or ""), name=str(d.get("name") or ""),
                   type=str(d.get("type") or ""), is_active=bool(d.get("is_active")),
                   is_restricted=bool(d.get("is_restricted")),
                   volume_percent=int(vol) if isinstance(vol, int | float) else None)


@dataclass(frozen=True)
class Track:
    """A track; `artists` is the artists' names joined with ", "."""

    id: str
    uri: str
    name: str
    artists: str
    duration_ms: int

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Track:
        artists = ", ".join(str(a.get("name") or "") for a in d.get("artists") or []
                            if isinstance(a, dict))
        tid = str(d.get("id") or "")
        return cls(id=tid, uri=str(d.get("uri") or (f"spotify:track:{tid}" if tid else "")),
                   name=str(d.get("name") or ""), artists=artists,
                   duration_ms=int(d.get("duration_ms") or 0))


@dataclass(frozen=True)
class Playback:
    """What the account's player is doing (`GET /me/player`)."""

    is_playing: bool
    track: Track | None
    progress_ms: int
    device: Device | None
    context_uri: str = ""

    @classmethod
    def from_json(cls, d: dict[str, Any] | None) -> Playback:
        if not d:
            return cls(is_playing=False, track=None, progress_ms=0, device=None)
        item = d.get("item")
        track = Track.from_json(item) if isinstance(item, dict) and item.get(
            "type", "track") == "track" else None
        dev = d.get("device")
        ctx = d.get("context") if isinstance(d.get("context"), dict) else {}
        return cls(is_playing=bool(d.get("is_playing")), track=track,
                   progress_ms=int(d.get("progress_ms") or 0),
                   device=Device.from_json(dev) if isinstance(dev, dict) else None,
                   context_uri=str((ctx or {}).get("uri") or ""))


def track_of_item(item: dict[str, Any]) -> Track | None:
    """The track of a saved-track or playlist item (None for episodes, local files, gaps)."""
    obj = item.get("track") if isinstance(item.get("track"), dict) else item.get("item")
    if not isinstance(obj, dict) or obj.get("type", "track") != "track":
        return None
    if obj.get("is_local") or not obj.get("id"):
        return None
    return Track.from_json(obj)
