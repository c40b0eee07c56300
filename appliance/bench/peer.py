"""The distance ladder's peer: fer with MTCNN, in a venv of its own made on request.

fer needs TensorFlow and facenet-pytorch (PyTorch): several GB that the box never
has. `--peer fer` makes .cache/peer-fer with `python -m venv` and pip (once), writes
the ladder's frames as PNG files, and runs fer_worker.py there on them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
VENV = REPO / ".cache" / "peer-fer"
REQUIREMENTS = ("fer==25.10.3", "facenet-pytorch==2.6.0")
WORKER = Path(__file__).with_name("fer_worker.py")


def ensure_venv(venv: Path = VENV) -> Path:
    """The peer venv's python, creating the venv and installing fer on first use."""
    python = venv / "bin" / "python"
    stamp = venv / "installed.txt"
    if python.exists() and stamp.exists() and stamp.read_text().split() == list(REQUIREMENTS):
        return python
    print(f"making the fer peer's venv in {venv} (once; several GB of packages)...",
          file=sys.stderr, flush=True)
    steps = [[sys.executable, "-m", "venv", str(venv)],
             [str(python), "-m", "pip", "install", "--disable-pip-version-check",
              "--progress-bar", "off", *REQUIREMENTS]]
    for cmd in steps:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            tail = " / ".join((proc.stderr or proc.stdout).strip().splitlines()[-2:])
            raise RuntimeError(f"cannot make the fer peer's venv ({tail}); check the package "
                               f"index and run again")
    stamp.write_text("\n".join(REQUIREMENTS) + "\n")
    return python


def run_fer(ladder: list[Any], sources: list[Any]) -> dict[str, Any]:
    """fer + MTCNN on each scene's last frame and on the full-size photos: a ladder table."""
    import cv2

    from appliance.bench.distance import WIDTHS, Row, frames, match
    from appliance.vision.fusion import EMOTIONS, LABELS, cnn_moods, fuse

    python = ensure_venv()
    rng = np.random.default_rng(11)
    with tempfile.TemporaryDirectory(prefix="mooddj-peer-") as tmp:
        paths = []
        for i, sc in enumerate(ladder):
            view, _ = next(frames(sc, rng))
            p = Path(tmp) / f"scene{i}.png"
            cv2.imwrite(str(p), cv2.cvtColor(view, cv2.COLOR_RGB2BGR))
            paths.append(str(p))
        for j, src in enumerate(sources):
            p = Path(tmp) / f"source{j}.png"
            cv2.imwrite(str(p), cv2.cvtColor(src.rgb, cv2.COLOR_RGB2BGR))
            paths.append(str(p))
        # One thread each: the ladder's timings stay comparable and the machine usable.
        env = {**os.environ, "OMP_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1",
               "TF_NUM_INTEROP_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
        proc = subprocess.run([str(python), str(WORKER)], input=json.dumps(paths),
                              capture_output=True, text=True, check=False, env=env)
    if proc.returncode != 0:
        tail = " / ".join(proc.stderr.strip().splitlines()[-2:])
        raise RuntimeError(f"fer peer failed ({tail})")
    results = json.loads(proc.stdout)

    def reading(face: dict[str, Any]) -> Any:
        p7 = [face["emotions"].get(e, 0.0) for e in EMOTIONS]
        q = cnn_moods(p7)
        return fuse(p7, None), LABELS[int(np.argmax(q))]

    refs: dict[str, dict[int, Any]] = {}
    for j, src in enumerate(sources):
        centres = [(x + w / 2, y + h / 2, w) for x, y, w, h in src.boxes]
        refs[src.name] = {}
        for f in results[len(ladder) + j]["faces"]:
            k = match(tuple(f["box"]), centres)
            if k is not None:
                refs[src.name][k] = reading(f)
    rows = {w: Row() for w in WIDTHS}
    for sc, res in zip(ladder, results[:len(ladder)], strict=False):
        row = rows[sc.width]
        row.faces += 1
        row.ms.append(res["ms"])
        k = row.frame(sc, [tuple(f["box"]) for f in res["faces"]])
        if k is not None:
            expr, label = reading(res["faces"][k])
            ref = refs[sc.source.name].get(sc.target)
            row.reading(label, expr.valence, None if ref is None else (ref[1], ref[0].valence))
    out: dict[str, Any] = {str(w): r.summary() for w, r in rows.items()}
    out["burst_frames"] = 1
    return out
