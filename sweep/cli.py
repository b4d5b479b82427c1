"""The `tipsd` command line: a table of subcommands, each registered by a small module.

Every ``tipsd.sweep.cmd_*`` module named in `COMMAND_MODULES` exposes ``register(subparsers)``,
which adds its subcommands with ``parser.set_defaults(handler=fn)``; ``fn(args) -> int`` returns the
exit code. Command modules import heavy libraries (torch, optuna, pandas) inside their handlers so
that ``tipsd --help`` stays fast.

Errors: a `TipsdError` raised by a handler is printed as one line (``tipsd <cmd>: error: ...``) and
its ``exit_code`` returned; a usage error (unknown option, missing argument) likewise, exit code 2.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from tipsd.model.errors import TipsdError

# Order here is the order in `tipsd --help`.
COMMAND_MODULES = (
    "tipsd.sweep.cmd_data",
    "tipsd.sweep.cmd_eval",
    "tipsd.sweep.cmd_train",
    "tipsd.sweep.cmd_run",
    "tipsd.sweep.cmd_analysis",
)


class UsageError(TipsdError):
    """A command-line usage error (unknown option, missing argument)."""


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line and raise instead of exiting."""

    def error(self, message: str):  # noqa: D401 - argparse API
        raise UsageError(f"{self.prog}: error: {message} (see '{self.prog} --help')")


def build_parser() -> argparse.ArgumentParser:
    """Return the `tipsd` parser with every registered subcommand."""
    parser = OneLineParser(
        prog="tipsd",
        description="Hyperparameter sensitivity studies of the TIPSD loss weights "
        "(gamma_info, gamma_s, gamma_com, gamma_var, gamma_red).",
    )
    parser.add_argument("--version", action="version", version=f"tipsd {version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def version() -> str:
    """The installed tipsd version (from the package metadata)."""
    from importlib.metadata import PackageNotFoundError, version as _v

    try:
        return _v("tipsd")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"


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
