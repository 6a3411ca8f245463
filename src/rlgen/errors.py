"""The user-error type and the checks that turn a bad option into a message naming it.

A :class:`UserError` is a problem with what the user asked for (an option, a file, an
environment): the command line prints it as one line, ``rlgen: error: <message>``, and exits
with status 2, without a traceback. Every config validates its fields with the checks below, so
an option is checked the same way however it is given (a flag, an inline ``key=value``, a
config loaded back from ``config.json``).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
import sys
import types
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any


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
    name, got = option_name(field), number_text(value)
    if low is not None and high is not None:
        opening, closing = "(" if low_open else "[", ")" if high_open else "]"
        interval = f"{opening}{number_text(low)}, {number_text(high)}{closing}"
        raise UserError(f"{name} must be in {interval}, got {got}")
    if low is not None:
        raise UserError(f"{name} must be {'>' if low_open else '>='} {number_text(low)}, got {got}")
    assert high is not None
    raise UserError(f"{name} must be {'<' if high_open else '<='} {number_text(high)}, got {got}")


def number_text(value: float) -> str:
    """A number as a message shows it: floats as ``%g`` where that reads back as the same
    number, else in full (``1.0000001``, not ``1`` beside a bound of 1); ints in full
    (``1234567``, not ``1.23457e+06``; every 64-bit seed) unless they have more than 24 digits
    (``1.000e+400``)."""
    if not isinstance(value, numbers.Integral):
        try:
            short = f"{value:g}"
        except (TypeError, ValueError):  # a number type without %g (Fraction)
            return str(value)
        try:
            same = bool(type(value)(short) == value)  # read back in the value's own type
        except (OverflowError, TypeError, ValueError):
            same = True
        return short if same or value != value else str(value)
    digits = str(abs(int(value)))
    if len(digits) <= 24:
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


def check_config_types(config: Any, prefix: str = "") -> None:
    """Raise :class:`UserError` unless every field of the dataclass ``config`` holds a value of
    its annotated type.

    The command line parses types already; this catches configs built from Python or loaded
    from a hand-edited ``config.json`` before a wrong type fails later with a traceback. An
    ``int`` field takes any integral number but a bool (NumPy ints too), a ``float`` field any
    real number but a bool (ints too), a ``bool`` field a bool (NumPy's too), a ``str`` field a
    string, a ``Path`` field a path or a string, a ``Literal`` one of its values, ``X | None``
    also None, ``tuple[X, ...]`` a tuple (or list) whose every item is an ``X``, a nested config
    field an instance of its class (which checks its own fields). Other annotations (callables,
    arrays, ``Any``, dicts) are not checked. Values are made what the code after expects, in
    place: a string given for a path a ``Path``, a NumPy scalar the Python bool / int / float,
    a list given for a tuple a tuple (so a frozen config stays hashable and equal to itself
    loaded back from ``config.json``). ``prefix`` is how the command line spells a nested
    config's options (``"child."`` for ``--child.filters``); the message names the option, what
    it must be and what it got, e.g. ``--epochs must be a whole number, got 2.5``.
    """
    for name, hint in _field_hints(config.__class__):
        value = getattr(config, name)
        if not _fits(value, hint):
            _refuse(prefix + name, value, hint)
        converted = _converted(value, hint)
        if converted is not value:  # frozen dataclasses allow this in __post_init__ only
            object.__setattr__(config, name, converted)


def _converted(value: Any, hint: Any) -> Any:
    """``value`` (which fits ``hint``) as the code after expects it: a string given for a
    ``Path`` a ``Path``, a NumPy scalar given for a bool / int / float the Python one, a list
    given for a tuple a tuple, item by item (also within ``| None``); otherwise ``value``
    itself."""
    hint, _ = _without_none(hint)
    if hint is Path and isinstance(value, str):
        return Path(value)
    if hint in (bool, int, float) and _is_numpy(value, "generic"):
        item = value.item()  # a longdouble's is a longdouble: no Python value holds it exactly
        return item if isinstance(item, bool | int | float) else hint(item)
    if typing.get_origin(hint) is tuple and isinstance(value, tuple | list):
        args = typing.get_args(hint)
        ellipsis = len(args) == 2 and args[1] is Ellipsis
        items = [args[0]] * len(value) if ellipsis else args or [Any] * len(value)
        new = tuple(_converted(v, a) for v, a in zip(value, items, strict=True))
        same = isinstance(value, tuple) and all(n is v for n, v in zip(new, value, strict=True))
        return value if same else new
    return value


def _is_numpy(value: Any, kind: str) -> bool:
    """Whether ``value`` is an instance of ``numpy.<kind>`` (without importing NumPy: a value
    cannot be a NumPy scalar before NumPy is imported)."""
    numpy = sys.modules.get("numpy")
    return numpy is not None and isinstance(value, getattr(numpy, kind))


@functools.cache
def _field_hints(cls: Any) -> tuple[tuple[str, Any], ...]:
    """The (name, resolved annotation) of each init field of the dataclass ``cls``, once per
    class (``typing.get_type_hints`` is far slower than the checks themselves)."""
    hints = typing.get_type_hints(cls)
    return tuple((f.name, hints[f.name]) for f in dataclasses.fields(cls) if f.init)


def _refuse(field: str, value: Any, hint: Any) -> None:
    """Raise the :class:`UserError` for ``value``, which does not fit ``hint``."""
    hint, _ = _without_none(hint)
    if typing.get_origin(hint) is typing.Literal:
        _check_literal(field, value, typing.get_args(hint))
    if typing.get_origin(hint) is tuple and isinstance(value, tuple | list):
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis and typing.get_origin(args[0]) is typing.Literal:
            for item in value:  # each choice named like an option's choice
                _check_literal(field, item, typing.get_args(args[0]))
    if typing.get_origin(hint) is tuple and not isinstance(value, tuple | list):
        expected = "a tuple of " + _expected(hint)
    else:
        expected = _expected(hint)
    raise UserError(f"{option_name(field)} must be {expected}, got {value!r}")


def _check_literal(field: str, value: Any, choices: tuple[Any, ...]) -> None:
    if not any(_is_choice(value, c) for c in choices):
        raise UserError(
            f"{option_name(field)}: unknown value {value!r}; "
            f"choose from {', '.join(str(c) for c in choices)}"
        )


def _without_none(hint: Any) -> tuple[Any, bool]:
    """``X | None`` -> ``(X, True)``; a union of several types stays a union."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        rest = tuple(a for a in args if a is not type(None))
        if len(rest) < len(args):
            return (rest[0] if len(rest) == 1 else typing.Union[rest]), True  # noqa: UP007
    return hint, False


def _fits(value: Any, hint: Any) -> bool:
    """Whether ``value`` has the type ``hint``; annotations not checked fit anything."""
    if hint is bool:
        return isinstance(value, bool) or _is_numpy(value, "bool_")
    if hint is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, numbers.Real) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if hint is Path:
        return isinstance(value, str | Path)
    if hint is type(None):
        return value is None
    origin = typing.get_origin(hint)
    if origin is None:  # a class: a nested config's, else one not checked (np.ndarray, Any)
        is_config = isinstance(hint, type) and dataclasses.is_dataclass(hint)
        return not is_config or isinstance(value, hint)
    if origin is typing.Literal:
        return any(_is_choice(value, c) for c in typing.get_args(hint))
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, a) for a in typing.get_args(hint))
    if origin is tuple:
        if not isinstance(value, tuple | list):
            return False
        args = typing.get_args(hint)
        if not args:
            return True
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_fits(v, args[0]) for v in value)
        return len(value) == len(args) and all(
            _fits(v, a) for v, a in zip(value, args, strict=True)
        )
    return True  # Callable, Any, dict, arrays, ...: not checked


