"""The one protocol for options a run would ignore: a config's ``ignored()`` and
:func:`rlgen.configs.refuse_ignored`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Literal

import pytest
import tyro

from rlgen.configs import option_flag, refuse_ignored, typed_options, was_given
from rlgen.errors import UserError


@dataclass(frozen=True)
class Net:
    kind: Literal["wide", "linear"] = "wide"
    hidden: int = 8
    noise_level: float = 0.5


@dataclass(frozen=True)
class Train:
    mode: Literal["fast", "slow"] = "fast"
    patience: int = 3
    net: Annotated[Net, tyro.conf.OmitArgPrefixes] = field(default_factory=Net)
    other: Net = field(default_factory=Net)

    def ignored(self) -> dict[str, str]:
        ignored = {}
        if self.mode == "fast":
            ignored["patience"] = "is for --mode slow only: --mode fast would ignore it"
        if self.net.kind == "linear":
            ignored["net.hidden"] = ": --kind linear has no hidden layer"
        if self.other.kind == "linear":
            ignored["other.noise_level"] = "is for a wide --other.kind"
        return ignored


def test_option_flag_spells_nested_fields_as_the_command_line_does():
    assert option_flag(Train, "patience") == "--patience"
    assert option_flag(Train, "net.hidden") == "--hidden"  # the prefix is omitted
    assert option_flag(Train, "other.noise_level") == "--other.noise-level"
    with pytest.raises(ValueError, match=r"no field 'net\.width'"):
        option_flag(Train, "net.width")


def test_was_given_from_python_means_away_from_the_default():
    assert not was_given(Train(), "patience")
    assert was_given(Train(patience=4), "patience")
    assert was_given(Train(net=Net(hidden=3)), "net.hidden")
    assert not was_given(Train(net=Net(hidden=3)), "net.noise_level")
    assert not was_given(Train(net=Net(hidden=3)), "other.hidden")  # the same name elsewhere
    assert was_given(Train(net=Net(hidden=3)), "net")  # a nested config by any of its options


def test_was_given_on_the_command_line_means_typed_even_at_the_default():
    with typed_options(["--patience", "3", "--other.noise-level=0.5"]):
        assert was_given(Train(), "patience")
        assert was_given(Train(), "other.noise_level")
        assert not was_given(Train(), "net.noise_level")  # --noise-level was not typed


def test_refuse_ignored_names_the_first_given_option_and_why_in_one_line():
    refuse_ignored(Train())  # ignored, but at their defaults: nothing was given
    refuse_ignored(Train(mode="slow", patience=5))  # given, and used
    with pytest.raises(UserError) as error:
        refuse_ignored(Train(patience=5, net=Net(kind="linear", hidden=3)))
    assert str(error.value) == (
        "--patience is for --mode slow only: --mode fast would ignore it; leave it out"
    )
    with pytest.raises(UserError) as error:
        refuse_ignored(Train(mode="slow", net=Net(kind="linear", hidden=3)))
    assert str(error.value) == "--hidden: --kind linear has no hidden layer; leave it out"
    typed = typed_options(["--other.noise-level", "0.5"])
    with typed, pytest.raises(UserError, match=r"^--other\.noise-level is for a wide --other"):
        refuse_ignored(Train(mode="slow", other=Net(kind="linear")))
