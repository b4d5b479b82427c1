"""Racing studies through the driver (issue 13): the ledger gives each cell the seeds the race asks
for, resume and a killed run end with the same stored race and table as an uninterrupted run."""
from __future__ import annotations

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from tipsd.analysis.racing import race_matrix, racing_state
from tipsd.model.record import cell_key
from tipsd.sweep.cli import main
from tipsd.sweep.jobs import ledger
from tipsd.sweep.runner import run_study
from tipsd.sweep.spec import load_spec
from test_sweep_support import FAST_RUN, noisy_train, write_study

# gamma_info 1 vs 1.0001: 0.0004 apart (a tie); gamma_s 0.1 vs 0.3: 1 point apart (paired noise sd 0.5).
RACE = """name = "race"
seeds = {{ min = 3, max = 6 }}
{racing}
[space]
gamma_info = [1, 1.0001]
gamma_s = [0.1, 0.3]
[train]
preset = "tiny"
""" + FAST_RUN


def race_study(tmp_path, racing: str = ""):
    return load_spec(write_study(tmp_path, "race", RACE.format(racing=racing)))


def stored(url: str):
    """(cell, seed) -> value of every COMPLETE trial, and the count of counted trials per job."""
    study = optuna.load_study(study_name="race", storage=url)
    done, jobs = {}, {}
    for t in study.get_trials(deepcopy=False):
        if "duplicate_of" in t.user_attrs or t.user_attrs.get("interrupted"):
            continue
        if t.state == TrialState.COMPLETE:
            key = (t.user_attrs["cell"], t.user_attrs["seed"])
            jobs[key] = jobs.get(key, 0) + 1
            done[key] = t.value
    return done, jobs


def test_racing_grid_runs_the_races_plan_and_nothing_else(tmp_path, capsys):
    spec = race_study(tmp_path)
    url = f"sqlite:///{tmp_path}/r.db"
    report = run_study(spec, url, train_fn=noisy_train, progress=False, say=lambda line: None)
    done, jobs = stored(url)
    assert set(jobs.values()) == {1}  # every job once
    cells = [cell_key(g) for g in spec.cells()]
    x, settled = race_matrix([(c, s, v) for (c, s), v in done.items()], cells, spec.racing)
    race = racing_state(x, spec.racing.seeds, spec.racing, settled=settled)
    assert race.done and repr(report.ledger.race) == repr(race) and report.ledger.finished
    for i, c in enumerate(cells):  # each cell has exactly seeds 0 .. n-1
        assert sorted(s for (cc, s) in done if cc == c) == list(range(race.n[i]))
    assert race.runs_used == len(done) == race.runs_planned
    # the 1-point-worse cells are separated before max; the near-tie (0.09) runs to max
    assert race.status[0] == race.status[2] == "at_max" and race.n[0] == race.n[2] == 6
    assert race.status[1] == race.status[3] == "separated" and max(race.n[1], race.n[3]) < 6
    assert race.runs_saved == 24 - len(done) > 0
    capsys.readouterr()
    assert main(["status", "--storage", url]) == 0
    status = capsys.readouterr().out.splitlines()
    runs = [ln for ln in status if "runs:" in ln][0]  # the race's plan, not cells x max
    assert runs.strip().startswith(f"runs: {len(done)}/{len(done)} done (100%)")
    line = [ln for ln in status if "racing done" in ln][0]
    assert line.strip() == (f"racing done (max): 6 seeds at most, 2 separated in {len(race.rounds)} decided rounds; "
                            f"runs {len(done)} used, {len(done)} planned of the full 6-seed grid's 24 "
                            f"({100 * len(done) / 24:.0f}%), {24 - len(done)} saved")


def interrupted_race(tmp_path, runs: int = 13):
    """The race study stopped by Ctrl-C after `runs` stored runs (13: round 3's 12, in which the
    Friedman gate separates nothing, and 1 of round 4's 4); the run in flight is stored interrupted."""
    spec = race_study(tmp_path)
    url = f"sqlite:///{tmp_path}/r.db"
    calls = []

    def interrupted_train(config, **kw):
        if len(calls) == runs:
            raise KeyboardInterrupt
        calls.append(config.seed)
        return noisy_train(config, **kw)

    with pytest.raises(KeyboardInterrupt):
        run_study(spec, url, train_fn=interrupted_train, progress=False, say=lambda line: None)
    return spec, url


