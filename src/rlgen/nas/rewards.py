"""What a child is worth: accuracy, and accuracy traded against its cost.

Three rewards (``--reward``):

- ``accuracy``: the validation accuracy ACC(m) (NASNet, Zoph et al. 2018);
- ``soft``: ACC(m) * (MACs(m) / T)^w with w < 0 (MnasNet, Tan et al. 2019, equation 2 with
  alpha = beta = w; EfficientNet's search used w = -0.07 with a FLOPS target). With w = -0.07,
  doubling the cost multiplies the reward by 2^-0.07 = 0.953: a twice as costly network must be
  about 5% more accurate (relatively) to be worth as much;
- ``hard``: MnasNet's hard constraint, alpha = 0 and beta = -1: ACC(m) while MACs(m) <= T, else
  ACC(m) * (MACs(m) / T)^-1, a steep penalty on exceeding the target.

Cost is counted in multiply-adds (MACs), the unit of the NASNet, MnasNet and EfficientNet papers
("FLOPs" there means multiply-adds). torch's own counter
(:class:`torch.utils.flop_counter.FlopCounterMode`) reports FLOPs as 2 per multiply-add, and only
for convolutions and matrix products (batch norm, activations, pooling and additions are not
counted, as in the papers' counts); :func:`count_flops` returns both numbers, and the target T is
in millions of multiply-adds.
"""

from __future__ import annotations

import decimal
import math
import sys
import time
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from rlgen.errors import UserError, check_choice, check_config_types, check_range, number_text

RewardName = Literal["accuracy", "soft", "hard"]
REWARDS: tuple[str, ...] = ("accuracy", "soft", "hard")


@dataclass(frozen=True)
class Cost:
    """A network's size and cost for one image."""

    flops: int
    """torch's FLOP count for one image: 2 per multiply-add of convolutions and matrix products"""
    params: int
    """trainable parameters"""

    @property
    def macs(self) -> int:
        """Multiply-adds for one image (the papers' "FLOPs")."""
        return self.flops // 2


def count_flops(model: nn.Module, input_shape: tuple[int, ...] = (1, 28, 28)) -> Cost:
    """FLOPs (torch's counter) of one forward pass on one image, and the parameters.

    The model is run in eval mode under ``torch.no_grad()`` on a zero image on its own device.
    """
    from torch.utils.flop_counter import FlopCounterMode

    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(torch.zeros((1, *input_shape), device=device))
    finally:
        model.train(was_training)
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return Cost(flops=int(counter.get_total_flops()), params=int(params))


