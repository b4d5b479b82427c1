"""benchmarks/gpu.py runs on the CPU with --tiny (what CI runs) and reports every ratio it promises."""
from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def gpu_bench():
    spec = importlib.util.spec_from_file_location("bench_gpu", ROOT / "benchmarks" / "gpu.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tiny_run_measures_a_to_d_side_by_side(gpu_bench, capsys):
    m = gpu_bench.measure(tiny=True, steps=1, ks=[2])
    rows = m["a"]["rows"]
    assert sorted(rows) == [1, 2] and rows[1]["ratio"] == 1.0
    assert rows[2]["ratio"] == pytest.approx(2 * rows[1]["step_s"] / rows[2]["step_s"])
    assert rows[2]["per_setting_s"] == pytest.approx(rows[2]["step_s"] / 2)
    assert m["a"]["steps_per_run"] == 4 * 10  # 32 clips / batch 8, 10 tiny epochs
    assert rows[1]["runs_per_hour"] == pytest.approx(3600 / (rows[1]["step_s"] * 40))
    bc = m["bc"]
    assert bc["ratio"] == pytest.approx(bc["tipsd_step_s"] / bc["single_step_s"])
    assert bc["frames_per_s"] == pytest.approx(3 * 2 / bc["tipsd_step_s"])
    assert bc["utilisation"] is None and bc["peak_mem_mb"] > 0 and bc["device"] == "cpu"
    assert m["d"]["seconds"] > 0 and math.isfinite(m["d"]["total"])
    text = gpu_bench.report(m)
    assert text.splitlines()[0].startswith("(a) runs/hour, Table II slice on tiny (cpu, 40 steps per run")
    assert "K=2" in text and "GPU utilisation n/a" in text and "(d) full tiny run (cpu)" in text
    assert gpu_bench.main(["--tiny", "--steps", "1", "--k", "2", "--skip-full-run"]) == 0
    assert "(d) full run: skipped" in capsys.readouterr().out