def test_racing_resume_after_an_interrupt_ends_as_an_uninterrupted_run(tmp_path):
    spec, url = interrupted_race(tmp_path)
    clean = f"sqlite:///{tmp_path}/clean.db"
    run_study(spec, clean, train_fn=noisy_train, progress=False, say=lambda line: None)
    assert len(stored(url)[0]) == 13
    study = optuna.load_study(study_name="race", storage=url)
    led = ledger(spec, study.get_trials(deepcopy=False))
    assert led.race.round == 4 and led.race.n == (4, 4, 4, 4) and len(led.missing) == 3  # 3 of round 4 left
    run_study(spec, url, train_fn=noisy_train, progress=False, say=lambda line: None)
    assert stored(url) == stored(clean)


def test_table_heatmap_and_report_show_n_and_the_separated_cells(tmp_path, capsys):
    from tipsd.analysis.heatmap import _heatmap_data
    from tipsd.analysis.racing import race_of_runs, settings_from_spec
    from tipsd.analysis.runs import load_runs
    from tipsd.analysis.tables import build_table

    spec = race_study(tmp_path)
    url = f"sqlite:///{tmp_path}/r.db"
    race = run_study(spec, url, train_fn=noisy_train, progress=False, say=lambda line: None).ledger.race
    all_runs = load_runs(url, "race", all_states=True)
    cells, replayed = race_of_runs(all_runs, settings_from_spec(spec.raw), True)
    by_cell = {cell_key(r): repr((r["race_status"], r["race_n"], round(r["race_p"], 12)))
               for r in cells.to_dict("records")}
    assert by_cell == {cell_key(g): repr((race.status[i], race.n[i], round(race.p_holm[i], 12)))
                       for i, g in enumerate(spec.cells())}  # the table's replay is the driver's race
    assert replayed.runs_used == race.runs_used and replayed.rounds[-1].n == race.rounds[-1].n
    capsys.readouterr()
    assert main(["table", "race", "--storage", url]) == 0
    out = capsys.readouterr().out
    for i, g in enumerate(spec.cells()):
        if race.status[i] == "separated":
            assert f"(out at n {race.n[i]}, p {race.p_holm[i]:.2g})" in out
    assert out.count("(n 6)") == sum(s == "at_max" for s in race.status) == 2
    assert "Racing: n = runs a cell's mean is over" in out and "2 of 4 cells out." in out
    assert "Partial study" not in out  # a finished race is not partial, though under cells x max
    table = build_table(all_runs[all_runs["state"] == "COMPLETE"], rows="gamma_info", cols="gamma_s", race=cells)
    ann = _heatmap_data(table).annotations[0]
    assert sorted(a.split("\n")[1] for a in ann.ravel()) == sorted(
        ("out " if s == "separated" else "") + f"n{n}" for s, n in zip(race.status, race.n))