def latency_ms(
    model: nn.Module,
    input_shape: tuple[int, ...] = (1, 28, 28),
    *,
    batch: int = 1,
    repeats: int = 5,
) -> float:
    """Median wall-clock milliseconds of a forward pass on ``batch`` images, in eval mode."""
    device = next(model.parameters()).device
    x = torch.zeros((batch, *input_shape), device=device)
    was_training = model.training
    model.eval()
    times = []
    try:
        with torch.no_grad():
            model(x)  # warm-up
            for _ in range(repeats):
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                start = time.perf_counter()
                model(x)
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                times.append(time.perf_counter() - start)
    finally:
        model.train(was_training)
    return 1000 * sorted(times)[len(times) // 2]


@dataclass(frozen=True)
class RewardConfig:
    """How a child's validation accuracy and cost become the controller's reward."""

    reward: RewardName = "accuracy"
    """accuracy: ACC; soft: ACC * (MACs / T)^w (MnasNet / EfficientNet); hard: ACC while MACs <= T,
    else ACC * T / MACs (MnasNet's hard constraint)"""
    target: float = 10.0
    """T, the cost target, in millions of multiply-adds per image"""
    w: float = -0.07
    """the soft reward's exponent, <= 0 (EfficientNet: -0.07)"""

    def __post_init__(self) -> None:
        check_config_types(self)
        check_choice("reward", self.reward, REWARDS)
        check_range("target", self.target, 0, low_open=True)
        check_range("w", self.w)
        if self.w > 0:
            raise UserError(
                f"--w must be <= 0 (a negative exponent penalises cost; MnasNet uses -0.07), "
                f"got {self.w:g}"
            )

    @property
    def needs_cost(self) -> bool:
        return self.reward != "accuracy"

    def __call__(self, accuracy: float, macs: float | None) -> float:
        """The reward of a child with validation ``accuracy`` and ``macs`` multiply-adds."""
        return reward(accuracy, macs, self.reward, self.target, self.w)


def reward(
    accuracy: float, macs: float | None, kind: str, target: float, w: float = -0.07
) -> float:
    """ACC, ACC * (MACs / T)^w (soft) or the hard-constraint variant; T in millions of MACs.

    Where MACs / T or (MACs / T)^w leaves the float range (a T or w near it) the reward is
    computed exactly (:func:`_exact_reward`): a float where it is one, 0 where it is below the
    smallest, a ValueError naming --w and --target where it is beyond the largest.
    """
    if kind == "accuracy":
        return float(accuracy)
    if macs is None:
        raise ValueError(f"the {kind} reward needs the child's multiply-adds")
    if kind not in ("soft", "hard"):
        raise ValueError(f"unknown reward {kind!r}")
    if not (math.isfinite(macs) and macs >= 0):
        raise ValueError(f"the {kind} reward of a child of {macs} multiply-adds is undefined")
    if not (math.isfinite(target) and target > 0):
        raise ValueError(f"the cost target T must be a positive number, got {target}")
    ratio = macs / (target * 1e6)
    if macs == 0 or sys.float_info.min <= ratio < math.inf:  # the plain formula, as always
        try:
            if kind == "soft":
                return float(accuracy * ratio**w)
            return float(accuracy if ratio <= 1 else accuracy / ratio)
        except ZeroDivisionError:  # 0^w with w < 0
            raise ValueError(
                "the soft reward of a child of 0 multiply-adds is undefined "
                f"(w = {number_text(w)} < 0)"
            ) from None
        except OverflowError:  # (MACs / T)^w is beyond the float range; ACC times it may not be
            pass
    # MACs / T under- or overflowed (T * 1e6 beyond the float range, or MACs / T beyond it or
    # below the normal floats), or (MACs / T)^w overflowed
    return _exact_reward(accuracy, macs, kind, target, w)


def _exact_reward(accuracy: float, macs: float, kind: str, target: float, w: float) -> float:
    """The soft or hard reward of ``reward`` in decimal arithmetic (60 digits, an exponent range
    no float reaches), rounded once to the nearest float."""
    if accuracy == 0 or math.isnan(accuracy) or (kind == "soft" and w == 0):  # 0 * x, x^0 = 1
        return float(accuracy)
    context = decimal.Context(prec=60, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN)
    ratio = context.divide(decimal.Decimal(macs), context.multiply(decimal.Decimal(target), 10**6))
    if kind == "hard" and ratio <= 1:
        return float(accuracy)
    log_ratio = context.ln(ratio)
    power = context.multiply(decimal.Decimal(w), log_ratio) if kind == "soft" else -log_ratio
    if accuracy < 0:  # not a validation accuracy; the sign is kept as the plain formula keeps it
        return -_exact_reward(-accuracy, macs, kind, target, w)
    log_reward = context.add(context.ln(decimal.Decimal(accuracy)), power)
    if log_reward < -746:  # below half the smallest float, e^-745.1
        return 0.0
    value = float(context.exp(log_reward)) if log_reward < 710 else math.inf
    if math.isinf(value):  # beyond the largest float, e^709.78
        raise ValueError(
            f"the soft reward ACC * (MACs / T)^w is beyond the float range (MACs / T = "
            f"e^{float(log_ratio):.4g}, w = {number_text(w)}); bring --w closer to 0 or "
            "--target nearer the children's cost"
        )
    return value


def agreement(arch: tuple[int, ...] | list[int], target: tuple[int, ...] | list[int]) -> float:
    """The share of decisions on which ``arch`` agrees with ``target`` (a synthetic accuracy)."""
    if len(arch) != len(target):
        raise ValueError(f"architectures of {len(arch)} and {len(target)} decisions")
    return sum(a == t for a, t in zip(arch, target, strict=True)) / len(target)
