"""Exceptions that carry a user-facing, one-line message.

The CLI (`tipsd.sweep.cli.main`) prints ``str(err)`` of any `TipsdError` as one line on stderr and
exits with ``err.exit_code``: 2 for bad input (files, options, config values), 1 for a run that
failed (a diverging loss, a dead worker).
"""


class TipsdError(Exception):
    """Base class of every error whose message is meant for the user, not a traceback."""

    exit_code = 2


class UsageError(TipsdError):
    """A command-line usage error (unknown option, missing argument); its message already names the
    command (``tipsd eval: error: ...``)."""


class ConfigError(TipsdError, ValueError):
    """A configuration key or value is invalid (unknown key, negative weight, bad input size...)."""


class DataError(TipsdError):
    """A dataset is missing, malformed or unusable (names the file, the field and the value)."""


class DivergenceError(TipsdError):
    """The training loss became NaN or Inf.

    Attributes:
        step: global optimisation step at which it happened.
        term: name of the first non-finite loss term (e.g. ``"L_com"``), or ``"total"``.
    """

    exit_code = 1

    def __init__(self, step: int, term: str, value: float):
        self.step, self.term, self.value = step, term, value
        super().__init__(f"training diverged at step {step}: loss term {term} is {value}")
