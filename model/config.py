"""Training configuration: one frozen dataclass, three presets, type-checked overrides.

Every default is written once, here. `make_config(preset, overrides)` is the only way the CLI and the
sweep driver build a config: an unknown key is an error that lists the valid ones, a value is coerced
to the default's type or rejected, and the five loss weights must be finite and >= 0.
"""
from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import dataclass
from typing import Any, Mapping

from tipsd.model.errors import ConfigError

# The five loss weights, in the order the paper names them. Every layer of tipsd uses these names.
GAMMA_NAMES = ("gamma_info", "gamma_s", "gamma_com", "gamma_var", "gamma_red")
# The unweighted loss terms every run reports (tipsd.model.net.losses.TERM_NAMES, plus the total).
LOSS_NAMES = ("L_loc", "L_s", "L_com", "L_var", "L_red", "total")


@dataclass(frozen=True)
class TrainConfig:
    """Everything one training run depends on. Two equal configs give the same result."""

    preset: str = "quick"  # name of the preset these values started from (recorded, not used)
    # --- loss weights: L = L_loc + g_s*L_s + g_info*(g_com*L_com + g_var*L_var + g_red*L_red)
    gamma_info: float = 1.0  # weight of the information-theoretic block as a whole
    gamma_s: float = 0.1  # interim pose synthesis + distillation
    gamma_com: float = 1.0  # task-relevant complementary information (maximised)
    gamma_var: float = 1.0  # diversity of each part-group feature
    gamma_red: float = 1.0  # redundancy between key-frame and complementary features
    seed: int = 0  # seeds data order, augmentation and initialisation
    # Seeds the network's initial weights instead of `seed` when >= 0: every seed then starts from
    # the same weights, as runs fine-tuned from one pretrained backbone do (docs/model.md).
    init_seed: int = -1
    # --- data
    data: str = "synth:quick"  # a PoseTrack18-format folder, or "synth:<preset>" (generated, cached)
    cache_dir: str = ""  # where generated data and decoded crops live; "" = ~/.cache/tipsd
    delta: int = 1  # frame offset of the two neighbour frames (t-delta, t+delta)
    input_height: int = 128  # crop height fed to the network (pixels)
    input_width: int = 96  # crop width; heatmaps are input/4
    sigma: float = 1.5  # std of the Gaussian heatmap targets, in heatmap pixels
    heatmap_stride: int = 4  # input pixels per heatmap pixel: 4 (HRNet), 2 or 1 (deconvolution head)
    decode: str = "argmax"  # heatmap -> joint: "argmax" (HRNet quarter-pixel shift) or "dark" (DARK)
    box_enlarge: float = 1.25  # person boxes (GT bbox) are enlarged by this factor around their centre
    augment: bool = True  # flip / scale / rotation on training crops
    flip_prob: float = 0.5  # probability of a horizontal flip (left/right labels swapped)
    rotation: float = 30.0  # rotation std in degrees (clipped at 1.5x; applied to 60 % of crops)
    scale_jitter: float = 0.25  # scale std (clipped at +-1x; at most 0.25, the crop cache's margin)
    max_train_samples: int = 0  # cap on training samples per epoch (0 = all)
    max_val_samples: int = 0  # cap on validation samples (0 = all)
    # --- network
    widths: tuple[int, ...] = (16, 32, 64)  # channels of each resolution branch (HRNet-style)
    blocks: int = 1  # residual blocks per branch per stage
    feat_dim: int = 32  # dimension of the part-group / complementary embeddings
    # --- optimisation
    epochs: int = 6
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-4
    grad_clip: float = 5.0  # max global gradient norm per step (0 = no clipping)
    # "none": the gammas multiply the raw terms. "init_grad": each of L_s, L_com, L_var, L_red is first
    # scaled by a fixed factor, |grad L_loc| / |grad L_k| on the backbone at step 0, so that gamma = 1
    # means "as strong a pull on the shared features as L_loc" (docs/model.md, "Loss balance").
    loss_balance: str = "none"
    ema: float = 0.0  # decay of an exponential moving average of the weights used for validation (0 = off)
    val_every: int = 1  # validate every n-th epoch (0 = after the last epoch only); the last is always validated
    # --- runtime
    device: str = "auto"  # "auto" = CUDA when present, else CPU; or "cpu", "cuda", "cuda:1"
    threads: int = 0  # torch intra-op threads on the CPU (0 = torch's default); part of the result's identity
    amp: bool = True  # bf16 autocast on CUDA (ignored on the CPU)
    compile: bool = True  # torch.compile the network on CUDA (eager if it cannot compile; ignored on the CPU)
    # --- testing aid: make one loss term non-finite at one step, so a real divergence can be tested
    debug_nan_term: str = ""  # "" = off; else one of L_loc, L_s, L_com, L_var, L_red, total
    debug_nan_step: int = 0  # global optimisation step (0-based) at which debug_nan_term becomes NaN


