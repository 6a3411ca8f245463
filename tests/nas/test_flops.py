"""Multiply-adds and parameters of children against an independent count from the choices alone.

The counter here never looks at the built network: it walks the architecture's blocks or stages
with plain arithmetic from layer shapes (a k x k convolution costs H_out * W_out * C_out *
(C_in / groups) * k^2 multiply-adds, a linear layer in * out; batch norm, activations, pooling,
additions and biases cost none, as in the papers' counts and torch's counter), so a mistake in
building a child or in counting it shows up as a difference.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rlgen.nas.children import ChildShape, build_child
from rlgen.nas.rewards import count_flops
from rlgen.nas.spaces import MNAS_BASE, make_space


def size_out(r: int, k: int, stride: int, padding: int, dilation: int = 1) -> int:
    return (r + 2 * padding - dilation * (k - 1) - 1) // stride + 1


def conv(r, c_in, c_out, k, stride=1, *, groups=1, bn=True, bias=False, padding=None, dilation=1):
    """(side out, multiply-adds, parameters) of a square convolution (+ batch norm)."""
    padding = dilation * (k - 1) // 2 if padding is None else padding
    side = size_out(r, k, stride, padding, dilation)
    weights = c_out * (c_in // groups) * k * k
    params = weights + (2 * c_out if bn else 0) + (c_out if bias else 0)
    return side, side * side * weights, params


def round4(x: float) -> int:
    return max(4, round(x / 4) * 4)


def mnas_count(space, arch, filters):
    scale = filters / 16
    c = round4(16 * scale)
    r, macs, params = conv(28, 1, c, 3)
    for stage, base in zip(space.stages_of(arch), MNAS_BASE, strict=True):
        c_out = round4(base.filters * stage.filters * scale)
        k = stage.kernel
        for i in range(max(1, base.layers + stage.layers)):
            stride = base.stride if i == 0 else 1
            squeeze = max(1, int(c * stage.se)) if stage.se else 0
            parts = []
            if stage.op == "conv":
                parts.append(conv(r, c, c_out, k, stride))
                se_on = c_out
            elif stage.op == "sep_conv":
                parts.append(conv(r, c, c, k, stride, groups=c))
                se_on = c
                parts.append(conv(parts[0][0], c, c_out, 1))
            else:
                mid = c * int(stage.op[-1])
                if mid > c:
                    parts.append(conv(r, c, mid, 1))
                parts.append(conv(r, mid, mid, k, stride, groups=mid))
                se_on = mid
                parts.append(conv(parts[-1][0], mid, c_out, 1))
            if squeeze:  # two 1 x 1 convolutions with biases on the pooled 1 x 1 features
                parts.append((0, 2 * se_on * squeeze, 2 * se_on * squeeze + se_on + squeeze))
            macs += sum(m for _, m, _ in parts)
            params += sum(p for _, _, p in parts)
            r = size_out(r, k, stride, k // 2)
            c = c_out
    return macs + 10 * c, params + 10 * c + 10


def nasnet_op(name, r, c, stride):
    """(side out, multiply-adds, parameters) of one of the 13 operations on c filters."""
    if name == "identity":
        return (r, 0, 0) if stride == 1 else conv(r, c, c, 1, stride)
    if name in ("conv1x3_3x1", "conv1x7_7x1"):  # 1 x k (stride along W), then k x 1
        k = int(name[6])
        w = size_out(r, k, stride, k // 2)
        return w, r * w * c * c * k + w * w * c * c * k, 2 * c * c * k + 2 * c
    if name == "dil_conv3x3":
        return conv(r, c, c, 3, stride, padding=2, dilation=2)
    if "pool" in name:
        k = int(name[-1])
        return size_out(r, k, stride, k // 2), 0, 0
    if name == "conv1x1":
        return conv(r, c, c, 1, stride)
    if name == "conv3x3":
        return conv(r, c, c, 3, stride)
    assert name.startswith("sep_conv")
    k = int(name[-1])
    side, m1, p1 = conv(r, c, c, k, stride, groups=c, bn=False)
    _, m2, p2 = conv(side, c, c, 1)
    return side, m1 + m2, p1 + p2


def cell_count(blocks, prev_prev, prev, c, *, reduction):
    """A cell on (side, filters) ``prev_prev`` and ``prev``: ((side, filters), macs, params)."""
    (r_pp, c_pp), (r_p, c_p) = prev_prev, prev
    r0, m0, p0 = conv(r_pp, c_pp, c, 1, r_pp // r_p, padding=0)
    r1, m1, p1 = conv(r_p, c_p, c, 1, padding=0)
    assert r0 == r1 == r_p
    macs, params, sides = m0 + m1, p0 + p1, [r_p, r_p]
    for b in blocks:
        outs = []
        for state, op in ((b.input_a, b.op_a), (b.input_b, b.op_b)):
            side, m, p = nasnet_op(op, sides[state], c, 2 if reduction and state < 2 else 1)
            outs.append(side)
            macs, params = macs + m, params + p
        assert outs[0] == outs[1]
        if b.combine == "concat":
            _, m, p = conv(outs[0], 2 * c, c, 1, padding=0)
            macs, params = macs + m, params + p
        sides.append(outs[0])
    read = {b.input_a for b in blocks} | {b.input_b for b in blocks}
    unread = [j for j in range(len(blocks)) if 2 + j not in read]
    return (sides[-1], c * len(unread)), macs, params


def nasnet_count(space, arch, filters, cells):
    blocks = space.cells_of(arch)
    c = filters
    r, macs, params = conv(28, 1, c, 3)
    pp = p = (r, c)
    for stage in range(3):
        if stage > 0:
            c *= 2
            if space.reduction_cell:
                out, m, q = cell_count(blocks["reduction"], pp, p, c, reduction=True)
                pp, p = p, out
            else:
                side, m, q = conv(p[0], p[1], c, 3, 2)
                pp = p = (side, c)
            macs, params = macs + m, params + q
        for _ in range(cells):
            out, m, q = cell_count(blocks["normal"], pp, p, c, reduction=False)
            pp, p = p, out
            macs, params = macs + m, params + q
    return macs + 10 * p[1], params + 10 * p[1] + 10


def _cost(space, arch, shape):
    torch.manual_seed(0)
    model = build_child(space, arch, shape)
    cost = count_flops(model)
    assert cost.params == sum(p.numel() for p in model.parameters())
    assert cost.flops == 2 * cost.macs  # torch counts a multiply-add as 2 FLOPs
    return cost


def test_a_small_nasnet_child_by_hand():
    # B = 1, no reduction cell, C = 2, N = 1: the block adds two 3x3 convolutions of h[i-1]
    space = make_space("nasnet", blocks=1, operations=["conv3x3"], reduction_cell=False)
    cost = _cost(space, [1, 1, 0, 0, 0], ChildShape(filters=2, cells=1))
    stem = 28 * 28 * 2 * 9
    cells = sum(  # per stage (side r, C filters): two 1x1 preprocessings, two 3x3 convolutions
        2 * r * r * c * c + 2 * r * r * c * c * 9 for r, c in ((28, 2), (14, 4), (7, 8))
    )
    reductions = 14 * 14 * 4 * 2 * 9 + 7 * 7 * 8 * 4 * 9  # stride-2 3x3 convolutions
    assert cost.macs == stem + cells + reductions + 8 * 10 == 230_576
    # weights + batch norms: stem, per stage 2 preprocessings and 2 convolutions, reductions,
    # classifier with bias
    params = (18 + 4) + sum(2 * (c * c + 2 * c) + 2 * (9 * c * c + 2 * c) for c in (2, 4, 8))
    params += (72 + 8) + (288 + 16) + (80 + 10)
    assert cost.params == params == 2288


def test_a_small_mnas_child_by_hand():
    # every stage a plain 3x3 convolution at the base table's filters and layers, stem of 16
    space = make_space("mnas")
    arch = [0, 0, 0, 0, 1, 1] * 7
    cost = _cost(space, arch, ChildShape(filters=16))
    layers = [(28, 1, 16)]  # (side out, c_in, c_out): the stem, then the 11 layers
    c = 16
    for side, (filters, n) in zip(
        (28, 14, 14, 7, 7, 7, 7),
        [(16, 1), (24, 2), (32, 2), (48, 2), (64, 2), (96, 2), (128, 1)],
        strict=True,
    ):
        for _ in range(n):
            layers.append((side, c, filters))
            c = filters
    macs = sum(r * r * c_out * c_in * 9 for r, c_in, c_out in layers) + 128 * 10
    assert cost.macs == macs == 23_822_336
    params = sum(c_out * c_in * 9 + 2 * c_out for _, c_in, c_out in layers) + 128 * 10 + 10
    assert cost.params == params


@pytest.mark.parametrize("seed", range(30))
def test_random_nasnet_children_against_the_count(seed):
    torch.set_num_threads(1)
    rng = np.random.default_rng([seed, 1])
    blocks, cells = int(rng.integers(1, 6)), int(rng.integers(1, 3))
    reduction_cell, filters = bool(rng.integers(2)), int(rng.choice([2, 3, 4, 6]))
    every = make_space("nasnet").operations
    ops = (
        None if seed % 3 else list(rng.choice(every, size=int(rng.integers(1, 14)), replace=False))
    )
    space = make_space("nasnet", blocks=blocks, reduction_cell=reduction_cell, operations=ops)
    arch = space.sample(rng)
    cost = _cost(space, arch, ChildShape(filters=filters, cells=cells))
    assert (cost.macs, cost.params) == nasnet_count(space, arch, filters, cells)


@pytest.mark.parametrize("seed", range(30))
def test_random_mnas_children_against_the_count(seed):
    torch.set_num_threads(1)
    rng = np.random.default_rng([seed, 2])
    filters = int(rng.choice([1, 4, 6, 8, 12, 16]))
    space = make_space("mnas")
    arch = space.sample(rng)
    cost = _cost(space, arch, ChildShape(filters=filters))
    assert (cost.macs, cost.params) == mnas_count(space, arch, filters)
