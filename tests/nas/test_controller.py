"""The REINFORCE controller: sampling, scoring, state, and that it learns (fast, fixed seeds)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rlgen.errors import UserError
from rlgen.nas.controller import (
    Controller,
    ControllerConfig,
    RandomSearch,
    ReinforceSearch,
    make_search,
)
from rlgen.nas.rewards import agreement
from rlgen.nas.spaces import make_space

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_sampling_returns_log_probs_and_entropies():
    space = make_space("nasnet", blocks=2)
    controller = Controller(space.sizes, ControllerConfig())
    with torch.no_grad():
        choices, log_prob, entropy = controller(5, generator=torch.Generator().manual_seed(0))
    assert choices.shape == (5, len(space)) and log_prob.shape == (5,) and entropy.shape == (5,)
    for row in choices.tolist():
        space.check(row)  # every sample is an architecture of the space
    # scoring the same choices gives the same log-probabilities
    _, again, _ = controller(5, choices=choices)
    torch.testing.assert_close(again, log_prob)
    # the small initialisation: nearly uniform, entropy close to the maximum
    assert entropy.mean() == pytest.approx(sum(math.log(n) for n in space.sizes), rel=0.02)


def test_tanh_constant_bounds_the_probabilities():
    config = ControllerConfig(tanh_constant=1.0, temperature=0.01)
    controller = Controller((4,), config)
    with torch.no_grad():
        controller.heads[0].weight.zero_()
        controller.heads[0].bias.copy_(torch.tensor([100.0, 0, 0, 0]))
    with torch.no_grad():
        _, log_prob, _ = controller(1, choices=torch.tensor([[0]]))
    e = math.e
    assert float(log_prob.exp()) == pytest.approx(e / (e + 3), rel=1e-4)  # logits (1, 0, 0, 0)


def test_proposals_are_reproducible_and_resumable():
    space = make_space("mnas")
    a = ReinforceSearch(space, ControllerConfig(), seed=3)
    b = ReinforceSearch(space, ControllerConfig(), seed=3)
    assert a.propose(4) == b.propose(4)
    archs = a.propose(4)
    a.update(archs, [0.1, 0.5, 0.2, 0.9])
    state = a.state_dict()
    c = ReinforceSearch(space, ControllerConfig(), seed=99)
    c.load_state_dict(state)
    assert c.propose(6) == a.propose(6)
    r = RandomSearch(space, seed=1)
    r.propose(3)
    s = RandomSearch(space, seed=2)
    s.load_state_dict(r.state_dict())
    assert s.propose(5) == r.propose(5)


def test_update_raises_the_probability_of_rewarded_architectures():
    space = make_space("mnas")
    search = ReinforceSearch(space, ControllerConfig(lr=0.05), seed=0)
    good, bad = search.propose(2)
    before, before_bad = search.probabilities(good), search.probabilities(bad)
    info = search.update([good, bad], [1.0, 0.0])
    assert info is not None and info.architectures == 2 and info.baseline == 0.5
    assert search.probabilities(good) > before
    assert search.probabilities(bad) < before_bad
    assert search.update([], []) is None


def _search_rewards(search, target, trials, batch, rng):
    rewards = []
    for _ in range(trials // batch):
        archs = search.propose(batch)
        r = [agreement(a, target) + 0.05 * rng.standard_normal() for a in archs]
        search.update(archs, r)
        rewards += [agreement(a, target) for a in archs]
    return np.array(rewards)


def test_controller_finds_a_hidden_target_far_faster_than_random_search():
    space = make_space("nasnet", blocks=2)  # 20 decisions, about 1e15 architectures
    target = space.sample(np.random.default_rng(123))
    found = {}
    for kind in ("reinforce", "random"):
        search = make_search(kind, space, ControllerConfig(), seed=0)
        found[kind] = _search_rewards(search, target, 320, 8, np.random.default_rng(0))
    reinforce, random = found["reinforce"], found["random"]
    # the controller climbs: its last quarter agrees on most decisions, random's stays at chance
    assert reinforce[-80:].mean() > 0.6
    assert random[-80:].mean() < 0.45
    assert reinforce[-80:].mean() > random[-80:].mean() + 0.25
    # an architecture agreeing on 85% of the decisions: the controller finds one, random not
    assert np.flatnonzero(reinforce >= 0.85).size > 0 and random.max() < 0.85


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"hidden": 0}, "--reinforce.hidden must be in [1, 4096], got 0"),
        ({"temperature": 0.0}, "--reinforce.temperature must be > 0"),
        ({"tanh_constant": -1.0}, "--reinforce.tanh-constant must be in [0, 1e+38], got -1"),
        ({"lr": math.nan}, "--reinforce.lr must be a finite number"),
        ({"baseline_decay": 1.0}, "--reinforce.baseline-decay must be in [0, 1)"),
        # Adam's float32 step overflowed inside torch (a RuntimeError traceback)
        ({"lr": 1e300}, "--reinforce.lr must be in (0, 1], got 1e+300"),
    ],
)
def test_bad_controller_options(kwargs, message):
    with pytest.raises(UserError) as error:
        ControllerConfig(**kwargs)
    assert message in str(error.value)


@pytest.mark.parametrize(
    "config",
    [
        ControllerConfig(temperature=1e-300),  # 0 in float32: logits / 0
        ControllerConfig(entropy_weight=1e300),  # an infinite loss, NaN parameters after it
    ],
)
def test_a_controller_gone_non_finite_is_a_user_error_naming_the_options(config):
    # torch.multinomial failed on the NaN probabilities with a RuntimeError traceback
    search = ReinforceSearch(make_space("nasnet", blocks=1), config, seed=0)
    with pytest.raises(UserError, match="probabilities became NaN or infinite: lower --reinforce"):
        for _ in range(3):
            archs = search.propose(4)
            search.update(archs, [0.1, 0.2, 0.3, 0.4])


def test_rewards_beyond_float32_are_a_user_error_naming_noise():
    search = ReinforceSearch(make_space("nasnet", blocks=1), ControllerConfig(), seed=0)
    archs = search.propose(2)
    with pytest.raises(UserError, match=r"largest \|reward\| 1e\+300.*lower --noise"):
        search.update(archs, [0.5, 1e300])


def test_tanh_constant_within_float32():
    with pytest.raises(UserError, match=r"--reinforce\.tanh-constant must be in \[0, 1e\+38\]"):
        ControllerConfig(tanh_constant=1e308)
    search = ReinforceSearch(make_space("mnas"), ControllerConfig(tanh_constant=1e38), seed=0)
    archs = search.propose(4)  # nearly deterministic, but finite
    assert search.update(archs, [0.1, 0.2, 0.3, 0.4]) is not None
