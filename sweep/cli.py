"""The `tipsd` command line: one table, `COMMANDS`, from each command's name to the function that adds
its parser and the handler that runs it.

Each package keeps the commands that serve it (`tipsd.model.commands`: data, eval, train;
`tipsd.sweep.commands`: run, status, dashboard; `tipsd.analysis.commands`: table ... importance);
this module only assembles them. A handler ``fn(args) -> int`` returns the exit code and imports
heavy libraries (torch, optuna, pandas) itself, so that ``tipsd --help`` stays fast.

Errors (`main` is the one top-level handler): a `TipsdError` is printed as one line
(``tipsd <cmd>: error: ...``) and its ``exit_code`` returned; a usage error (unknown option, missing
argument) likewise, exit code 2; an `OSError`, a `UnicodeError` or a storage error (SQLAlchemy,
sqlite3, psycopg, Optuna's storage errors) is one line and exit code 2; Ctrl-C is one line and 130;
anything else is a bug: one line that asks to report it, exit code 1. ``--debug`` (anywhere on the
command line) or ``TIPSD_DEBUG=1`` prints the traceback first. Every line has any password of a
storage URL masked.
"""
from __future__ import annotations

import argparse
import os
import sys
import traceback
from typing import Callable, Sequence

from tipsd.analysis import commands as analysis_commands
from tipsd.model import commands as model_commands
from tipsd.model.errors import TipsdError, UsageError
from tipsd.model.record import scrub, url_password
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
    "report": (sweep_commands.add_report, analysis_commands.cmd_report),  # + the paper's figures (sweep)
    "export": (analysis_commands.add_export, analysis_commands.cmd_export),
    "importance": (analysis_commands.add_importance, analysis_commands.cmd_importance),
    "viz": (sweep_commands.add_viz, None),
    "viz interim": (sweep_commands.add_viz_interim, sweep_commands.cmd_viz_interim),
    "viz results": (sweep_commands.add_viz_results, sweep_commands.cmd_viz_results),
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
    parser.add_argument("--debug", action="store_true",
                        help="print the traceback of an error (also accepted after the command)")
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


# Where an exception comes from decides what it is: these libraries' errors are storage errors.
STORAGE_MODULES = ("sqlalchemy", "sqlite3", "_sqlite3", "psycopg", "psycopg2", "alembic")
# Where a bug report goes (the internal-error line names it).
REPORT_TO = "the tipsd issue tracker"


def is_storage_error(err: BaseException) -> bool:
    """Whether `err` is a database/driver error (by the module of its class), or Optuna's
    ``StorageInternalError``, whose own message blames "exceeding max length" for any cause."""
    for cls in type(err).__mro__:
        module = getattr(cls, "__module__", "") or ""
        if module.split(".")[0] in STORAGE_MODULES or cls.__name__ == "StorageInternalError":
            return True
    return False


def error_text(err: BaseException) -> str:
    """One line that says what went wrong (no traceback; the most specific cause of a storage error)."""
    if is_storage_error(err):
        from tipsd.analysis.readonly import root_reason

        return f"storage error: {root_reason(err)}"
    if isinstance(err, UnicodeDecodeError):
        return (f"input is not {err.encoding} text (byte {err.object[err.start:err.start + 1]!r} "
                f"at position {err.start})")
    if isinstance(err, OSError) and err.strerror:
        where = f" {err.filename!r}" if err.filename else ""
        return f"{err.strerror}{where}"
    return first_line(err) or type(err).__name__


def first_line(err: BaseException, limit: int = 500) -> str:
    """The first non-empty line of ``str(err)``, at most `limit` characters."""
    for line in str(err).splitlines():
        if line.strip():
            return line.strip()[:limit]
    return ""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `tipsd` command line; returns the process exit code (the one top-level handler)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or os.environ.get("TIPSD_DEBUG", "") not in ("", "0")
    argv = [a for a in argv if a != "--debug"]
    secrets = tuple(p for p in (url_password(a) for a in argv) if p)
    parser = build_parser()
    command = None

    def say(text: str) -> None:
        if debug:  # the traceback too has every password masked
            print(scrub(traceback.format_exc(), secrets + known_secrets()), file=sys.stderr, end="")
        print(scrub(text, secrets + known_secrets()), file=sys.stderr, flush=True)

    try:
        args = parser.parse_args(argv)
        command = args.command
        if getattr(args, "handler", None) is None:
            parser.print_help(sys.stderr)
            return 2
        return int(args.handler(args) or 0)
    except UsageError as err:  # already carries its parser's prog ("tipsd eval: error: ...")
        say(str(err))
        return err.exit_code
    except TipsdError as err:
        say(f"{_prog(command)}: error: {err}")
        return err.exit_code
    except KeyboardInterrupt:
        say(f"{_prog(command)}: interrupted")
        return 130
    except BrokenPipeError:  # `tipsd table ... | head`: the reader left; nothing more to say
        _silence_stdout()
        return 1
    except (OSError, UnicodeError) as err:
        say(f"{_prog(command)}: error: {error_text(err)}")
        return 2
    except Exception as err:  # noqa: BLE001 - the one place every other error becomes one line
        if is_storage_error(err):
            say(f"{_prog(command)}: error: {error_text(err)}")
            return 2
        say(f"{_prog(command)}: internal error: {type(err).__name__}: {first_line(err)}; this is a bug, "
            f"please report it to {REPORT_TO} with the output of the same command run with --debug")
        return 1


def _prog(command: str | None) -> str:
    return f"tipsd{' ' + command if command else ''}"


def known_secrets() -> tuple[str, ...]:
    """Passwords of the storage URLs this process opened (`tipsd.sweep.storage.SECRETS`)."""
    storage = sys.modules.get("tipsd.sweep.storage")
    return tuple(getattr(storage, "SECRETS", ())) if storage is not None else ()


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
