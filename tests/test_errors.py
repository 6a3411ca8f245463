"""The option checks: finite numbers in a range, choices; messages that name the option."""

from __future__ import annotations

import dataclasses
import importlib
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytest

from rlgen.errors import (
    UserError,
    _field_hints,
    check_choice,
    check_config_types,
    check_finite,
    check_range,
    option_name,
)
from rlgen.files import to_jsonable


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("alpha", 0.0, 0, 1, True, False), "--alpha must be in (0, 1], got 0"),
        (("gamma", 1.5, 0, 1, False, False), "--gamma must be in [0, 1], got 1.5"),
        (("learning_rate", -1.0, 0, None, True, False), "--learning-rate must be > 0, got -1"),
        (("steps", 0, 1, None, False, False), "--steps must be >= 1, got 0"),
        (("rate", 2.0, None, 1, False, True), "--rate must be < 1, got 2"),
        (("rate", math.nan, 0, 1, False, False), "--rate must be a finite number, got nan"),
    ],
)
def test_check_range_names_the_option_and_interval(args, message):
    field, value, low, high, low_open, high_open = args
    with pytest.raises(UserError) as info:
        check_range(field, value, low, high, low_open=low_open, high_open=high_open)
    assert str(info.value) == message


def test_check_range_accepts_the_interval():
    check_range("alpha", 1.0, 0, 1, low_open=True)
    check_range("steps", 1, 1)


def test_check_choice():
    check_choice("device", "cpu", ("auto", "cpu"))
    with pytest.raises(UserError, match="--device: unknown value 'gpu'; choose from auto, cpu"):
        check_choice("device", "gpu", ("auto", "cpu"))


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_no_option_takes_a_non_finite_value_whatever_its_bounds(value):
    with pytest.raises(UserError, match="--tol must be a finite number"):
        check_range("tol", value, 0, low_open=True)
    with pytest.raises(UserError, match="--tol must be a finite number"):
        check_range("tol", value)
    with pytest.raises(UserError, match="--tol must be a finite number"):
        check_finite("tol", value)


def test_a_non_number_is_refused_by_name():
    with pytest.raises(UserError, match="--tol must be a number, got 'x'"):
        check_finite("tol", "x")  # type: ignore[arg-type]


def test_sizes_beyond_the_machine_are_refused_with_the_estimate():
    from rlgen.errors import check_memory, total_memory

    check_memory("runs", 1e6, "the estimates")  # a megabyte is fine
    with pytest.raises(UserError, match=r"--runs: the estimates would need about 8\.0 PB|TB"):
        check_memory("runs", 8e15, "the estimates")
    assert total_memory() > 0


def test_an_int_too_large_for_a_float_is_refused_by_range_not_by_overflow():
    huge = 10**400  # a 401-digit --runs: Python parses it, math.isfinite cannot take it
    check_range("runs", huge, 1)  # finite and above the bound: fine
    with pytest.raises(UserError) as info:
        check_range("runs", huge, 1, 10**6)
    assert str(info.value) == "--runs must be in [1, 1000000], got 1.000e+400"


def test_ints_are_shown_as_given_not_rounded():
    with pytest.raises(UserError) as info:
        check_range("steps", 1234567, 1, 10**6)
    assert str(info.value) == "--steps must be in [1, 1000000], got 1234567"
    with pytest.raises(UserError, match=r"--x must be > 0, got -0$"):
        check_range("x", -0.0, 0, low_open=True)
    with pytest.raises(UserError) as info:  # every 64-bit seed in full
        check_range("seed", 9223372036854775000, 0, 9223372036854775)
    assert str(info.value).endswith("got 9223372036854775000")


def test_numpy_numbers_are_numbers_and_booleans_are_not():
    import numpy as np

    check_range("seed", np.int64(3), 0)
    check_range("rate", np.float32(0.5), 0, 1)
    with pytest.raises(UserError, match="--rate must be a finite number"):
        check_range("rate", np.float64("nan"), 0, 1)
    for flag in (True, np.bool_(True)):
        with pytest.raises(UserError, match="--seed must be a number"):
            check_range("seed", flag, 0)


def test_a_memory_estimate_beyond_any_float_is_refused_with_a_message():
    from rlgen.errors import check_memory

    for needed in (10**400, math.inf):
        with pytest.raises(UserError, match=r"--runs: the arrays would need more than 1000000 TB"):
            check_memory("runs", needed, "the arrays")


# ---- field types of configs built from Python or loaded from config.json ---------------------


@dataclasses.dataclass(frozen=True)
class Inner:
    size: int = 1

    def __post_init__(self) -> None:
        check_config_types(self, "inner.")


