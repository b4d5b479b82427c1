"""One network under training: its weights, optimiser, schedule, EMA, and the step that updates them.

`tipsd.model.train.train` trains one `Member`; `tipsd.model.train_batched.train_batched` trains K
members (K settings of the five loss weights) on one shared batch stream. Both call `Member.step`,
so a setting computes its loss, checks it and updates its weights the same way however it is run.
"""
from __future__ import annotations

import copy
import math
import warnings
from dataclasses import dataclass, field

import torch

from tipsd.model.config import GAMMA_NAMES, LOSS_NAMES, TrainConfig
from tipsd.model.device_plan import DevicePlan
from tipsd.model.errors import DivergenceError
from tipsd.model.net.losses import TERM_NAMES, total_loss
from tipsd.model.net.tipsd_net import TIPSDNet
from tipsd.model.train_step import init_grad_scales, loss_terms


class EMA:
    """An exponential moving average of a network's parameters (Polyak averaging).

    `decay` is warmed up as min(decay, (1 + step) / (10 + step)) (timm's ModelEmaV2 schedule) so
    that the early average is not dominated by the random initialisation.
    """

    def __init__(self, net: torch.nn.Module, decay: float):
        self.model = copy.deepcopy(net).eval()
        self.decay = decay
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, net: torch.nn.Module, step: int) -> None:
        d = min(self.decay, (1 + step) / (10 + step))
        ema = list(self.model.parameters())
        torch._foreach_lerp_(ema, [p.detach() for p in net.parameters()], 1 - d)


def check_finite(terms: torch.Tensor, total: torch.Tensor, step: int) -> None:
    """Raise DivergenceError naming the first non-finite term (or the total)."""
    values = torch.cat([terms.detach(), total.detach().view(1)]).tolist()
    for name, value in zip(LOSS_NAMES, values):
        if not math.isfinite(value):
            raise DivergenceError(step, name, value)


def lr_factor(step: int, total_steps: int) -> float:
    """Linear warm-up over the first 5 % of steps times a cosine decay to 0 over all steps.

    The cosine starts at step 0, so the warm-up's end is already slightly decayed (Adam on a fresh net).
    """
    warmup = max(1, total_steps // 20)
    return min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(step, total_steps) / total_steps))


