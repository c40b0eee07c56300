"""The type checker over the whole package; the foundation, the composition and the player
must be clean, and the composition's context and the web app's keys hold no `Any`."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Packages and modules that must type-check with no error at all.
STRICT = ("appliance/core/", "appliance/app/", "appliance/music/player", "appliance/music/policy",
          "appliance/web/kit/keys.py", "appliance/web/kit/deps.py")


def test_mypy_finds_no_error_in_core_the_composition_and_the_player() -> None:
    proc = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(ROOT / ".cache/mypy")],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    errors = [line for line in proc.stdout.splitlines() if re.match(r"^\S+\.py:\d+: error", line)]
    if errors:
        print("\n".join(["mypy errors elsewhere in appliance/:", *errors]))
    strict = [e for e in errors if e.startswith(STRICT)]
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr  # 2: mypy itself failed
    assert strict == []


def _any_uses(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    return [f"{path.name}:{n.lineno}" for n in ast.walk(tree)
            if (isinstance(n, ast.Name) and n.id == "Any")
            or (isinstance(n, ast.Attribute) and n.attr == "Any")]


def test_no_any_in_the_box_context_or_the_web_app_keys() -> None:
    files = [ROOT / "appliance/app/context.py", ROOT / "appliance/web/kit/keys.py",
             ROOT / "appliance/web/kit/deps.py"]
    assert [use for f in files for use in _any_uses(f)] == []