@dataclasses.dataclass(frozen=True)
class Kinds:
    """One field of every annotation kind check_config_types knows, and some it leaves alone."""

    count: int = 1
    rate: float = 0.5
    flag: bool = False
    label: str = "a"
    path: Path = Path("x")
    choice: Literal["auto", "cpu"] = "auto"
    maybe: int | None = None
    sizes: tuple[int, ...] = (1, 2)
    weights: tuple[float, ...] = ()
    pair: tuple[int, int] | None = None
    policies: tuple[Literal["tabular", "neural"], ...] = ("tabular",)
    inner: Inner = dataclasses.field(default_factory=Inner)
    callback: Callable[[int], int] | None = None
    anything: Any = None
    table: dict[str, int] = dataclasses.field(default_factory=dict)
    array: np.ndarray | None = None

    def __post_init__(self) -> None:
        check_config_types(self)


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"count": np.int64(3), "rate": 2, "flag": True, "label": ""},
        {"rate": np.float32(0.25), "path": "some/dir", "choice": "cpu", "maybe": 7},
        {"sizes": [3], "weights": (1, 0.5, np.float64(2)), "pair": (2, 3)},
        {"policies": ("neural", "tabular"), "inner": Inner(size=4)},
        # NumPy strings (from an array of choices) are strings, for choices as for str fields
        {"choice": np.str_("cpu"), "policies": (np.str_("neural"),), "label": np.str_("b")},
        {"callback": len, "anything": object(), "table": {"a": "not an int"}, "array": np.ones(2)},
        {"rate": math.nan},  # a number: its range is check_range's business
    ],
)
def test_check_config_types_accepts_values_of_the_annotated_types(changes):
    config = Kinds(**changes)
    for name, value in changes.items():
        got = getattr(config, name)
        if name == "path" and isinstance(value, str):  # a string path becomes a Path
            assert got == Path(value)
        elif isinstance(value, list | np.number) or name == "weights":  # see the next test
            assert got == (tuple(value) if isinstance(value, list) else value)
        else:
            assert got is value  # frozen: nothing else converted


def test_numpy_scalars_and_lists_become_the_python_types_of_their_fields():
    config = Kinds(
        count=np.int64(3),
        rate=np.float32(0.25),
        flag=np.bool_(True),
        maybe=np.int32(7),
        sizes=[np.int64(3), 4],
        weights=(1, np.float64(2)),
        pair=[2, 3],
    )
    assert config == Kinds(
        count=3, rate=0.25, flag=True, maybe=7, sizes=(3, 4), weights=(1, 2.0), pair=(2, 3)
    )
    assert type(config.count) is int and type(config.rate) is float and config.flag is True
    assert type(config.maybe) is int and type(config.weights[1]) is float
    assert type(config.sizes) is tuple and [type(s) for s in config.sizes] == [int, int]
    assert type(config.pair) is tuple and hash(config.pair) == hash((2, 3))
    unchanged = (1, 2)
    assert Kinds(sizes=unchanged).sizes is unchanged


def test_a_numpy_long_double_becomes_a_python_float_too():
    """``np.longdouble.item()`` gives a longdouble back (it does not fit a float): the config
    held it, and writing config.json recursed until Python gave up."""
    config = Kinds(rate=np.longdouble(0.25), weights=(np.longdouble(1.5),))
    assert type(config.rate) is float and config.rate == 0.25
    assert type(config.weights[0]) is float and config.weights == (1.5,)
    assert to_jsonable(config)["rate"] == 0.25


def test_a_path_given_as_a_string_is_a_path_where_the_code_uses_it():
    from rlgen.nas.command import ShowConfig
    from rlgen.pg.command import TrainConfig
    from rlgen.pg.evaluate_command import EvaluateConfig

    # each used a Path method at once (.suffix, run_dir / name): a traceback, not one line
    with pytest.raises(UserError, match=r"^--gif x\.png: give a file name ending in \.gif"):
        EvaluateConfig(run_dir="run", gif="x.png")  # type: ignore[arg-type]
    show = ShowConfig(run_dirs=("a", Path("b")), figure="f.png")  # type: ignore[arg-type]
    assert show.run_dirs == (Path("a"), Path("b")) and show.figure == Path("f.png")
    assert TrainConfig(resume="sweep").resume == Path("sweep")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"count": 2.5}, "--count must be a whole number, got 2.5"),
        ({"count": True}, "--count must be a whole number, got True"),
        ({"count": "3"}, "--count must be a whole number, got '3'"),
        ({"count": None}, "--count must be a whole number, got None"),
        ({"rate": "1"}, "--rate must be a number, got '1'"),
        ({"rate": False}, "--rate must be a number, got False"),
        ({"flag": 1}, "--flag must be true or false, got 1"),
        ({"flag": np.int64(1)}, "--flag must be true or false, got np.int64(1)"),
        ({"count": np.bool_(True)}, "--count must be a whole number, got np.True_"),
        ({"label": 3}, "--label must be a string, got 3"),
        ({"path": 3}, "--path must be a path, got 3"),
        ({"choice": "gpu"}, "--choice: unknown value 'gpu'; choose from auto, cpu"),
        ({"maybe": 1.0}, "--maybe must be a whole number, got 1.0"),
        ({"sizes": (32.5,)}, "--sizes must be whole numbers, got (32.5,)"),
        ({"sizes": ("64",)}, "--sizes must be whole numbers, got ('64',)"),
        ({"sizes": 64}, "--sizes must be a tuple of whole numbers, got 64"),
        ({"sizes": "64"}, "--sizes must be a tuple of whole numbers, got '64'"),
        ({"weights": (1.0, "2")}, "--weights must be numbers, got (1.0, '2')"),
        ({"pair": (1, 2, 3)}, "--pair must be 2 whole numbers, got (1, 2, 3)"),
        ({"pair": (1, 2.0)}, "--pair must be 2 whole numbers, got (1, 2.0)"),
        ({"policies": ("tabular", "deep")}, "--policies: unknown value 'deep'; choose from"),
        ({"inner": {"size": 1}}, "--inner must be a Inner, got {'size': 1}"),
    ],
)
def test_check_config_types_refuses_the_wrong_type_naming_the_option(changes, message):
    with pytest.raises(UserError) as info:
        Kinds(**changes)
    assert str(info.value).startswith(message), str(info.value)
    assert "\n" not in str(info.value)


