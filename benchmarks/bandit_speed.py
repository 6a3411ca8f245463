"""Time the whole of Figure 2.2: the vectorised simulator against a plain per-run, per-step loop.

Figure 2.2 is 2000 runs x 1000 steps for each of epsilon = 0, 0.01, 0.1. Both simulators run in
this process, on the same tasks, one after the other; each time is the median of its repeats.
The loop is the book's pseudocode run one task and one step at a time with NumPy on the k
estimates (``rlgen.bandits.simulate_loop``), the style of the usual chapter-2 reproductions. For
disclosure a second loop keeps the estimates in Python lists (no NumPy per step), which is about
twice as fast as the usual style; both ratios are written. Writes JSON (default
``benchmarks/results/bandit_speed.json``).

    .venv/bin/python benchmarks/bandit_speed.py                 # the whole figure, both ways
    .venv/bin/python benchmarks/bandit_speed.py --loop-runs 200 # loop on 200 runs, scaled x10

Targets (issue 2): at least 200x faster than the loop, under 0.5 s for the whole figure.
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

from rlgen.bandits import BanditConfig, experiment, simulate_loop


def time_vectorised(config: BanditConfig, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        experiment(config)
        times.append(time.perf_counter() - start)
    return times


def simulate_lists(agent, q_star: np.ndarray, steps: int, rng: np.random.Generator) -> None:
    """The same loop with the estimates in Python lists: no NumPy call per step."""
    runs, k = q_star.shape
    epsilon = agent.epsilon
    reward_sum = [0.0] * steps
    optimal_sum = [0] * steps
    for run in range(runs):
        values = q_star[run].tolist()
        best = max(values)
        Q = [float(agent.initial)] * k
        N = [0] * k
        for t in range(steps):
            if rng.random() < epsilon:
                a = int(rng.integers(k))
            else:
                top = max(Q)
                ties = [i for i in range(k) if Q[i] == top]
                a = ties[0] if len(ties) == 1 else ties[int(rng.integers(len(ties)))]
            r = values[a] + rng.standard_normal()
            N[a] += 1
            Q[a] += (r - Q[a]) / N[a]
            reward_sum[t] += r
            optimal_sum[t] += values[a] == best


def time_loop(loop, config: BanditConfig, runs: int, repeats: int) -> list[float]:
    q_star = np.random.default_rng(config.seed).normal(size=(runs, config.k))
    times = []
    for repeat in range(repeats):
        rng = np.random.default_rng(repeat)
        start = time.perf_counter()
        for agent in config.agents:
            loop(agent, q_star, config.steps, rng)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=7, help="repeats of the vectorised run")
    parser.add_argument(
        "--loop-runs",
        type=int,
        default=2000,
        help="runs the loop simulates; its time is scaled to --runs",
    )
    parser.add_argument("--loop-repeats", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/bandit_speed.json"))
    args = parser.parse_args()

    config = BanditConfig(epsilon=(0.0, 0.01, 0.1), runs=args.runs, steps=args.steps)
    experiment(BanditConfig(runs=10, steps=10))  # warm-up: imports and first-call costs
    vector = time_vectorised(config, args.repeats)
    loop = time_loop(simulate_loop, config, args.loop_runs, args.loop_repeats)
    lists = time_loop(simulate_lists, config, args.loop_runs, args.loop_repeats)
    scale = args.runs / args.loop_runs
    vector_s = statistics.median(vector)
    loop_s = statistics.median(loop) * scale
    lists_s = statistics.median(lists) * scale
    result = {
        "figure": "2.2",
        "runs": args.runs,
        "steps": args.steps,
        "epsilons": [0.0, 0.01, 0.1],
        "vectorised_seconds": vector_s,
        "vectorised_repeats": vector,
        "loop_seconds": loop_s,
        "loop_repeats": loop,
        "loop_lists_seconds": lists_s,
        "loop_lists_repeats": lists,
        "loop_runs_measured": args.loop_runs,
        "loop_scaled_by": scale,
        "speedup": loop_s / vector_s,
        "speedup_vs_lists_loop": lists_s / vector_s,
        "targets": {"speedup_at_least": 200, "vectorised_seconds_at_most": 0.5},
        "met": {"speedup": loop_s / vector_s >= 200, "seconds": vector_s <= 0.5},
        "machine": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"vectorised: {vector_s:.3f} s (median of {args.repeats})")
    print(f"loop:       {loop_s:.1f} s ({args.loop_runs} runs measured, x{scale:g})")
    print(f"list loop:  {lists_s:.1f} s")
    print(f"speedup:    {loop_s / vector_s:.0f}x (vs the list loop {lists_s / vector_s:.0f}x)")
    print(f"written to  {args.out}")


if __name__ == "__main__":
    main()
