"""Study files: the shipped studies parse to the right grids; every malformed file in
tests/bad_studies gives one clear line, exit code 2, no traceback and no storage written."""
from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from tipsd.sweep.cli import main
from tipsd.model.record import cell_key
from tipsd.sweep.spec import SpecError, load_spec, parse_spec, spec_diff, spec_hash

ROOT = Path(__file__).resolve().parents[1]
BAD = sorted((ROOT / "tests" / "bad_studies").glob("*.toml"))
# Words each bad file's message must contain (the field or value at fault, or the suggestion).
EXPECTED = {
    "toml_syntax": "TOML syntax error",
    "unknown_weight": "did you mean 'gamma_info'",
    "empty_space": "space = {}",
    "empty_value_list": "space.gamma_s = []",
    "wrong_value_type": "space.gamma_s = 'one'",
    "negative_weight": "space.gamma_s = -1",
    "grid_with_range": "grid sampler needs a list",
    "unknown_sampler": "sampler = 'bayesian'",
    "log_low_zero": "space.gamma_s.low = 0",
    "range_low_above_high": "must be greater than low (5)",
    "missing_budget": "needs budget",
    "budget_on_grid": "budget = 10",
    "unknown_top_field": "did you mean 'seeds'",
    "unknown_metric": "metric = 'mAP'",
    "bad_direction": "direction = 'max'",
    "weight_in_space_and_fixed": "fixed.gamma_s",
    "unknown_preset": "did you mean 'quick'",
    "unknown_override": "did you mean 'epochs'",
    "bad_override_value": "epochs: 'many'",
    "seeds_not_ints": "seeds = [0, 1.5]",
    "unknown_pruner": "did you mean 'median'",
    "missing_name": "name is missing: expected a non-empty string",
    "unreachable_storage": "does not exist",
    "unreachable_postgres": "unreachable",
    "bad_storage_scheme": "nosuchdb",
    "threshold_pruner_without_bounds": "Either lower or upper must be specified",
    "missing_dataset": "train.overrides.data = '/nonexistent/posetrack18': no such dataset folder",
    "preset_not_a_string": "train.preset = ['tiny']: unknown preset",
    "pruner_type_not_a_string": "pruner.type = ['median']: unknown pruner",
    "unknown_keep_weights": "run.keep_weights = 'best': unknown policy; expected one of best-per-cell, all, none",
    "racing_min_below_two": "seeds.min = 1: expected >= 2",
    "racing_max_below_min": "seeds.max = 3: expected >= seeds.min = 4",
    "racing_unknown_seed_key": "seeds.mx = 10: unknown field; did you mean 'max'",
    "racing_with_seed_list": "racing needs seeds = { min = 3, max = 12 }",
    "racing_bad_alpha": "racing.alpha = 5: expected a number in (0, 1)",
    "racing_budget_below_first_round": "racing.budget = 4: below the first round's 6 runs",
    "racing_unknown_key": "racing.alfa = 0.05: unknown field; did you mean 'alpha'",
}
# Files whose fault is their storage URL: run without --storage, which would take precedence.
STORAGE_CASES = {"unreachable_storage", "unreachable_postgres", "bad_storage_scheme"}


