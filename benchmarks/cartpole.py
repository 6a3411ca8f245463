"""CartPole-v1: REINFORCE, REINFORCE with baseline and Stable-Baselines3 PPO, side by side.

Every method is trained per seed until the stop criterion of ``rlgen reinforce`` holds (mean
return of the greedy policy over 100 evaluation episodes on separate, seeded environments >= 475,
checked every ``--eval-every`` environment steps) or the budget runs out. Wall-clock to solve counts
training only: the time spent evaluating is measured and subtracted for every method alike.

SB3 PPO uses the rl-baselines3-zoo hyperparameters for CartPole-v1 (n_envs 8, n_steps 32, batch
256, gae_lambda 0.8, gamma 0.98, 20 epochs, ent_coef 0, learning rate linearly from 1e-3 to 0 over
the budget, clip 0.2); it needs the ``bench`` extra (``pip install -e '.[bench]'``).

Runs happen one after another in this process (seeds interleaved across methods, so that load
from other processes hits all methods alike), each with ``torch.set_num_threads(1)``::

    python benchmarks/cartpole.py                       # 10 seeds, JSON to benchmarks/results/
    python benchmarks/cartpole.py --seeds 3 --methods reinforce-baseline --profile
"""

from __future__ import annotations

import argparse
import cProfile
import io
import platform
import pstats
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from _common import sb3_stop, solve_result
from rlgen.files import write_json
from rlgen.pg.evaluate import Evaluator
from rlgen.pg.reinforce import Callback, Reinforce, ReinforceConfig, UpdateInfo

ENV = "CartPole-v1"
METHODS = ("reinforce", "reinforce-baseline", "sb3-ppo")


def reinforce_run(seed: int, baseline: bool, args: argparse.Namespace) -> dict[str, Any]:
    evaluator = Evaluator(
        ENV, episodes=args.eval_episodes, seed=seed, threshold=args.threshold, every=args.eval_every
    )

    class Stop(Callback):
        def on_update(self, model: Reinforce, info: UpdateInfo) -> bool:
            if not evaluator.due(info.env_steps):
                return True
            record = evaluator.evaluate(
                greedy=model.act_fn(True),
                sampled=model.act_fn(False, evaluator.sampling_rng()),
                env_steps=info.env_steps,
                episodes=info.episodes,
                train_seconds=info.train_seconds,
            )
            return not record["solved"]

    model = Reinforce(ENV, ReinforceConfig(baseline=baseline), seed=seed)
    model.learn(args.budget, Stop())
    model.close()
    return result(evaluator, model.counters.env_steps, model.counters.train_seconds)


def ppo_run(seed: int, args: argparse.Namespace) -> dict[str, Any]:
    try:
        from stable_baselines3 import PPO
        from stable_baselines3.common.env_util import make_vec_env
    except ImportError:
        sys.exit("sb3-ppo needs Stable-Baselines3: pip install -e '.[bench]' (or --methods ...)")

    evaluator = Evaluator(
        ENV, episodes=args.eval_episodes, seed=seed, threshold=args.threshold, every=args.eval_every
    )

    def solved(steps: int, train_seconds: float) -> bool:
        record = evaluator.evaluate(
            greedy=lambda obs: model.predict(obs, deterministic=True)[0],
            sampled=lambda obs: model.predict(obs, deterministic=False)[0],
            env_steps=steps,
            episodes=-1,
            train_seconds=train_seconds,
        )
        return record["solved"]

    env = make_vec_env(ENV, n_envs=8, seed=seed)
    model = PPO(
        "MlpPolicy",
        env,
        n_steps=32,
        batch_size=256,
        gae_lambda=0.8,
        gamma=0.98,
        n_epochs=20,
        ent_coef=0.0,
        learning_rate=lambda progress: 1e-3 * progress,
        clip_range=0.2,
        seed=seed,
        device="cpu",
        verbose=0,
    )
    stop = sb3_stop(evaluator, solved)
    start = time.perf_counter()
    model.learn(args.budget, callback=stop)
    train_seconds = time.perf_counter() - start - stop.excluded
    env.close()
    return result(evaluator, int(model.num_timesteps), train_seconds)


def result(evaluator: Evaluator, env_steps: int, train_seconds: float) -> dict[str, Any]:
    final = evaluator.history[-1] if evaluator.history else {}
    return {
        **solve_result(evaluator, env_steps, train_seconds),
        "evaluations": len(evaluator.history),
        "final_return_greedy": final.get("return_greedy"),
        "final_return_sampled": final.get("return_sampled"),
    }


