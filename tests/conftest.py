"""Shared pytest set-up: one thread per test process (2-core machines), a per-session cache folder,
figures closed after each test."""
from __future__ import annotations

import os
import tempfile

import pytest

# Every generated dataset and decoded-crop cache of this test session lands here, so tests share
# them and never touch the user's ~/.cache/tipsd. An outer TIPSD_CACHE_DIR (e.g. in CI) wins.
os.environ.setdefault("TIPSD_CACHE_DIR", tempfile.mkdtemp(prefix="tipsd-test-cache-"))
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def _single_thread_and_close_figures():
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover - torch is a hard dependency
        pass
    yield
    import sys

    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")