def test_a_nested_config_checks_its_own_fields_with_the_prefix_the_cli_uses():
    with pytest.raises(UserError, match=r"^--inner\.size must be a whole number, got 1\.5$"):
        Kinds(inner=Inner(size=1.5))  # type: ignore[arg-type]


# Every config class users build: each calls check_config_types at the top of __post_init__.
CONFIG_MODULES = [
    "rlgen.executors",
    "rlgen.training",
    "rlgen.generative.images",
    "rlgen.generative.models",
    "rlgen.generative.command",
    "rlgen.generative.evaluate",
    "rlgen.generative.sweeps",
    "rlgen.pg.reinforce",
    "rlgen.pg.command",
    "rlgen.pg.evaluate_command",
    "rlgen.reproduce",
    "rlgen.nas.controller",
    "rlgen.nas.search",
    "rlgen.nas.rewards",
    "rlgen.nas.command",
    "rlgen.bandits.agents",
    "rlgen.bandits.command",
    "rlgen.mdp.model",
    "rlgen.mdp.command",
]
# What the CLI puts before the fields of a config nested under a prefix (--child.filters).
PREFIXES = {"ChildConfig": "child.", "ControllerConfig": "reinforce."}


def _config_classes() -> list[type]:
    classes = []
    for name in CONFIG_MODULES:
        module = importlib.import_module(name)
        for cls in vars(module).values():
            if (
                isinstance(cls, type)
                and dataclasses.is_dataclass(cls)
                and cls.__module__ == name
                and "__post_init__" in vars(cls)
            ):
                classes.append(cls)
    return classes


CONFIG_CLASSES = _config_classes()


def _required(cls: type) -> dict[str, Any]:
    """Values for the fields a class has no default for."""
    if cls.__name__ == "MDP":
        from rlgen.mdp.examples import gridworld_4_1

        mdp = gridworld_4_1()
        return {f.name: getattr(mdp, f.name) for f in dataclasses.fields(mdp)}
    known = {"run_dir": Path("run"), "run_dirs": (Path("run"),), "kind": "ucb"}
    return {
        f.name: known[f.name]
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }


def test_every_config_class_is_collected():
    names = {cls.__name__ for cls in CONFIG_CLASSES}
    assert len(CONFIG_CLASSES) >= 24
    assert {"LoopConfig", "ReinforceConfig", "VAEConfig", "ExecutorOptions", "MDP"} <= names


@pytest.mark.parametrize("cls", CONFIG_CLASSES, ids=lambda c: f"{c.__module__}.{c.__name__}")
def test_every_config_refuses_a_wrong_type_by_option_name(cls):
    cls(**_required(cls))  # its defaults are of their own types
    hints = dict(_field_hints(cls))
    # the first whole-number field (else number field, else tuple of either) given a wrong type
    wrong = [
        ((int, int | None), 2.5),
        ((float, float | None), "0.5"),
        ((tuple[int, ...],), (2.5,)),
        ((tuple[float, ...],), ("0.5",)),
    ]
    name, bad = next(
        ((n, bad) for kinds, bad in wrong for n, h in hints.items() if h in kinds), (None, None)
    )
    assert name is not None, f"{cls.__name__} has no number field to test"
    with pytest.raises(UserError) as info:
        cls(**{**_required(cls), name: bad})
    option = option_name(PREFIXES.get(cls.__name__, "") + name)
    assert str(info.value).startswith(f"{option} must be "), str(info.value)
    assert f"got {bad!r}" in str(info.value)


def test_type_hints_are_resolved_once_per_class():
    from rlgen.training import LoopConfig

    LoopConfig()
    before = _field_hints.cache_info().hits
    LoopConfig(epochs=3)
    assert _field_hints.cache_info().hits == before + 1


def test_a_value_beside_its_bound_is_shown_as_given_not_rounded_onto_it():
    with pytest.raises(UserError, match=r"^--gamma must be in \[0, 1\], got 1\.0000001$"):
        check_range("gamma", 1.0000001, 0, 1)
    with pytest.raises(UserError, match=r"^--tol must be <= 0\.01, got 0\.010000001$"):
        check_range("tol", np.float32(0.010000001), high=0.01)
    with pytest.raises(UserError, match=r"^--lr must be <= 1, got 1\.5$"):  # %g where exact
        check_range("lr", 1.5, high=1)
