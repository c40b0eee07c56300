"""Typed views of Spotify Web API objects (devices, tracks, playback state)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

PlaybackKind = Literal["nothing", "track", "episode", "ad", "local", "unknown"]


@dataclass(frozen=True)
class Device:
    """A Spotify Connect device as listed by `GET /me/player/devices`."""

    id: str
    name: str
    type: str
    is_active: bool
    is_restricted: bool
    volume_percent: int | None
    supports_volume: bool = True

    @property
    def controllable(self) -> bool:
        """The Web API can command it: it has an id (restricted speakers list `id: null`)."""
        return bool(self.id) and not self.is_restricted

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Device:
        vol = d.get("volume_percent")
        return cls(id=str(d.get("id") or ""), name=str(d.get("name") or ""),
                   type=str(d.get("type") or ""), is_active=bool(d.get("is_active")),
                   is_restricted=bool(d.get("is_restricted")),
                   volume_percent=int(vol) if isinstance(vol, int | float) else None,
                   supports_volume=d.get("supports_volume") is not False)


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


def _kind(d: dict[str, Any]) -> PlaybackKind:
    item = d.get("item") if isinstance(d.get("item"), dict) else None
    declared = str(d.get("currently_playing_type") or (item or {}).get("type") or "")
    if declared == "track":
        if item is None:
            return "unknown"
        return "local" if item.get("is_local") or not item.get("id") else "track"
    if declared == "episode":
        return "episode"
    return "ad" if declared == "ad" else "unknown"


@dataclass(frozen=True)
class Playback:
    """What the account's player is doing (`GET /me/player`).

    `kind` says what is on the speaker: a podcast comes as `item: null` with
    `currently_playing_type: "episode"` unless episodes were asked for, an ad as
    `"ad"` with no item, a local file as a track without an id; 204 is "nothing".
    """

    is_playing: bool
    track: Track | None
    progress_ms: int
    device: Device | None
    context_uri: str = ""
    kind: PlaybackKind | None = None  # None: "track" with a track, else "nothing"

    def __post_init__(self) -> None:
        if self.kind is None:
            object.__setattr__(self, "kind", "track" if self.track is not None else "nothing")

    @property
    def foreign(self) -> bool:
        """Something the box cannot have queued is on (an episode, an ad, a local file)."""
        return self.kind in ("episode", "ad", "local", "unknown")

    @classmethod
    def from_json(cls, d: dict[str, Any] | None) -> Playback:
        if not d:
            return cls(is_playing=False, track=None, progress_ms=0, device=None)
        kind = _kind(d)
        item = d.get("item")
        track = Track.from_json(item) if kind == "track" and isinstance(item, dict) else None
        dev = d.get("device")
        ctx = d.get("context") if isinstance(d.get("context"), dict) else {}
        return cls(is_playing=bool(d.get("is_playing")), track=track,
                   progress_ms=int(d.get("progress_ms") or 0),
                   device=Device.from_json(dev) if isinstance(dev, dict) else None,
                   context_uri=str((ctx or {}).get("uri") or ""), kind=kind)


def track_of_item(item: dict[str, Any]) -> Track | None:
    """The track of a saved-track or playlist entry (None for episodes, local files, gaps).

    Since February 2026 playlist entries carry the track in `item` (`track` deprecated).
    """
    obj = item.get("item") if isinstance(item.get("item"), dict) else item.get("track")
    if not isinstance(obj, dict) or obj.get("type", "track") != "track":
        return None
    if obj.get("is_local") or not obj.get("id"):
        return None
    return Track.from_json(obj)
