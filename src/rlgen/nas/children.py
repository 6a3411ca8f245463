"""Child networks: any architecture of a search space built into an ``nn.Module``.

Both kinds take (B, 1, 28, 28) images and return (B, classes) logits.

NASNet (Zoph et al. 2018): a 3 x 3 convolution stem of C filters, then three stages of N normal
cells (28 x 28, 14 x 14, 7 x 7) with a reduction between stages that doubles the filters: the
searched reduction cell, or, when it is left out of the space, a stride-2 3 x 3 convolution.
Each cell reads the outputs of the two cells before it (h[i-2], h[i-1]), brings both to C
filters with 1 x 1 convolutions (stride 2 for an h[i-2] of twice the resolution), computes its
blocks and concatenates the hidden states no block reads. In a reduction cell the operations on
the cell's inputs have stride 2. Convolutions are ReLU-conv-batchnorm as in the paper; a
separable convolution is applied once (the paper stacks two, which doubles a proxy child's cost
for little); a concat combine is followed by a 1 x 1 convolution back to C filters so that every
hidden state has C filters. Global average pooling and a linear layer end the network.

MnasNet (Tan et al. 2019): a 3 x 3 convolution stem, the 7 searched stages over the base table
:data:`rlgen.nas.spaces.MNAS_BASE` (filters scaled by ``filters / 16``), pooling and a linear
layer. An identity skip is added wherever a layer keeps its shape (stride 1, same filters), as in
MnasNet; squeeze-and-excitation squeezes to ``ratio`` times the block's input filters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from rlgen.nas.spaces import MNAS_BASE, Block, SearchSpace, Stage, unused_states

CLASSES = 10
IMAGE = (1, 28, 28)


@dataclass(frozen=True)
class ChildShape:
    """How big a child is, whatever the architecture."""

    filters: int = 8
    """nasnet: C, the filters of the first stage (doubled at each reduction); mnas: the stem's
    filters (the base table's filters are scaled by filters / 16)"""
    cells: int = 1
    """nasnet: N, normal cells per stage"""


def build_child(space: SearchSpace, arch: Sequence[int], shape: ChildShape) -> nn.Module:
    """The architecture ``arch`` of ``space`` as a network for (B, 1, 28, 28) images."""
    if space.name == "nasnet":
        return NasnetChild(space, space.cells_of(arch), shape)
    return MnasChild(space.stages_of(arch), shape)


# ---------------------------------------------------------------------------------------------
# NASNet operations
# ---------------------------------------------------------------------------------------------


def relu_conv_bn(
    c_in: int,
    c_out: int,
    kernel: int,
    stride: int = 1,
    *,
    padding: int | None = None,
    dilation: int = 1,
) -> nn.Module:
    padding = kernel // 2 if padding is None else padding
    return nn.Sequential(
        nn.ReLU(),
        nn.Conv2d(c_in, c_out, kernel, stride, padding, dilation=dilation, bias=False),
        nn.BatchNorm2d(c_out),
    )


def factorized(c: int, k: int, stride: int) -> nn.Module:
    """A 1 x k then k x 1 convolution (the stride split between them)."""
    return nn.Sequential(
        nn.ReLU(),
        nn.Conv2d(c, c, (1, k), (1, stride), (0, k // 2), bias=False),
        nn.Conv2d(c, c, (k, 1), (stride, 1), (k // 2, 0), bias=False),
        nn.BatchNorm2d(c),
    )


def separable(c: int, k: int, stride: int) -> nn.Module:
    """Depthwise k x k then pointwise 1 x 1 convolution."""
    return nn.Sequential(
        nn.ReLU(),
        nn.Conv2d(c, c, k, stride, k // 2, groups=c, bias=False),
        nn.Conv2d(c, c, 1, bias=False),
        nn.BatchNorm2d(c),
    )


def nasnet_operation(name: str, c: int, stride: int) -> nn.Module:
    """One of the 13 operations on C filters; ``stride`` 2 halves the resolution."""
    if name == "identity":
        return nn.Identity() if stride == 1 else relu_conv_bn(c, c, 1, stride)
    if name == "conv1x3_3x1":
        return factorized(c, 3, stride)
    if name == "conv1x7_7x1":
        return factorized(c, 7, stride)
    if name == "dil_conv3x3":
        return relu_conv_bn(c, c, 3, stride, padding=2, dilation=2)
    if name == "avg_pool3x3":
        return nn.AvgPool2d(3, stride, 1, count_include_pad=False)
    if name.startswith("max_pool"):
        k = int(name[-1])
        return nn.MaxPool2d(k, stride, k // 2)
    if name == "conv1x1":
        return relu_conv_bn(c, c, 1, stride)
    if name == "conv3x3":
        return relu_conv_bn(c, c, 3, stride)
    if name.startswith("sep_conv"):
        return separable(c, int(name[-1]), stride)
    raise ValueError(f"unknown operation {name!r}")


# ---------------------------------------------------------------------------------------------
# NASNet cells and network
# ---------------------------------------------------------------------------------------------


class Cell(nn.Module):
    """A normal or reduction cell: (h[i-2], h[i-1]) -> concat of its unused hidden states."""

    def __init__(
        self,
        blocks: Sequence[Block],
        c_prev_prev: int,
        c_prev: int,
        c: int,
        *,
        reduction: bool,
        reduction_prev: bool,
    ) -> None:
        super().__init__()
        self.blocks = list(blocks)
        self.pre0 = relu_conv_bn(c_prev_prev, c, 1, 2 if reduction_prev else 1, padding=0)
        self.pre1 = relu_conv_bn(c_prev, c, 1, padding=0)
        self.ops = nn.ModuleList()
        self.merge = nn.ModuleList()
        for b in self.blocks:
            for state, op in ((b.input_a, b.op_a), (b.input_b, b.op_b)):
                stride = 2 if reduction and state < 2 else 1
                self.ops.append(nasnet_operation(op, c, stride))
            concat = b.combine == "concat"
            self.merge.append(
                nn.Sequential(nn.Conv2d(2 * c, c, 1, bias=False), nn.BatchNorm2d(c))
                if concat
                else nn.Identity()
            )
        self.output = unused_states(self.blocks)
        self.out_channels = c * len(self.output)

    def forward(self, s0: Tensor, s1: Tensor) -> Tensor:
        states = [self.pre0(s0), self.pre1(s1)]
        for j, b in enumerate(self.blocks):
            a = self.ops[2 * j](states[b.input_a])
            c = self.ops[2 * j + 1](states[b.input_b])
            if b.combine == "add":
                states.append(a + c)
            else:
                states.append(self.merge[j](torch.cat([a, c], dim=1)))
        return torch.cat([states[i] for i in self.output], dim=1)


class CellStep(nn.Module):
    """A cell in the chain: (h[i-2], h[i-1]) -> (h[i-1], h[i])."""

    def __init__(self, cell: Cell) -> None:
        super().__init__()
        self.cell = cell

    def forward(self, s0: Tensor, s1: Tensor) -> tuple[Tensor, Tensor]:
        return s1, self.cell(s0, s1)


class ConvReduction(nn.Module):
    """A stride-2 3 x 3 convolution between stages (when no reduction cell is searched)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv = relu_conv_bn(c_in, c_out, 3, 2)

    def forward(self, s0: Tensor, s1: Tensor) -> tuple[Tensor, Tensor]:
        y = self.conv(s1)
        return y, y


class NasnetChild(nn.Module):
    """Stem, three stages of N normal cells with reductions between them, pooling, classifier."""

    def __init__(
        self, space: SearchSpace, cells: dict[str, list[Block]], shape: ChildShape
    ) -> None:
        super().__init__()
        c = shape.filters
        self.stem = nn.Sequential(nn.Conv2d(IMAGE[0], c, 3, 1, 1, bias=False), nn.BatchNorm2d(c))
        steps: list[nn.Module] = []
        c_pp, c_p, reduction_prev = c, c, False
        for stage in range(3):
            if stage > 0:
                c *= 2
                if space.reduction_cell:
                    cell = Cell(
                        cells["reduction"], c_pp, c_p, c, reduction=True,
                        reduction_prev=reduction_prev,
                    )  # fmt: skip
                    steps.append(CellStep(cell))
                    c_pp, c_p, reduction_prev = c_p, cell.out_channels, True
                else:
                    steps.append(ConvReduction(c_p, c))
                    c_pp, c_p, reduction_prev = c, c, False
            for _ in range(shape.cells):
                cell = Cell(
                    cells["normal"], c_pp, c_p, c, reduction=False, reduction_prev=reduction_prev
                )
                steps.append(CellStep(cell))
                c_pp, c_p, reduction_prev = c_p, cell.out_channels, False
        self.steps = nn.ModuleList(steps)
        self.classifier = nn.Linear(c_p, CLASSES)

    def forward(self, x: Tensor) -> Tensor:  # (B, 1, 28, 28) -> (B, 10)
        s0 = s1 = self.stem(x)
        for step in self.steps:
            s0, s1 = step(s0, s1)
        return self.classifier(torch.relu(s1).mean(dim=(2, 3)))


# ---------------------------------------------------------------------------------------------
# MnasNet blocks and network
# ---------------------------------------------------------------------------------------------


def round_filters(x: float) -> int:
    """Filters rounded to a multiple of 4 (at least 4)."""
    return max(4, round(x / 4) * 4)


class SqueezeExcite(nn.Module):
    """Channel gates from globally pooled features (Hu et al. 2018)."""

    def __init__(self, channels: int, squeeze: int) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(channels, squeeze, 1)
        self.expand = nn.Conv2d(squeeze, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        g = torch.relu(self.reduce(x.mean(dim=(2, 3), keepdim=True)))
        return x * torch.sigmoid(self.expand(g))


def conv_bn(
    c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1
) -> list[nn.Module]:
    return [
        nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
    ]


class MnasLayer(nn.Module):
    """One layer of a stage: conv, separable conv or MBConv, optional SE and identity skip."""

    def __init__(self, stage: Stage, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        k = stage.kernel
        squeeze = max(1, int(c_in * stage.se)) if stage.se else 0
        layers: list[nn.Module]
        if stage.op == "conv":
            layers = [*conv_bn(c_in, c_out, k, stride), nn.ReLU()]
            if squeeze:
                layers.append(SqueezeExcite(c_out, squeeze))
        elif stage.op == "sep_conv":
            layers = [*conv_bn(c_in, c_in, k, stride, groups=c_in), nn.ReLU()]
            if squeeze:
                layers.append(SqueezeExcite(c_in, squeeze))
            layers += conv_bn(c_in, c_out, 1)
        else:  # MBConv: expand 1 x 1, depthwise k x k, SE, linear project 1 x 1
            expansion = int(stage.op.removeprefix("mbconv"))
            mid = c_in * expansion
            layers = [*conv_bn(c_in, mid, 1), nn.ReLU()] if expansion > 1 else []
            layers += [*conv_bn(mid, mid, k, stride, groups=mid), nn.ReLU()]
            if squeeze:
                layers.append(SqueezeExcite(mid, squeeze))
            layers += conv_bn(mid, c_out, 1)
        self.body = nn.Sequential(*layers)
        self.skip = stage.skip == "identity" and stride == 1 and c_in == c_out

    def forward(self, x: Tensor) -> Tensor:
        y = self.body(x)
        return y + x if self.skip else y


class MnasChild(nn.Module):
    """Stem, the 7 searched stages, pooling, classifier."""

    def __init__(self, stages: Sequence[Stage], shape: ChildShape) -> None:
        super().__init__()
        scale = shape.filters / 16
        c = round_filters(16 * scale)
        self.stem = nn.Sequential(*conv_bn(IMAGE[0], c, 3), nn.ReLU())
        layers: list[nn.Module] = []
        for stage, base in zip(stages, MNAS_BASE, strict=True):
            c_out = round_filters(base.filters * stage.filters * scale)
            for i in range(max(1, base.layers + stage.layers)):
                layers.append(MnasLayer(stage, c, c_out, base.stride if i == 0 else 1))
                c = c_out
        self.layers = nn.Sequential(*layers)
        self.classifier = nn.Linear(c, CLASSES)

    def forward(self, x: Tensor) -> Tensor:  # (B, 1, 28, 28) -> (B, 10)
        return self.classifier(self.layers(self.stem(x)).mean(dim=(2, 3)))
