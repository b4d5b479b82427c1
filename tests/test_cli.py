"""The `tipsd` command table: usage errors are one line with exit 2; every command has help with an example."""
import pytest

from tipsd.sweep.cli import build_parser, main


def _subcommands(parser):
    """Yield (path, parser) for every leaf subcommand of `parser`."""
    for action in parser._subparsers._group_actions if parser._subparsers else []:
        for name, sub in action.choices.items():
            if sub._subparsers is not None:
                for path, leaf in _subcommands(sub):
                    yield (name, *path), leaf
            else:
                yield (name,), sub


def test_unknown_option_is_one_line_exit_2(capsys):
    assert main(["--no-such-option"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "tipsd: error: unrecognized arguments: --no-such-option (see 'tipsd --help')"


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "usage: tipsd" in capsys.readouterr().err


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.startswith("tipsd ")


def test_every_command_has_help_with_an_example():
    leaves = list(_subcommands(build_parser()))
    assert leaves, "no subcommand is registered"
    missing = [" ".join(path) for path, sub in leaves if "example" not in sub.format_help().lower()]
    assert missing == []


def test_the_command_table_lists_every_command():
    """`tipsd.sweep.cli.COMMANDS` is the one place a reader finds every command and its handler."""
    from tipsd.sweep.cli import COMMANDS

    leaves = {" ".join(path): sub for path, sub in _subcommands(build_parser())}
    assert sorted(leaves) == sorted(name for name, (_, handler) in COMMANDS.items() if handler is not None)
    for name, sub in leaves.items():
        assert sub.get_default("handler") is COMMANDS[name][1]


def test_each_package_owns_its_commands():
    from tipsd.sweep.cli import COMMANDS

    owner = {name: handler.__module__ for name, (_, handler) in COMMANDS.items() if handler is not None}
    assert {owner[n] for n in ("data synth", "data check", "eval", "train")} == {"tipsd.model.commands"}
    assert {owner[n] for n in ("run", "status", "dashboard")} == {"tipsd.sweep.commands"}
    assert {owner[n] for n in ("table", "paper", "compare", "heatmap", "report", "export", "importance")} \
        == {"tipsd.analysis.commands"}


def test_top_level_help_describes_every_command_in_lowercase_without_a_full_stop():
    parser = build_parser()
    action = parser._subparsers._group_actions[0]
    helps = {a.dest: a.help for a in action._choices_actions}
    assert len(helps) == 14  # data, eval, train, run, status, dashboard, table, paper, compare, heatmap, report, export, importance, viz
    odd = {name: h for name, h in helps.items() if not h[0].islower() or h.endswith(".")}
    assert odd == {}


def test_unknown_config_key_suggests_the_close_one(capsys):
    assert main(["train", "--preset", "tiny", "--set", "epoch=3"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "tipsd train: error: unknown config key 'epoch'; did you mean 'epochs'?"


def test_missing_sqlite_file_is_named_by_its_absolute_path(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["status"]) == 2
    assert capsys.readouterr().err.strip().endswith(f"no such database file '{tmp_path / 'tipsd.db'}'")
    assert main(["table", "t1"]) == 2
    assert f"storage file '{tmp_path / 'tipsd.db'}' does not exist" in capsys.readouterr().err
