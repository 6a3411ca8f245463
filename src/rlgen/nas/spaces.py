"""Search spaces as data: ordered categorical decisions; an architecture is a list of choices.

A :class:`SearchSpace` is a tuple of :class:`Decision` s, each a named list of options. An
architecture is one option index per decision, in order (``(0, 1, 4, 9, 0, ...)``): what the
controller samples, what the trial store keeps as JSON and what :mod:`rlgen.nas.children` builds.
The controller samples the decisions one after another, each conditioned on the earlier ones
(Zoph & Le 2017), and some decisions' options are made by earlier ones: block b of a cell may
read the two cell inputs or the output of any block before it, so its input decisions offer
2 + b hidden states.

Two spaces, both for 28 x 28 single-channel images:

- ``nasnet``: the NASNet cell space (Zoph, Vasudevan, Shlens & Le 2018, section 3). A normal cell
  and a reduction cell of B blocks (default 5); each block picks two hidden states, an operation
  for each (from the paper's 13, or a subset) and a way to combine them (add or concat). Hidden
  states no block reads are concatenated into the cell's output. Per block, in the paper's order:
  input a, input b, operation a, operation b, combine.
- ``mnas``: the factorized hierarchical space of MnasNet (Tan et al. 2019, section 4) as
  EfficientNet's search used it: 7 stages, each choosing its operation (convolution,
  depthwise-separable convolution, MBConv with expansion 1, 3 or 6), kernel (3 or 5),
  squeeze-and-excitation ratio (0 or 0.25), skip (none or identity), filter multiplier (0.75, 1,
  1.25) and layer delta (-1, 0, +1) against a base table sized for 28 x 28 (:data:`MNAS_BASE`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

import numpy as np

from rlgen.errors import UserError

Architecture = tuple[int, ...]
"""One option index per decision of a space, in the space's order."""

SpaceName = Literal["nasnet", "mnas"]
SPACES: tuple[str, ...] = ("nasnet", "mnas")

NASNET_OPERATIONS: tuple[str, ...] = (
    "identity",
    "conv1x3_3x1",
    "conv1x7_7x1",
    "dil_conv3x3",
    "avg_pool3x3",
    "max_pool3x3",
    "max_pool5x5",
    "max_pool7x7",
    "conv1x1",
    "conv3x3",
    "sep_conv3x3",
    "sep_conv5x5",
    "sep_conv7x7",
)
"""The 13 operations of the NASNet search space (Zoph et al. 2018, section 3)."""

OPERATION_WORDS: dict[str, str] = {
    "identity": "identity",
    "conv1x3_3x1": "1x3 then 3x1 convolution",
    "conv1x7_7x1": "1x7 then 7x1 convolution",
    "dil_conv3x3": "3x3 dilated convolution",
    "avg_pool3x3": "3x3 average pooling",
    "max_pool3x3": "3x3 max pooling",
    "max_pool5x5": "5x5 max pooling",
    "max_pool7x7": "7x7 max pooling",
    "conv1x1": "1x1 convolution",
    "conv3x3": "3x3 convolution",
    "sep_conv3x3": "3x3 depthwise-separable convolution",
    "sep_conv5x5": "5x5 depthwise-separable convolution",
    "sep_conv7x7": "7x7 depthwise-separable convolution",
    "conv": "convolution",
    "sep_conv": "depthwise-separable convolution",
    "mbconv1": "MBConv, expansion 1",
    "mbconv3": "MBConv, expansion 3",
    "mbconv6": "MBConv, expansion 6",
}

COMBINE: tuple[str, ...] = ("add", "concat")
CELLS: tuple[str, ...] = ("normal", "reduction")

MNAS_OPERATIONS: tuple[str, ...] = ("conv", "sep_conv", "mbconv1", "mbconv3", "mbconv6")
MNAS_KERNELS: tuple[int, ...] = (3, 5)
MNAS_SE: tuple[float, ...] = (0.0, 0.25)
MNAS_SKIP: tuple[str, ...] = ("none", "identity")
MNAS_FILTERS: tuple[float, ...] = (0.75, 1.0, 1.25)
MNAS_LAYERS: tuple[int, ...] = (-1, 0, 1)


