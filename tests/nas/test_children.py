"""Every architecture of both spaces builds into a working network of the right output shape."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rlgen.nas.children import ChildShape, build_child
from rlgen.nas.spaces import make_space


def _forward(space, arch, shape):
    torch.manual_seed(0)
    model = build_child(space, arch, shape)
    out = model(torch.randn(2, 1, 28, 28))
    assert out.shape == (2, 10)
    assert torch.isfinite(out).all()
    return model, out


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    blocks=st.integers(1, 5),
    reduction_cell=st.booleans(),
    cells=st.integers(1, 2),
)
def test_every_sampled_nasnet_architecture_builds(seed, blocks, reduction_cell, cells):
    torch.set_num_threads(1)
    space = make_space("nasnet", blocks=blocks, reduction_cell=reduction_cell)
    arch = space.sample(np.random.default_rng(seed))
    model, out = _forward(space, arch, ChildShape(filters=4, cells=cells))
    out.sum().backward()  # gradients reach the stem
    assert model.stem[0].weight.grad is not None


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), filters=st.sampled_from([4, 8, 16]))
def test_every_sampled_mnas_architecture_builds(seed, filters):
    torch.set_num_threads(1)
    space = make_space("mnas")
    _forward(space, space.sample(np.random.default_rng(seed)), ChildShape(filters=filters))


@pytest.mark.parametrize("op", make_space("nasnet").operations)
def test_each_nasnet_operation_alone(op):
    # every operation in both cells, on every input: strides and reductions line up
    space = make_space("nasnet", blocks=2, operations=[op])
    for arch in ([0] * 20, [1, 1, 0, 0, 1] * 4, [0, 1, 0, 0, 1, 2, 2, 0, 0, 0] * 2):
        _forward(space, arch, ChildShape(filters=4))


def test_extreme_mnas_choices():
    space = make_space("mnas")
    smallest = [0, 0, 0, 0, 0, 0] * 7  # conv 3x3, no SE, no skip, x0.75, one layer less
    largest = [4, 1, 1, 1, 2, 2] * 7  # MBConv6 5x5, SE, skip, x1.25, one layer more
    small, _ = _forward(space, smallest, ChildShape(filters=8))
    large, _ = _forward(space, largest, ChildShape(filters=8))
    assert sum(p.numel() for p in small.parameters()) < sum(p.numel() for p in large.parameters())
    # an identity skip where a layer keeps its shape
    assert any(getattr(m, "skip", False) for m in large.modules())


def _modes(model):
    """The output shape and finiteness for batches of 1 and 2, in train and eval mode."""
    for train in (True, False):
        model.train(train)
        for n in (1, 2):
            with torch.no_grad():
                out = model(torch.randn(n, 1, 28, 28))
            assert out.shape == (n, 10) and torch.isfinite(out).all(), (train, n)


@pytest.mark.parametrize(
    ("space", "shape"),
    [
        (make_space("nasnet", blocks=1), ChildShape(filters=2, cells=1)),
        (make_space("nasnet", blocks=1, reduction_cell=False), ChildShape(filters=1, cells=2)),
        (make_space("nasnet", blocks=20), ChildShape(filters=2, cells=1)),
        (make_space("nasnet", blocks=20, reduction_cell=False), ChildShape(filters=2, cells=1)),
        (make_space("mnas"), ChildShape(filters=1)),
        (make_space("mnas"), ChildShape(filters=16)),
    ],
    ids=["B1", "B1-noreduction-C1-N2", "B20", "B20-noreduction", "mnas-f1", "mnas-f16"],
)
def test_edge_architectures_build_in_both_modes(space, shape):
    torch.set_num_threads(1)
    for arch in (
        [0] * len(space),
        [n - 1 for n in space.sizes],
        space.sample(np.random.default_rng(1)),
    ):
        torch.manual_seed(0)
        _modes(build_child(space, arch, shape))


def test_mnas_layers_follow_the_table():
    from rlgen.nas.children import MnasLayer
    from rlgen.nas.spaces import MNAS_BASE

    space = make_space("mnas")
    for delta in range(3):
        arch = [0, 0, 0, 0, 1, delta] * 7
        model = build_child(space, arch, ChildShape(filters=4))
        layers = [m for m in model.modules() if isinstance(m, MnasLayer)]
        assert len(layers) == sum(max(1, b.layers + delta - 1) for b in MNAS_BASE)
