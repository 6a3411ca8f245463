"""Time value iteration on a large sparse MDP: the vectorised sweep against a per-state loop.

The MDP is random (``rlgen.mdp.examples.random_mdp``): 100,000 states, 4 actions, 10 successor
states per action (4 million outcomes), continuing, gamma = 0.9. The vectorised sweep is one
sparse matrix-vector product (scipy.sparse CSR, rows s*A + a) and a max over actions
(``rlgen.mdp.dp.value_iteration``). The baseline is the book's pseudocode run literally: for each
state, for each action, sum p (r + gamma v(s')) over the outcomes kept as Python lists (the shape
of gymnasium's ``P[s][a]``). The loop runs on a smaller instance with the same structure and its
time per sweep is scaled linearly in the number of outcomes (it touches each outcome once per
sweep); both sweeps are checked to give the same values on the small instance. Each time is the
median of its repeats. Writes JSON (default ``benchmarks/results/mdp_speed.json``).

    .venv/bin/python benchmarks/mdp_speed.py
    .venv/bin/python benchmarks/mdp_speed.py --states 20000 --loop-states 1000   # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import scipy

from rlgen.mdp import dp
from rlgen.mdp.examples import random_mdp
from rlgen.mdp.model import MDP


def loop_tables(mdp: MDP) -> list[list[list[tuple[float, int, float]]]]:
    """The dynamics as nested Python lists: table[s][a] = [(p, s', r), ...]."""
    table: list[list[list[tuple[float, int, float]]]] = []
    for s in range(mdp.n_states):
        row = []
        for a in range(mdp.n_actions):
            i = s * mdp.n_actions + a
            lo, hi = int(mdp.row_start[i]), int(mdp.row_start[i + 1])
            row.append(
                list(
                    zip(
                        mdp.prob[lo:hi].tolist(),
                        mdp.next_state[lo:hi].tolist(),
                        mdp.reward[lo:hi].tolist(),
                        strict=True,
                    )
                )
            )
        table.append(row)
    return table


def loop_sweep(table: list, v: list[float], gamma: float) -> list[float]:
    """One value-iteration sweep, state by state (synchronous, like the vectorised one)."""
    new = [0.0] * len(v)
    for s, actions in enumerate(table):
        best = -float("inf")
        for outcomes in actions:
            q = 0.0
            for p, s2, r in outcomes:
                q += p * (r + gamma * v[s2])
            if q > best:
                best = q
        new[s] = best
    return new


def vector_sweep(mdp: MDP, v: np.ndarray) -> np.ndarray:
    return dp.max_over_actions(dp.q_from_v(mdp, v))


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--states", type=int, default=100_000)
    parser.add_argument("--actions", type=int, default=4)
    parser.add_argument("--successors", type=int, default=10)
    parser.add_argument("--gamma", type=float, default=0.9)
    parser.add_argument("--tol", type=float, default=1e-8, help="value iteration's stopping change")
    parser.add_argument("--loop-states", type=int, default=2_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/mdp_speed.json"))
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    big = random_mdp(args.states, args.actions, args.successors, rng, gamma=args.gamma, terminals=0)
    _ = big.P, big.expected_reward  # build the sparse matrix once, as a solver would
    build_seconds = time.perf_counter() - start
    outcomes_big = int(big.row_start[-1])

    v0 = np.zeros(big.n_states)
    sweep_seconds = median_time(lambda: vector_sweep(big, v0), args.repeats)
    start = time.perf_counter()
    solution = dp.value_iteration(big, tol=args.tol)
    converge_seconds = time.perf_counter() - start

    small = random_mdp(
        args.loop_states,
        args.actions,
        args.successors,
        np.random.default_rng(args.seed + 1),
        gamma=args.gamma,
        terminals=0,
    )
    table = loop_tables(small)
    outcomes_small = int(small.row_start[-1])
    v_list = [0.0] * small.n_states
    loop_seconds = median_time(lambda: loop_sweep(table, v_list, args.gamma), args.repeats)
    small_vector_seconds = median_time(
        lambda: vector_sweep(small, np.zeros(small.n_states)), args.repeats
    )
    # the two sweeps agree (a few sweeps from 0)
    v_loop, v_vec = [0.0] * small.n_states, np.zeros(small.n_states)
    for _ in range(3):
        v_loop, v_vec = loop_sweep(table, v_loop, args.gamma), vector_sweep(small, v_vec)
    agree = float(np.max(np.abs(np.array(v_loop) - v_vec)))

    scale = outcomes_big / outcomes_small
    loop_scaled = loop_seconds * scale
    result = {
        "mdp": {
            "states": args.states,
            "actions": args.actions,
            "successors": args.successors,
            "outcomes": outcomes_big,
            "gamma": args.gamma,
            "seed": args.seed,
        },
        "build_seconds": build_seconds,
        "vectorised": {
            "seconds_per_sweep": sweep_seconds,
            "sweeps_to_converge": solution.iterations,
            "tol": args.tol,
            "seconds_to_converge": converge_seconds,
        },
        "loop": {
            "states": args.loop_states,
            "outcomes": outcomes_small,
            "seconds_per_sweep": loop_seconds,
            "scaled_seconds_per_sweep": loop_scaled,
            "scaled_seconds_to_converge": loop_scaled * solution.iterations,
            "scale": scale,
            "vectorised_seconds_per_sweep_same_instance": small_vector_seconds,
            "max_abs_difference_after_3_sweeps": agree,
        },
        "speedup_per_sweep": loop_scaled / sweep_seconds,
        "speedup_same_instance": loop_seconds / small_vector_seconds,
        "machine": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "cpu_count": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
        },
        "command": "python benchmarks/mdp_speed.py "
        + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k != "out"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
