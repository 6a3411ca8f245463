"""UCB: the upper confidence bound of eq. 2.10 on a hand-made state."""

from __future__ import annotations

import math
import warnings

import numpy as np

from rlgen.bandits import argmax_random_ties, ucb_values


def test_ucb_choice_on_a_hand_made_state():
    # t = 111, c = 2: 1 + 2 sqrt(ln 111 / 10) = 2.372, 2 + 2 sqrt(ln 111 / 100) = 2.434,
    # 1.5 + 2 sqrt(ln 111 / 1) = 5.841: the rarely tried third arm wins.
    Q = np.array([[1.0], [2.0], [1.5]])
    N = np.array([[10.0], [100.0], [1.0]])
    values = ucb_values(Q, N, t=111, c=2.0)
    np.testing.assert_allclose(
        values[:, 0],
        [
            1 + 2 * math.sqrt(math.log(111) / 10),
            2 + 2 * math.sqrt(math.log(111) / 100),
            1.5 + 2 * math.sqrt(math.log(111)),
        ],
    )
    assert argmax_random_ties(values, np.random.default_rng(0))[0] == 2
    # an arm never tried is a maximising arm, whatever the estimates
    N[0, 0] = 0
    assert argmax_random_ties(ucb_values(Q, N, t=111, c=2.0), np.random.default_rng(0))[0] == 0
    # c = 0 is greedy
    assert argmax_random_ties(ucb_values(Q, N + 1, t=111, c=0.0), np.random.default_rng(0))[0] == 1


def test_untried_arms_are_infinite_at_the_first_step_and_with_c_0_without_warnings():
    Q = np.array([[0.5, 0.0], [0.0, 0.0]])
    N = np.array([[0.0, 1.0], [1.0, 0.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for t, c in ((1, 2.0), (5, 0.0)):
            values = ucb_values(Q, N, t=t, c=c)
            assert values[0, 0] == values[1, 1] == np.inf
            assert values[1, 0] == 0.0 + c * math.sqrt(math.log(t))
