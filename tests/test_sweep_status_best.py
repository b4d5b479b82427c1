"""`tipsd status` names the best *cell* (the seed mean of its runs), not the best single run."""
from __future__ import annotations

from tipsd.analysis.demo_study import make_study
from tipsd.sweep.status import format_status, study_status


def test_status_best_is_the_cell_with_the_best_seed_mean(tmp_path):
    url = f"sqlite:///{tmp_path}/s.db"
    # cell gamma_s=1: runs 10 and 0 (mean 5, best single run 10); cell gamma_s=0: 6 and 7 (mean 6.5)
    make_study(url, "s", [({"gamma_s": 1.0}, 0, 10.0), ({"gamma_s": 1.0}, 1, 0.0),
                          ({"gamma_s": 0.0}, 0, 6.0), ({"gamma_s": 0.0}, 1, 7.0)])
    rows = study_status(url)
    assert rows[0].best_value == 6.5
    text = format_status(rows, url)
    assert text.splitlines()[-1] == "  best cell Total (seed mean): 6.50  (runs=2 gamma_s=0)"