@dataclass(frozen=True)
class StageBase:
    """One row of the base table the factorized space's choices modify."""

    filters: int
    """output channels, for a stem of 16 (the child scales them with its --child.filters)"""
    layers: int
    """layers of the stage (the layer delta adds to it; at least 1 layer stays)"""
    stride: int
    """stride of the stage's first layer"""


MNAS_BASE: tuple[StageBase, ...] = (
    StageBase(16, 1, 1),  # 28 x 28
    StageBase(24, 2, 2),  # 14 x 14
    StageBase(32, 2, 1),
    StageBase(48, 2, 2),  # 7 x 7
    StageBase(64, 2, 1),
    StageBase(96, 2, 1),
    StageBase(128, 1, 1),
)
"""MnasNet-B1's 7-stage table (Tan et al. 2019, figure 7) shrunk for 28 x 28 inputs: two stride-2
stages instead of four or five, and filters from 16 to 128 instead of 16 to 320."""


# ---------------------------------------------------------------------------------------------
# Decisions and spaces
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """One categorical decision: its name, its kind and its options, in words."""

    name: str
    """where it sits, e.g. ``normal cell, block 2, input a`` or ``stage 4, kernel``"""
    kind: str
    """what it chooses: input, operation, combine (nasnet); op, kernel, se, skip, filters,
    layers (mnas)"""
    options: tuple[str, ...]

    @property
    def size(self) -> int:
        return len(self.options)


@dataclass(frozen=True)
class Block:
    """One NASNet block: ``combine(op_a(hidden[input_a]), op_b(hidden[input_b]))``.

    Hidden states are numbered 0 (the cell's first input, h[i-2]), 1 (its second, h[i-1]) and
    2 + j for the output of block j.
    """

    input_a: int
    input_b: int
    op_a: str
    op_b: str
    combine: str


@dataclass(frozen=True)
class Stage:
    """One stage of the factorized space, as chosen."""

    op: str
    kernel: int
    se: float
    skip: str
    filters: float
    layers: int


