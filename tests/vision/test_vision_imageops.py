"""imageops: the compiled kernel and the numpy fallback give OpenCV's pixels, safely."""

from __future__ import annotations

import math
import subprocess
import sys

import cv2
import numpy as np
import pytest

from appliance.vision import imageops, native

INV = cv2.WARP_INVERSE_MAP


@pytest.fixture(params=["compiled", "numpy"])
def impl(request, monkeypatch):
    if request.param == "compiled":
        if native.load() is None:
            pytest.skip("image kernel not built (python -m appliance.vision.native)")
    else:
        monkeypatch.setattr(native, "load", lambda: None)
    return request.param


def _frame(h: int = 240, w: int = 320, ch: int = 3) -> np.ndarray:
    rng = np.random.default_rng(11)
    a = cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (5, 5), 1.5)
    return a if ch == 3 else cv2.cvtColor(a, cv2.COLOR_RGB2GRAY)


def _matrix(scale: float, angle: float, tx: float, ty: float) -> np.ndarray:
    c, s = math.cos(angle) * scale, math.sin(angle) * scale
    return np.array([[c, -s, tx], [s, c, ty]])


def _diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(int) - b.astype(int))


@pytest.mark.parametrize("ch", [1, 3])
@pytest.mark.parametrize("m", [_matrix(0.7, 0.3, 60.2, 20.9), _matrix(1.6, -0.8, 200.0, 10.0),
                               _matrix(0.9, 2.5, 330.0, 250.0),  # mostly past the corner
                               _matrix(1.0, 0.0, -500.0, -500.0)])  # entirely off the frame
def test_bilinear_warp_matches_opencv(impl, ch, m):
    src = _frame(ch=ch)
    ref = cv2.warpAffine(src, m, (96, 80), flags=cv2.INTER_LINEAR | INV,
                         borderMode=cv2.BORDER_REPLICATE)
    got = imageops.warp_affine(src, m, (96, 80))
    assert got.shape == ref.shape and got.dtype == np.uint8
    assert _diff(got, ref).max() <= 1


def test_nearest_warp_matches_opencv_except_at_exact_halves(impl):
    src = _frame()
    m = _matrix(1.37, 0.21, 40.3, 15.7)
    ref = cv2.warpAffine(src, m, (120, 120), flags=cv2.INTER_NEAREST | INV,
                         borderMode=cv2.BORDER_REPLICATE)
    got = imageops.warp_affine(src, m, (120, 120), nearest=True)
    assert (_diff(got, ref).max(axis=2) > 0).mean() < 0.01


def test_a_slice_of_a_frame_is_read_in_place(impl):
    src = _frame()
    part = src[30:200, 50:250]  # rows of the full frame: not contiguous
    m = _matrix(0.8, 0.1, 10.0, 5.0)
    whole = m.copy()
    whole[:, 2] += (50, 30)
    inside = imageops.warp_affine(part, m, (64, 64))
    assert _diff(inside, imageops.warp_affine(src, whole, (64, 64))).max() <= 1


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 1e300])
def test_broken_matrices_read_only_inside_the_image(impl, bad):
    src = _frame()
    m = np.array([[bad, 0.0, 5.0], [0.0, 1.0, bad]])
    for nearest in (False, True):
        got = imageops.warp_affine(src, m, (32, 16), nearest=nearest)
        assert got.shape == (16, 32, 3)
        corners = {tuple(src[y, x]) for y in (0, -1) for x in (0, -1)}
        edge = {tuple(p) for p in np.concatenate([src[0], src[-1], src[:, 0], src[:, -1]])}
        assert {tuple(p) for p in got.reshape(-1, 3)} <= edge | corners


def test_gray_and_float_outputs_are_the_same_samples(impl):
    src = _frame()
    m = _matrix(1.9, 0.3, 100.0, 40.0)
    gray = imageops.warp_affine_gray(src, m, (64, 64))
    ref = cv2.cvtColor(cv2.warpAffine(src, m, (64, 64), flags=cv2.INTER_LINEAR | INV,
                                      borderMode=cv2.BORDER_REPLICATE), cv2.COLOR_RGB2GRAY)
    assert _diff(gray, ref).max() <= 1
    dst = np.zeros((1, 64, 64, 1), np.float32)
    imageops.warp_affine_into(dst, src, m, scale=2 / 255, offset=-1.0, gray=True)
    assert np.allclose(dst[0, :, :, 0], gray * (2 / 255) - 1.0, atol=1e-6)
    plain = imageops.warp_affine(gray, _matrix(1.0, 0.0, 0.0, 0.0), (64, 64))
    assert np.array_equal(imageops.warp_affine_gray(gray, _matrix(1.0, 0.0, 0.0, 0.0), (64, 64)),
                          plain)  # a gray image stays as it is
    rgb = np.zeros((1, 48, 48, 3), np.float32)
    imageops.warp_affine_into(rgb, src, m, scale=1 / 255, nearest=True)
    assert np.allclose(rgb[0], imageops.warp_affine(src, m, (48, 48), nearest=True) / 255,
                       atol=1e-6)