PRESETS: dict[str, dict[str, Any]] = {
    # Trains in seconds on a 2-core CPU: for tests only, the numbers mean little.
    "tiny": dict(
        data="synth:tiny", input_height=64, input_width=48, widths=(8, 16), feat_dim=16,
        epochs=10, batch_size=8, lr=3e-3, threads=1,
    ),
    # The CPU default: Table I (48 runs) in at most 15 min on a 2-core CPU with 2 workers. Every value
    # below was chosen by measurement: docs/model.md, "The quick preset".
    "quick": dict(
        data="synth:quick", input_height=64, input_width=48, widths=(16, 32), epochs=6,
        batch_size=32, lr=7e-3, sigma=2.0, threads=1, augment=False, box_enlarge=0.9, decode="dark",
        val_every=0, loss_balance="init_grad",
    ),
    # GPU: the paper's input size and HRNet-W48-like widths.
    "paper": dict(
        data="synth:paper", input_height=384, input_width=288, widths=(48, 96, 192, 384),
        blocks=2, feat_dim=128, epochs=20, batch_size=32, lr=1e-3,
    ),
}


def config_keys() -> list[str]:
    """Names of every settable config key, in declaration order."""
    return [f.name for f in dataclasses.fields(TrainConfig)]


def _coerce(key: str, value: Any, default: Any) -> Any:
    """Convert `value` (often a CLI string) to the type of `default`, or raise ConfigError."""
    try:
        if isinstance(default, bool):
            if isinstance(value, str):
                low = value.strip().lower()
                if low in ("1", "true", "yes", "on"):
                    return True
                if low in ("0", "false", "no", "off"):
                    return False
                raise ValueError
            if isinstance(value, (bool, int)) and value in (0, 1):
                return bool(value)
            raise ValueError
        if isinstance(default, int):
            if isinstance(value, bool):
                raise ValueError
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        if isinstance(default, float):
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if isinstance(default, tuple):
            if isinstance(value, str):
                value = [v for v in value.replace("(", "").replace(")", "").split(",") if v.strip()]
            return tuple(int(v) for v in value)
        if isinstance(default, str):
            if not isinstance(value, str):
                raise ValueError
            return value
    except (TypeError, ValueError):
        pass
    raise ConfigError(f"config key {key}: {value!r} is not a valid {type(default).__name__}")