def aggregate(runs: list[dict[str, Any]], within: int) -> dict[str, Any]:
    solved = [r for r in runs if r["solved"]]
    steps = [r["steps_to_solve"] for r in solved]
    seconds = [r["seconds_to_solve"] for r in solved]
    return {
        "seeds": len(runs),
        "solved": len(solved),
        "success_rate": len(solved) / len(runs),
        f"solved_within_{within}_steps": sum(s <= within for s in steps),
        "median_steps_to_solve": float(np.median(steps)) if steps else None,
        "median_seconds_to_solve": float(np.median(seconds)) if seconds else None,
        "max_steps_to_solve": max(steps) if steps else None,
        "runs": runs,
    }


def profile_one(args: argparse.Namespace) -> dict[str, Any]:
    """cProfile of one REINFORCE-with-baseline training (seed 0, fixed 40,000 steps, no eval)."""
    model = Reinforce(ENV, ReinforceConfig(baseline=True), seed=0)
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    model.learn(40_000)
    profiler.disable()
    seconds = time.perf_counter() - start
    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream)
    stats.sort_stats("tottime").print_stats(14)
    groups = {"env.step": 0.0, "policy (numpy)": 0.0, "update (torch)": 0.0}
    for (file, _, name), (_, _, _, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        if name == "step" and "cartpole" in file:
            groups["env.step"] += cumulative
        elif name == "act" and "networks" in file:
            groups["policy (numpy)"] += cumulative
        elif name == "update" and "reinforce" in file:
            groups["update (torch)"] += cumulative
    model.close()
    return {
        "env_steps": model.counters.env_steps,
        "updates": model.counters.updates,
        "seconds_profiled": seconds,
        "cumulative_seconds": groups,
        "top_by_own_time": stream.getvalue().splitlines()[:40],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1 per method")
    parser.add_argument("--budget", type=int, default=200_000, help="env steps per run")
    parser.add_argument("--within", type=int, default=100_000, help="also count solves within")
    parser.add_argument("--threshold", type=float, default=475.0)
    parser.add_argument("--eval-every", type=int, default=2_000)
    parser.add_argument("--eval-episodes", type=int, default=100)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--profile", action="store_true", help="add a profile of one run")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/cartpole.json"))
    args = parser.parse_args()
    methods = [m for m in args.methods.split(",") if m]
    unknown = set(methods) - set(METHODS)
    if unknown:
        parser.error(f"unknown methods {sorted(unknown)}; choose from {', '.join(METHODS)}")
    torch.set_num_threads(1)

    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in methods}
    for seed in range(args.seeds):
        for method in methods:
            if method == "sb3-ppo":
                r = ppo_run(seed, args)
            else:
                r = reinforce_run(seed, method == "reinforce-baseline", args)
            r["seed"] = seed
            runs[method].append(r)
            shown = (
                f"{r['steps_to_solve']} steps, {r['seconds_to_solve']:.2f} s"
                if r["solved"]
                else "not solved"
            )
            print(f"seed {seed} {method:<20} {shown} (eval {r['eval_seconds']:.2f} s)", flush=True)

    results = {m: aggregate(rs, args.within) for m, rs in runs.items()}
    out: dict[str, Any] = {
        "benchmark": "cartpole",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "env": ENV,
        "protocol": {
            "threshold": args.threshold,
            "criterion": "greedy",
            "eval_episodes": args.eval_episodes,
            "eval_every": args.eval_every,
            "budget": args.budget,
            "seeds": args.seeds,
            "timing": "training only; evaluation time measured and subtracted",
        },
        "machine": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "cpu": platform.processor() or platform.machine(),
            "torch_threads": 1,
        },
        "methods": results,
    }
    if "sb3-ppo" in results and results["sb3-ppo"]["median_seconds_to_solve"]:
        ppo = results["sb3-ppo"]["median_seconds_to_solve"]
        out["seconds_ratio_to_sb3_ppo"] = {
            m: (r["median_seconds_to_solve"] / ppo if r["median_seconds_to_solve"] else None)
            for m, r in results.items()
        }
    if args.profile:
        out["profile"] = profile_one(args)
    write_json(args.out, out)
    for m, r in results.items():
        med = r["median_seconds_to_solve"]
        print(
            f"{m:<20} solved {r['solved']}/{r['seeds']}, median "
            f"{r['median_steps_to_solve']} steps, {med if med is None else round(med, 2)} s"
        )
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
