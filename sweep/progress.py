"""Progress while a study runs: a tqdm bar (plain lines off a terminal) with an ETA from training runs, one
line per finished trial."""
from __future__ import annotations

import math
import statistics
import sys
import threading
from typing import Callable

from tipsd.model.record import number_text
from tipsd.sweep.train_job import Outcome


def summary_line(outcome: Outcome, searched: list[str], worker: int | None = None) -> str:
    """One line for a finished trial, e.g.
    ``trial 7  gamma_info=1 gamma_s=0.1  seed 0  COMPLETE 45.31  58.2 s``
    (docs/sweep.md); a fail or prune reason follows the state in parentheses.

    Args:
        outcome: what `train_job` returned.
        searched: names of the searched weights (only those are shown).
        worker: worker index, shown when several workers share the terminal.
    """
    job = outcome.job
    cell = " ".join(f"{n}={number_text(job.gammas[n])}" for n in searched if n in job.gammas)
    who = f"[w{worker}] " if worker is not None else ""
    what = outcome.state
    if outcome.value is not None:
        what += f" {outcome.value:.2f}"
    if outcome.reason:
        what += f" ({outcome.reason})"
    return f"{who}trial {outcome.number}  {cell}  seed {job.seed}  {what}  {outcome.total_s:.1f} s"


class Progress:
    """Progress over `total` jobs that starts at `initial` (jobs already settled when resuming).

    On a terminal: a tqdm bar on `file`; lines (`write`) go above it through tqdm's write, so a line
    never shares a row with the bar. Elsewhere (a log, a pipe, a test's capture): no bar, a plain
    ``NAME: 5/48 runs settled, ETA 12 min`` line on `file` each time the count moves, so nothing
    is written with a carriage return and the final count is printed once.

    The ETA comes from training runs only: the median of `run_seconds` over the runs finished so
    far, times the rounds left (jobs left / workers). tqdm's own rate would count the first runs'
    data generation and crop-cache build as if every run paid them. While every trial of this
    session has failed, there is no ETA: the text says how many failed and the first reason.

    Example:
        >>> bar = Progress("table1", total=32, initial=5); bar.set(6); bar.close()  # doctest: +SKIP
    """

    def __init__(self, name: str, total: int, initial: int, enabled: bool = True, *, workers: int = 1,
                 file=None, out=None):
        from tqdm import tqdm

        self._name, self._total, self._workers = name, total, max(1, workers)
        self._file, self._out = file or sys.stderr, out
        self._n = min(initial, total)
        self._seconds: list[float] = []
        self._failed, self._first_reason = 0, ""  # this session's FAIL trials (none finished otherwise)
        self._lock = threading.Lock()
        self._enabled = enabled
        self._tty = enabled and _is_terminal(self._file)
        self._bar = tqdm(total=total, initial=self._n, desc=name, unit="run", file=self._file,
                         disable=not self._tty, dynamic_ncols=True,
                         bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]")
        self._bar.set_postfix_str(self.eta(), refresh=False)

    def eta(self) -> str:
        """``"ETA 12 min"`` from the training runs finished so far (``"ETA after the first run"`` before);
        while every trial of this session has failed, ``"no ETA: all 3 trials so far failed (first: REASON)"``,
        and ``"done; all 8 trials failed (first: REASON)"`` at the end."""
        left = self._total - self._n
        all_failed = self._failed and not self._seconds
        if left <= 0:
            return f"done; {failures_text(self._failed, self._first_reason)}" if all_failed else "done"
        if all_failed:
            return f"no ETA: {failures_text(self._failed, self._first_reason, so_far=True)}"
        if not self._seconds:
            return "ETA after the first run"
        seconds = statistics.median(self._seconds) * math.ceil(left / self._workers)
        return f"ETA {_duration(seconds)}"

    def finished(self, outcome: Outcome) -> None:
        """Count `outcome`'s run time (without its data set-up) into the ETA, or its failure."""
        with self._lock:
            if outcome.state in ("COMPLETE", "PRUNED") and outcome.total_s > 0:
                self._seconds.append(run_seconds(outcome))
            elif outcome.state == "FAIL":
                self._failed += 1
                self._first_reason = self._first_reason or outcome.reason

    def set(self, settled: int, total: int | None = None) -> None:
        """Move to `settled` jobs (never backwards), out of `total` when given (a racing study's plan
        grows as its rounds are decided)."""
        with self._lock:
            if total is not None and total != self._total:
                self._total = self._bar.total = max(total, self._n)
                if settled <= self._n and self._tty:
                    self._bar.set_postfix_str(self.eta(), refresh=False)
                    self._bar.refresh()
            settled = min(settled, self._total)
            if settled <= self._n:
                return
            delta, self._n = settled - self._n, settled
            if self._tty:
                self._bar.set_postfix_str(self.eta(), refresh=False)
                self._bar.update(delta)
            elif self._enabled:
                print(f"{self._name}: {self._n}/{self._total} runs settled, {self.eta()}", file=self._file, flush=True)

    def write(self, line: str) -> None:
        """Print a line (above the bar on a terminal)."""
        out = self._out or sys.stdout
        with self._lock:
            if self._tty:
                self._bar.write(line, file=out)
            else:
                print(line, file=out)
            out.flush()

    def close(self) -> None:
        """Finish the bar (once)."""
        self._bar.close()


def failures_text(n: int, first_reason: str, so_far: bool = False) -> str:
    """``"all 8 trials failed (first: REASON)"``: what a session whose every trial failed says instead of
    an ETA or a count of runs done (`Progress.eta`, the `tipsd run` summary)."""
    return f"all {n} trials {'so far ' if so_far else ''}failed (first: {first_reason or 'no reason recorded'})"


def run_seconds(outcome: Outcome) -> float:
    """A run's seconds from claim to tell, less what its training function spent outside the epochs
    (data generation and the crop cache on first use): what every further run will take."""
    return max(outcome.total_s - max(outcome.train_s - outcome.fit_s, 0.0), 0.0) if outcome.fit_s else outcome.total_s


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _duration(seconds: float) -> str:
    """``"45 s"``, ``"12 min"``, ``"1 h 43 min"``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


class Poller:
    """Polls `count()` (``(settled, total)``) every `interval` seconds in a thread and moves `bar`
    (for worker processes, which cannot share the parent's bar)."""

    def __init__(self, bar: Progress, count: Callable[[], tuple[int, int]], interval: float = 2.0):
        self._bar, self._count, self._interval = bar, count, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="tipsd-progress")

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._bar.set(*self._count())
            except Exception:  # progress is cosmetic; a failed read must not stop the sweep
                pass

    def __enter__(self) -> "Poller":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
