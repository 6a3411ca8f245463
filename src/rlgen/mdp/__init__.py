"""Finite MDPs, dynamic programming and the policy gradient theorem, checked exactly.

- :mod:`rlgen.mdp.model`: the MDP as its dynamics p(s', r | s, a), validation, sampling, gymnasium.
- :mod:`rlgen.mdp.examples`: the book's gridworlds, gymnasium's toy-text tasks, random MDPs.
- :mod:`rlgen.mdp.dp`: policy evaluation, value / policy iteration, backward induction, mu.
- :mod:`rlgen.mdp.policy_gradient`: the policy gradient theorem checked exactly, and REINFORCE
  sampled against it (not :mod:`rlgen.pg`, REINFORCE on gymnasium environments).
- :mod:`rlgen.mdp.plots`: value heatmaps with arrows for all optimal actions.
- :mod:`rlgen.mdp.command`: the ``rlgen mdp solve`` and ``rlgen mdp pg-check`` subcommands.
"""

from rlgen.mdp.dp import (
    Solution,
    backward_induction,
    evaluate_horizon,
    evaluate_iterative,
    evaluate_linear,
    greedy_actions,
    greedy_policy,
    on_policy_distribution,
    policy_iteration,
    q_from_v,
    v_from_q,
    value_iteration,
)
from rlgen.mdp.examples import example, from_gymnasium, gridworld_3_5, gridworld_4_1, random_mdp
from rlgen.mdp.model import MDP, MDPError, sample_episodes, uniform_policy

__all__ = [
    "MDP",
    "MDPError",
    "Solution",
    "backward_induction",
    "evaluate_horizon",
    "evaluate_iterative",
    "evaluate_linear",
    "example",
    "from_gymnasium",
    "greedy_actions",
    "greedy_policy",
    "gridworld_3_5",
    "gridworld_4_1",
    "on_policy_distribution",
    "policy_iteration",
    "q_from_v",
    "random_mdp",
    "sample_episodes",
    "uniform_policy",
    "v_from_q",
    "value_iteration",
]