def test_every_bad_study_has_an_expectation():
    assert len(BAD) >= 15
    assert {p.stem for p in BAD} == set(EXPECTED)


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_study_is_one_line_exit_2_and_writes_nothing(path, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default storage would land here
    db = tmp_path / "t.db"
    argv = ["run", str(path), "--no-progress"]
    if path.stem not in STORAGE_CASES:
        argv += ["--storage", f"sqlite:///{db}"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("tipsd run: error: ")
    assert EXPECTED[path.stem] in lines[0]
    assert "Traceback" not in err
    assert path.name in lines[0]  # names the file
    assert list(tmp_path.iterdir()) == []  # no database, no artifacts


def test_missing_study_file(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nope.toml")]) == 2
    assert "nope.toml: cannot read study file" in capsys.readouterr().err


def test_bad_workers_is_usage_error(capsys):
    assert main(["run", str(ROOT / "studies" / "smoke.toml"), "--workers", "0"]) == 2
    assert "--workers 0" in capsys.readouterr().err


def test_table1_is_4x4_grid_with_three_seeds():
    spec = load_spec(ROOT / "studies" / "table1.toml")
    cells = spec.cells()
    assert len(cells) == 16 and spec.seeds == [0, 1, 2] and spec.total_jobs() == 48
    assert {(c["gamma_info"], c["gamma_s"]) for c in cells} == set(itertools.product([0, 0.1, 1, 5], repeat=2))
    assert all(c["gamma_com"] == c["gamma_var"] == c["gamma_red"] == 1.0 for c in cells)
    assert "3 seeds" in spec.description


def test_table2_bayes_smoke():
    t2 = load_spec(ROOT / "studies" / "table2.toml")
    assert len(t2.cells()) == 64
    assert all(c["gamma_info"] == 1.0 and c["gamma_s"] == 0.1 for c in t2.cells())
    bayes = load_spec(ROOT / "studies" / "bayes.toml")
    assert bayes.sampler == "tpe" and set(bayes.space) == {"gamma_info", "gamma_s", "gamma_com", "gamma_var", "gamma_red"}
    assert all(r.include_zero and r.log for r in bayes.space.values())
    smoke = load_spec(ROOT / "studies" / "smoke.toml")
    assert smoke.preset == "tiny" and smoke.total_jobs() == 8


def test_preset_override_changes_hash_but_run_table_does_not():
    raw = {"name": "x", "space": {"gamma_s": [0, 1]}}
    base = spec_hash(parse_spec(raw).raw)
    assert spec_hash(parse_spec(dict(raw, run={"max_retries": 5})).raw) == base
    other = dict(raw, train={"preset": "tiny"})
    assert spec_hash(parse_spec(other).raw) != base
    assert spec_diff(raw, other) == "train.preset: 'quick' -> 'tiny'"


def test_writing_out_a_default_is_not_a_changed_spec():
    raw = {"name": "x", "space": {"gamma_s": [0, 1]}}
    explicit = dict(raw, sampler="grid", metric="Total", direction="maximize", seeds=[0],
                    train={"preset": "quick", "overrides": {}}, pruner={"type": "none"})
    assert spec_hash(parse_spec(explicit).raw) == spec_hash(parse_spec(raw).raw)
    assert spec_diff(raw, explicit) == ""
    assert spec_hash(parse_spec(dict(explicit, seeds=[1])).raw) != spec_hash(parse_spec(raw).raw)


def test_cell_key_is_exact_and_ordered():
    key = cell_key({"gamma_s": 0.1, "gamma_info": 1.0, "gamma_com": 0.0, "gamma_var": 5, "gamma_red": 0.3183})
    assert key == "gamma_info=1|gamma_s=0.1|gamma_com=0|gamma_var=5|gamma_red=0.3183"


def test_grace_must_exceed_heartbeat():
    with pytest.raises(SpecError, match="run.grace_s = 5: must exceed run.heartbeat_s"):
        parse_spec({"name": "x", "space": {"gamma_s": [0]}, "run": {"heartbeat_s": 5, "grace_s": 5}})


@pytest.mark.parametrize("command", ["run", "status", "dashboard"])
def test_every_command_help_has_an_example(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "example:" in out and f"tipsd {command}" in out.split("example:")[1]


def test_resource_bounds_of_halving_pruners_may_be_auto():
    raw = {"name": "x", "sampler": "tpe", "budget": 4, "space": {"gamma_s": [0, 1]},
           "pruner": {"type": "hyperband", "min_resource": 1, "max_resource": "auto"}}
    assert parse_spec(raw).pruner == {"type": "hyperband", "min_resource": 1, "max_resource": "auto"}
    with pytest.raises(SpecError, match=r"pruner.max_resource = 'autoo': expected a number or 'auto'"):
        parse_spec(dict(raw, pruner={"type": "hyperband", "max_resource": "autoo"}))


def test_weights_not_searched_nor_fixed_take_the_study_presets_values(monkeypatch):
    from tipsd.model.config import PRESETS

    monkeypatch.setitem(PRESETS, "tiny", {**PRESETS["tiny"], "gamma_red": 0.5})
    spec = parse_spec({"name": "t", "space": {"gamma_info": [0, 1]}, "fixed": {"gamma_var": 2},
                       "train": {"preset": "tiny"}})
    assert spec.fixed == {"gamma_s": 0.1, "gamma_com": 1.0, "gamma_var": 2.0, "gamma_red": 0.5}
    assert spec.cells()[1] == {"gamma_info": 1.0, "gamma_s": 0.1, "gamma_com": 1.0, "gamma_var": 2.0, "gamma_red": 0.5}


def test_keep_weights_default_follows_the_preset_and_is_not_part_of_the_hash():
    base = {"name": "k", "space": {"gamma_s": [0, 0.1]}}
    assert parse_spec({**base, "train": {"preset": "tiny"}}).run["keep_weights"] == "best-per-cell"
    assert parse_spec({**base, "train": {"preset": "quick"}}).run["keep_weights"] == "best-per-cell"
    assert parse_spec({**base, "train": {"preset": "paper"}}).run["keep_weights"] == "none"
    paper_all = {**base, "train": {"preset": "paper"}, "run": {"keep_weights": "all"}}
    assert parse_spec(paper_all).run["keep_weights"] == "all"
    assert spec_hash(paper_all) == spec_hash({**base, "train": {"preset": "paper"}})


def test_racing_seeds_parse_to_settings_and_seeds_0_to_max():
    spec = parse_spec({"name": "r", "seeds": {"min": 3, "max": 5}, "racing": {"alpha": 0.1, "budget": 9},
                       "space": {"gamma_s": [0, 1]}})
    assert spec.seeds == [0, 1, 2, 3, 4] and spec.total_jobs() == 10  # at most cells x max
    assert (spec.racing.min_seeds, spec.racing.max_seeds, spec.racing.alpha, spec.racing.budget) == (3, 5, 0.1, 9)
    assert parse_spec({"name": "r", "seeds": {"min": 3, "max": 5}, "space": {"gamma_s": [0]}}).racing.alpha == 0.05
    assert parse_spec({"name": "f", "seeds": [0, 1], "space": {"gamma_s": [0]}}).racing is None
    with pytest.raises(SpecError, match="racing.budget = 9: a racing budget"):
        parse_spec({"name": "b", "sampler": "tpe", "budget": 4, "seeds": {"min": 3, "max": 5},
                    "racing": {"budget": 9}, "space": {"gamma_s": {"low": 0, "high": 1}}})


def test_racing_defaults_written_out_are_the_same_study():
    base = {"name": "r", "seeds": {"min": 3, "max": 5}, "space": {"gamma_s": [0, 1]}}
    assert spec_hash(base) == spec_hash({**base, "racing": {"alpha": 0.05}})
    assert spec_hash(base) != spec_hash({**base, "racing": {"alpha": 0.1}})
    assert spec_hash(base) != spec_hash({**base, "seeds": {"min": 3, "max": 6}})


@pytest.mark.parametrize("extra, message", [
    ({"seeds": {"min": 3}}, "s.toml: seeds.max is missing: expected an integer"),
    ({"seeds": {"min": 3, "max": True}}, "s.toml: seeds.max = true: expected an integer"),
    ({"seeds": {"min": 3, "max": 3}}, "s.toml: seeds.max = 3: equals seeds.min, so there is nothing to race; "
                                      "for a fixed grid write seeds = [0, 1, 2], to race give max > min"),
    ({"seeds": [0, 1], "racing": {"alpha": 0.05}},
     "s.toml: racing = { alpha = 0.05 }: racing needs seeds = { min = 3, max = 12 } instead of a seed list"),
])
def test_spec_errors_spell_values_as_the_study_file_does(extra, message):
    """No Python reprs (None, True, {'alpha': 0.05}) in what a user reads about their study file."""
    raw = {"name": "s", "sampler": "grid", "space": {"gamma_s": [0, 1]}, **extra}
    with pytest.raises(SpecError) as err:
        parse_spec(raw, "s.toml")
    assert str(err.value).startswith(message)
