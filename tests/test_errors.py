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