@dataclass(frozen=True)
class SearchSpace:
    """An ordered list of decisions, and what to build from a choice for each.

    Make one with :func:`make_space` (which checks its options). ``spec`` (a JSON-able dict) is
    all it takes to make the same space again (:meth:`from_spec`).
    """

    name: str
    """``nasnet`` or ``mnas``"""
    operations: tuple[str, ...]
    """the operations offered (a subset of the space's own list, in its order)"""
    blocks: int = 5
    """blocks per cell (nasnet)"""
    reduction_cell: bool = True
    """nasnet: search a reduction cell too (else stride-2 convolutions reduce)"""

    # -- the decisions ------------------------------------------------------------------------

    @cached_property
    def decisions(self) -> tuple[Decision, ...]:
        if self.name == "nasnet":
            return _nasnet_decisions(self.cells, self.blocks, self.operations)
        return _mnas_decisions(self.operations)

    @property
    def cells(self) -> tuple[str, ...]:
        """The cells searched (nasnet): normal, and reduction unless it is left out."""
        return CELLS if self.reduction_cell else CELLS[:1]

    @cached_property
    def sizes(self) -> tuple[int, ...]:
        """The number of options of each decision."""
        return tuple(d.size for d in self.decisions)

    def __len__(self) -> int:
        return len(self.decisions)

    def log10_count(self) -> float:
        """log10 of the number of architectures (sequences of choices) in the space."""
        return float(sum(math.log10(s) for s in self.sizes))

    # -- architectures ------------------------------------------------------------------------

    def sample(self, rng: np.random.Generator) -> Architecture:
        """An architecture drawn uniformly: each decision's option uniformly (random search)."""
        return tuple(int(rng.integers(size)) for size in self.sizes)

    def check(self, arch: Sequence[int]) -> Architecture:
        """``arch`` as a tuple of ints if it is an architecture of this space, else ValueError."""
        sizes = self.sizes
        if len(arch) != len(sizes):
            raise ValueError(f"{self.name}: expected {len(sizes)} choices, got {len(arch)}")
        out = []
        for i, (choice, size) in enumerate(zip(arch, sizes, strict=True)):
            if isinstance(choice, bool) or not isinstance(choice, int | np.integer):
                raise ValueError(f"choice {i} is not a whole number: {choice!r}")
            if not 0 <= choice < size:
                raise ValueError(
                    f"choice {i} ({self.decisions[i].name}) is {choice}; it has {size} options"
                )
            out.append(int(choice))
        return tuple(out)

    def to_json(self, arch: Sequence[int]) -> str:
        """The architecture as a JSON list of option indices."""
        return json.dumps(list(self.check(arch)))

    def from_json(self, text: str) -> Architecture:
        """An architecture back from :meth:`to_json` (checked against this space)."""
        data = json.loads(text)
        if not isinstance(data, list):
            raise ValueError(f"expected a JSON list of choices, got {text!r}")
        return self.check(data)

    def words(self, arch: Sequence[int]) -> list[str]:
        """``decision name: option`` for each decision."""
        arch = self.check(arch)
        return [f"{d.name}: {d.options[c]}" for d, c in zip(self.decisions, arch, strict=True)]

    def describe(self, arch: Sequence[int]) -> str:
        """The architecture in words, one line per block (nasnet) or stage (mnas)."""
        if self.name == "nasnet":
            lines = []
            for cell, blocks in self.cells_of(arch).items():
                lines.append(f"{cell} cell:")
                for j, b in enumerate(blocks):
                    lines.append(
                        f"  block {j + 1}: {b.combine} of {OPERATION_WORDS[b.op_a]} on "
                        f"{hidden_name(b.input_a)} and {OPERATION_WORDS[b.op_b]} on "
                        f"{hidden_name(b.input_b)}"
                    )
                lines.append(f"  output: concat of {_names(unused_states(blocks))}")
            return "\n".join(lines)
        lines = []
        for i, (s, base) in enumerate(zip(self.stages_of(arch), MNAS_BASE, strict=True)):
            layers = max(1, base.layers + s.layers)
            se = f", SE {s.se:g}" if s.se else ""
            skip = ", identity skip" if s.skip == "identity" else ""
            lines.append(
                f"stage {i + 1}: {layers} x {OPERATION_WORDS[s.op]} {s.kernel}x{s.kernel}{se}"
                f"{skip}, filters x{s.filters:g}, stride {base.stride}"
            )
        return "\n".join(lines)

    def short(self, arch: Sequence[int]) -> str:
        """A one-line summary, for tables."""
        if self.name == "nasnet":
            parts = []
            for cell, blocks in self.cells_of(arch).items():
                ops = " ".join(f"{b.op_a}+{b.op_b}" for b in blocks)
                parts.append(f"{cell[0].upper()}: {ops}")
            return " | ".join(parts)
        return " ".join(
            f"{s.op}k{s.kernel}{'se' if s.se else ''}{'+' if s.skip == 'identity' else ''}"
            for s in self.stages_of(arch)
        )

    def cells_of(self, arch: Sequence[int]) -> dict[str, list[Block]]:
        """nasnet: the blocks of each cell."""
        if self.name != "nasnet":
            raise ValueError("cells_of is for the nasnet space")
        arch = self.check(arch)
        cells: dict[str, list[Block]] = {}
        per_cell = 5 * self.blocks
        for k, cell in enumerate(self.cells):
            chosen = arch[k * per_cell : (k + 1) * per_cell]
            blocks = []
            for j in range(self.blocks):
                a, b, op_a, op_b, combine = chosen[5 * j : 5 * j + 5]
                blocks.append(
                    Block(a, b, self.operations[op_a], self.operations[op_b], COMBINE[combine])
                )
            cells[cell] = blocks
        return cells

    def stages_of(self, arch: Sequence[int]) -> list[Stage]:
        """mnas: the 7 stages as chosen."""
        if self.name != "mnas":
            raise ValueError("stages_of is for the mnas space")
        arch = self.check(arch)
        stages = []
        for i in range(len(MNAS_BASE)):
            op, kernel, se, skip, filters, layers = arch[6 * i : 6 * i + 6]
            stages.append(
                Stage(
                    self.operations[op],
                    MNAS_KERNELS[kernel],
                    MNAS_SE[se],
                    MNAS_SKIP[skip],
                    MNAS_FILTERS[filters],
                    MNAS_LAYERS[layers],
                )
            )
        return stages

    # -- the space itself as data ---------------------------------------------------------------

    @property
    def spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"name": self.name, "operations": list(self.operations)}
        if self.name == "nasnet":
            spec |= {"blocks": self.blocks, "reduction_cell": self.reduction_cell}
        return spec

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> SearchSpace:
        return make_space(
            spec["name"],
            blocks=int(spec.get("blocks", 5)),
            operations=tuple(spec["operations"]),
            reduction_cell=bool(spec.get("reduction_cell", True)),
        )


