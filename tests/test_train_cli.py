"""`tipsd train` in-process: a run's output, and one-line errors with non-zero exit for bad input."""
import json

import pytest

from tipsd.sweep.cli import main


def test_train_prints_table_and_json(capsys, tmp_path):
    assert main(["train", "--preset", "tiny", "--set", "epochs=1", "--checkpoint-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == "Head | Shoulder | Elbow | Wrist | Hip | Knee | Ankle | Total".split()
    assert "OKS AP:" in out and "L_com=" in out and "L_red=" in out
    assert json.loads((tmp_path / "config.json").read_text())["epochs"] == 1
    assert (tmp_path / "checkpoint.pt").exists()
    # --resume on a finished checkpoint trains nothing more and reports the stored result
    assert main(["train", "--preset", "tiny", "--set", "epochs=1", "--checkpoint-dir", str(tmp_path),
                 "--resume", "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result["losses"]) == {"L_loc", "L_s", "L_com", "L_var", "L_red", "total"}
    assert result["config"]["preset"] == "tiny" and len(result["history"]) == 1


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--set", "gama_s=1"], "tipsd train: error: unknown config key 'gama_s'; did you mean 'gamma_s'?"),
        (["--set", "gamma_red=-1"], "tipsd train: error: config key gamma_red: -1.0 must be a finite weight >= 0"),
        (["--set", "input_width=50"], "tipsd train: error: config keys input_height/input_width: 64x50 is impossible"),
        (["--preset", "huge"], "tipsd train: error: argument --preset: 'huge' is not a preset; known presets: tiny, quick, paper"),
        (["--set", "noequals"], "tipsd train: error: --set 'noequals': expected key=value"),
        (["--resume"], "tipsd train: error: --resume needs --checkpoint-dir"),
        (["--set", "device=cuda:7"], "tipsd train: error: config key device: 'cuda:7'"),
        (["--set", "debug_nan_term=L_foo"], "tipsd train: error: config key debug_nan_term: 'L_foo' is not one of"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, argv, message):
    if "--preset" not in argv:
        argv = ["--preset", "tiny", *argv]
    assert main(["train", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1


def test_divergence_exits_1_with_step_and_term(capsys):
    code = main(["train", "--preset", "tiny", "--set", "epochs=1", "--set", "debug_nan_term=L_s",
                 "--set", "debug_nan_step=1"])
    assert code == 1
    assert capsys.readouterr().err == "tipsd train: error: training diverged at step 1: loss term L_s is nan\n"


def test_help_has_an_example(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "example:" in capsys.readouterr().out
