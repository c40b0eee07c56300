"""A deterministic catalog of made-up tracks shared by the Spotify and features stand-ins.

Ids look like Spotify's (22 base-62 characters) so the real client code and the
features providers handle them exactly as real ids. Valence and energy are
spread over the whole plane so every mood has close matches.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from functools import cache

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# Names follow the features, so what plays for a mood also sounds like it to a person:
# (high valence?, high energy?) -> words.
_WORDS = {
    (True, True): (("Sunny", "Bright", "Golden", "Neon", "Wild"),
                   ("Dance", "Parade", "Anthem", "Circus", "Party")),
    (True, False): (("Morning", "Velvet", "Warm", "Home", "Garden"),
                    ("Waltz", "Bloom", "Letter", "Breeze", "Harbor")),
    (False, True): (("Storm", "Fire", "Iron", "Static", "Broken"),
                    ("Riot", "Signal", "Drive", "Engine", "Thunder")),
    (False, False): (("Rain", "Lost", "Quiet", "Grey", "Slow"),
                     ("Lullaby", "Window", "Prayer", "River", "Echo")),
}
_ARTISTS = ("The Lanterns", "Mira Vale", "Northbound", "Okapi Club", "Juno Reyes", "Static Saints",
            "Paloma Grey", "Kite Theory", "Blue Hours", "Ada Kowalski", "Los Relámpagos",
            "Tidewater", "Ferris & Moon", "Quiet Engines", "Sable")


@dataclass(frozen=True)
class CatalogTrack:
    id: str
    name: str
    artists: str
    album: str
    duration_ms: int
    valence: float  # 0..1
    energy: float  # 0..1
    tempo: float  # BPM

    @property
    def uri(self) -> str:
        return f"spotify:track:{self.id}"


def track_id(n: int) -> str:
    """A stable 22-character base-62 id for catalog entry `n`."""
    digest = int.from_bytes(hashlib.sha256(f"mooddj-sim-{n}".encode()).digest(), "big")
    out = []
    for _ in range(22):
        digest, r = divmod(digest, 62)
        out.append(_ALPHABET[r])
    return "".join(out)


@cache
def catalog(size: int = 240) -> tuple[CatalogTrack, ...]:
    """`size` tracks, the same on every machine."""
    rng = random.Random(62)
    tracks = []
    for n in range(size):
        valence = (n % 12) / 11 * 0.9 + 0.05 + rng.uniform(-0.04, 0.04)
        energy = ((n // 12) % 10) / 9 * 0.9 + 0.05 + rng.uniform(-0.04, 0.04)
        tempo = 70 + energy * 90 + rng.uniform(-10, 10)
        adjectives, nouns = _WORDS[(valence >= 0.5, energy >= 0.5)]
        name = f"{rng.choice(adjectives)} {rng.choice(nouns)}"
        artist = _ARTISTS[n % len(_ARTISTS)]
        tracks.append(CatalogTrack(
            id=track_id(n), name=name, artists=artist, album=f"{name} (Single)",
            duration_ms=rng.randint(150, 260) * 1000,
            valence=round(min(max(valence, 0.0), 1.0), 3),
            energy=round(min(max(energy, 0.0), 1.0), 3), tempo=round(tempo, 1)))
    return tuple(tracks)


def by_id() -> dict[str, CatalogTrack]:
    return {t.id: t for t in catalog()}
