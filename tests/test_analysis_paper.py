"""The six claims and the study-vs-paper comparison."""
from __future__ import annotations

import math

import pytest

from tipsd.analysis.paper import (
    FAILS,
    HOLDS,
    NOT_APPLICABLE,
    NOT_TESTABLE,
    UNRESOLVED,
    cell_values,
    check_claims,
    compare_with_paper,
    paper_runs,
    render_comparison,
    table_axes,
    tied_with_best,
)


def statuses(results):
    return {r.number: r.status for r in results}


def test_paper_numbers_pass_every_testable_claim():
    t1 = cell_values(paper_runs("table1"), table_axes("table1"))
    t2 = cell_values(paper_runs("table2"), table_axes("table2"))
    assert len(t1) == 16 and len(t2) == 64
    assert statuses(check_claims("table1", t1)) == {1: NOT_TESTABLE, 2: HOLDS, 3: HOLDS, 4: NOT_APPLICABLE,
                                                    5: NOT_APPLICABLE, 6: HOLDS}
    assert statuses(check_claims("table2", t2, baseline=77.3)) == {1: HOLDS, 2: NOT_APPLICABLE, 3: NOT_APPLICABLE,
                                                                   4: HOLDS, 5: HOLDS, 6: HOLDS}


def test_claims_fail_when_the_numbers_say_otherwise():
    t1 = cell_values(paper_runs("table1"), table_axes("table1"))
    c = lambda i, s: (("gamma_info", i), ("gamma_s", s))  # noqa: E731
    worse = {**t1, c(5.0, 5.0): 87.0, c(0.0, 1.0): 85.5}  # a 5-cell becomes best; info=0 beats 0.1 at s=1
    got = {r.number: r for r in check_claims("table1", worse, baseline=85.0)}
    assert got[1].status == FAILS and got[1].detail == "lowest cell γ_info=0, γ_s=0 = 83.00 vs baseline 85"
    assert got[2].status == FAILS and got[2].detail == "γ_info=0.1, γ_s=1 = 85.30 ≤ 85.50"
    assert got[3].status == FAILS and got[6].status == FAILS
    t2 = cell_values(paper_runs("table2"), table_axes("table2"))
    bumpy = {**t2, (("gamma_com", 0.0), ("gamma_var", 5.0), ("gamma_red", 5.0)): 85.0}
    assert statuses(check_claims("table2", bumpy))[4] == FAILS  # com=0 range 1.2 > 25% of 2.5


def test_claims_not_testable_without_their_cells():
    only = {(("gamma_info", 0.1), ("gamma_s", 0.0)): 85.0, (("gamma_info", 0.1), ("gamma_s", 1.0)): 85.5}
    got = statuses(check_claims("table1", only))
    assert got[2] == NOT_TESTABLE and got[3] == NOT_TESTABLE and got[6] == NOT_TESTABLE


@pytest.mark.parametrize("table", ["table1", "table2"])
def test_study_built_from_the_paper_gives_rho_one_and_passes(table):
    runs = paper_runs(table)
    # A reproduction runs all five weights: give the paper's fixed ones their values.
    if table == "table1":
        runs[["gamma_com", "gamma_var", "gamma_red"]] = 1.0
    c = compare_with_paper(runs, table, baseline=77.3)
    assert c.spearman == pytest.approx(1.0)
    assert len(c.shared) == c.n_paper == (16 if table == "table1" else 64)
    assert c.best_paper == c.best_study and c.best_study[1] == 86.2
    testable = [r for r in c.claims if r.status not in (NOT_TESTABLE, NOT_APPLICABLE)]
    assert testable and all(r.status == HOLDS for r in testable)
    assert [r.status for r in c.claims] == [r.paper_status for r in c.claims]


def test_compare_spearman_by_hand_and_fixed_weights_filter():
    runs = paper_runs("table1").head(4).copy()  # gamma_info = 0 row: 83.0 83.5 83.9 83.7
    runs["value"] = [1.0, 2.0, 4.0, 3.0]  # same ranks as the paper -> rho = 1
    runs[["gamma_com", "gamma_var", "gamma_red"]] = 1.0
    other = runs.copy()
    other["gamma_com"], other["value"] = 0.0, [4.0, 3.0, 2.0, 1.0]  # dropped: table1 has gamma_com = 1
    import pandas as pd

    c = compare_with_paper(pd.concat([runs, other]), "table1")
    assert c.spearman == pytest.approx(1.0) and len(c.shared) == 4
    assert any("γ_com=1" in n for n in c.notes)
    runs["value"] = [1.0, 2.0, 3.0, 4.0]  # ranks 1 2 3 4 vs paper 1 2 4 3: rho = 1 - 6*2/(4*15) = 0.8
    assert compare_with_paper(runs, "table1").spearman == pytest.approx(0.8)
    c2 = compare_with_paper(runs.head(2), "table1")
    assert math.isnan(c2.spearman)


def test_best_cell_claims_need_another_cell():
    lone1 = {(("gamma_info", 1.0), ("gamma_s", 0.1)): 80.0}
    assert statuses(check_claims("table1", lone1))[3] == NOT_TESTABLE
    lone2 = {(("gamma_com", 1.0), ("gamma_var", 1.0), ("gamma_red", 1.0)): 80.0}
    assert statuses(check_claims("table2", lone2))[5] == NOT_TESTABLE
    pair = {**lone2, (("gamma_com", 0.0), ("gamma_var", 1.0), ("gamma_red", 1.0)): 79.0}
    assert statuses(check_claims("table2", pair))[5] == HOLDS


