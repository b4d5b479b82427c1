"""train_batched(): K settings on one batch stream give what K separate `train` calls give (on the CPU),
a diverging or pruned setting ends alone; the GPU speed-ups are decided by pure functions."""
from __future__ import annotations

import pytest
import torch

from tipsd.model.config import make_config
from tipsd.model.device_plan import DevicePlan, auto_batch_trials, crops_on_device, device_plan
from tipsd.model.errors import ConfigError, DivergenceError
from tipsd.model.train import train
from tipsd.model.train_batched import check_batchable, train_batched

# Short tiny runs: 3 epochs of 64 clips (8 steps each). On the CPU a member takes exactly the steps
# `train` takes, so the stated tolerance (1e-6 absolute, on metrics in percent and on loss terms)
# only allows for summation order; the measured difference is 0.
FAST = {"epochs": 3, "max_train_samples": 64, "max_val_samples": 48}
TOL = 1e-6


def _cfg(**extra):
    return make_config("tiny", {**FAST, **extra})


@pytest.fixture(scope="module")
def batched():
    configs = [_cfg(gamma_s=0.1), _cfg(gamma_s=1.0, gamma_info=0.0),
               _cfg(gamma_s=0.5, debug_nan_term="L_com", debug_nan_step=10)]
    return train_batched(configs)


def test_each_member_equals_its_own_run_one_at_a_time(batched):
    for member, overrides in zip(batched[:2], [dict(gamma_s=0.1), dict(gamma_s=1.0, gamma_info=0.0)]):
        alone = train(_cfg(**overrides))
        assert member.metrics == pytest.approx(alone.metrics, abs=TOL)
        assert member.joint_ap == pytest.approx(alone.joint_ap, abs=TOL)
        assert member.losses == pytest.approx(alone.losses, abs=TOL)
        assert [h["Total"] for h in member.history] == pytest.approx([h["Total"] for h in alone.history], abs=TOL)
        assert member.config["gamma_s"] == overrides["gamma_s"]
    assert batched[0].losses != batched[1].losses  # different weights really trained differently


def test_a_diverging_member_fails_alone_with_its_step_and_term(batched):
    err = batched[2]
    assert isinstance(err, DivergenceError)
    assert "step 10" in str(err) and "L_com" in str(err)
    assert batched[0].metrics["Total"] > 0 and len(batched[0].history) == FAST["epochs"]


def test_an_on_epoch_error_ends_that_member_only():
    class Stop(Exception):
        pass

    seen = []

    def on_epoch(k, epoch, metrics):
        seen.append((k, epoch))
        if k == 0 and epoch == 0:
            raise Stop("pruned at 0")

    results = train_batched([_cfg(epochs=2, gamma_s=0.1), _cfg(epochs=2, gamma_s=2.0)], on_epoch=on_epoch)
    assert isinstance(results[0], Stop) and str(results[0]) == "pruned at 0"
    assert seen == [(0, 0), (1, 0), (1, 1)]
    assert [h["epoch"] for h in results[1].history] == [0, 1]


def test_configs_that_cannot_share_a_stream_are_refused():
    with pytest.raises(ConfigError, match=r"config 1 has seed=1, config 0 has seed=0"):
        check_batchable([_cfg(), _cfg(seed=1)])
    with pytest.raises(ConfigError, match="no configs given"):
        check_batchable([])
    check_batchable([_cfg(gamma_red=0.0), _cfg(gamma_com=5.0, debug_nan_term="total")])  # weights may differ


def test_device_plan_is_off_on_the_cpu_and_on_for_cuda():
    assert device_plan("cpu", amp=True, compile=True) == DevicePlan()
    assert device_plan("mps", amp=True, compile=True) == DevicePlan()
    assert device_plan("cuda", amp=True, compile=True) == DevicePlan(True, True, True, True)
    assert device_plan("cuda", amp=False, compile=True, compile_available=False) == DevicePlan(False, True, True, False)


def test_crops_go_to_the_gpu_only_when_they_fit():
    gib = 2**30
    assert crops_on_device("cuda", 4 * gib, 10 * gib)  # 40 % of the free memory
    assert not crops_on_device("cuda", 4 * gib + 1, 10 * gib)
    assert not crops_on_device("cpu", 1, 10 * gib)


def test_auto_batch_trials_from_free_memory_and_one_on_the_cpu():
    gib = 2**30
    assert auto_batch_trials("cuda", 10 * gib, gib) == 8  # floor(0.8 * 10)
    assert auto_batch_trials("cuda", 10 * gib, 100 * gib) == 1  # not even one fits: still 1
    assert auto_batch_trials("cuda", 1000 * gib, 1, limit=16) == 16
    assert auto_batch_trials("cpu", 1000 * gib, 1) == 1


def test_a_compile_that_fails_falls_back_to_eager_once():
    from tipsd.model.member import build_member
    from tipsd.model.run_data import prepare_data

    cfg = _cfg(epochs=1)
    data = prepare_data(cfg, torch.device("cpu"))
    member = build_member(cfg, torch.device("cpu"), data.steps_per_epoch)
    eager = member.net.forward
    calls = []

    def broken(*args, **kwargs):
        calls.append(1)
        raise RuntimeError("inductor: no C compiler\nsecond line")

    member._eager_forward, member.net.forward = eager, broken  # what build_member does with plan.compile
    batch, alpha = next(data.epoch_batches(cfg, 0))
    with pytest.warns(UserWarning, match=r"torch.compile failed \(RuntimeError: inductor: no C compiler\); training eagerly"):
        row = member.step(batch, alpha, 0)
    assert calls == [1] and member.net.forward == eager and member._eager_forward is None
    assert row.shape == (6,) and torch.isfinite(row).all()


def test_loss_balance_factors_are_each_members_own_and_match_one_at_a_time():
    configs = [_cfg(epochs=1, loss_balance="init_grad", gamma_s=g) for g in (0.1, 5.0)]
    results = train_batched(configs)
    for cfg, member in zip(configs, results):
        alone = train(cfg)
        assert member.loss_scales == pytest.approx(alone.loss_scales, abs=TOL) and member.loss_scales["L_loc"] == 1.0
        assert member.losses == pytest.approx(alone.losses, abs=TOL)
