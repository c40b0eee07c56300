"""Fixtures of the end-to-end tests: real `mooddj run --sim` processes on free ports.

Every process runs in its own process group and is stopped (SIGTERM, then SIGKILL
of the whole group) in teardown; stdout, stderr, the box's log and its last status
snapshot are kept under artifacts/integration/<test>/.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_client import ARTIFACTS, MEDIA, REPO, BoxProcess, StandIns, write_config


def _need_files() -> None:
    missing = [p for p in (MEDIA / "single_face.mp4", MEDIA / "no_face.mp4")
               if not p.exists()]
    if missing:
        pytest.skip(f"{missing[0]} missing: run scripts/fetch-test-media")
    if not list((REPO / "models").glob("*.tflite")):
        pytest.skip("models missing: run scripts/fetch-models")


def artifacts_for(node: Any) -> Path:
    """artifacts/integration/<module>.<test>/ (emptied first)."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{Path(str(node.path)).stem}.{node.name}")
    path = ARTIFACTS / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path:
    """This test's artifacts folder."""
    return artifacts_for(request.node)


@pytest.fixture
def make_box(tmp_path: Path, artifacts: Path) -> Iterator[Callable[..., BoxProcess]]:
    """Factory of box processes (not started); every one is stopped in teardown."""
    _need_files()
    boxes: list[BoxProcess] = []

    def make(name: str = "box", **kw: Any) -> BoxProcess:
        state = tmp_path / f"{name}-state"
        state.mkdir(exist_ok=True)
        kw.setdefault("config", write_config(tmp_path / f"{name}.toml", state_dir=state))
        box = BoxProcess(state, artifacts, label=name, **kw)
        boxes.append(box)
        return box

    yield make
    for box in boxes:
        box.stop()


@pytest.fixture
def box(make_box: Callable[..., BoxProcess]) -> BoxProcess:
    """A running `mooddj run --sim` (owning its stand-ins), READY=1 received."""
    return make_box().start()


@pytest.fixture
def make_stand_ins(tmp_path: Path, artifacts: Path) -> Iterator[Callable[..., StandIns]]:
    """Factory of separately started stand-ins, stopped in teardown."""
    started: list[StandIns] = []

    def make(**kw: Any) -> StandIns:
        s = StandIns(tmp_path / f"stand-ins-{len(started)}.state", artifacts, **kw)
        started.append(s)
        return s

    yield make
    for s in started:
        s.stop()
