"""User-facing text: did-you-mean for names and values, and values written as a user reads them (no
Python reprs such as None, True, [1, 2] or {'a': 1} in a message)."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from tipsd.analysis.names import closest_value, did_you_mean, user_text
from tipsd.analysis.signal import blocked_anova, one_way_anova
from tipsd.sweep.figures import FigureError, Setting, _same_data


def test_did_you_mean_names_the_closest_or_lists_them():
    assert did_you_mean("gama_s", ["gamma_info", "gamma_s"]) == "; did you mean gamma_s?"
    assert did_you_mean("gamma_inf", ["gamma_info", "gamma_s"]) == "; did you mean gamma_info?"
    assert did_you_mean("xyz", ["gamma_info", "gamma_s"]) == "; expected one of: gamma_info, gamma_s"


def test_closest_value_by_absolute_difference():
    assert closest_value(0.2, [0.0, 0.1, 1.0]) == 0.1
    assert closest_value(3.0, [1.0, 5.0]) == 1.0  # a tie: the first
    assert closest_value(3.0, []) is None


def test_user_text_writes_no_python_repr():
    assert [user_text(v) for v in (None, True, False, [0.1, 1], (2,), {"epochs": 2, "ema": None}, 1.5)] == [
        "unset", "true", "false", "0.1, 1", "2", "epochs=2, ema=unset", "1.5"]


def test_settings_trained_on_other_data_are_named_without_reprs():
    base = dict(data="synth:tiny", input_height=64, input_width=48, delta=1, heatmap_stride=4, box_enlarge=1.25,
                max_val_samples=None)
    one = Setting("a", None, SimpleNamespace(**base))
    two = Setting("b", None, SimpleNamespace(**{**base, "max_val_samples": 32}))
    with pytest.raises(FigureError) as err:
        _same_data([one, two])
    assert str(err.value) == ("b and a were trained on different data or crops (max_val_samples: 32 vs unset); "
                              "a figure compares the same clips")


def test_anova_errors_give_sizes_as_text():
    with pytest.raises(ValueError, match=r"got group sizes 1, 1$"):
        one_way_anova(np.array([[1.0], [2.0]]))
    with pytest.raises(ValueError, match=r"got 2 x 1$"):
        blocked_anova(np.array([[1.0], [2.0]]))
