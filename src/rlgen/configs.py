"""Configs and ``config.json``: saved as JSON, loaded back, checked on ``--resume``.

:func:`config_from_dict` rebuilds a frozen config dataclass from its JSON form (checking field
types and running the config's own validation); :func:`load_run_config` reads the config a run
saved; :func:`changed_options` and :func:`check_resume_options` refuse options that ``--resume``
would ignore (on the command line, within :func:`typed_options`, also those typed at their
default value). A config's ``ignored()`` names the options its run would ignore given its other
values (:class:`IgnoresOptions`), and :func:`refuse_ignored` refuses the first one given.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol, TypeVar

from rlgen.errors import UserError
from rlgen.files import read_json

C = TypeVar("C")


def config_from_dict(cls: type[C], data: Mapping[str, Any], *, where: str = "config") -> C:
    """The frozen config dataclass ``cls`` from its JSON form (:func:`to_jsonable`).

    Nested dataclasses, tuples (saved as lists), paths and optional fields are rebuilt from the
    field types; fields missing from ``data`` keep their defaults; unknown keys are an error.
    The config's own validation runs again, so a hand-edited config.json is checked like options.
    A class with a ``saved_form(data)`` static method first turns what an older rlgen saved into
    what it accepts now (:meth:`rlgen.executors.ExecutorOptions.saved_form`).

    Raises:
        UserError: ``data`` does not describe a ``cls`` (``where`` names the file in the message).
    """
    import typing

    if not isinstance(data, Mapping):
        raise UserError(f"{where}: expected an object of {cls.__name__} fields, got {data!r}")
    upgrade = getattr(cls, "saved_form", None)
    if upgrade is not None:
        data = upgrade(data)
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        raise UserError(f"{where}: unknown {cls.__name__} fields {', '.join(unknown)}")
    values = {name: _from_json(hints[name], data[name], f"{where}.{name}") for name in data}
    try:
        return cls(**values)
    except TypeError as e:
        raise UserError(f"{where}: {e}") from None


def _from_json(hint: Any, value: Any, where: str) -> Any:
    """``value`` (from JSON) converted to the type ``hint`` of a config field.

    Values of the wrong type (a string for an int, ``1`` for a bool, a choice that is not one of
    a ``Literal``'s) are refused here, naming the field, rather than slipping into the config.
    """
    import types
    import typing

    origin = typing.get_origin(hint)
    if origin is typing.Annotated:
        return _from_json(typing.get_args(hint)[0], value, where)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        return _from_json(options[0], value, where) if len(options) == 1 else value
    if origin is typing.Literal:
        if value not in typing.get_args(hint):
            choices = ", ".join(repr(a) for a in typing.get_args(hint))
            raise UserError(f"{where}: {value!r} is not one of {choices}")
        return value
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return config_from_dict(hint, value, where=where)
    if origin is tuple:
        if not isinstance(value, list | tuple):  # JSON gives lists; a torch checkpoint, tuples
            raise UserError(f"{where}: expected a list, got {value!r}")
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:  # tuple[X, ...]
            items = [args[0]] * len(value)
        elif args:  # tuple[X, Y]: one type per position
            if len(value) != len(args):
                raise UserError(f"{where}: expected {len(args)} values, got {value!r}")
            items = list(args)
        else:
            items = [Any] * len(value)
        return tuple(
            _from_json(item, v, f"{where}[{i}]")
            for i, (item, v) in enumerate(zip(items, value, strict=True))
        )
    expected = _JSON_SCALARS.get(hint)
    if expected is not None and (
        not isinstance(value, expected) or (isinstance(value, bool) and hint is not bool)
    ):
        raise UserError(f"{where}: expected {_TYPE_NAMES[hint]}, got {value!r}")
    if hint is Path:
        return Path(value)
    if hint is float:
        return float(value)
    return value


_JSON_SCALARS: dict[Any, type | tuple[type, ...]] = {
    bool: bool,
    int: int,
    float: (int, float),
    str: str,
    Path: str,
}
_TYPE_NAMES = {
    bool: "true or false",
    int: "an integer",
    float: "a number",
    str: "a string",
    Path: "a path",
}


def changed_options(
    config: Any, *, ignore: Iterable[str] = ("resume",), default: Any = None
) -> list[str]:
    """The options of ``config`` whose values differ from the config class's defaults.

    Nested configs are searched field by field; an option is spelled as on the command line
    (``--lr`` where the nested config's prefix is omitted, else ``--child.lr``). Used to refuse
    options that ``--resume`` would ignore. ``default``: the config to compare with (default:
    the class's defaults).
    """
    import typing

    from rlgen.errors import option_name

    ignore = set(ignore)
    if default is None:  # the class's defaults; a required field (a positional RUN_DIR) as given
        required = {
            f.name: getattr(config, f.name)
            for f in dataclasses.fields(config)
            if f.init
            and f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING
        }
        default = type(config)(**required)
    hints = typing.get_type_hints(type(config), include_extras=True)
    changed: list[str] = []
    for f in dataclasses.fields(config):
        value, base = getattr(config, f.name), getattr(default, f.name)
        if f.name in ignore or value == base:
            continue
        nested = dataclasses.is_dataclass(value) and type(base) is type(value)
        # a nested config against the default it has here (LoopConfig(epochs=4), not LoopConfig())
        inner = changed_options(value, default=base) if nested else []
        if inner:
            prefix = "" if _omits_prefix(hints[f.name]) else option_name(f.name)[2:] + "."
            changed += ["--" + prefix + name.removeprefix("--") for name in inner]
        elif not nested:  # a plain value, or a nested config that is there instead of None
            changed.append(option_name(f.name))
    return changed


def default_in_words(text: str) -> Any:
    """``Annotated`` metadata that shows a field's default in --help as ``text``: for a default
    whose value says nothing (an empty list shows as "(default: )")."""
    import tyro

    return tyro.conf.arg(help_behavior_hint=f"(default: {text})")


def _omits_prefix(hint: Any) -> bool:
    """Whether a nested config's field is annotated to flatten its options (no ``name.``)."""
    import typing

    import tyro

    if typing.get_origin(hint) is not typing.Annotated:
        return False
    return any(m is tyro.conf.OmitArgPrefixes for m in typing.get_args(hint)[1:])


_TYPED: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar(
    "rlgen_typed_options", default=frozenset()
)


@contextlib.contextmanager
def typed_options(args: Iterable[str]) -> Iterator[None]:
    """Within it, the option flags among the command-line tokens ``args`` count as given
    (:func:`given_options`) whatever their value: ``--epochs 10`` beside ``--resume`` is refused
    even where 10 is the default. The command line sets it; calls from Python go without."""
    token = _TYPED.set(frozenset(_flag_key(a) for a in args if a.startswith("--")))
    try:
        yield
    finally:
        _TYPED.reset(token)


def _flag_key(flag: str) -> str:
    """A flag as typed (``--a.b_c=1``, ``--a-b-c``) in one spelling: ``a-b-c``."""
    return flag.partition("=")[0].removeprefix("--").replace("_", "-").replace(".", "-")


def _flags(cls: type, prefix: str = "", path: str = "") -> Iterator[tuple[str, str, str]]:
    """``(field path, flag, key)`` of every option of the config class ``cls``: the path dotted
    through nested configs (``model.hidden``), the flag spelled as :func:`changed_options` spells
    it (``--hidden`` where the nested config's prefix is omitted), each also under the key of
    ``--no-...`` (tyro's false boolean; no other option is spelled so). A nested config's options
    come before its own flag (``--model``: the config given whole, or None)."""
    import typing

    from rlgen.errors import option_name

    hints = typing.get_type_hints(cls, include_extras=True)
    for f in dataclasses.fields(cls):
        name, where = option_name(f.name)[2:], path + f.name
        inner = _nested_config(hints[f.name])
        if inner is not None:
            inner_prefix = prefix if _omits_prefix(hints[f.name]) else f"{prefix}{name}."
            yield from _flags(inner, inner_prefix, where + ".")
        for key in (prefix + name, prefix + "no-" + name):
            yield where, f"--{prefix}{name}", _flag_key(key)


def _nested_config(hint: Any) -> type | None:
    """The config class of a nested config field (also ``Annotated`` or ``| None``), else None."""
    import types
    import typing

    if typing.get_origin(hint) is typing.Annotated:
        return _nested_config(typing.get_args(hint)[0])
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        return _nested_config(options[0]) if len(options) == 1 else None
    return hint if dataclasses.is_dataclass(hint) and isinstance(hint, type) else None


def given_options(config: Any, *, ignore: Iterable[str] = ("resume",)) -> list[str]:
    """:func:`changed_options`, and within :func:`typed_options` also the options of ``config``
    typed on the command line at any value (``--resume`` itself never counts). ``ignore``:
    top-level fields whose options do not count."""
    ignore = set(ignore)
    given = changed_options(config, ignore=ignore)
    typed = _TYPED.get()
    for path, flag, key in _flags(type(config)):
        top = path.partition(".")[0]
        if key in typed and top not in ignore and flag != "--resume" and flag not in given:
            given.append(flag)
    return given


def _path_flags(cls: type, name: str) -> list[str]:
    """The flags of the field ``name`` of the config class ``cls`` (dotted for a nested config's
    field, ``model.hidden``): its own, and those of its options where it is a config itself."""
    flags = [f for path, f, _ in _flags(cls) if path == name or path.startswith(name + ".")]
    if not flags:  # a typo in a config's ignored(), not a user's error
        raise ValueError(f"{cls.__name__} has no field {name!r}")
    return list(dict.fromkeys(flags))


def option_flag(cls: type, name: str) -> str:
    """The command-line flag of the field ``name`` (dotted for a nested config's field) of the
    config class ``cls``: ``option_flag(AETrainConfig, "model.hidden") == "--hidden"``."""
    return _path_flags(cls, name)[-1]


def was_given(config: Any, name: str) -> bool:
    """Whether the field ``name`` of ``config`` (dotted for a nested config's field:
    ``model.hidden``; a nested config counts by any of its options) is away from its default
    or, within :func:`typed_options`, typed on the command line."""
    flags = set(_path_flags(type(config), name))
    return any(flag in flags for flag in given_options(config, ignore=()))


class IgnoresOptions(Protocol):
    """A config that names the options its run would ignore, given its other values."""

    def ignored(self) -> Mapping[str, str]:
        """Field (dotted for a nested config's field: ``model.hidden``) -> why the run ignores
        it: the rest of :func:`refuse_ignored`'s message after the option, ``is for --kind
        denoising only: --kind linear would ignore it``, or after a colon, ``: --iwae-k 0
        skips the IWAE``. Only the fields ignored with the config's values are named."""
        ...


def refuse_ignored(config: IgnoresOptions) -> None:
    """Refuse the first option that ``config.ignored()`` names and that was given: one line,
    ``--tol is for --method value-iteration only: --method policy-iteration would ignore it;
    leave it out``. On the command line (:func:`typed_options`) an option typed at its default
    value was given too; from Python, one whose value differs from its default.

    A run calls it before it writes anything (not in ``__post_init__``: a config with an ignored
    value at its default, or from a saved run, is still a config). The options ignored for a
    reason only the run knows (reinforce's --eval-screen where the environment has no threshold)
    and contradictions within one nested config (--workers with --executor ray) are refused
    where that is known, in the same words."""
    ignored = config.ignored()
    if not ignored:
        return
    given = set(given_options(config, ignore=()))  # once, not once per ignored field
    for name, why in ignored.items():
        if given.intersection(_path_flags(type(config), name)):
            space = "" if why.startswith(":") else " "
            raise UserError(f"{option_flag(type(config), name)}{space}{why}; leave it out")


def check_resume_options(config: Any, run_dir: Path, *, allowed: Iterable[str] = ()) -> None:
    """Refuse options given beside ``--resume``: the run continues with its saved config.

    ``allowed``: fields that may be given (the caller applies them, e.g. where a sweep's jobs run).
    On the command line an option typed at its default value is given too (:func:`typed_options`).
    """
    given = given_options(config, ignore=("resume", *allowed))
    if given:
        raise UserError(
            f"--resume continues with the config saved in {run_dir}; leave out "
            f"{', '.join(given)} (they would be ignored)"
        )


def load_run_config(run_dir: str | Path, command: str, cls: type[C]) -> C:
    """The config a ``command`` run saved in ``run_dir/config.json``, as a ``cls``."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: not a run directory")
    saved = read_json(run_dir / "config.json")
    if not isinstance(saved, dict) or saved.get("command") != command:
        raise UserError(f"{run_dir}: not a '{command}' run directory")
    return config_from_dict(cls, saved.get("config") or {}, where=f"{run_dir / 'config.json'}")