def test_partial_table_shows_the_runs_each_mean_is_over(tmp_path, capsys):
    from tipsd.analysis.heatmap import _heatmap_data
    from tipsd.analysis.racing import race_of_runs, settings_from_spec
    from tipsd.analysis.runs import load_runs
    from tipsd.analysis.tables import build_table

    spec, url = interrupted_race(tmp_path)
    capsys.readouterr()
    assert main(["status", "--storage", url]) == 0
    assert "runs: 13/16 done (81%)" in capsys.readouterr().out  # 12 + round 4's 4 planned, not 24
    driver = ledger(spec, optuna.load_study(study_name="race", storage=url).get_trials(deepcopy=False)).race
    all_runs = load_runs(url, "race", all_states=True)
    assert (all_runs["interrupted"] == True).sum() == 1  # noqa: E712  the run in flight at Ctrl-C
    cells, replayed = race_of_runs(all_runs, settings_from_spec(spec.raw), True)
    # the interrupted run settles nothing, as in the ledger (the replay's cells are in sorted order)
    order = [cell_key(g) for g in spec.cells()]
    by_cell = lambda st, keys: sorted((k, st.status[i], st.n[i]) for i, k in enumerate(keys))  # noqa: E731
    assert by_cell(replayed, [cell_key(r) for r in cells.to_dict("records")]) == by_cell(driver, order)
    assert (replayed.round, replayed.runs_used, replayed.runs_planned, len(replayed.jobs)) == (4, 13, 16, 3)
    assert driver.n == (4, 4, 4, 4) and driver.runs_used == 13
    done, _ = stored(url)
    four = [c for c in {c for c, _ in done} if sum(cc == c for cc, _ in done) == 4]
    assert len(four) == 1  # one cell has its round-4 run, three have 3 of the 4 the race plans
    capsys.readouterr()
    assert main(["table", "race", "--storage", url]) == 0
    out = capsys.readouterr().out
    assert out.count("(n 4)") == 1 and out.count("(n 3 of 4 planned)") == 3
    assert "Partial study: 13 of 16 runs done (the race's plan now; 24 in the full 6-seed grid)" in out
    table = build_table(all_runs[all_runs["state"] == "COMPLETE"], rows="gamma_info", cols="gamma_s", race=cells)
    ann = _heatmap_data(table).annotations[0]
    assert sorted(a.split("\n")[1] for a in ann.ravel()) == ["n3/4", "n3/4", "n3/4", "n4"]
    assert table.race_mark((0, 0, 0)) in ("n 4", "n 3 of 4 planned")


def test_progress_counts_the_races_plan_not_cells_times_max(tmp_path, capsys):
    import re

    spec = race_study(tmp_path)
    url = f"sqlite:///{tmp_path}/r.db"
    report = run_study(spec, url, train_fn=noisy_train, progress=True, say=lambda line: None)
    counts = [tuple(map(int, m)) for m in re.findall(r"race: (\d+)/(\d+) runs settled", capsys.readouterr().err)]
    race = report.ledger.race
    assert report.ledger.total == race.runs_planned < 24 and report.ledger.settled == race.runs_used
    assert counts[0] == (1, 12)  # the first round: 4 cells x 3 seeds
    assert counts[-1] == (race.runs_planned, race.runs_planned)
    assert all(t <= race.runs_planned for _, t in counts) and [t for _, t in counts] == sorted(t for _, t in counts)
    assert [d for d, _ in counts] == list(range(1, race.runs_planned + 1))  # one line per settled run


def test_racing_budget_stops_the_race(tmp_path):
    spec = race_study(tmp_path, "[racing]\nbudget = 14")
    url = f"sqlite:///{tmp_path}/r.db"
    report = run_study(spec, url, train_fn=noisy_train, progress=False, say=lambda line: None)
    race = report.ledger.race
    assert race.stop_reason in ("budget", "separated") and race.runs_planned <= 14
    assert len(stored(url)[0]) == race.runs_planned


def test_bayesian_racing_gives_each_setting_the_seeds_its_race_asks(tmp_path):
    from tipsd.analysis.racing import setting_state

    spec = load_spec(write_study(tmp_path, "race", """name = "race"
sampler = "random"
sampler_seed = 3
budget = 5
seeds = { min = 2, max = 4 }
[space]
gamma_info = { low = 0.5, high = 2 }
gamma_s = { low = 0.1, high = 3 }
[train]
preset = "tiny"
""" + FAST_RUN))
    url = f"sqlite:///{tmp_path}/r.db"
    report = run_study(spec, url, train_fn=noisy_train, progress=False, say=lambda line: None)
    done, jobs = stored(url)
    assert set(jobs.values()) == {1} and report.ledger.finished
    states = report.ledger.settings_race
    assert len(states) == 5 and all(st.finished for st in states.values())
    for cell, st in states.items():
        # seeds 0 .. k-1; k can exceed the final n by the seeds a setting got before a better
        # incumbent finished and separated it at n (the answer is re-derived from storage)
        seeds = sorted(s for (c, s) in done if c == cell)
        assert seeds == list(range(len(seeds))) and st.n <= len(seeds) <= 4
    assert any(st.status == "at_max" and st.n == 4 for st in states.values())  # the incumbent ran to max
    assert any(st.status == "separated" for st in states.values())
    assert len(done) < 5 * 4
