"""Typed, validated configuration from `/etc/mooddj/config.toml`.

Every key is a field of a frozen dataclass with a default and a one-line doc
(`doc=` in the field metadata); `choices`, `min` and `max` constrain it. The
supervisor loads the config once and passes it down: there is no global.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import os
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_CONFIG_PATH = Path("/etc/mooddj/config.toml")
CONFIG_ENV = "MOODDJ_CONFIG"
REPO_ROOT = Path(__file__).resolve().parents[2]


class ConfigError(Exception):
    """The config file cannot be read or holds an invalid value."""


def opt(default: Any, doc: str, *, choices: tuple[Any, ...] | None = None,
        min: float | None = None, max: float | None = None, length: int | None = None) -> Any:
    """A config field with its default, one-line doc and constraints.

    For a list, min and max apply to each item and `length` is the exact item count.
    """
    meta = {"doc": doc, "choices": choices, "min": min, "max": max, "length": length}
    return field(default=default, metadata=meta)


# Keys a release renamed: old name -> new name. An old name in a config file still works
# (its value moves to the new key; `mooddj doctor` says so); it is never rejected.
RENAMED: dict[str, str] = {}


def renamed_keys(data: dict[str, Any], renamed: dict[str, str] | None = None
                 ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """`data` with every renamed key moved to its new name; the (old, new) pairs found.

    A value already set under the new name wins over the old one.
    """
    out = copy.deepcopy(data)
    found = []
    for old, new in (RENAMED if renamed is None else renamed).items():
        *old_path, old_leaf = old.split(".")
        table: Any = out
        for part in old_path:
            table = table.get(part) if isinstance(table, dict) else None
        if not isinstance(table, dict) or old_leaf not in table:
            continue
        value = table.pop(old_leaf)
        *new_path, new_leaf = new.split(".")
        target = out
        for part in new_path:
            target = target.setdefault(part, {})
        target.setdefault(new_leaf, value)
        found.append((old, new))
    return out, found


@dataclass(frozen=True)
class PathsConfig:
    state_dir: str = opt("/var/lib/mooddj", "Where mooddj.db and secret.key live.")
    runtime_dir: str = opt("/run/mooddj", "Volatile files (status snapshot); tmpfs on the Pi.")
    database: str = opt("", "Database file; empty means <state_dir>/mooddj.db.")
    models_dir: str = opt("", "Folder of the .tflite files; empty means the repo's models/.")
    web_dir: str = opt("", "Templates and static files; empty means the repo's web/.")
    log_file: str = opt("", "Also log to this file (simulator mode sets it); empty: stderr only.")

    @property
    def state(self) -> Path:
        return Path(self.state_dir)

    @property
    def database_path(self) -> Path:
        return Path(self.database) if self.database else self.state / "mooddj.db"

    @property
    def key_path(self) -> Path:
        return self.state / "secret.key"

    @property
    def models(self) -> Path:
        return Path(self.models_dir) if self.models_dir else REPO_ROOT / "models"

    @property
    def web(self) -> Path:
        return Path(self.web_dir) if self.web_dir else REPO_ROOT / "web"

    @property
    def runtime(self) -> Path:
        return Path(self.runtime_dir)


@dataclass(frozen=True)
class LogConfig:
    level: str = opt("INFO", "Log level.", choices=("DEBUG", "INFO", "WARNING", "ERROR"))


@dataclass(frozen=True)
class SupervisorConfig:
    stop_timeout: float = opt(10.0, "Seconds every service gets to stop on SIGTERM.",
                              min=0.5, max=60)
    max_crashes: int = opt(5, "Crashes within crash_window that mark a service failed.", min=1)
    crash_window: float = opt(60.0, "Seconds over which crashes are counted.", min=1)
    backoff_initial: float = opt(1.0, "First restart delay (doubles each crash, with jitter).",
                                 min=0)
    backoff_max: float = opt(30.0, "Longest restart delay in seconds.", min=0)
    status_interval: float = opt(2.0, "Seconds between status snapshots in runtime_dir.", min=0.1)
    start_timeout: float = opt(30.0, "A service start() taking longer than this counts as a crash.",
                               min=0.1, max=600)


@dataclass(frozen=True)
class WebConfig:
    host: str = opt("0.0.0.0", "Address the setup page listens on.")
    port: int = opt(80, "Port of the setup page (0: any free port, for tests).",
                    min=0, max=65535)
    hostname: str = opt("mooddj", "mDNS name: the page answers at http://<hostname>.local.")
    allowed_hosts: tuple[str, ...] = opt((), "Extra Host names accepted (DNS-rebinding guard).")
    mdns: bool = opt(True, "Advertise <hostname>.local and an _http._tcp service.")
    session_lifetime_hours: float = opt(720.0, "Absolute session lifetime.", min=0.01)
    session_idle_hours: float = opt(168.0, "A session unused this long expires.", min=0.01)
    pairing_window_seconds: float = opt(120.0, "How long a pairing request waits for its code "
                                               "on the buttons.", min=5, max=600)
    max_body_bytes: int = opt(65536, "Largest request body accepted.", min=1024)


@dataclass(frozen=True)
class CameraConfig:
    source: str = opt("picamera2", "Frame source.", choices=("picamera2", "webcam", "replay"))
    width: int = opt(640, "Width of the view the mood loop reads (the camera's low-res stream).",
                     min=64, max=4096)
    height: int = opt(480, "Height of the view (picamera2 with a main stream: from the mode's "
                           "aspect).", min=64, max=4096)
    main: str = opt("auto", "High-resolution stream next to the view, for small faces: auto "
                            "(picamera2: the sensor's binned full-view mode; replay and webcam: "
                            "frames larger than the view), off, or WxH.")
    fps: float = opt(15.0, "Camera frame rate.", min=1, max=120)
    device: int = opt(0, "Webcam device index (source = webcam).", min=0)
    replay_path: str = opt("", "Video, image or folder of images (source = replay).")
    replay_loop: bool = opt(True, "Loop the replay at its end.")
    replay_realtime: bool = opt(True, "Pace the replay at its own frame rate.")


@dataclass(frozen=True)
class VisionConfig:
    detector: str = opt("full_range", "BlazeFace variant: full_range (to ~5 m), short_range (2 m).",
                        choices=("full_range", "short_range"))
    max_faces: int = opt(4, "Most faces tracked at once.", min=1, max=16)
    num_threads: int = opt(2, "LiteRT interpreter threads per model.", min=1, max=8)
    detect_every: int = opt(15, "Run the detector at least every N frames while tracking.", min=1)
    tile_detector: str = opt("short_range", "Detector run on tiles of the high-resolution frame "
                                            "for faces far away (off: the whole view only).",
                             choices=("short_range", "full_range", "back", "off"))
    tiles_per_pass: int = opt(3, "Tiles searched per detector run (they rotate; tracking keeps "
                                 "the faces found).", min=0, max=64)
    smallest_face: int = opt(20, "Face width (px of a 640-px view) the detector tiles are cut "
                                 "for: 20 reaches 5 m with Camera Module 3; 14 reaches 4 m with "
                                 "the wide module, with 60 tiles a sweep instead of 28.",
                             min=10, max=64)
    still_seconds: float = opt(10.0, "A face that does not move for this long is a picture "
                                     "(poster, photo), not a person (0: never).", min=0)
    active_fps: float = opt(5.0, "Frames analysed per second while faces are present.", min=0.1)
    idle_fps: float = opt(1.0, "Frames checked per second while the room is empty.", min=0.05)
    smoothing_seconds: float = opt(3.0, "Time constant of the room mood smoothing.", min=0.1)
    hysteresis: float = opt(0.15, "Margin a new label needs over the current one.", min=0, max=1)
    dwell_seconds: float = opt(8.0, "How long a new mood must last, from when the faces changed, "
                               "before the music follows; also the least time a label holds.",
                               min=0)
    arrive_seconds: float = opt(0.5, "A face seen this long counts as a person arriving.", min=0)
    leave_seconds: float = opt(3.0, "A face gone this long counts as the person leaving.", min=0)
    calibration_file: str = opt("", "Neutral-face baseline from `mooddj calibrate`; empty: "
                                    "<state_dir>/calibration.json when it exists.")


@dataclass(frozen=True)
class PanelConfig:
    pin_factory: str = opt("lgpio", "gpiozero pin factory.", choices=("lgpio", "mock"))
    button_play: int = opt(17, "BCM pin of the Play/Pause button.", min=0, max=27)
    button_next: int = opt(27, "BCM pin of the Next button.", min=0, max=27)
    button_mood: int = opt(22, "BCM pin of the Mood button.", min=0, max=27)
    buttons_pull_up: bool = opt(True, "Buttons connect the pin to ground (internal pull-up).")
    bounce_seconds: float = opt(0.03, "Button debounce time.", min=0, max=1)
    hold_seconds: float = opt(1.5, "Press longer than this is a hold.", min=0.2, max=10)
    pair_hold_seconds: float = opt(3.0, "Play held this long starts entering a pairing code.",
                                   min=0.5)
    pair_entry_seconds: float = opt(10.0, "A pairing code being entered waits this long for "
                                          "its next press.", min=1, max=60)
    reset_hold_seconds: float = opt(10.0, "Play+Next held this long arms factory reset.", min=2)
    reset_confirm_seconds: float = opt(5.0, "Window to confirm a factory reset.", min=1)
    manual_mood_minutes: float = opt(30.0, "How long a mood chosen by button holds.", min=0.1)
    status_led: tuple[int, ...] = opt((5, 6, 13), "BCM pins of the status LED (red, green, blue).",
                                      min=0, max=27, length=3)
    mood_led: tuple[int, ...] = opt((12, 16, 20), "BCM pins of the mood LED (red, green, blue).",
                                    min=0, max=27, length=3)
    camera_led: int = opt(26, "BCM pin of the camera LED.", min=0, max=27)
    leds_active_high: bool = opt(True, "LEDs light when the pin is high (common cathode).")


@dataclass(frozen=True)
class ProviderConfig:
    """One sign-in provider; each provider below has its own docs for the same keys."""

    client_id: str = opt("", "OAuth client ID; empty: this sign-in is not configured.")
    client_secret: str = opt("", "OAuth client secret, where the provider's device flow needs it.")
    tenant: str = opt("common", "Microsoft tenant (common, organizations, consumers or an id).")
    base_url: str = opt("", "Override of the provider's base URL (stand-ins); empty: the real one.")
    api_url: str = opt("", "Override of the provider's user API URL; empty: the real one.")


@dataclass(frozen=True)
class GoogleConfig(ProviderConfig):
    client_id: str = opt("", "Google OAuth client ID (type \"TVs and Limited Input devices\"); "
                             "empty: no Google sign-in.")
    client_secret: str = opt("", "That client's secret: Google's device flow sends it (for this "
                                 "client type it is not confidential).")
    tenant: str = opt("common", "Not used by Google (Microsoft only).")
    base_url: str = opt("", "Override of https://oauth2.googleapis.com (stand-ins); empty: real.")
    api_url: str = opt("", "Not used by Google (GitHub only).")


@dataclass(frozen=True)
class MicrosoftConfig(ProviderConfig):
    client_id: str = opt("", "Microsoft Entra application (client) ID with public client flows "
                             "on; empty: no Microsoft sign-in.")
    client_secret: str = opt("", "Not needed: Microsoft's device flow is a public client.")
    tenant: str = opt("common", "Microsoft tenant (common, organizations, consumers or an id).")
    base_url: str = opt("", "Override of https://login.microsoftonline.com (stand-ins); "
                            "empty: real.")
    api_url: str = opt("", "Not used by Microsoft (GitHub only).")


@dataclass(frozen=True)
class GitHubConfig(ProviderConfig):
    client_id: str = opt("", "GitHub OAuth app client ID (device flow enabled); empty: no "
                             "GitHub sign-in.")
    client_secret: str = opt("", "Not needed: GitHub's device flow uses the client ID alone.")
    tenant: str = opt("common", "Not used by GitHub (Microsoft only).")
    base_url: str = opt("", "Override of https://github.com (stand-ins); empty: real.")
    api_url: str = opt("", "Override of GitHub's user API, https://api.github.com (stand-ins); "
                           "empty: real.")


@dataclass(frozen=True)
class IdentityConfig:
    google: GoogleConfig = field(default_factory=GoogleConfig, metadata={"doc": "Google."})
    microsoft: MicrosoftConfig = field(default_factory=MicrosoftConfig,
                                       metadata={"doc": "Microsoft."})
    github: GitHubConfig = field(default_factory=GitHubConfig, metadata={"doc": "GitHub."})


@dataclass(frozen=True)
class SpotifyConfig:
    client_id: str = opt("", "Default Client ID of the household's Spotify app (page can set it).")
    accounts_url: str = opt("https://accounts.spotify.com", "Spotify accounts service base URL.")
    api_url: str = opt("https://api.spotify.com/v1/", "Spotify Web API base URL.")
    redirect_port: int = opt(8888, "Port in the loopback redirect URI (ssh -L 8888:127.0.0.1:80); "
                                   "0: the web port.", min=0, max=65535)
    timeout: float = opt(10.0, "Seconds before a Spotify request times out.", min=1, max=120)
    devices_refresh_seconds: float = opt(180.0, "Seconds between speaker list refreshes.", min=5)
    relink_reminder_days: float = opt(14.0, "Remind to re-link this long before expiry.", min=1)


@dataclass(frozen=True)
class FeaturesConfig:
    provider: str = opt("reccobeats", "Track features source.",
                        choices=("reccobeats", "soundnet", "none"))
    reccobeats_url: str = opt("https://api.reccobeats.com/v1/", "ReccoBeats API base URL.")
    soundnet_url: str = opt("https://track-analysis.p.rapidapi.com/", "SoundNet API base URL.")
    soundnet_key: str = opt("", "RapidAPI key for SoundNet.")


@dataclass(frozen=True)
class PlayerConfig:
    empty_room_minutes: float = opt(5.0, "Fade out and pause after the room is empty this long.",
                                    min=0)
    resume_within_minutes: float = opt(30.0, "Resume if people return within this long.", min=0)
    default_volume: int = opt(40, "Volume the speaker fades in to.", min=0, max=100)
    fade_seconds: float = opt(3.0, "Length of fade in and fade out.", min=0, max=30)
    poll_seconds: float = opt(15.0, "While playing, read the speaker's state this often (and just "
                              "after each track's end).", min=15, max=120)
    recent_exclude_hours: float = opt(6.0, "Tracks played this recently are not picked.", min=0)
    skip_feedback_seconds: float = opt(30.0, "A skip this early counts against the track.", min=0)
    mood_history_days: int = opt(90, "Days of mood aggregates kept.", min=1)


@dataclass(frozen=True)
class Config:
    paths: PathsConfig = field(default_factory=PathsConfig, metadata={"doc": "Files."})
    log: LogConfig = field(default_factory=LogConfig, metadata={"doc": "Logging."})
    supervisor: SupervisorConfig = field(default_factory=SupervisorConfig,
                                         metadata={"doc": "Service supervision."})
    web: WebConfig = field(default_factory=WebConfig, metadata={"doc": "Setup page."})
    camera: CameraConfig = field(default_factory=CameraConfig, metadata={"doc": "Camera."})
    vision: VisionConfig = field(default_factory=VisionConfig, metadata={"doc": "Mood loop."})
    panel: PanelConfig = field(default_factory=PanelConfig, metadata={"doc": "Buttons, LEDs."})
    identity: IdentityConfig = field(default_factory=IdentityConfig,
                                     metadata={"doc": "Sign-in providers."})
    spotify: SpotifyConfig = field(default_factory=SpotifyConfig, metadata={"doc": "Spotify."})
    features: FeaturesConfig = field(default_factory=FeaturesConfig,
                                     metadata={"doc": "Track features."})
    player: PlayerConfig = field(default_factory=PlayerConfig, metadata={"doc": "Player."})


def resolve_path(cli_path: str | os.PathLike[str] | None) -> Path:
    """The config path: `--config`, else `MOODDJ_CONFIG`, else the default."""
    if cli_path:
        return Path(cli_path)
    env = os.environ.get(CONFIG_ENV)
    return Path(env) if env else DEFAULT_CONFIG_PATH


def load(path: str | os.PathLike[str] | None = None, *, required: bool = False,
         overrides: dict[str, Any] | None = None) -> Config:
    """Load and validate the config; a missing file means defaults unless `required`."""
    p = resolve_path(path)
    data: dict[str, Any] = {}
    try:
        with p.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        if required or path:
            raise ConfigError(f"config file {p} not found; create it or drop --config") from None
    except PermissionError:
        raise ConfigError(f"config file {p} is not readable by this user; "
                          f"fix its permissions (e.g. chmod 0640, group mooddj)") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {p} is a directory; point --config or "
                          f"MOODDJ_CONFIG at a .toml file") from None
    except OSError as err:
        raise ConfigError(f"config file {p} cannot be read: {err.strerror or err}; "
                          f"check the path and the disk") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"config file {p} is not valid TOML: {err}") from None
    data, _renamed = renamed_keys(data)
    if overrides:
        data = merge(data, overrides)
    return from_dict(Config, data)


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge `extra` over `base` (neither is modified)."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def from_dict(cls: type, data: dict[str, Any], prefix: str = "") -> Any:
    """Build dataclass `cls` from `data`, rejecting unknown keys and invalid values."""
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'} must be a table, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            close = difflib.get_close_matches(key, fields, n=1)
            hint = f"; did you mean {prefix}{close[0]}?" if close else ""
            raise ConfigError(f"unknown config key {prefix}{key}{hint}")
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        if name not in data:
            continue
        kind = hints[name]
        key = f"{prefix}{name}"
        if isinstance(kind, type) and dataclasses.is_dataclass(kind):
            kwargs[name] = from_dict(kind, data[name], key + ".")
        else:
            kwargs[name] = _check(key, data[name], kind, f.metadata)
    return cls(**kwargs)


def _check(key: str, value: Any, kind: Any, meta: typing.Mapping[str, Any]) -> Any:
    origin = typing.get_origin(kind)
    if origin is tuple:
        item = typing.get_args(kind)[0]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key} = {value!r} is invalid: expected a list of {item.__name__}")
        length = meta.get("length")
        if length is not None and len(value) != length:
            raise ConfigError(f"{key} = {list(value)!r} is invalid: expected exactly {length} "
                              f"item(s)")
        each = {"min": meta.get("min"), "max": meta.get("max")}
        return tuple(_check(f"{key}[{i}]", v, item, each) for i, v in enumerate(value))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if (kind is bool and not isinstance(value, bool)) or (kind is not bool and (
            isinstance(value, bool) or not isinstance(value, kind))):
        raise ConfigError(f"{key} = {value!r} is invalid: expected {_kind_name(kind)}")
    choices = meta.get("choices")
    if choices and value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise ConfigError(f"{key} = {value!r} is invalid: allowed values are {allowed}")
    lo, hi = meta.get("min"), meta.get("max")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        span = f"between {lo} and {hi}" if lo is not None and hi is not None else (
            f"at least {lo}" if lo is not None else f"at most {hi}")
        raise ConfigError(f"{key} = {value!r} is invalid: must be {span}")
    return value


def _kind_name(kind: Any) -> str:
    if isinstance(kind, types.GenericAlias):
        return str(kind)
    return {"str": "a string", "int": "an integer", "float": "a number",
            "bool": "true or false"}.get(kind.__name__, kind.__name__)


def reference(cls: type = Config, prefix: str = "") -> list[tuple[str, Any, str]]:
    """(key, default, doc) for every key: the configuration reference."""
    rows: list[tuple[str, Any, str]] = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        kind = hints[f.name]
        if isinstance(kind, type) and dataclasses.is_dataclass(kind):
            rows.extend(reference(kind, f"{prefix}{f.name}."))
        else:
            factory = f.default_factory
            default = factory() if f.default is dataclasses.MISSING and callable(factory) \
                else f.default
            rows.append((f"{prefix}{f.name}", default, f.metadata.get("doc", "")))
    return rows
