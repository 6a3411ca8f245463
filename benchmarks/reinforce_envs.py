"""REINFORCE, REINFORCE with baseline and SB3 PPO on CartPole-v1, Acrobot-v1 and LunarLander-v3.

Every method trains per seed until the stop criterion of ``rlgen reinforce`` holds (the greedy
policy's mean return over 100 evaluation episodes on separate, seeded environments reaches the
environment's reward threshold: 475, -100, 200) or the budget runs out. All methods share the
evaluation schedule of ``rlgen reinforce``'s defaults for the environment (``rlgen.pg.zoo``:
every ``eval_every`` steps, a screen of ``eval_screen`` greedy episodes first). Wall-clock to
solve counts training only: evaluation is timed and subtracted for every method alike.

REINFORCE runs with the command's defaults for the environment (only ``--baseline`` differs).
SB3 PPO uses the rl-baselines3-zoo hyperparameters (``hyperparams/ppo.yml``; LunarLander-v3 takes
LunarLander-v2's), with VecNormalize where the zoo asks for it (Acrobot; the greedy policy is
evaluated on observations normalised with the frozen running statistics). It needs the ``bench``
extra, and LunarLander the ``box2d`` extra.

Runs happen one after another in this process (seeds interleaved across methods, so that load
from other processes hits all methods alike), each with ``torch.set_num_threads(1)``. The JSON is
rewritten after every run, so a long benchmark stopped early still reports what completed::

    python benchmarks/reinforce_envs.py                        # all, JSON to benchmarks/results/
    python benchmarks/reinforce_envs.py --envs Acrobot-v1 --seeds 3 --methods reinforce-baseline
    python benchmarks/reinforce_envs.py --profile-only         # what bounds the time, per env
    python benchmarks/reinforce_envs.py --combine a.json b.json  # runs of parallel commands
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
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
from rlgen.files import read_json, write_json
from rlgen.pg.command import TrainConfig
from rlgen.pg.evaluate import Evaluator
from rlgen.pg.reinforce import Callback, Reinforce, ReinforceConfig, UpdateInfo
from rlgen.pg.seed_run import reward_threshold

METHODS = ("reinforce", "reinforce-baseline", "sb3-ppo")

# per environment: seeds, budget in env steps, the "within" count of the targets
ENVS: dict[str, dict[str, int]] = {
    "CartPole-v1": {"seeds": 10, "budget": 200_000, "within": 100_000},
    "Acrobot-v1": {"seeds": 10, "budget": 500_000, "within": 500_000},
    "LunarLander-v3": {"seeds": 10, "budget": 2_000_000, "within": 2_000_000},
}

# rl-baselines3-zoo hyperparams/ppo.yml (LunarLander-v2's for v3); "lin_x": linear from x to 0
PPO_ZOO: dict[str, dict[str, Any]] = {
    "CartPole-v1": {
        "n_envs": 8,
        "n_steps": 32,
        "batch_size": 256,
        "gae_lambda": 0.8,
        "gamma": 0.98,
        "n_epochs": 20,
        "ent_coef": 0.0,
        "learning_rate": "lin_0.001",
        "clip_range": "lin_0.2",
    },
    "Acrobot-v1": {
        "normalize": True,
        "n_envs": 16,
        "n_steps": 256,
        "gae_lambda": 0.94,
        "gamma": 0.99,
        "n_epochs": 4,
        "ent_coef": 0.0,
    },
    "LunarLander-v3": {
        "n_envs": 16,
        "n_steps": 1024,
        "batch_size": 64,
        "gae_lambda": 0.98,
        "gamma": 0.999,
        "n_epochs": 4,
        "ent_coef": 0.01,
    },
}


def train_config(env: str, baseline: bool) -> TrainConfig:
    """``rlgen reinforce --env ENV [--baseline]`` with everything else at its default."""
    return TrainConfig(env=env, agent=ReinforceConfig(baseline=baseline)).resolved()


def make_evaluator(env: str, seed: int) -> Evaluator:
    config = train_config(env, True)
    assert config.eval_every is not None and config.eval_screen is not None
    return Evaluator(
        env,
        episodes=config.eval_episodes,
        seed=seed,
        threshold=reward_threshold(env, None),
        every=config.eval_every,
        screen=config.eval_screen,
        both_every_time=bool(config.eval_both),
    )


def reinforce_run(env: str, seed: int, baseline: bool, budget: int) -> dict[str, Any]:
    evaluator = make_evaluator(env, seed)

    class Stop(Callback):
        def on_update(self, model: Reinforce, info: UpdateInfo) -> bool:
            if not evaluator.due(info.env_steps):
                return True
            greedy = model.act_fn(True)
            if not evaluator.screen(greedy=greedy, env_steps=info.env_steps):
                return True
            record = evaluator.evaluate(
                greedy=greedy,
                sampled=model.act_fn(False, evaluator.sampling_rng()),
                env_steps=info.env_steps,
                episodes=info.episodes,
                train_seconds=info.train_seconds,
            )
            return not record["solved"]

    config = train_config(env, baseline)
    model = Reinforce(env, config.agent, seed=seed)
    model.learn(budget, Stop())
    model.close()
    evaluator.close()
    return result(evaluator, model.counters.env_steps, model.counters.train_seconds)


def ppo_run(env_id: str, seed: int, budget: int) -> dict[str, Any]:
    try:
        from stable_baselines3 import PPO
        from stable_baselines3.common.env_util import make_vec_env
        from stable_baselines3.common.vec_env import VecNormalize
    except ImportError:
        sys.exit("sb3-ppo needs Stable-Baselines3: pip install -e '.[bench]' (or --methods ...)")

    evaluator = make_evaluator(env_id, seed)
    zoo = dict(PPO_ZOO[env_id])
    env = make_vec_env(env_id, n_envs=zoo.pop("n_envs"), seed=seed)
    if zoo.pop("normalize", False):
        env = VecNormalize(env)
    norm = env if isinstance(env, VecNormalize) else None

    def schedule(value: Any) -> Any:
        if isinstance(value, str) and value.startswith("lin_"):
            start = float(value[4:])
            return lambda progress: start * progress
        return value

    kwargs = {k: schedule(v) for k, v in zoo.items()}
    model = PPO("MlpPolicy", env, seed=seed, device="cpu", verbose=0, **kwargs)

    def policy(deterministic: bool) -> Any:
        def act(obs: np.ndarray) -> np.ndarray:
            if norm is not None:
                obs = norm.normalize_obs(obs)  # the frozen running statistics
            return model.predict(obs, deterministic=deterministic)[0]

        return act

    def solved(steps: int, train_seconds: float) -> bool:
        if not evaluator.screen(greedy=policy(True), env_steps=steps):
            return False
        record = evaluator.evaluate(
            greedy=policy(True),
            sampled=policy(False),
            env_steps=steps,
            episodes=-1,
            train_seconds=train_seconds,
        )
        return record["solved"]

    stop = sb3_stop(evaluator, solved)
    start = time.perf_counter()
    model.learn(budget, callback=stop)
    train_seconds = time.perf_counter() - start - stop.excluded
    env.close()
    evaluator.close()
    return result(evaluator, int(model.num_timesteps), train_seconds)


def result(evaluator: Evaluator, env_steps: int, train_seconds: float) -> dict[str, Any]:
    final = evaluator.history[-1] if evaluator.history else {}
    return {
        **solve_result(evaluator, env_steps, train_seconds),
        "eval_share": evaluator.seconds / (evaluator.seconds + train_seconds),
        "evaluations": len(evaluator.history),
        "screens": len(evaluator.screens),
        "best_greedy": max((h["return_greedy"] for h in evaluator.history), default=None),
        "best_screen": max((s["mean"] for s in evaluator.screens), default=None),
        "final_return_greedy": final.get("return_greedy"),
    }


def aggregate(runs: list[dict[str, Any]], within: int) -> dict[str, Any]:
    solved = [r for r in runs if r["solved"]]
    steps = [r["steps_to_solve"] for r in solved]
    seconds = [r["seconds_to_solve"] for r in solved]
    train = sum(r["train_seconds"] for r in runs)
    evaluation = sum(r["eval_seconds"] for r in runs)
    return {
        "seeds": len(runs),
        "solved": len(solved),
        f"solved_within_{within}_steps": sum(s <= within for s in steps),
        "median_steps_to_solve": float(np.median(steps)) if steps else None,
        "median_seconds_to_solve": float(np.median(seconds)) if seconds else None,
        "max_steps_to_solve": max(steps) if steps else None,
        "eval_share_of_time": evaluation / (train + evaluation) if runs else None,
        "runs": runs,
    }


def profile_one(env: str, steps: int) -> dict[str, Any]:
    """cProfile of REINFORCE with baseline (defaults, seed 0) for ``steps`` env steps, no eval."""
    model = Reinforce(env, train_config(env, True).agent, seed=0)
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    model.learn(steps)
    profiler.disable()
    seconds = time.perf_counter() - start
    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream)
    stats.sort_stats("tottime").print_stats(12)
    groups = {
        "vector env step (gymnasium)": 0.0,
        "policy sampling (numpy)": 0.0,
        "update (torch)": 0.0,
    }
    for (file, _, name), (_, _, _, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        if name == "step" and file.endswith("wrappers/vector/common.py"):  # episode statistics
            groups["vector env step (gymnasium)"] += cumulative
        elif name == "act" and file.endswith("networks.py"):
            groups["policy sampling (numpy)"] += cumulative
        elif name == "update" and file.endswith("reinforce.py"):
            groups["update (torch)"] += cumulative
    model.close()
    return {
        "env": env,
        "env_steps": model.counters.env_steps,
        "updates": model.counters.updates,
        "seconds_profiled": seconds,
        "microseconds_per_step": 1e6 * seconds / model.counters.env_steps,
        "cumulative_seconds": groups,
        "share": {k: v / seconds for k, v in groups.items()},
        "top_by_own_time": stream.getvalue().splitlines()[:36],
    }


def combine(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Benchmarks run as separate commands (say, seeds 0-4 and 5-9 in parallel) as one."""
    out = dict(parts[0])
    out["commands"] = [p["command"] for p in parts]
    out["results"], out["profile"] = {}, []
    for key in ("schedule", "reinforce", "sb3_ppo"):
        out["protocol"][key] = {k: v for p in parts for k, v in p["protocol"][key].items()}
    runs: dict[str, dict[str, dict[int, dict[str, Any]]]] = {}
    for part in parts:
        for env, by_method in part["results"].items():
            for m, r in by_method.items():
                if m in METHODS:
                    runs.setdefault(env, {}).setdefault(m, {}).update(
                        {run["seed"]: run for run in r["runs"]}
                    )
        seen = {p["env"] for p in out["profile"]}
        out["profile"] += [p for p in part.get("profile", []) if p["env"] not in seen]
    for env, by_method in runs.items():
        within = ENVS[env]["within"]
        out["results"][env] = {
            m: aggregate([rs[k] for k in sorted(rs)], within) for m, rs in by_method.items()
        }
        out["results"][env]["seconds_ratio_to_sb3_ppo"] = ratios(out["results"][env])
    return out


