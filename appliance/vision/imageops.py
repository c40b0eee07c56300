"""The few image operations the mood loop needs, without OpenCV in the box.

Importing OpenCV costs the box 17 MiB of memory for 4.x wheels (33 MiB for 5.x, and
more again when its libraries sit in large page-cache folios), for five functions on
small crops. The sampling runs in a small C kernel (native/warp.c) where it is built,
else in numpy. Both follow OpenCV's conventions so the models see the same pixels:
pixel centres at integer coordinates, affine matrices mapping output to input pixels
(OpenCV's WARP_INVERSE_MAP), edges replicated (BORDER_REPLICATE), gray as ITU-R BT.601
with OpenCV's fixed-point weights, area averaging for shrinking.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence

import numpy as np

from appliance.vision import native

# OpenCV's RGB -> gray: (R*4899 + G*9617 + B*1868 + 2^13) >> 14, i.e. 0.299, 0.587, 0.114.
_GRAY_WEIGHTS = np.array([4899, 9617, 1868], np.uint32)


def rgb_to_gray(rgb: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """HxWx3 RGB uint8 -> HxW gray uint8, as cv2.COLOR_RGB2GRAY (within one level)."""
    acc = rgb.astype(np.uint32) @ _GRAY_WEIGHTS
    acc += 1 << 13
    acc >>= 14
    if out is None:
        return acc.astype(np.uint8)
    np.copyto(out, acc, casting="unsafe")
    return out


def to_three_channels(a: np.ndarray, order: str = "rgb") -> np.ndarray:
    """Gray (HxW or HxWx1), RGB(A) or BGR(A) uint8 -> a new contiguous HxWx3 RGB array."""
    if a.ndim == 2 or a.shape[2] == 1:
        g = a.reshape(a.shape[:2])
        return np.repeat(g[:, :, None], 3, axis=2)
    if order != "bgr":
        return np.ascontiguousarray(a[:, :, :3])
    # One plane at a time: a copy through a reversed 3-long axis is 4x slower.
    out = np.empty((*a.shape[:2], 3), np.uint8)
    for k in range(3):
        out[:, :, k] = a[:, :, 2 - k]
    return out


def warp_affine(src: np.ndarray, m: np.ndarray | Sequence[Sequence[float]],
                size: tuple[int, int], *, nearest: bool = False,
                out: np.ndarray | None = None) -> np.ndarray:
    """Sample src (HxW or HxWxC uint8) through m (2x3, output -> input) into size (w, h).

    Bilinear, or nearest neighbour when shrinking makes bilinear pointless; pixels
    past the edges repeat the edge (a face at the frame's border keeps its shape).
    """
    w, h = size
    kernel = native.load()
    if kernel is not None and src.dtype == np.uint8 and h > 0 and w > 0:
        return _warp_native(kernel, src, m, w, h, nearest, False, out)
    (a, b, c), (d, e, f) = np.asarray(m, np.float64).reshape(2, 3).tolist()
    if nearest:  # round to the nearest pixel: floor(x + 0.5), and x + 0.5 >= 0 after clip
        c, f = c + 0.5, f + 0.5
    height, width = src.shape[:2]
    xs = np.arange(w, dtype=np.float32)
    ys = np.arange(h, dtype=np.float32)[:, None]
    with np.errstate(over="ignore", invalid="ignore"):  # huge or NaN: clipped below
        coeff = np.array([a, b, c, d, e, f]).clip(-1e30, 1e30).astype(np.float32)
        sx = coeff[0] * xs + (coeff[1] * ys + coeff[2])
        sy = coeff[3] * xs + (coeff[4] * ys + coeff[5])
    # A degenerate matrix (NaN) samples the corner rather than failing the frame.
    np.nan_to_num(sx, copy=False, nan=0.0)
    np.nan_to_num(sy, copy=False, nan=0.0)
    pixels = _pixels(src)
    if nearest:
        xi = np.clip(sx, 0, width - 1).astype(np.int32)
        yi = np.clip(sy, 0, height - 1).astype(np.int32)
        yi *= width
        yi += xi
        res = np.take(pixels, yi).view(np.uint8)
    else:
        x0 = np.floor(sx)
        y0 = np.floor(sy)
        fx = (sx - x0)[..., None]
        fy = (sy - y0)[..., None]
        xa = np.clip(x0, 0, width - 1).astype(np.int32)
        xb = np.clip(x0 + 1, 0, width - 1).astype(np.int32)
        ya = np.clip(y0, 0, height - 1).astype(np.int32) * width
        yb = np.clip(y0 + 1, 0, height - 1).astype(np.int32) * width
        channels = _channels(src)

        def at(idx: np.ndarray) -> np.ndarray:
            return np.take(pixels, idx).view(np.uint8).reshape(h, w, channels).astype(np.float32)

        p00, p01, p10, p11 = at(ya + xa), at(ya + xb), at(yb + xa), at(yb + xb)
        top = p00 + (p01 - p00) * fx
        bottom = p10 + (p11 - p10) * fx
        val = top + (bottom - top) * fy
        val += 0.5
        res = np.clip(val, 0, 255).astype(np.uint8)
    res = res.reshape((h, w, *src.shape[2:]))
    if out is None:
        return res
    out[...] = res
    return out


def warp_affine_gray(src: np.ndarray, m: np.ndarray | Sequence[Sequence[float]],
                     size: tuple[int, int], out: np.ndarray | None = None) -> np.ndarray:
    """warp_affine (bilinear) of an RGB image, then rgb_to_gray, in one pass where built."""
    w, h = size
    kernel = native.load()
    if kernel is not None and _is_rgb_u8(src) and h > 0 and w > 0:
        return _warp_native(kernel, src, m, w, h, False, True, out)
    if src.ndim == 2:  # already gray
        return warp_affine(src, m, size, out=out)
    return rgb_to_gray(warp_affine(src, m, size), out=out)


def warp_affine_into(dst: np.ndarray, src: np.ndarray,
                     m: np.ndarray | Sequence[Sequence[float]], *, scale: float,
                     offset: float = 0.0, nearest: bool = False, gray: bool = False) -> None:
    """Sample src into float32 dst (a model's input, H x W x C) as value * scale + offset.

    The same samples as warp_affine (or warp_affine_gray with `gray`), written straight
    into the tensor: no uint8 crop in between.
    """
    h, w = dst.shape[-3], dst.shape[-2]
    kernel = native.load()
    channels = 1 if gray else _channels(src)
    if kernel is not None and src.dtype == np.uint8 and dst.dtype == np.float32 \
            and dst.flags.c_contiguous and dst.size == h * w * channels \
            and (not gray or _is_rgb_u8(src)):
        _run_kernel(kernel, src, m, dst, nearest, gray, (scale, offset))
        return
    sample = warp_affine_gray(src, m, (w, h)) if gray else \
        warp_affine(src, m, (w, h), nearest=nearest)
    view = dst.reshape(sample.shape)
    np.multiply(sample, np.float32(scale), out=view)
    if offset:
        view += np.float32(offset)


def _is_rgb_u8(src: np.ndarray) -> bool:
    return src.dtype == np.uint8 and src.ndim == 3 and src.shape[2] == 3


def _channels(src: np.ndarray) -> int:
    return src.shape[2] if src.ndim == 3 else 1


def _packed(src: np.ndarray) -> np.ndarray:
    """src with packed pixels and channels (rows may stay a slice of a larger frame)."""
    channels = _channels(src)
    if src.ndim not in (2, 3) or channels > 4:
        raise ValueError(f"cannot warp an image of shape {src.shape}")
    if src.strides[1] != channels or (src.ndim == 3 and src.strides[2] != 1) \
            or src.strides[0] < 0:
        return np.ascontiguousarray(src)
    return src


def _warp_native(kernel: ctypes.CDLL, src: np.ndarray, m: np.ndarray | Sequence[Sequence[float]],
                 w: int, h: int, nearest: bool, gray: bool,
                 out: np.ndarray | None) -> np.ndarray:
    shape = (h, w) if gray else (h, w, *src.shape[2:])
    res = out if out is not None and out.shape == shape and out.dtype == np.uint8 \
        and out.flags.c_contiguous else np.empty(shape, np.uint8)
    _run_kernel(kernel, src, m, res, nearest, gray, None)
    if out is not None and res is not out:
        out[...] = res
        return out
    return res


_NEAREST, _GRAY = 1, 2  # warp.c's flags


def _run_kernel(kernel: ctypes.CDLL, src: np.ndarray, m: np.ndarray | Sequence[Sequence[float]],
                dst: np.ndarray, nearest: bool, gray: bool,
                float_out: tuple[float, float] | None) -> None:
    """One call of warp.c into packed dst: uint8, or float32 value * scale + offset."""
    src = _packed(src)
    coeffs = np.ascontiguousarray(m, np.float64).reshape(6)
    h, w = dst.shape if dst.ndim == 2 else dst.shape[-3:-1]
    args = (src.ctypes.data, src.shape[0], src.shape[1], src.strides[0], _channels(src),
            dst.ctypes.data, h, w, coeffs.ctypes.data,
            (_NEAREST if nearest else 0) | (_GRAY if gray else 0))
    status = kernel.mooddj_warp_affine_u8(*args) if float_out is None else \
        kernel.mooddj_warp_affine_f32(*args, *float_out)
    if status != 0:
        raise ValueError(f"cannot warp an image of shape {src.shape} into {dst.shape}")


def _pixels(src: np.ndarray) -> np.ndarray:
    """src as a flat array of whole pixels (one opaque item per pixel: one gather per pixel)."""
    src = np.ascontiguousarray(src)
    if src.ndim == 2 or src.shape[2] == 1:
        return src.reshape(-1)
    return src.reshape(-1, src.shape[2]).view(f"V{src.shape[2]}").reshape(-1)


def resize_linear(src: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize to size (w, h), as cv2.INTER_LINEAR (no smoothing when shrinking)."""
    w, h = size
    height, width = src.shape[:2]
    if native.load() is not None and src.dtype == np.uint8:
        # Output pixel centre x maps to (x + 0.5) * width / w - 0.5: one affine sampling.
        sx, sy = width / w, height / h
        return warp_affine(src, ((sx, 0.0, 0.5 * sx - 0.5), (0.0, sy, 0.5 * sy - 0.5)), size)
    ya, yb, fy = _linear_taps(height, h)
    xa, xb, fx = _linear_taps(width, w)
    top = src[ya].astype(np.float32)
    rows = top + (src[yb].astype(np.float32) - top) * _expand(fy, src.ndim, axis=0)
    left = rows[:, xa]
    val = left + (rows[:, xb] - left) * _expand(fx, src.ndim, axis=1)
    val += 0.5
    return np.clip(val, 0, 255).astype(np.uint8)


def resize_area(src: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Shrink to size (w, h) by averaging each output pixel's footprint (cv2.INTER_AREA).

    Whole-number factors are block means; others integrate the pixels through
    cumulative sums, with the footprint's partial pixels weighted by their share.
    """
    w, h = size
    height, width = src.shape[:2]
    if w > width or h > height:
        return resize_linear(src, size)
    if height == 2 * h and width == 2 * w and src.dtype == np.uint8:
        # Halving (the detector's second step): four 8-bit sums in 16 bits, rounded.
        acc = src[0::2, 0::2].astype(np.uint16)
        acc += src[1::2, 0::2]
        acc += src[0::2, 1::2]
        acc += src[1::2, 1::2]
        acc += 2
        acc >>= 2
        return acc.astype(np.uint8)
    acc = _area_axis(src.astype(np.float32), height, h, axis=0)
    acc = _area_axis(acc, width, w, axis=1)
    np.add(acc, 0.5, out=acc)
    return np.clip(acc, 0, 255).astype(np.uint8)


def _area_axis(a: np.ndarray, n: int, m: int, axis: int) -> np.ndarray:
    if n == m:
        return a
    if n % m == 0:
        k = n // m
        shape = (*a.shape[:axis], m, k, *a.shape[axis + 1:])
        return a.reshape(shape).mean(axis=axis + 1)
    csum = np.cumsum(a, axis=axis, dtype=np.float64)
    zero = np.zeros_like(np.take(csum, [0], axis=axis))
    csum = np.concatenate([zero, csum], axis=axis)  # csum[i] = sum of pixels [0, i)
    edges = np.arange(m + 1, dtype=np.float64) * (n / m)
    lo = np.minimum(np.floor(edges).astype(np.intp), n - 1)
    frac = _expand(edges - lo, a.ndim, axis)
    before = np.take(csum, lo, axis=axis)
    at = before + (np.take(csum, lo + 1, axis=axis) - before) * frac  # integral up to edge
    return (np.diff(at, axis=axis) * (m / n)).astype(np.float32)


def _linear_taps(n: int, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source indices and weights of an m-pixel bilinear resample of n pixels."""
    pos = (np.arange(m, dtype=np.float32) + 0.5) * np.float32(n / m) - 0.5
    pos = np.clip(pos, 0, n - 1)
    lo = np.floor(pos).astype(np.intp)
    hi = np.minimum(lo + 1, n - 1)
    return lo, hi, (pos - lo).astype(np.float32)


def _expand(v: np.ndarray, ndim: int, axis: int) -> np.ndarray:
    shape = [1] * ndim
    shape[axis] = v.shape[0]
    return v.reshape(shape)


def yuv420_to_rgb(i420: np.ndarray, width: int, height: int) -> np.ndarray:
    """A planar YUV 4:2:0 buffer (height * 3/2 rows, stride >= width) -> HxWx3 RGB uint8.

    BT.601 limited range, as cv2.COLOR_YUV2RGB_I420 (within a level or two); the chroma
    planes sit after the luma plane, each (height/2) x (width/2) at half the stride.
    """
    buf = np.asarray(i420, np.uint8)
    if buf.ndim != 2 or buf.shape[0] < height * 3 // 2 or buf.shape[1] < width \
            or width % 2 or height % 2:
        raise ValueError(f"a {width}x{height} YUV420 buffer needs {height * 3 // 2} rows of "
                         f">= {width} bytes (even sizes), got {buf.shape}")
    stride = buf.shape[1]
    y = buf[:height, :width].astype(np.float32)
    chroma = buf[height:height * 3 // 2].reshape(-1)
    half = (height // 2) * (stride // 2)
    u = chroma[:half].reshape(height // 2, stride // 2)[:, :width // 2]
    v = chroma[half:2 * half].reshape(height // 2, stride // 2)[:, :width // 2]
    u = np.repeat(np.repeat(u.astype(np.float32) - 128.0, 2, axis=0), 2, axis=1)
    v = np.repeat(np.repeat(v.astype(np.float32) - 128.0, 2, axis=0), 2, axis=1)
    y = (y - 16.0) * 1.164
    out = np.empty((height, width, 3), np.uint8)
    for k, (cu, cv) in enumerate(((0.0, 1.596), (-0.392, -0.813), (2.017, 0.0))):
        plane = y + 0.5
        if cu:
            plane += cu * u
        if cv:
            plane += cv * v
        np.clip(plane, 0, 255, out=plane)
        out[:, :, k] = plane
    return out
