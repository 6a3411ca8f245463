"""The option checks: finite numbers in a range, choices; messages that name the option."""

from __future__ import annotations

import math

import pytest

from rlgen.errors import UserError, check_choice, check_finite, check_range


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
