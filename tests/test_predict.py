"""Heatmap decoding: HRNet's argmax + quarter pixel, and DARK's sub-pixel maximum."""
from __future__ import annotations

import pytest
import torch

from tipsd.model.predict import dark_refine, decode_heatmaps
from tipsd.model.train_step import render_gaussians


def _targets(xy_heatmap, size=(16, 12), sigma=2.0):
    return render_gaussians(torch.tensor([xy_heatmap], dtype=torch.float64) * 4, size, sigma)


def test_dark_recovers_a_gaussian_centre_that_argmax_rounds():
    xy_true = [[6.3, 7.6], [3.9, 5.2], [8.45, 10.05]]
    hm = _targets(xy_true)
    argmax, _ = decode_heatmaps(hm, "argmax")
    dark, peak = decode_heatmaps(hm, "dark")
    # argmax + quarter pixel: 6.25, 7.75 ... (errors up to 0.25 px); DARK: exact up to float rounding.
    assert torch.allclose(argmax[0, 0], torch.tensor([6.25, 7.75], dtype=argmax.dtype))
    torch.testing.assert_close(dark[0], torch.tensor(xy_true, dtype=dark.dtype), atol=2e-3, rtol=0)
    assert torch.all(peak > 0.9)


def test_dark_on_the_border_keeps_the_border_axis():
    hm = _targets([[1.2, 14.7], [0.0, 0.0]])
    xy, _ = dark_refine(hm, kernel=1)  # no smoothing: the log of a Gaussian is exactly quadratic
    assert float(xy[0, 0, 1]) == 15.0  # the last row: no neighbour below, the integer argmax stays
    assert abs(float(xy[0, 0, 0]) - 1.2) < 1e-3
    assert xy[0, 1].tolist() == [0.0, 0.0]


def test_dark_keeps_the_argmax_of_a_flat_or_non_peaked_map():
    hm = torch.zeros(1, 1, 8, 6)
    xy, peak = dark_refine(hm)
    assert xy[0, 0].tolist() == [0.0, 0.0] and float(peak[0, 0]) == 0.0


def test_unknown_decode_method_is_a_value_error():
    with pytest.raises(ValueError, match="'soft' is not one of argmax, dark"):
        decode_heatmaps(torch.zeros(1, 1, 4, 4), "soft")