@dataclass
class Member:
    """One setting's network and optimiser state (build it with `build_member`).

    Attributes:
        cfg: the run's config (its gammas, seed, optimiser keys).
        net: the network, on the device. ema: its EMA copy, or None (cfg.ema == 0).
        optimizer, schedule: AdamW and its LambdaLR (`lr_factor`).
        gammas: `(5,)` loss weights in `GAMMA_NAMES` order, on the device.
        sums: `(6,)` running sums of the unweighted terms and the total over the current epoch.
        plan: the device's speed-ups (`tipsd.model.device_plan`).
        scales: `(5,)` loss_balance factors of the terms (ones for "none"); None until the first step
            computes them for "init_grad" (`init_grad_scales`), then fixed and kept in checkpoints.
    """

    cfg: TrainConfig
    net: TIPSDNet
    ema: EMA | None
    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LambdaLR
    gammas: torch.Tensor
    plan: DevicePlan = field(default_factory=DevicePlan)
    scales: torch.Tensor | None = None
    sums: torch.Tensor = field(default_factory=lambda: torch.zeros(len(LOSS_NAMES)))
    _eager_forward: object = None  # the net's own forward while a compiled one is on trial

    def step(self, batch: dict[str, torch.Tensor], alpha: torch.Tensor, step: int) -> torch.Tensor:
        """One optimisation step on `batch` (`loss_terms`'s dict) with interim factors `alpha` `(B,)`.

        Returns the `(6,)` detached unweighted terms and total (also added to `sums`). Raises
        DivergenceError before the update when a term or the total is not finite, so a diverged
        step never writes NaN into the weights.
        """
        cfg, device = self.cfg, self.gammas.device
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=self.plan.amp):
            terms, _ = self._loss_terms(batch, alpha, cfg.sigma)  # (5,) float32
        if cfg.debug_nan_term and step == cfg.debug_nan_step and cfg.debug_nan_term != "total":
            nan_mask = torch.tensor([n == cfg.debug_nan_term for n in TERM_NAMES], device=device)
            terms = torch.where(nan_mask, torch.full_like(terms, float("nan")), terms)
        if self.scales is None:  # loss_balance = "init_grad": fixed from the first batch, kept in checkpoints
            self.scales = init_grad_scales(self.net, terms)
        loss = total_loss(terms * self.scales, self.gammas)
        if cfg.debug_nan_term == "total" and step == cfg.debug_nan_step:
            loss = loss * float("nan")
        check_finite(terms, loss, step)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        # Large gamma (5) can spike gradients early on; clipping keeps such cells trainable.
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.net.parameters(), cfg.grad_clip)
        self.optimizer.step()
        self.schedule.step()
        if self.ema is not None:
            self.ema.update(self.net, step)
        row = torch.cat([terms.detach(), loss.detach().view(1)]).float().cpu()
        self.sums += row
        return row

    def _loss_terms(self, batch, alpha, sigma):
        """`loss_terms`, falling back to the eager network if the first compiled call fails."""
        if self._eager_forward is None:
            return loss_terms(self.net, batch, alpha, sigma)
        try:
            result = loss_terms(self.net, batch, alpha, sigma)
        except (RuntimeError, AssertionError, ImportError, NotImplementedError) as err:  # torch._dynamo errors
            warnings.warn(f"torch.compile failed ({type(err).__name__}: {str(err).splitlines()[0][:200]}); "
                          "training eagerly", stacklevel=3)
            self.net.forward = self._eager_forward
            result = loss_terms(self.net, batch, alpha, sigma)
        self._eager_forward = None  # the compiled forward worked once: keep it
        return result

    def state(self) -> dict:
        """The checkpointable part: model, EMA, optimiser and schedule state dicts."""
        return {"model": self.net.state_dict(), "ema": self.ema.model.state_dict() if self.ema else None,
                "optimizer": self.optimizer.state_dict(), "schedule": self.schedule.state_dict(),
                "loss_scales": self.scales.cpu()}

    def load(self, state: dict) -> None:
        """Restore what `state()` returned."""
        self.net.load_state_dict(state["model"])
        if self.ema is not None:
            self.ema.model.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.scales = state["loss_scales"].to(self.gammas.device)

    def take_epoch_losses(self, steps: int) -> dict[str, float]:
        """The epoch's mean terms and total (`LOSS_NAMES`), and reset the sums."""
        losses = {name: float(v) / max(1, steps) for name, v in zip(LOSS_NAMES, self.sums.tolist())}
        self.sums.zero_()
        return losses

    @property
    def loss_scales(self) -> dict[str, float]:
        """The loss_balance factors per term (`TrainResult.loss_scales`)."""
        return dict(zip(TERM_NAMES, self.scales.tolist()))

    @property
    def eval_net(self) -> torch.nn.Module:
        """The network validation reads: the EMA copy when there is one."""
        return self.ema.model if self.ema is not None else self.net


def build_member(cfg: TrainConfig, device: torch.device, total_steps: int, plan: DevicePlan | None = None) -> Member:
    """A fresh network (initialised from `cfg.seed`), its AdamW, schedule and EMA, on `device`.

    Two calls with configs that differ only in their gammas give identical initial weights (from
    `cfg.init_seed` when it is >= 0, else `cfg.seed`).
    """
    plan = plan or DevicePlan()
    torch.manual_seed(cfg.seed if cfg.init_seed < 0 else cfg.init_seed)  # network initialisation
    net = TIPSDNet(cfg.widths, cfg.blocks, cfg.feat_dim, heatmap_stride=cfg.heatmap_stride).to(device)
    if plan.channels_last:
        net = net.to(memory_format=torch.channels_last)
    # Validation reads an exponential moving average of the weights when cfg.ema > 0 (a copy of the
    # network whose parameters trail the trained ones); the optimiser never sees it.
    ema = EMA(net, cfg.ema) if cfg.ema > 0 else None
    extra = {"fused": True} if plan.fused_adamw else {}
    optimizer = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, **extra)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, total_steps))
    gammas = torch.tensor([getattr(cfg, g) for g in GAMMA_NAMES], device=device)  # (5,) a tensor input, not a constant
    scales = None if cfg.loss_balance == "init_grad" else torch.ones(len(TERM_NAMES), device=device)  # (5,)
    member = Member(cfg, net, ema, optimizer, schedule, gammas, plan, scales=scales)
    if plan.compile:
        member._eager_forward = net.forward
        net.forward = torch.compile(net.forward)  # compiled lazily, at the first step (see _loss_terms)
    return member


__all__ = ["EMA", "Member", "build_member", "check_finite", "lr_factor"]
