"""Did-you-mean for the names and values a user types (weights, metrics, cells): one phrase that
names the closest valid choice, so that a typo gives one line that says what was meant.

Names are matched with `difflib.get_close_matches` (the ratio of matching characters, cutoff 0.6,
as `sweep/spec.py`'s messages do); numbers by the smallest absolute difference.
"""
from __future__ import annotations

import difflib
from typing import Iterable, Sequence


def did_you_mean(name: str, valid: Sequence[str]) -> str:
    """``"; did you mean gamma_s?"`` for the valid name closest to `name`, else the list of them.

    Example:
        >>> did_you_mean("gama_s", ["gamma_info", "gamma_s"])
        '; did you mean gamma_s?'
        >>> did_you_mean("zzz", ["gamma_info", "gamma_s"])
        '; expected one of: gamma_info, gamma_s'
    """
    close = difflib.get_close_matches(str(name), list(valid), n=1)
    return f"; did you mean {close[0]}?" if close else f"; expected one of: {', '.join(valid)}"


def closest_value(value: float, values: Iterable[float]) -> float | None:
    """The number of `values` nearest to `value` (the first of a tie); None when there is none.

    Example:
        >>> closest_value(0.2, [0.0, 0.1, 1.0])
        0.1
    """
    values = list(values)
    return min(values, key=lambda v: abs(float(v) - float(value))) if values else None


def user_text(value) -> str:
    """A value as a message shows it to a user, never as a Python repr: None as ``unset``, booleans
    as ``true``/``false`` (as a study file writes them), lists as ``a, b``, dicts as ``k=v, …``,
    paths and the rest as ``str``.

    Example:
        >>> user_text(None), user_text(True), user_text([1, 2]), user_text({"epochs": 2})
        ('unset', 'true', '1, 2', 'epochs=2')
    """
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return ", ".join(f"{k}={user_text(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple, set)):
        return ", ".join(user_text(v) for v in value)
    return str(value)
