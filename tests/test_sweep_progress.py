"""Progress output: lines above the bar on a terminal, plain lines elsewhere, an ETA from training runs."""
from __future__ import annotations

import io
import re

from tipsd.sweep.jobs import Job
from tipsd.sweep.progress import Progress, run_seconds, summary_line
from tipsd.sweep.train_job import Outcome


class Terminal(io.StringIO):
    """A captured stream that says it is a terminal (so tqdm draws its bar)."""

    def isatty(self) -> bool:
        return True


def outcome(number: int, *, train_s: float = 10.0, fit_s: float = 10.0, total_s: float = 11.0) -> Outcome:
    job = Job(gammas={"gamma_info": 1.0, "gamma_s": 0.1}, seed=0)
    return Outcome(number=number, job=job, state="COMPLETE", value=15.0, train_s=train_s, fit_s=fit_s, total_s=total_s)


def test_on_a_terminal_lines_never_share_a_row_with_the_bar():
    screen = Terminal()
    bar = Progress("table1", total=4, initial=0, workers=2, file=screen, out=screen)
    for k in range(4):
        out = outcome(k)
        bar.finished(out)
        bar.write(summary_line(out, ["gamma_info", "gamma_s"], worker=k % 2))
        bar.set(k + 1)
    bar.close()
    rows = [row.split("\r")[-1] for row in screen.getvalue().split("\n")]  # what a terminal shows last
    trial_rows = [r for r in rows if "trial" in r]
    assert len(trial_rows) == 4
    assert all(re.fullmatch(r"\[w[01]\] trial \d  gamma_info=1 gamma_s=0\.1  seed 0  COMPLETE 15\.00  11\.0 s", r)
               for r in trial_rows), trial_rows
    assert "4/4" in rows[-2] and "table1" in rows[-2] and rows[-1] == ""


def test_off_a_terminal_plain_lines_without_carriage_returns_and_one_final_count():
    log = io.StringIO()
    bar = Progress("table1", total=4, initial=1, workers=2, file=log, out=log)
    assert bar.eta() == "ETA after the first run"
    # first run: 60 s in the training function of which 10 s are epochs (50 s generating data)
    first = outcome(0, train_s=60.0, fit_s=10.0, total_s=61.0)
    bar.finished(first)
    bar.write("trial 0 done")
    bar.set(2)
    bar.set(2)  # no move, no line
    bar.finished(outcome(1))
    bar.set(4)
    bar.close()
    text = log.getvalue()
    assert "\r" not in text
    assert text.splitlines() == ["trial 0 done", "table1: 2/4 runs settled, ETA 11 s", "table1: 4/4 runs settled, done"]


def test_eta_counts_training_runs_not_data_set_up():
    assert run_seconds(outcome(0, train_s=60.0, fit_s=10.0, total_s=61.0)) == 11.0
    assert run_seconds(outcome(0, train_s=5.0, fit_s=0.0, total_s=6.0)) == 6.0  # no history: all of it
    bar = Progress("t", total=100, initial=0, workers=2, file=io.StringIO(), enabled=False)
    bar.finished(outcome(0, train_s=60.0, fit_s=10.0, total_s=61.0))  # paid 50 s of data generation: 11 s
    bar.finished(outcome(1, train_s=10.0, fit_s=10.0, total_s=11.0))
    bar.finished(outcome(2, train_s=12.0, fit_s=12.0, total_s=13.0))
    bar.set(3)
    # median of 11, 11, 13 = 11 s per run, 97 left on 2 workers -> 49 rounds -> 539 s
    assert bar.eta() == "ETA 9 min"


def test_when_every_trial_fails_there_is_no_eta_and_the_end_says_so():
    log = io.StringIO()
    bar = Progress("t", total=2, initial=0, workers=1, file=log, out=log)
    failed = Outcome(number=0, job=Job(gammas={"gamma_s": 1.0}, seed=0), state="FAIL", total_s=3.0,
                     reason="DataError: x: split 'val' has no labelled person")
    bar.finished(failed)
    assert bar.eta() == "no ETA: all 1 trials so far failed (first: DataError: x: split 'val' has no labelled person)"
    bar.finished(Outcome(number=1, job=failed.job, state="FAIL", total_s=3.0, reason="RuntimeError: other"))
    bar.set(1)
    bar.finished(Outcome(number=2, job=failed.job, state="FAIL", total_s=3.0, reason=""))
    bar.set(2)
    bar.close()
    assert log.getvalue().splitlines() == [
        "t: 1/2 runs settled, no ETA: all 2 trials so far failed (first: DataError: x: split 'val' has no labelled person)",
        "t: 2/2 runs settled, done; all 3 trials failed (first: DataError: x: split 'val' has no labelled person)"]


def test_one_finished_run_brings_the_eta_back_after_failures():
    bar = Progress("t", total=3, initial=0, workers=1, file=io.StringIO(), enabled=False)
    bar.finished(Outcome(number=0, job=Job(gammas={"gamma_s": 1.0}, seed=0), state="FAIL", reason="boom"))
    bar.finished(outcome(1, train_s=10.0, fit_s=10.0, total_s=11.0))
    bar.set(1)
    assert bar.eta() == "ETA 22 s"  # 11 s per run x 2 left; the failure is no longer the whole story
    bar.set(3)
    assert bar.eta() == "done"