def validate(cfg: TrainConfig) -> TrainConfig:
    """Check value ranges; returns `cfg` unchanged or raises ConfigError naming key and value."""
    for name in GAMMA_NAMES:
        v = getattr(cfg, name)
        if not math.isfinite(v) or v < 0:
            raise ConfigError(f"config key {name}: {v!r} must be a finite weight >= 0")
    unit = 4 * 2 ** (len(cfg.widths) - 1)  # the stem's stride 4, halved once per further branch
    if cfg.input_height < 32 or cfg.input_width < 32 or cfg.input_height % unit or cfg.input_width % unit:
        raise ConfigError(
            f"config keys input_height/input_width: {cfg.input_height}x{cfg.input_width} is impossible; "
            f"both must be multiples of {unit} (for {len(cfg.widths)} branches) and at least 32"
        )
    positive = ("delta", "epochs", "batch_size", "blocks", "feat_dim")
    for name in positive:
        if getattr(cfg, name) < 1:
            raise ConfigError(f"config key {name}: {getattr(cfg, name)!r} must be >= 1")
    for name in ("threads", "max_train_samples", "max_val_samples"):
        if getattr(cfg, name) < 0:
            raise ConfigError(f"config key {name}: {getattr(cfg, name)!r} must be >= 0")
    if not cfg.widths or any(w < 1 for w in cfg.widths):
        raise ConfigError(f"config key widths: {cfg.widths!r} must be one or more positive ints")
    if not (cfg.lr > 0 and math.isfinite(cfg.lr)):
        raise ConfigError(f"config key lr: {cfg.lr!r} must be > 0")
    if not (cfg.sigma > 0 and math.isfinite(cfg.sigma)):
        raise ConfigError(f"config key sigma: {cfg.sigma!r} must be > 0")
    if not (cfg.weight_decay >= 0 and math.isfinite(cfg.weight_decay)):
        raise ConfigError(f"config key weight_decay: {cfg.weight_decay!r} must be a finite value >= 0")
    if cfg.heatmap_stride not in (1, 2, 4):
        raise ConfigError(f"config key heatmap_stride: {cfg.heatmap_stride!r} is not one of 4, 2, 1")
    if cfg.decode not in ("argmax", "dark"):
        raise ConfigError(f"config key decode: {cfg.decode!r} is not one of argmax, dark")
    if not (cfg.grad_clip >= 0 and math.isfinite(cfg.grad_clip)):
        raise ConfigError(f"config key grad_clip: {cfg.grad_clip!r} must be a finite value >= 0")
    if cfg.loss_balance not in ("none", "init_grad"):
        raise ConfigError(f"config key loss_balance: {cfg.loss_balance!r} is not one of none, init_grad")
    if not (0.0 <= cfg.ema < 1.0):
        raise ConfigError(f"config key ema: {cfg.ema!r} must be in [0, 1)")
    if cfg.val_every < 0:
        raise ConfigError(f"config key val_every: {cfg.val_every!r} must be >= 0")
    if cfg.debug_nan_term and cfg.debug_nan_term not in LOSS_NAMES:
        raise ConfigError(
            f"config key debug_nan_term: {cfg.debug_nan_term!r} is not one of {', '.join(LOSS_NAMES)}"
        )
    if cfg.debug_nan_step < 0:
        raise ConfigError(f"config key debug_nan_step: {cfg.debug_nan_step!r} must be >= 0")
    dev = cfg.device
    if not (dev in ("auto", "cpu", "cuda") or (dev.startswith("cuda:") and dev[5:].isdigit())):
        raise ConfigError(f"config key device: {dev!r} is not one of auto, cpu, cuda, cuda:N")
    return cfg


def make_config(preset: str = "quick", overrides: Mapping[str, Any] | None = None) -> TrainConfig:
    """Build a validated TrainConfig from a preset name and key=value overrides.

    Args:
        preset: one of `PRESETS` ("tiny", "quick", "paper").
        overrides: config keys to change; values may be strings (from ``--set key=value``).

    Returns:
        The frozen, validated config.

    Example:
        >>> make_config("tiny", {"gamma_s": "0.5"}).gamma_s
        0.5
    """
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; valid presets: {', '.join(PRESETS)}")
    base = dataclasses.replace(TrainConfig(), preset=preset, **PRESETS[preset])
    changes: dict[str, Any] = {}
    valid = config_keys()
    for key, value in (overrides or {}).items():
        if key not in valid:
            close = difflib.get_close_matches(str(key), list(valid), n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"valid keys: {', '.join(valid)}"
            raise ConfigError(f"unknown config key {key!r}; {hint}")
        changes[key] = _coerce(key, value, getattr(base, key))
    return validate(dataclasses.replace(base, **changes))


def parse_overrides(pairs: list[str] | None) -> dict[str, str]:
    """Turn ``["a=1", "b=x"]`` (the CLI's ``--set``) into a dict; malformed pairs raise ConfigError."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {pair!r}: expected key=value")
        out[key.strip()] = value.strip()
    return out


def config_to_dict(cfg: TrainConfig) -> dict[str, Any]:
    """A JSON-serialisable dict of the config (tuples become lists)."""
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(cfg).items()}


__all__ = [
    "GAMMA_NAMES", "LOSS_NAMES", "PRESETS", "TrainConfig", "config_keys", "config_to_dict", "make_config",
    "parse_overrides", "validate",
]
