"""Fixtures of the end-to-end tests: real `mooddj run --sim` processes on free ports.

Every process runs in its own process group and is stopped (SIGTERM, then SIGKILL
of the whole group) in teardown; stdout, stderr, the box's log and its last status
snapshot are kept under artifacts/integration/<test>/.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_client import BoxProcess, artifacts_for, need_files, write_config


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path:
    """This test's artifacts folder."""
    return artifacts_for(request.node)


@pytest.fixture
def make_box(tmp_path: Path, artifacts: Path) -> Iterator[Callable[..., BoxProcess]]:
    """Factory of box processes (not started); every one is stopped in teardown."""
    need_files()
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