def ratios(by_method: dict[str, Any]) -> dict[str, float | None]:
    """Each method's median seconds to solve over SB3 PPO's."""
    ppo = by_method.get("sb3-ppo", {}).get("median_seconds_to_solve")
    out = {}
    for m, agg in by_method.items():
        if m in METHODS:
            mine = agg["median_seconds_to_solve"]
            out[m] = mine / ppo if mine and ppo else None
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", default=",".join(ENVS))
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--seeds", type=int, default=None, help="seeds 0..N-1 (default per env)")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--profile-steps", type=int, default=100_000)
    parser.add_argument("--profile-only", action="store_true")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/reinforce_envs.json"))
    parser.add_argument(
        "--merge",
        action="store_true",
        help="keep the results already in --out (other environments, and other seeds of these)",
    )
    parser.add_argument(
        "--combine", type=Path, nargs="+", help="merge these JSON files (seed by seed) into --out"
    )
    args = parser.parse_args()
    if args.combine:
        write_json(args.out, combine([read_json(path) for path in args.combine]))
        print(f"written to {args.out}")
        return
    envs = [e for e in args.envs.split(",") if e]
    methods = [m for m in args.methods.split(",") if m]
    if set(envs) - set(ENVS) or set(methods) - set(METHODS):
        parser.error(f"choose --envs from {', '.join(ENVS)}, --methods from {', '.join(METHODS)}")
    torch.set_num_threads(1)

    out: dict[str, Any] = {
        "benchmark": "reinforce_envs",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "protocol": {
            "criterion": "greedy mean over 100 evaluation episodes >= the reward threshold",
            "schedule": {
                env: {
                    "threshold": reward_threshold(env, None),
                    "eval_every": train_config(env, True).eval_every,
                    "eval_screen": train_config(env, True).eval_screen,
                    "eval_both": train_config(env, True).eval_both,
                }
                for env in envs
            },
            "timing": "training only; evaluation measured and subtracted",
            "reinforce": {env: dataclasses.asdict(train_config(env, True).agent) for env in envs},
            "sb3_ppo": {env: PPO_ZOO[env] for env in envs},
        },
        "machine": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "cpu": platform.processor() or platform.machine(),
            "torch_threads": 1,
        },
        "results": {},
    }
    earlier_runs: dict[str, dict[str, list[dict[str, Any]]]] = {}
    if args.merge and args.out.is_file():  # environments or seeds benchmarked by other commands
        earlier = read_json(args.out)
        out["results"] = {k: v for k, v in earlier["results"].items() if k not in envs}
        earlier_runs = {
            env: {m: r["runs"] for m, r in by_method.items() if m in METHODS}
            for env, by_method in earlier["results"].items()
            if env in envs
        }
        out["earlier_commands"] = [*earlier.get("earlier_commands", []), earlier["command"]]
        for key in ("schedule", "reinforce", "sb3_ppo"):
            out["protocol"][key] = {**earlier["protocol"][key], **out["protocol"][key]}
        if "profile" in earlier:
            out["profile"] = [p for p in earlier["profile"] if p["env"] not in envs]
    if not args.profile_only:
        for env in envs:
            spec = ENVS[env]
            seeds = range(args.first_seed, args.first_seed + (args.seeds or spec["seeds"]))
            runs: dict[str, list[dict[str, Any]]] = {m: [] for m in methods}
            for m, rs in earlier_runs.get(env, {}).items():  # the seeds not run again now
                runs.setdefault(m, []).extend(r for r in rs if r["seed"] not in seeds)
            for seed in seeds:
                for method in methods:
                    if method == "sb3-ppo":
                        r = ppo_run(env, seed, spec["budget"])
                    else:
                        r = reinforce_run(env, seed, method == "reinforce-baseline", spec["budget"])
                    r["seed"] = seed
                    runs[method] = sorted([*runs[method], r], key=lambda x: x["seed"])
                    shown = (
                        f"{r['steps_to_solve']} steps, {r['seconds_to_solve']:.1f} s"
                        if r["solved"]
                        else "not solved"
                    )
                    print(
                        f"{env} seed {seed} {method:<20} {shown} (eval {r['eval_seconds']:.1f} s, "
                        f"{r['evaluations']} evaluations, {r['screens']} screens)",
                        flush=True,
                    )
                    out["results"][env] = {
                        m: aggregate(rs, spec["within"]) for m, rs in runs.items() if rs
                    }
                    write_json(args.out, out)  # partial results survive a stopped benchmark
            out["results"][env]["seconds_ratio_to_sb3_ppo"] = ratios(out["results"][env])
            write_json(args.out, out)
    if not args.no_profile:
        out["profile"] = [
            *out.get("profile", []),
            *(profile_one(env, args.profile_steps) for env in envs),
        ]
        write_json(args.out, out)
    for env, by_method in out["results"].items():
        for m, r in by_method.items():
            if m == "seconds_ratio_to_sb3_ppo":
                continue
            med = r["median_seconds_to_solve"]
            print(
                f"{env:<15} {m:<20} solved {r['solved']}/{r['seeds']}, median "
                f"{r['median_steps_to_solve']} steps, {med if med is None else round(med, 1)} s"
            )
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
