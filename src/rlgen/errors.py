"""The user-error type and the checks that turn a bad option into a message naming it.

A :class:`UserError` is a problem with what the user asked for (an option, a file, an
environment): the command line prints it as one line, ``rlgen: error: <message>``, and exits
with status 2, without a traceback. Every config validates its fields with the checks below, so
an option is checked the same way however it is given (a flag, an inline ``key=value``, a
config loaded back from ``config.json``).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable


class UserError(Exception):
    """A problem with what the user asked for; the message names the option and what is allowed."""


def option_name(field: str) -> str:
    """The command-line spelling of a config field: ``learning_rate`` -> ``--learning-rate``."""
    return field if field.startswith("-") else "--" + field.replace("_", "-")


def check_finite(field: str, value: float) -> None:
    """Raise :class:`UserError` unless ``value`` is a finite number (not NaN, not ±inf).

    Python and NumPy ints and floats are numbers; booleans are not. An int is finite however
    large (``10**400`` cannot be turned into a float, so it is never asked to be one).
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise UserError(f"{option_name(field)} must be a number, got {value!r}")
    if not isinstance(value, numbers.Integral) and not math.isfinite(value):
        raise UserError(f"{option_name(field)} must be a finite number, got {value}")


def check_range(
    field: str,
    value: float,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    """Raise :class:`UserError` unless ``value`` is finite and ``low <= value <= high``.

    ``*_open`` makes a bound strict. ``field`` is the config field name (or an option spelling
    such as ``--agent epsilon``); the message shows the option and the allowed interval in
    mathematical notation, e.g. ``--alpha must be in (0, 1], got 1.5``. NaN and ±inf are refused
    whatever the bounds: no option of rlgen means anything at infinity.
    """
    check_finite(field, value)
    ok = True
    if low is not None:
        ok = value > low if low_open else value >= low
    if high is not None:
        ok = ok and (value < high if high_open else value <= high)
    if ok:
        return
    name, got = option_name(field), _number(value)
    if low is not None and high is not None:
        interval = (
            f"{'(' if low_open else '['}{_number(low)}, {_number(high)}{')' if high_open else ']'}"
        )
        raise UserError(f"{name} must be in {interval}, got {got}")
    if low is not None:
        raise UserError(f"{name} must be {'>' if low_open else '>='} {_number(low)}, got {got}")
    assert high is not None
    raise UserError(f"{name} must be {'<' if high_open else '<='} {_number(high)}, got {got}")


def _number(value: float) -> str:
    """A number as a message shows it: floats as ``%g``, ints in full (``1234567``, not
    ``1.23457e+06``) unless they have more than 16 digits (``1.000e+400``)."""
    if not isinstance(value, numbers.Integral):
        return f"{value:g}"
    digits = str(abs(int(value)))
    if len(digits) <= 16:
        return str(int(value))
    sign = "-" if value < 0 else ""
    return f"{sign}{digits[0]}.{digits[1:4]}e+{len(digits) - 1}"


def check_choice(field: str, value: str, choices: Iterable[str]) -> None:
    """Raise :class:`UserError` unless ``value`` is one of ``choices``."""
    choices = list(choices)
    if value not in choices:
        raise UserError(
            f"{option_name(field)}: unknown value {value!r}; choose from {', '.join(choices)}"
        )


MEMORY_SHARE = 0.5
"""A request for more than this share of the machine's memory is refused before it is made."""


def total_memory() -> int:
    """Bytes of physical memory of this machine (0 where the system does not say)."""
    import os

    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def check_memory(option: str, needed: float, what: str) -> None:
    """Refuse sizes whose arrays would not fit, before NumPy or torch tries to allocate them.

    ``needed`` is an estimate in bytes of what ``what`` would take; the message names the
    option, the estimate and the machine's memory, e.g. ``--runs 10000000000: the estimates
    would need about 800 GB of memory; this machine has 24 GB``.
    """
    total = total_memory()
    if total and needed > MEMORY_SHARE * total:
        raise UserError(
            f"{option_name(option)}: {what} would need {_bytes(needed)} of memory; this "
            f"machine has {_bytes(total).removeprefix('about ')}"
        )


def _bytes(n: float) -> str:
    """``about 1.2 GB``; sizes beyond any machine (ints too large for a float included) are
    ``more than 1000000 TB``."""
    if n >= 1e18:
        return "more than 1000000 TB"
    n = float(n)
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"about {n:.0f} {unit}" if unit == "bytes" else f"about {n:.1f} {unit}"
        n /= 1000
    raise AssertionError
