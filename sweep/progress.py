"""Progress while a study runs: a tqdm bar with ETA over the study's jobs, one line per finished trial."""
from __future__ import annotations

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
    """A tqdm bar over `total` jobs that starts at `initial` (jobs already settled when resuming).

    Example:
        >>> bar = Progress("table1", total=32, initial=5); bar.set(6); bar.close()  # doctest: +SKIP
    """

    def __init__(self, name: str, total: int, initial: int, enabled: bool = True):
        from tqdm import tqdm

        self._bar = tqdm(total=total, initial=min(initial, total), desc=name, unit="run",
                         file=sys.stderr, disable=not enabled, dynamic_ncols=True)

    def set(self, settled: int) -> None:
        """Move the bar to `settled` jobs (never backwards)."""
        delta = min(settled, self._bar.total) - self._bar.n
        if delta > 0:
            self._bar.update(delta)

    def write(self, line: str) -> None:
        """Print a line above the bar."""
        self._bar.write(line, file=sys.stdout)

    def close(self) -> None:
        """Finish the bar."""
        self._bar.close()


class Poller:
    """Polls `count()` every `interval` seconds in a thread and moves `bar` (for worker processes,
    which cannot share the parent's bar)."""

    def __init__(self, bar: Progress, count: Callable[[], int], interval: float = 2.0):
        self._bar, self._count, self._interval = bar, count, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="tipsd-progress")

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._bar.set(self._count())
            except Exception:  # progress is cosmetic; a failed read must not stop the sweep
                pass

    def __enter__(self) -> "Poller":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