def test_resizes_and_gray_match_opencv(impl):
    src = _frame(480, 640)
    for size in [(384, 288), (192, 144), (700, 500)]:
        ref = cv2.resize(src, size, interpolation=cv2.INTER_LINEAR)
        assert _diff(imageops.resize_linear(src, size), ref).max() <= 1
    for size in [(320, 240), (213, 160), (500, 333)]:
        ref = cv2.resize(src, size, interpolation=cv2.INTER_AREA)
        assert _diff(imageops.resize_area(src, size), ref).max() <= 1
    assert _diff(imageops.rgb_to_gray(src), cv2.cvtColor(src, cv2.COLOR_RGB2GRAY)).max() <= 1
    assert np.array_equal(imageops.to_three_channels(src[:, :, ::-1], "bgr"), src)


def test_the_kernel_builds_and_loads(tmp_path, monkeypatch):
    if native.compiler() is None:
        pytest.skip("no C compiler")
    lib = tmp_path / "_warp.so"
    monkeypatch.setattr(native, "LIBRARY", lib)
    assert native.build() == lib and lib.exists()
    mtime = lib.stat().st_mtime_ns
    assert native.build() == lib and lib.stat().st_mtime_ns == mtime  # up to date: kept
    monkeypatch.setattr(native, "_tried", False)
    monkeypatch.setattr(native, "_lib", None)
    assert native.load() is not None
    out = subprocess.run([sys.executable, "-m", "appliance.vision.native"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0 and "image kernel ready" in out.stdout


def test_without_a_compiler_the_build_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(native, "LIBRARY", tmp_path / "_warp.so")
    monkeypatch.setattr(native, "compiler", lambda: None)
    with pytest.raises(native.BuildError, match="apt install gcc"):
        native.build()


def test_doctor_reports_the_kernel_and_the_fallback(monkeypatch):
    from appliance.vision.doctor import check_image_kernel

    if native.load() is not None:
        assert check_image_kernel()[0].status == "pass"
    monkeypatch.setattr(native, "load", lambda: None)
    [check] = check_image_kernel()
    assert check.status == "warn" and "python -m appliance.vision.native" in check.hint


def test_compiled_and_numpy_agree_on_random_geometry(monkeypatch):
    if native.load() is None:
        pytest.skip("image kernel not built (python -m appliance.vision.native)")
    rng = np.random.default_rng(5)
    cases = []
    for _ in range(300):
        h, w = int(rng.integers(1, 40)), int(rng.integers(1, 40))
        ch = int(rng.choice([1, 3]))
        src = rng.integers(0, 256, (h, w, ch) if ch == 3 else (h, w), dtype=np.uint8)
        scale = float(10 ** rng.uniform(-3, 1.5)) * float(rng.choice([-1, 1]))
        angle = float(rng.uniform(-math.pi, math.pi))
        tx, ty = (float(v) for v in rng.uniform(-2 * max(h, w), 3 * max(h, w), 2))
        m = _matrix(scale, angle, tx, ty)
        out = (int(rng.integers(1, 50)), int(rng.integers(1, 50)))
        cases.append((src, m, out, bool(rng.integers(0, 2))))
    compiled = [imageops.warp_affine(s, m, o, nearest=n) for s, m, o, n in cases]
    monkeypatch.setattr(native, "load", lambda: None)
    for (src, m, out, nearest), got in zip(cases, compiled, strict=True):
        ref = imageops.warp_affine(src, m, out, nearest=nearest)
        assert got.shape == ref.shape
        if nearest:  # ties at exactly half a pixel may round either way
            assert (_diff(got, ref) > 0).mean() < 0.05, (src.shape, m, out)
        else:
            assert _diff(got, ref).max() <= 1, (src.shape, m, out)