def hidden_name(index: int) -> str:
    """Hidden state ``index`` of a cell in words."""
    if index == 0:
        return "h[i-2]"
    if index == 1:
        return "h[i-1]"
    return f"block {index - 1}"


def _names(indices: Sequence[int]) -> str:
    return ", ".join(hidden_name(i) for i in indices)


def unused_states(blocks: Sequence[Block]) -> list[int]:
    """The blocks' hidden states (2, 3, ...) that no block reads: the cell's output.

    The last block is never read, so there is always at least one.
    """
    read = {b.input_a for b in blocks} | {b.input_b for b in blocks}
    return [2 + j for j in range(len(blocks)) if 2 + j not in read]


def _nasnet_decisions(
    cells: Sequence[str], blocks: int, operations: Sequence[str]
) -> tuple[Decision, ...]:
    decisions = []
    for cell in cells:
        for j in range(blocks):
            where = f"{cell} cell, block {j + 1}"
            states = tuple(hidden_name(i) for i in range(2 + j))  # the inputs and earlier blocks
            decisions += [
                Decision(f"{where}, input a", "input", states),
                Decision(f"{where}, input b", "input", states),
                Decision(f"{where}, operation a", "operation", tuple(operations)),
                Decision(f"{where}, operation b", "operation", tuple(operations)),
                Decision(f"{where}, combine", "combine", COMBINE),
            ]
    return tuple(decisions)


def _mnas_decisions(operations: Sequence[str]) -> tuple[Decision, ...]:
    decisions = []
    for i in range(len(MNAS_BASE)):
        where = f"stage {i + 1}"
        decisions += [
            Decision(f"{where}, operation", "op", tuple(operations)),
            Decision(f"{where}, kernel", "kernel", tuple(f"{k}x{k}" for k in MNAS_KERNELS)),
            Decision(f"{where}, squeeze-excite", "se", tuple(f"{r:g}" for r in MNAS_SE)),
            Decision(f"{where}, skip", "skip", MNAS_SKIP),
            Decision(f"{where}, filters", "filters", tuple(f"x{f:g}" for f in MNAS_FILTERS)),
            Decision(f"{where}, layers", "layers", tuple(f"{d:+d}" for d in MNAS_LAYERS)),
        ]
    return tuple(decisions)


MAX_BLOCKS = 20


def space_operations(name: str) -> tuple[str, ...]:
    """Every operation the space ``name`` knows."""
    return NASNET_OPERATIONS if name == "nasnet" else MNAS_OPERATIONS


def make_space(
    name: str,
    *,
    blocks: int = 5,
    operations: Sequence[str] | None = None,
    reduction_cell: bool = True,
) -> SearchSpace:
    """The search space ``name`` with its options checked (one-line :class:`UserError` s).

    Args:
        name: ``nasnet`` or ``mnas``.
        blocks: B, blocks per cell (nasnet), 1 to 20.
        operations: the operations to offer, a subset of the space's (default: all of them);
            kept in the space's order, duplicates dropped.
        reduction_cell: nasnet: search a reduction cell as well as the normal cell.
    """
    if name not in SPACES:
        raise UserError(f"--space: unknown space {name!r}; choose from {', '.join(SPACES)}")
    known = space_operations(name)
    chosen = known if operations is None or len(operations) == 0 else tuple(operations)
    unknown = [op for op in chosen if op not in known]
    if unknown:
        raise UserError(
            f"--operations: unknown {name} operation {unknown[0]!r}; choose from {', '.join(known)}"
        )
    ordered = tuple(op for op in known if op in set(chosen))
    if isinstance(blocks, bool) or not isinstance(blocks, int) or not 1 <= blocks <= MAX_BLOCKS:
        raise UserError(f"--blocks must be a whole number in [1, {MAX_BLOCKS}], got {blocks!r}")
    if name == "mnas":
        return SearchSpace("mnas", ordered)
    return SearchSpace("nasnet", ordered, blocks=blocks, reduction_cell=reduction_cell)
