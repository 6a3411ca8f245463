"""Search spaces: decisions, JSON round trips, words, bad options."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rlgen.errors import UserError
from rlgen.nas.spaces import (
    MNAS_OPERATIONS,
    NASNET_OPERATIONS,
    SearchSpace,
    make_space,
    unused_states,
)


def test_nasnet_space_is_the_papers():
    space = make_space("nasnet")
    assert len(NASNET_OPERATIONS) == 13
    # 2 cells x 5 blocks x (2 inputs, 2 operations, 1 combine)
    assert len(space) == 50
    first_block = space.sizes[:5]
    assert first_block == (2, 2, 13, 13, 2)
    # block b reads the two cell inputs or any earlier block: 2 + b hidden states
    inputs = [d.size for d in space.decisions[:25] if d.kind == "input"]
    assert inputs == [2, 2, 3, 3, 4, 4, 5, 5, 6, 6]


def test_mnas_space_is_the_factorized_table():
    space = make_space("mnas")
    assert len(space) == 7 * 6
    assert space.sizes[:6] == (5, 2, 2, 2, 3, 3)
    assert MNAS_OPERATIONS == ("conv", "sep_conv", "mbconv1", "mbconv3", "mbconv6")


def test_operation_subset_keeps_the_space_order():
    space = make_space("nasnet", operations=["sep_conv3x3", "identity", "identity"])
    assert space.operations == ("identity", "sep_conv3x3")
    assert space.sizes[2] == 2


def test_without_reduction_cell():
    space = make_space("nasnet", blocks=2, reduction_cell=False)
    assert space.cells == ("normal",) and len(space) == 10


@pytest.mark.parametrize("name", ["nasnet", "mnas"])
@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_json_round_trip(name, seed):
    space = make_space(name)
    arch = space.sample(np.random.default_rng(seed))
    text = space.to_json(arch)
    assert json.loads(text) == list(arch)
    assert space.from_json(text) == arch
    assert SearchSpace.from_spec(json.loads(json.dumps(space.spec))) == space


def test_bad_architectures_are_refused():
    space = make_space("nasnet", blocks=1)
    with pytest.raises(ValueError, match="expected 10 choices"):
        space.check([0])
    with pytest.raises(ValueError, match="has 2 options"):
        space.check([2] + [0] * 9)
    with pytest.raises(ValueError, match="whole number"):
        space.from_json("[0.5, 0, 0, 0, 0, 0, 0, 0, 0, 0]")


def test_printable_in_words():
    space = make_space("nasnet", blocks=2, operations=["identity", "sep_conv3x3"])
    # block 1: identity on h[i-2] + sep conv on h[i-1], add; block 2: reads block 1 twice, concat
    normal = [0, 1, 0, 1, 0, 2, 2, 1, 1, 1]
    reduction = [1, 1, 1, 1, 0, 0, 1, 0, 0, 0]
    text = space.describe(normal + reduction)
    assert (
        "block 1: add of identity on h[i-2] and 3x3 depthwise-separable convolution on h[i-1]"
        in text
    )
    assert "block 2: concat of 3x3 depthwise-separable convolution on block 1" in text
    assert "output: concat of block 2" in text
    words = space.words(normal + reduction)
    assert words[0] == "normal cell, block 1, input a: h[i-2]"
    mnas = make_space("mnas")
    assert mnas.describe([4, 1, 1, 1, 2, 2] * 7).splitlines()[1] == (
        "stage 2: 3 x MBConv, expansion 6 5x5, SE 0.25, identity skip, filters x1.25, stride 2"
    )


def test_unused_states_form_the_output():
    space = make_space("nasnet", blocks=3)
    blocks = space.cells_of([0, 1, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0, 0, 0] * 2)["normal"]
    assert unused_states(blocks) == [3, 4]  # block 1 is read by block 2; blocks 2, 3 are not


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "resnet"}, "--space: unknown space 'resnet'; choose from nasnet, mnas"),
        ({"name": "nasnet", "operations": ["conv9x9"]}, "--operations: unknown nasnet operation"),
        ({"name": "mnas", "operations": ["sep_conv3x3"]}, "--operations: unknown mnas operation"),
        ({"name": "nasnet", "blocks": 0}, "--blocks must be a whole number in [1, 20], got 0"),
    ],
)
def test_bad_options_are_one_line_errors(kwargs, message):
    with pytest.raises(UserError) as error:
        make_space(**kwargs)
    assert message in str(error.value) and "\n" not in str(error.value)


def _edge_spaces():
    every = make_space("nasnet").operations
    yield make_space("mnas")
    yield make_space("mnas", operations=["mbconv6"])
    for blocks in (1, 2, 20):
        for reduction_cell in (True, False):
            yield make_space("nasnet", blocks=blocks, reduction_cell=reduction_cell)
    yield make_space("nasnet", blocks=1, operations=["max_pool7x7"])
    yield make_space("nasnet", blocks=3, operations=[*reversed(every), "identity"])


@pytest.mark.parametrize("space", list(_edge_spaces()), ids=lambda s: str(s.spec)[:60])
def test_edge_architectures_round_trip(space):
    # the first and the last option of every decision, and a sample
    for arch in (
        tuple(0 for _ in space.sizes),
        tuple(n - 1 for n in space.sizes),
        space.sample(np.random.default_rng(0)),
    ):
        assert space.from_json(space.to_json(arch)) == arch
        assert len(space.words(arch)) == len(space) and space.describe(arch) and space.short(arch)
        again = SearchSpace.from_spec(json.loads(json.dumps(space.spec)))
        assert again == space and again.sizes == space.sizes
        assert again.check(np.asarray(arch)) == arch  # NumPy integers are choices too


def test_operation_subsets():
    every = make_space("nasnet").operations
    assert make_space("nasnet", operations=list(every)).operations == every
    assert make_space("nasnet", operations=[]).operations == every  # none given: all of them
    assert make_space("nasnet", operations=["conv3x3"] * 4).sizes[2:4] == (1, 1)
    assert make_space("nasnet", operations=("sep_conv7x7", "identity")).operations == (
        "identity",
        "sep_conv7x7",
    )
    with pytest.raises(UserError, match="unknown nasnet operation 'conv'"):
        make_space("nasnet", operations=["identity", "conv"])
    with pytest.raises(UserError, match="unknown mnas operation ''"):
        make_space("mnas", operations=[""])


def test_a_layer_delta_never_empties_a_stage():
    space = make_space("mnas")
    # stage 1 and 7 have one layer: -1 keeps one; +1 makes two
    fewer = [0, 0, 0, 0, 1, 0] * 7
    more = [0, 0, 0, 0, 1, 2] * 7
    assert [line.split(" x ")[0][-1] for line in space.describe(fewer).splitlines()] == list(
        "1111111"
    )
    assert [line.split(" x ")[0][-1] for line in space.describe(more).splitlines()] == list(
        "2333332"
    )