def _is_choice(value: Any, choice: Any) -> bool:
    """Whether ``value`` is the ``Literal`` choice ``choice``: equal, and of its type as a field
    of that type takes it (NumPy's ``str_`` is a string; ``True`` is not the choice ``1``)."""
    kind = type(choice)
    of_kind = _fits(value, kind) if kind in _EXPECTED else type(value) is kind
    return of_kind and bool(value == choice)


_EXPECTED = {
    bool: ("true or false", "true or false values"),
    int: ("a whole number", "whole numbers"),
    float: ("a number", "numbers"),
    str: ("a string", "strings"),
    Path: ("a path", "paths"),
    type(None): ("None", "None"),
}


def _expected(hint: Any, plural: bool = False) -> str:
    """What a value of type ``hint`` is, in words: ``a whole number``, ``whole numbers``."""
    origin = typing.get_origin(hint)
    if hint in _EXPECTED:
        return _EXPECTED[hint][plural]
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return f"{hint.__name__} instances" if plural else f"a {hint.__name__}"
    if origin is typing.Literal:
        choices = ", ".join(str(c) for c in typing.get_args(hint))
        return f"each one of {choices}" if plural else f"one of {choices}"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_expected(a, plural) for a in typing.get_args(hint))
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return _expected(args[0], plural=True)
        if len(set(args)) == 1:
            return f"{len(args)} {_expected(args[0], plural=True)}"
        return f"{len(args)} values ({', '.join(_expected(a) for a in args)})"
    return "something else"


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
