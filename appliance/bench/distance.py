"""`mooddj bench vision --distance`: the distance ladder.

Real faces from the fetched photos and recordings are shrunk to 20-64 px wide in a
640-px-wide view, as a person 1-5 m from the box's camera, and to 14 and 16 px: the wide
module's 4 m and 3.5 m (it gives a face 19 px at 3 m, 14 px at 4 m). Each scene is rendered
at the camera's high resolution (3x the view, 1920x1080) on an empty-room frame,
through a camera model: area resampling, a little optical blur (sigma 0.6 px), sensor
noise (sigma 3 levels, fresh every frame) and JPEG (quality 90); the view is the
area-shrunk main frame, as the ISP makes it. Group photos keep all their people.

Every pipeline sees each scene as a short burst of frames (one full sweep of the
detector tiles plus one), through the same `process` path as the box. Per width it
reports faces found (tracked in the burst's last frame), false faces per 100 frames,
label agreement and valence error against the same pipeline's reading of the
full-size photo, and the per-frame cost.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

RUNGS = (20, 24, 28, 32, 40, 48, 64)  # the rungs: Camera Module 3, 1-5 m
WIDE_RUNGS = (14, 16)  # below them: Camera Module 3 Wide at 3.5-4 m
WIDTHS = WIDE_RUNGS + RUNGS
VIEW = (640, 360)
MAIN_SCALE = 3  # main frame = 3x the view (Camera Module 3: 1920x1080 from 2304x1296)
PHOTOS = ("single_face.jpg", "t1.jpg", "multi_face.jpg", "0-f1-su-ph.jpg",
          "0-f15-hao-ph.jpg", "15-f13-anc-ph.jpg")
VIDEO_FRAMES = {"WolfgangLanger_Pexels.mp4": range(0, 472, 60), "single_face.mp4": (0, 40)}
BLUR, NOISE, JPEG = 0.6, 3.0, 90


@dataclass
class Source:
    """One real photo (or video frame) and the faces in it (x, y, w, h, original pixels)."""

    name: str
    rgb: np.ndarray
    boxes: list[tuple[float, float, float, float]] = field(default_factory=list)


@dataclass
class Scene:
    """One rung: a source scaled so face `target` is `width` px wide in the view."""

    source: Source
    target: int
    width: int
    small: np.ndarray  # the source scaled, placed at (ox, oy) of the main frame
    ox: int
    oy: int
    bg: np.ndarray = field(repr=False)
    centres: list[tuple[float, float, float]] = field(default_factory=list)  # view x, y, width

    @property
    def clean(self) -> np.ndarray:
        """The main frame before the camera model (made on demand: it is 6 MB)."""
        main = self.bg.copy()
        mh, mw = main.shape[:2]
        sh, sw = self.small.shape[:2]
        ox, oy = self.ox, self.oy
        x0, y0, x1, y1 = max(0, ox), max(0, oy), min(mw, ox + sw), min(mh, oy + sh)
        main[y0:y1, x0:x1] = self.small[y0 - oy:y1 - oy, x0 - ox:x1 - ox]
        return main


def load_sources(media: Path) -> list[Source]:
    """The fetched photos and a few video frames that have a face."""
    import cv2

    out = []
    for name in PHOTOS:
        bgr = cv2.imread(str(media / name))
        if bgr is not None:
            out.append(Source(name, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)))
    for name, picks in VIDEO_FRAMES.items():
        cap = cv2.VideoCapture(str(media / name))
        i, want = 0, set(picks)
        while want:
            ok, bgr = cap.read()
            if not ok:
                break
            if i in want:
                out.append(Source(f"{name}#{i}", cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)))
                want.discard(i)
            i += 1
        cap.release()
    return out


def background(media: Path) -> np.ndarray:
    """The empty room (no_face.mp4's first frame) at the main frame's size."""
    import cv2

    cap = cv2.VideoCapture(str(media / "no_face.mp4"))
    ok, bgr = cap.read()
    cap.release()
    size = (VIEW[0] * MAIN_SCALE, VIEW[1] * MAIN_SCALE)
    if not ok:
        return np.full((size[1], size[0], 3), 110, np.uint8)
    return cv2.resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), size, interpolation=cv2.INTER_LINEAR)


def scenes(sources: list[Source], bg: np.ndarray, seed: int = 7,
           widths: tuple[int, ...] = RUNGS) -> list[Scene]:
    """Every face at every width it can be shrunk to (never enlarged), at random places."""
    import cv2

    rng = np.random.default_rng(seed)
    mh, mw = bg.shape[:2]
    out = []
    for src in sources:
        for k, (x, y, w, h) in enumerate(src.boxes):
            for width in widths:
                s = width * MAIN_SCALE / w
                if s > 1.0:
                    continue
                small = cv2.resize(src.rgb, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
                fx, fy = rng.uniform(0.15, 0.85) * mw, rng.uniform(0.3, 0.7) * mh
                ox, oy = round(fx - (x + w / 2) * s), round(fy - (y + h / 2) * s)
                centres = [((ox + (bx + bw / 2) * s) / MAIN_SCALE,
                            (oy + (by + bh / 2) * s) / MAIN_SCALE, bw * s / MAIN_SCALE)
                           for bx, by, bw, bh in src.boxes]
                out.append(Scene(src, k, width, small, ox, oy, bg, centres))
    return out


def frames(sc: Scene, rng: np.random.Generator, n: int = 1,
           ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(view, main) of `n` frames of a scene through the camera model, fresh noise each."""
    clean = sc.clean
    for _ in range(n):
        yield camera(clean, rng)


def camera(clean: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(view, main) of one frame: blur, fresh sensor noise, JPEG; the view area-shrunk."""
    import cv2

    img = np.asarray(cv2.GaussianBlur(clean, (0, 0), BLUR), np.float32)
    img += rng.normal(0.0, NOISE, img.shape).astype(np.float32)
    _, buf = cv2.imencode(".jpg", np.clip(img, 0, 255).astype(np.uint8),
                           [cv2.IMWRITE_JPEG_QUALITY, JPEG])
    main = np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_UNCHANGED))
    view = np.ascontiguousarray(cv2.resize(main, VIEW, interpolation=cv2.INTER_AREA))
    return view, main


def match(box: tuple[float, ...], centres: list[tuple[float, float, float]]) -> int | None:
    """Index of the scene face a found box is (centre within 0.6 face widths), if any."""
    x, y, w, h = box
    cx, cy = x + w / 2, y + h / 2
    best = None
    for i, (fx, fy, fw) in enumerate(centres):
        d = math.hypot(cx - fx, cy - fy)
        if d < 0.6 * fw and (best is None or d < best[0]):
            best = (d, i)
    return None if best is None else best[1]


@dataclass
class Row:
    """One pipeline's tally at one width."""

    faces: int = 0
    found: int = 0
    frames: int = 0
    false: int = 0
    agree: int = 0
    valence_err: list[float] = field(default_factory=list)
    ms: list[float] = field(default_factory=list)

    def frame(self, sc: Scene, boxes: list[tuple[float, ...]]) -> int | None:
        """Count one frame's found boxes against the scene; the index of the one that is
        the scene's target face, if found."""
        self.frames += 1
        hit = None
        for i, box in enumerate(boxes):
            k = match(box, sc.centres)
            if k is None:
                self.false += 1
            elif k == sc.target:
                hit = i
        return hit

    def reading(self, label: str, valence: float, ref: tuple[str, float] | None) -> None:
        """Count a found face, its label and valence against the full-size reading."""
        self.found += 1
        if ref is not None:
            self.agree += label == ref[0]
            self.valence_err.append(abs(valence - ref[1]))

    def summary(self) -> dict[str, Any]:
        return {"faces": self.faces, "found": self.found,
                "found_pct": round(100 * self.found / self.faces, 1) if self.faces else None,
                "false_per_100_frames": round(100 * self.false / self.frames, 2)
                if self.frames else None,
                "label_agreement_pct": round(100 * self.agree / self.found, 1)
                if self.found else None,
                "valence_error": round(float(np.mean(self.valence_err)), 3)
                if self.valence_err else None,
                "per_frame_ms": round(float(np.median(self.ms)), 2) if self.ms else None}


def burst_length(pipe: Any) -> int:
    """Frames per scene: one sweep of the pipeline's tiles at an empty room's pace (the
    whole view and the tiles take turns), plus one."""
    tiled = getattr(getattr(pipe, "tracker", None), "tiled", None)
    if tiled is None or tiled.tiler is None or not tiled.tiles_per_pass:
        return 2
    n = len(tiled.tiles(*VIEW))
    return 2 * math.ceil(n / tiled.tiles_per_pass) + 1


def reference(pipe: Any, src: Source) -> dict[int, Any]:
    """The pipeline's reading of each face in the full-size photo (by face index)."""
    result = pipe.still(src.rgb)
    centres = [(x + w / 2, y + h / 2, w) for x, y, w, h in src.boxes]
    out = {}
    for f in result.faces:
        k = match(tuple(v * result.scale for v in f.box), centres)
        if k is not None:
            out[k] = f
    return out


def run_pipeline(pipe: Any, ladder: list[Scene], seed: int = 11) -> dict[int, Row]:
    """Every scene through one pipeline; a Row per width."""
    rng = np.random.default_rng(seed)
    refs: dict[str, dict[int, Any]] = {}
    rows = {w: Row() for w in WIDTHS}
    n = burst_length(pipe)
    for sc in ladder:
        if sc.source.name not in refs:
            refs[sc.source.name] = reference(pipe, sc.source)
        row = rows[sc.width]
        row.faces += 1
        pipe.reset()
        hit = None
        for i, (view, main) in enumerate(frames(sc, rng, n)):
            t0 = time.perf_counter()
            result = pipe.process(view, 0.2 * i, main)
            row.ms.append((time.perf_counter() - t0) * 1e3)
            k = row.frame(sc, [f.box for f in result.faces])
            hit = None if k is None else result.faces[k]
        if hit is not None:
            ref = refs[sc.source.name].get(sc.target)
            row.reading(hit.mood, hit.valence, None if ref is None else (ref.mood, ref.valence))
    return rows


def pipelines(cfg: Any) -> dict[str, Any]:
    """before (as before issue 12), now (the configured pipeline), and the back-model tiler."""
    from appliance.bench.compare import before_pipeline
    from appliance.vision.pipeline import Pipeline

    v = dataclasses.replace(cfg.vision, still_seconds=0.0, max_faces=8)
    out = {"before": before_pipeline(v, cfg.paths.models), "now": Pipeline(v, cfg.paths.models)}
    if v.tile_detector != "back":
        out["tiles_back"] = Pipeline(dataclasses.replace(v, tile_detector="back"),
                                     cfg.paths.models)
    return out


class LadderError(Exception):
    """The ladder cannot be built (no photos) or its peer cannot run."""


def run_ladder(cfg: Any, media: Path, peer: str | None = None) -> dict[str, Any]:
    """Build the ladder from the photos in `media`, run every pipeline (and the peer)."""
    sources = load_sources(media)
    if not sources:
        raise LadderError(f"no test photos in {media}; run scripts/fetch-test-media")
    pipes = pipelines(cfg)
    # The face list comes from the configured pipeline at full size, every tile searched.
    for src in sources:
        found = pipes["now"].still(src.rgb)
        src.boxes = [tuple(v * found.scale for v in f.box) for f in found.faces]
    sources = [s for s in sources if s.boxes]
    bg = background(media)
    # The wide rungs draw their places apart, so the rungs stay where they were.
    ladder = scenes(sources, bg) + scenes(sources, bg, seed=8, widths=WIDE_RUNGS)
    out: dict[str, Any] = {"widths": list(WIDTHS), "wide_widths": list(WIDE_RUNGS),
                           "view": list(VIEW),
                           "main": [VIEW[0] * MAIN_SCALE, VIEW[1] * MAIN_SCALE],
                           "sources": {s.name: len(s.boxes) for s in sources},
                           "scenes": len(ladder), "pipelines": {}}
    for name, pipe in pipes.items():
        rows = run_pipeline(pipe, ladder)
        out["pipelines"][name] = {str(w): r.summary() for w, r in rows.items()}
        out["pipelines"][name]["burst_frames"] = burst_length(pipe)
    if peer == "fer":
        from appliance.bench.peer import run_fer

        try:
            out["pipelines"]["fer_mtcnn"] = run_fer(ladder, sources)
        except RuntimeError as err:
            raise LadderError(str(err)) from err
    return out


def report(out: dict[str, Any]) -> str:
    """The ladder as a table per pipeline."""
    lines = [f"distance ladder: {out['scenes']} scenes from {len(out['sources'])} photos "
             f"({sum(out['sources'].values())} faces), view {out['view'][0]}x{out['view'][1]}, "
             f"main {out['main'][0]}x{out['main'][1]}",
             "  targets: >= 95% found at 24 px, >= 85% label agreement at 28 px, "
             "<= 1 false face per 100 frames"]
    wide = set(out.get("wide_widths", ()))
    if wide:
        lines.append(f"  rows marked 'wide' ({', '.join(f'{w} px' for w in sorted(wide))}): "
                     "below the issue's rungs, the wide module at 3.5-4 m")
    for name, rows in out["pipelines"].items():
        burst = rows.get("burst_frames")
        lines.append(f"  {name}" + (f" ({burst} frames per scene)" if burst else ""))
        lines.append("    width  found        false/100  agree   |dv|   ms/frame")
        for w in out["widths"]:
            r = rows.get(str(w))
            if not r or not r["faces"]:
                continue
            pct = "-" if r["found_pct"] is None else f"{r['found_pct']:.0f}%"
            agree = "-" if r["label_agreement_pct"] is None else f"{r['label_agreement_pct']:.0f}%"
            dv = "-" if r["valence_error"] is None else f"{r['valence_error']:.3f}"
            ms = "-" if r["per_frame_ms"] is None else f"{r['per_frame_ms']:.1f}"
            false = "-" if r["false_per_100_frames"] is None else f"{r['false_per_100_frames']:.1f}"
            lines.append(f"    {w:3d} px {r['found']:3d}/{r['faces']:<3d} {pct:>5}  {false:>8}  "
                         f"{agree:>5}  {dv:>6}  {ms:>7}" + ("  wide" if w in wide else ""))
    return "\n".join(lines)
