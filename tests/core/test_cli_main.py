"""`mooddj` entry point: a closed pipe (`mooddj ... | head`) ends quietly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SPEW = '''
def configure(parser):
    pass

def run(args):
    for i in range(200000):
        print("line", i)
    return 0
'''


def test_output_piped_into_head_ends_without_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "spew_cmd_mod.py").write_text(SPEW)
    code = (f"import sys; sys.path.insert(0, {str(tmp_path)!r}); "
            "from appliance.cli import main as cli; "
            "cli.COMMANDS['spew'] = ('spew_cmd_mod', 'x'); sys.exit(cli.main(['spew']))")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.read(20).startswith(b"line 0")
    proc.stdout.close()  # what `head` does once it has its lines
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=30) == 141
    assert "Traceback" not in err and "BrokenPipe" not in err, err


def test_a_command_that_needs_opencv_says_how_to_add_it(monkeypatch, capsys) -> None:
    """A Pi box has no OpenCV: `mooddj analyze` names the extra instead of a bare ImportError."""
    import sys

    monkeypatch.setitem(sys.modules, "cv2", None)  # `import cv2` fails as if not installed
    # Forget the command and every loaded module holding OpenCV (earlier tests in this
    # process may have imported them), so they are imported again without it.
    for name in [m for m, mod in list(sys.modules.items()) if m.startswith("appliance.") and (
            m in ("appliance.cli.analyze", "appliance.vision.analyze")
            or getattr(mod, "cv2", None) is not None)]:
        monkeypatch.delitem(sys.modules, name)
        parent, _, child = name.rpartition(".")  # `from pkg import mod` looks here first
        if parent in sys.modules:
            monkeypatch.delattr(sys.modules[parent], child, raising=False)
    from appliance.cli import main as cli

    assert cli.main(["analyze", "photo.jpg"]) == 1
    err = capsys.readouterr().err
    assert "mooddj analyze: unavailable: it needs OpenCV, the `opencv` extra" in err
    assert "constraints.txt 'opencv-python-headless>=4.8,<5'" in err
