"""SSD anchors match MediaPipe's face detection graphs."""

from __future__ import annotations

import numpy as np
import pytest

from appliance.vision.anchors import FULL_RANGE, SHORT_RANGE, AnchorOptions, ssd_anchors


def test_short_range_has_896_anchors_on_16x16_and_8x8_grids():
    a = ssd_anchors(SHORT_RANGE)
    assert a.shape == (896, 4)
    # Stride 8: 16x16 cells x 2 anchors; strides 16,16,16 share an 8x8 map x 6 anchors.
    np.testing.assert_allclose(a[0, :2], [0.5 / 16, 0.5 / 16])
    np.testing.assert_allclose(a[1, :2], [0.5 / 16, 0.5 / 16])
    np.testing.assert_allclose(a[2, :2], [1.5 / 16, 0.5 / 16])
    np.testing.assert_allclose(a[511, :2], [15.5 / 16, 15.5 / 16])
    np.testing.assert_allclose(a[512, :2], [0.5 / 8, 0.5 / 8])
    np.testing.assert_allclose(a[512:518, :2], np.tile([0.5 / 8, 0.5 / 8], (6, 1)))
    np.testing.assert_allclose(a[-1, :2], [7.5 / 8, 7.5 / 8])


def test_full_range_has_2304_anchors_one_per_cell_of_a_48x48_grid():
    a = ssd_anchors(FULL_RANGE)
    assert a.shape == (2304, 4)
    np.testing.assert_allclose(a[0, :2], [0.5 / 48, 0.5 / 48])
    np.testing.assert_allclose(a[1, :2], [1.5 / 48, 0.5 / 48])
    np.testing.assert_allclose(a[48, :2], [0.5 / 48, 1.5 / 48])
    np.testing.assert_allclose(a[-1, :2], [47.5 / 48, 47.5 / 48])


@pytest.mark.parametrize("opts", [SHORT_RANGE, FULL_RANGE])
def test_fixed_anchor_size_means_unit_width_and_height(opts):
    a = ssd_anchors(opts)
    assert np.all(a[:, 2:] == 1.0)
    assert not a.flags.writeable


def test_anchor_sizes_follow_scales_when_not_fixed():
    opts = AnchorOptions(input_size=128, num_layers=4, strides=(8, 16, 16, 16),
                         fixed_anchor_size=False)
    a = ssd_anchors(opts)
    assert a.shape == (896, 4)
    # First layer scale is min_scale; its interpolated anchor is sqrt(s0 * s1).
    assert a[0, 2] == pytest.approx(0.1484375, rel=1e-5)
    s1 = 0.1484375 + (0.75 - 0.1484375) / 3
    assert a[1, 2] == pytest.approx(np.sqrt(0.1484375 * s1), rel=1e-5)