def test_effects_against_the_all_zero_cell_by_hand():
    import pandas as pd

    runs = paper_runs("table1").head(4).copy()  # gamma_info = 0 row: gamma_s 0, 0.1, 1, 5 -> 83.0 83.5 83.9 83.7
    runs[["gamma_com", "gamma_var", "gamma_red"]] = 1.0
    runs["value"] = [15.0, 16.0, 14.0, 15.5]  # a benchmark ~70 points lower: levels say nothing
    c = compare_with_paper(runs, "table1")
    e = c.effects
    assert e.reference == {"gamma_info": 0.0, "gamma_s": 0.0} and e.why == "all weights 0"
    assert e.cells["paper_effect"].round(6).tolist() == [0.0, 0.5, 0.9, 0.7]
    assert e.cells["study_effect"].tolist() == [0.0, 1.0, -1.0, 0.5]
    # effects vs paper: 0.5/1.0, 0.9/-1.0, 0.7/0.5: same sign 2 of 3; ranks (1,3,2) vs (3,1,2): d = -2, 2, 0 -> rho = 1 - 6*8/(3*8) = -1
    assert (e.agree, e.compared) == (2, 3)
    assert e.rho == pytest.approx(-1.0)
    text = render_comparison(c, decimals=2)
    assert "| γ_info | γ_s | paper | paper effect | reproduction | reproduction effect | n |" in text
    assert "| 0 | 1 | 83.9 | +0.9 | 14.00 | -1.00 | 1 |" in text
    assert "- Effects, Spearman ρ: -1.000 (p = 0); same sign: 2 of 3 cells" in text
    assert "difference" not in text
    no_zero = runs[runs["gamma_s"] > 0]  # without the all-zero cell: the paper's best shared cell (0.1 -> 83.9 at 1)
    assert compare_with_paper(no_zero, "table1").effects.reference == {"gamma_info": 0.0, "gamma_s": 1.0}
    assert compare_with_paper(pd.DataFrame(columns=runs.columns), "table1").effects is None


def _c1(i, s):
    return (("gamma_info", float(i)), ("gamma_s", float(s)))


def test_best_and_large_weight_claims_with_ties_are_unresolved():
    t1 = cell_values(paper_runs("table1"), table_axes("table1"))  # best: (1, 0.1) = 86.2; best with a 5: 85.9
    best = _c1(1, 0.1)
    alone = statuses(check_claims("table1", t1, tied=frozenset({best})))
    assert alone[3] == HOLDS and alone[6] == HOLDS
    tie = {r.number: r for r in check_claims("table1", t1, tied=frozenset({best, _c1(0.1, 1)}))}
    assert tie[3].status == UNRESOLVED and "γ_info=0.1, γ_s=1" in tie[3].detail
    assert tie[6].status == HOLDS  # the tied cell has no 5
    tie5 = {r.number: r for r in check_claims("table1", t1, tied=frozenset({best, _c1(1, 5)}))}
    assert tie5[6].status == UNRESOLVED and tie5[6].detail.endswith("not distinguishable from the best: γ_info=1, γ_s=5")
    # the paper's best cell is not the best and is separated from it: fails, whatever the ties
    moved = {**t1, _c1(0, 0.1): 87.0}  # row γ_info=0 still peaks at γ_s=0.1
    got = {r.number: r for r in check_claims("table1", moved, tied=frozenset({_c1(0, 0.1), _c1(0.1, 0)}))}
    assert got[3].status == FAILS and "γ_info=1, γ_s=0.1 = 86.20 is separated from it" in got[3].detail
    # ... and when it is tied with the best instead: unresolved
    got = {r.number: r for r in check_claims("table1", moved, tied=frozenset({_c1(0, 0.1), best}))}
    assert got[3].status == UNRESOLVED


def _replicated(values):
    import pandas as pd

    rows = [{"gamma_info": i, "gamma_s": s, "gamma_com": 1.0, "gamma_var": 1.0, "gamma_red": 1.0,
             "seed": seed, "value": v} for (i, s), vs in values.items() for seed, v in enumerate(vs)]
    return pd.DataFrame(rows)


def test_compare_judges_claims_with_the_seed_noise():
    # A (paper-best cell) and B within noise of each other; C, with a 5, far below. Five seeds: with
    # three cells the Friedman gate of `compare_to_best` needs more than three to reject.
    runs = _replicated({(1.0, 0.1): [10.0, 10.5, 9.5, 10.2, 9.8], (0.0, 0.0): [10.2, 9.4, 10.1, 9.9, 10.0],
                        (5.0, 5.0): [5.0, 5.3, 4.8, 5.1, 4.9]})
    axes = table_axes("table1")
    tied = tied_with_best(runs, axes, "value", set(cell_values(runs, axes)))
    assert tied == frozenset({_c1(1, 0.1), _c1(0, 0)})
    got = {r.number: r for r in compare_with_paper(runs, "table1").claims}
    assert got[3].status == UNRESOLVED and got[6].status == HOLDS
    assert got[6].detail.endswith("all 1 cells with a 5 separated from the best")
    one_seed = runs[runs["seed"] == 0]
    assert tied_with_best(one_seed, axes, "value", set(cell_values(one_seed, axes))) is None
    # one seed: judged on the means (10.0 vs 10.2: the paper-best cell is not the best)
    assert {r.number: r.status for r in compare_with_paper(one_seed, "table1").claims}[3] == FAILS
