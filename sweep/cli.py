"""The `tipsd` command line: one table, `COMMANDS`, from each command's name to the function that adds
its parser and the handler that runs it.

Each package keeps the commands that serve it (`tipsd.model.commands`: data, eval, train;
`tipsd.sweep.commands`: run, status, dashboard; `tipsd.analysis.commands`: table ... importance);
this module only assembles them. A handler ``fn(args) -> int`` returns the exit code and imports
heavy libraries (torch, optuna, pandas) itself, so that ``tipsd --help`` stays fast.

Errors: a `TipsdError` raised by a handler is printed as one line (``tipsd <cmd>: error: ...``) and
its ``exit_code`` returned; a usage error (unknown option, missing argument) likewise, exit code 2.
"""
from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

from tipsd.analysis import commands as analysis_commands
from tipsd.model import commands as model_commands
from tipsd.model.errors import TipsdError, UsageError
from tipsd.sweep import commands as sweep_commands
from tipsd.sweep import version

# name -> (adds the command's parser: ``add(subparsers, name)``, its handler). "data synth" is the
# subcommand synth of data; a handler of None makes a group that only holds subcommands.
# The order here is the order in `tipsd --help`.
COMMANDS: dict[str, tuple[Callable, Callable | None]] = {
    "data": (model_commands.add_data, None),
    "data synth": (model_commands.add_synth, model_commands.cmd_synth),
    "data check": (model_commands.add_check, model_commands.cmd_check),
    "data convert": (model_commands.add_convert, model_commands.cmd_convert),
    "eval": (model_commands.add_eval, model_commands.cmd_eval),
    "train": (model_commands.add_train, model_commands.cmd_train),
    "run": (sweep_commands.add_run, sweep_commands.cmd_run),
    "status": (sweep_commands.add_status, sweep_commands.cmd_status),
    "dashboard": (sweep_commands.add_dashboard, sweep_commands.cmd_dashboard),
    "table": (analysis_commands.add_table, analysis_commands.cmd_table),
    "paper": (analysis_commands.add_paper, analysis_commands.cmd_paper),
    "compare": (analysis_commands.add_compare, analysis_commands.cmd_compare),
    "heatmap": (analysis_commands.add_heatmap, analysis_commands.cmd_heatmap),
    "report": (analysis_commands.add_report, analysis_commands.cmd_report),
    "export": (analysis_commands.add_export, analysis_commands.cmd_export),
    "importance": (analysis_commands.add_importance, analysis_commands.cmd_importance),
}


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line and raise instead of exiting."""

    def error(self, message: str):  # noqa: D401 - argparse API
        raise UsageError(f"{self.prog}: error: {message} (see '{self.prog} --help')")


def _print_help(parser: argparse.ArgumentParser) -> int:
    """The handler of a group called without a subcommand: its help on stderr, exit code 2."""
    parser.print_help(sys.stderr)
    return 2


def build_parser() -> argparse.ArgumentParser:
    """Return the `tipsd` parser with every command of `COMMANDS`."""
    parser = OneLineParser(
        prog="tipsd",
        description="Hyperparameter sensitivity studies of the TIPSD loss weights "
        "(gamma_info, gamma_s, gamma_com, gamma_var, gamma_red).",
    )
    parser.add_argument("--version", action="version", version=f"tipsd {version()}")
    groups = {"": parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)}
    for name, (add, handler) in COMMANDS.items():
        group, _, leaf = name.rpartition(" ")
        sub = add(groups[group], leaf)
        if handler is None:
            groups[name] = sub.add_subparsers(dest=f"{leaf}_command", metavar="SUBCOMMAND",
                                              parser_class=OneLineParser)
            sub.set_defaults(handler=lambda args, sub=sub: _print_help(sub))
        else:
            sub.set_defaults(handler=handler)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `tipsd` command line; returns the process exit code."""
    parser = build_parser()
    command = None
    try:
        args = parser.parse_args(argv)
        command = args.command
        if getattr(args, "handler", None) is None:
            parser.print_help(sys.stderr)
            return 2
        return int(args.handler(args) or 0)
    except TipsdError as err:
        # Usage errors already carry their parser's prog ("tipsd eval: error: ...").
        prefix = "" if isinstance(err, UsageError) else f"tipsd{' ' + command if command else ''}: error: "
        print(f"{prefix}{err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("tipsd: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
