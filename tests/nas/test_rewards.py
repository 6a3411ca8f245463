"""FLOP counts against hand-computed values; the three rewards."""

from __future__ import annotations

import math

import pytest
from torch import nn

from rlgen.errors import UserError
from rlgen.nas.rewards import RewardConfig, agreement, count_flops, reward


def test_flops_of_a_tiny_network_by_hand():
    # conv 1 -> 2 channels, 3x3, on 4x4 (padding 1): 2 out channels x 16 pixels x 9 MACs = 288
    # linear 32 -> 10: 320 MACs. torch's counter reports 2 FLOPs per multiply-add.
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(32, 10))
    cost = count_flops(model, (1, 4, 4))
    assert cost.macs == 288 + 320
    assert cost.flops == 2 * (288 + 320)
    assert cost.params == (2 * 9 + 2) + (32 * 10 + 10)


def test_depthwise_and_pooling():
    # depthwise 3x3 on 4 channels of 4x4: 4 x 16 x 9 = 576 MACs; pooling and batch norm: 0
    model = nn.Sequential(
        nn.Conv2d(4, 4, 3, padding=1, groups=4, bias=False), nn.BatchNorm2d(4), nn.MaxPool2d(2)
    )
    assert count_flops(model, (4, 4, 4)).macs == 576


def test_counting_leaves_the_model_as_it_was():
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    model.train()
    count_flops(model, (1, 2, 2))
    assert model.training


def test_soft_reward_doubling_cost_needs_five_percent():
    soft = RewardConfig(reward="soft", target=10.0, w=-0.07)
    at_t = soft(0.8, 10e6)
    assert at_t == pytest.approx(0.8)
    assert soft(0.8, 20e6) / at_t == pytest.approx(2**-0.07)
    assert pytest.approx(0.953, abs=5e-4) == 2**-0.07
    # 5% more accuracy about pays for twice the cost
    assert soft(0.8 / 2**-0.07, 20e6) == pytest.approx(at_t)


def test_hard_reward_is_accuracy_within_the_target():
    assert reward(0.9, 5e6, "hard", 10.0) == 0.9
    assert reward(0.9, 10e6, "hard", 10.0) == 0.9
    assert reward(0.9, 20e6, "hard", 10.0) == pytest.approx(0.45)
    assert reward(0.9, None, "accuracy", 10.0) == 0.9
    with pytest.raises(ValueError, match="multiply-adds"):
        reward(0.9, None, "soft", 10.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"target": 0.0}, "--target must be > 0, got 0"),
        ({"target": -1.0}, "--target must be > 0"),
        ({"target": math.inf}, "--target must be a finite number"),
        ({"w": 0.1}, "--w must be <= 0"),
        ({"w": math.nan}, "--w must be a finite number"),
        ({"reward": "latency"}, "--reward: unknown value 'latency'"),
    ],
)
def test_bad_reward_options(kwargs, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace("[", r"\[")):
        RewardConfig(**kwargs)


def test_agreement():
    assert agreement((0, 1, 2), (0, 1, 0)) == pytest.approx(2 / 3)


def test_rewards_near_the_float_range():
    # T = 1e308 million: MACs / T underflows to 0 in floats, yet (MACs / T)^w is finite
    log_ratio = math.log(4e5) - math.log(1e6) - math.log(1e308)
    assert reward(0.5, 4e5, "soft", 1e308) == pytest.approx(0.5 * math.exp(-0.07 * log_ratio))
    assert reward(0.5, 4e5, "soft", 1e308, w=0.0) == 0.5
    assert reward(0.5, 4e5, "hard", 1e308) == 0.5
    assert reward(0.5, 4e5, "hard", 1e-320) == pytest.approx(0.0, abs=1e-300)
    assert 0 <= reward(0.5, 4e5, "soft", 1e-320) < 1e-20
    # (MACs / T)^w beyond the float range: an error naming the options, not OverflowError
    with pytest.raises(ValueError, match=r"beyond the float range.*--w closer to 0"):
        reward(0.5, 4e5, "soft", 10.0, w=-1e308)
    with pytest.raises(ValueError, match="beyond the float range"):
        reward(0.5, 4e5, "soft", 1e308, w=-1e3)
    assert reward(0.5, 4e6, "soft", 1.0, w=-1e308) == 0.0  # above the target: no reward left
    with pytest.raises(ValueError, match="of a child of 0 multiply-adds"):
        reward(0.5, 0, "soft", 10.0)
    # values the plain formula reaches are unchanged
    assert reward(0.8, 2e7, "soft", 10.0) == 0.8 * 2.0**-0.07
    assert reward(0.8, 2e7, "hard", 10.0) == 0.8 / 2.0


def _soft_by_logs(accuracy: float, macs: float, target: float, w: float) -> float:
    """ACC * (MACs / T)^w in floats through logarithms: accurate to |exponent| ulps or so."""
    return math.exp(math.log(accuracy) + w * (math.log(macs / 1e6) - math.log(target)))


@pytest.mark.parametrize(
    ("accuracy", "macs", "target", "w"),
    [
        (1.0, 1e300, 1e-300, -0.07),  # MACs / T overflows to inf: (1e594)^-0.07 = 2.6e-42, not 0
        (0.5, 1e300, 1e-300, -0.07),
        (0.5, 1e300, 1e-300, -0.5),
        (1e-300, 1.0, 1e308, -1.0),  # (MACs / T)^w = 1e314 overflows, ACC * it = 1e14 does not
        (1e-300, 1e3, 1e308, -1.0),
    ],
)
def test_soft_reward_where_a_factor_leaves_the_float_range(accuracy, macs, target, w):
    assert reward(accuracy, macs, "soft", target, w) == pytest.approx(
        _soft_by_logs(accuracy, macs, target, w), rel=1e-12, abs=0
    )


@pytest.mark.parametrize("target", [1e-300, 1.0, 1e6, 1e308])
@pytest.mark.parametrize("w", [0.0, -0.07, -1.0, -700.0, -1e308])
@pytest.mark.parametrize("macs", [1.0, 1e3, 1e9, 1e300])
def test_no_accuracy_is_no_reward_whatever_the_cost(macs, w, target):
    # ACC = 0: the reward is 0 even where (MACs / T)^w is beyond the float range
    assert reward(0.0, macs, "soft", target, w) == 0.0
    assert reward(0.0, macs, "hard", target, w) == 0.0


def test_hard_reward_when_macs_over_t_overflows():
    # ACC * T / MACs = 1e-309 (a subnormal float), although MACs / T = 1e309 is not a float
    assert reward(1.0, 1e300, "hard", 1e-15) == pytest.approx(1e-309, rel=1e-9, abs=0)
    assert reward(0.5, 1e300, "hard", 1e-300) == 0.0  # 5e-595: below the smallest float
    assert reward(0.5, 1.0, "hard", 1e308) == 0.5  # T * 1e6 overflows: within the target
