"""TrainConfig presets, overrides and validation."""
import pytest

from tipsd.model.config import GAMMA_NAMES, PRESETS, config_keys, make_config, parse_overrides
from tipsd.model.errors import ConfigError


def test_presets_build_and_override_types():
    for name in PRESETS:
        assert make_config(name).preset == name
    cfg = make_config("tiny", {"gamma_s": "0.5", "epochs": "3", "widths": "4,8", "augment": "false"})
    assert (cfg.gamma_s, cfg.epochs, cfg.widths, cfg.augment) == (0.5, 3, (4, 8), False)
    assert GAMMA_NAMES == ("gamma_info", "gamma_s", "gamma_com", "gamma_var", "gamma_red")


def test_unknown_key_lists_valid_ones():
    with pytest.raises(ConfigError, match=r"unknown config key 'gama_s'; valid keys: preset, gamma_info"):
        make_config("tiny", {"gama_s": 1})
    assert "gamma_red" in config_keys()


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"gamma_var": -0.1}, r"gamma_var: -0.1 must be a finite weight >= 0"),
        ({"gamma_info": "nan"}, r"gamma_info: nan must be a finite weight"),
        ({"input_height": 50}, r"50x\d+ is impossible"),
        ({"epochs": "two"}, r"epochs: 'two' is not a valid int"),
        ({"batch_size": 0}, r"batch_size: 0 must be >= 1"),
        ({"device": "tpu"}, r"device: 'tpu' is not one of"),
        ({"heatmap_stride": 3}, r"heatmap_stride: 3 is not one of 4, 2, 1"),
        ({"decode": "soft"}, r"decode: 'soft' is not one of argmax, dark"),
        ({"ema": 1.0}, r"ema: 1.0 must be in \[0, 1\)"),
        ({"val_every": -1}, r"val_every: -1 must be >= 0"),
        ({"loss_balance": "gradnorm"}, r"loss_balance: 'gradnorm' is not one of none, init_grad"),
        ({"input_height": 72, "widths": "8,16,32"}, r"72x\d+ is impossible; both must be multiples of 16 \(for 3 branches\)"),
        ({"device": "cuda:first"}, r"device: 'cuda:first' is not one of"),
        ({"sigma": "nan"}, r"sigma: nan must be > 0"),
        ({"sigma": "inf"}, r"sigma: inf must be > 0"),
        ({"weight_decay": -1e-4}, r"weight_decay: -0.0001 must be a finite value >= 0"),
        ({"weight_decay": "nan"}, r"weight_decay: nan must be a finite value >= 0"),
    ],
)
def test_bad_values_are_rejected_with_key_and_value(overrides, message):
    with pytest.raises(ConfigError, match=message):
        make_config("tiny", overrides)


def test_unknown_preset_and_malformed_set():
    with pytest.raises(ConfigError, match=r"unknown preset 'huge'; valid presets: tiny, quick, paper"):
        make_config("huge")
    assert parse_overrides(["a=1", " b = x "]) == {"a": "1", "b": "x"}
    with pytest.raises(ConfigError, match=r"--set 'noequals': expected key=value"):
        parse_overrides(["noequals"])
