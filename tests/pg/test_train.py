"""``rlgen reinforce`` and ``rlgen reinforce evaluate``: smoke runs, resume, sweeps, bad input."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from rlgen.errors import UserError
from rlgen.pg import command as train
from rlgen.pg import plots, seed_run, sweep
from rlgen.pg.command import TrainConfig, parse_seeds
from rlgen.pg.reinforce import NonFiniteLoss
from rlgen.pg.seed_run import train_one

from .envs import ZeroEnv

QUICK = ["--eval-every", "1000", "--eval-episodes", "10", "--quiet"]
QUICK_CONFIG = {"eval_every": 1000, "eval_episodes": 10}


def rlgen(*args: str, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rlgen", *args],
        capture_output=True,
        text=True,
        timeout=300,
        **kwargs,
    )


def rows(run_dir: Path) -> list[dict[str, float | None]]:
    with (run_dir / "metrics.csv").open(newline="") as f:
        return [{k: float(v) if v else None for k, v in r.items()} for r in csv.DictReader(f)]


@pytest.mark.slow
def test_train_and_evaluate_smoke(tmp_path):
    out = tmp_path / "r"
    done = rlgen(
        "reinforce", "--baseline", "--total-steps", "3000", "--seed", "1", *QUICK, "--out", str(out)
    )
    assert done.returncode == 0, done.stderr
    assert "results in" in done.stdout and "final evaluation" in done.stdout
    for name in (
        "config.json",
        "metrics.csv",
        "summary.json",
        "checkpoint.pt",
        "learning_curve.png",
    ):
        assert (out / name).is_file(), name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["env"] == "CartPole-v1" and summary["baseline"] is True
    assert summary["threshold"] == 475 and summary["criterion"] == "greedy"
    assert summary["env_steps"] >= 3000 and summary["eval_seconds"] > 0
    assert summary["final_return_greedy"] is not None
    columns = rows(out)[0].keys()
    assert {
        "train/episode_return",
        "train/loss",
        "eval/return_greedy",
        "eval/return_sampled",
    } <= set(columns)

    gif = tmp_path / "episode.gif"
    ev = rlgen(
        "reinforce",
        "evaluate",
        str(out),
        "--episodes",
        "5",
        "--gif",
        str(gif),
        "--gif-frames",
        "30",
    )
    assert ev.returncode == 0, ev.stderr
    assert "greedy" in ev.stdout and "sampled" in ev.stdout
    assert gif.read_bytes()[:6] in (b"GIF87a", b"GIF89a")
    result = json.loads((out / "evaluation.json").read_text())
    assert result["episodes"] == 5 and result["gif_frames"] <= 30


def test_solving_stops_training_and_reports_it(tmp_path):
    config = TrainConfig(threshold=60, eval_every=500, eval_episodes=10, total_steps=50_000)
    summary = train_one(config, tmp_path / "r", quiet=True)
    assert summary["solved"] and summary["threshold"] == 60
    assert summary["steps_to_solve"] == summary["env_steps"] < 50_000
    assert summary["seconds_to_solve"] <= summary["train_seconds"]
    assert summary["final_return_greedy"] >= 60


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--env", "Pendulum-v1"], "--env Pendulum-v1: REINFORCE here needs a discrete action"),
        (["--env", "CliffWalking-v1", "--max-episode-steps", "0"], "--max-episode-steps"),
        (["--env", "NoSuchEnv-v0"], "--env NoSuchEnv-v0"),
        (["--gamma", "1.5"], "--gamma must be in [0, 1]"),
        (["--seeds", "5-2"], "--seeds"),
        (["--total-steps", "0"], "--total-steps must be >= 1"),
        (["--criterion", "best"], "--criterion"),
        (["--resume", "/nonexistent/run"], "not a run directory"),
        (["--max-episode-steps", str(2**70)], "--max-episode-steps must be in [1, 1000000]"),
        (["--env", "Cartpole-v1"], "Did you mean: `CartPole`?"),
        (["--env", "MountainCarContinuous-v0"], "needs a discrete action space"),
        (["--env", "nosuchmodule:Foo-v0"], "No module named 'nosuchmodule'"),
        (["--env", "tests.pg.envs:rlgen-test/NoSuch-v0"], "rlgen-test/NoSuch"),
        # options the run would ignore
        (["--seeds", "0-1", "--seed", "3"], "--seed is replaced by --seeds"),
        (["--workers", "2"], "--workers is for --seeds only"),
        (["--executor", "local"], "--executor is for --seeds only"),  # typed at its default
        (["--lr-value", "0.01"], "--lr-value is for --baseline only"),
        (["--value-epochs", "3"], "--value-epochs is for --baseline only"),
        (["--device", "gpu"], "--device: invalid choice 'gpu'"),
        (["--env", "CliffWalking-v1", "--eval-screen", "5"], "--eval-screen: CliffWalking-v1 has"),
        (["--env", "CliffWalking-v1", "--no-stop"], "--stop / --no-stop: CliffWalking-v1 has no"),
    ],
)
def test_bad_input_is_one_error_line(args, message):
    out = rlgen("reinforce", *args)
    assert out.returncode == 2
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("rlgen: error: ") and message in last, out.stderr
    assert "Traceback" not in out.stderr


def test_an_environment_without_threshold_or_time_limit_trains_under_the_limit_given(tmp_path):
    # CliffWalking: Discrete states (one-hot), no reward threshold, no time limit of its own
    out = tmp_path / "cliff"
    argv = ["--env", "CliffWalking-v1", "--max-episode-steps", "30", "--total-steps", "3000"]
    done = rlgen("reinforce", *argv, "--eval-every", "1000", "--eval-episodes", "4",
                 "--out", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["threshold"] is None and summary["solved"] is False
    assert summary["env_steps"] >= 3000 and summary["evaluations"] >= 3  # no early stop
    # every episode is cut at 30 steps at the latest; the 8 copies' last ones may be unfinished
    assert summary["episodes"] >= 3000 // 30 - 8
    assert -30 * 100 <= summary["final_return_greedy"] <= -13  # at best the 13-step path
    assert "no reward threshold" in done.stdout
    evaluated = rlgen("reinforce", "evaluate", str(out), "--episodes", "3")
    assert evaluated.returncode == 0, evaluated.stderr  # under the time limit trained with
    returns = json.loads((out / "evaluation.json").read_text())["return_greedy"]
    assert returns == summary["final_return_greedy"] or returns >= -30 * 100


def test_a_run_whose_episodes_never_end_says_why_nothing_was_learned(tmp_path):
    out = tmp_path / "never"
    done = rlgen("reinforce", "--env", "CliffWalking-v1", "--total-steps", "200",
                 "--out", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "no episode ended within" in done.stdout and "--max-episode-steps" in done.stdout
    assert (out / "learning_curve.png").is_file() and "Warning" not in done.stderr


def test_evaluate_needs_a_run_directory(tmp_path):
    out = rlgen("reinforce", "evaluate", str(tmp_path))
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1].startswith("rlgen: error: ")


def test_help_mentions_the_evaluate_subcommand():
    out = rlgen("reinforce", "--help")
    assert out.returncode == 0 and "evaluate" in out.stdout and "--baseline" in out.stdout


def test_parse_seeds():
    assert parse_seeds("0-3") == [0, 1, 2, 3]
    assert parse_seeds("0-1,5") == [0, 1, 5]
    with pytest.raises(UserError):
        parse_seeds("1,1")


def test_sweep_runs_seeds_as_jobs(tmp_path):
    config = TrainConfig(seeds="0-1", total_steps=1500, eval_every=1000, eval_episodes=5)
    config = TrainConfig(**{**config.__dict__, "jobs": type(config.jobs)(workers=1)})
    summary = train.run(config, tmp_path / "sweep", quiet=True)
    assert summary["seeds"] == [0, 1] and len(summary["runs"]) == 2
    assert 0 <= summary["success_rate"] <= 1
    for s in (0, 1):
        assert (tmp_path / "sweep" / f"seed-{s}" / "summary.json").is_file()
    assert (tmp_path / "sweep" / "learning_curve.png").is_file()
    assert (tmp_path / "sweep" / "summary.json").is_file()


RESUMABLE = [
    "--no-stop",
    "--total-steps",
    "9000",
    "--checkpoint-every",
    "2000",
    "--eval-every",
    "3000",
    "--eval-episodes",
    "5",
    "--quiet",
]
COMPARED = ("step", "train/episode_return", "train/loss", "eval/return_greedy")


def test_resume_after_an_exception_keeps_metrics(tmp_path, monkeypatch):
    config = TrainConfig(
        stop=False, total_steps=7000, checkpoint_every=2000, eval_every=3000, eval_episodes=5
    )
    reference = train_one(config, tmp_path / "ref", quiet=True)

    original = seed_run.SeedRun.on_update

    def crash(self, model, info):
        keep = original(self, model, info)
        if info.env_steps > 4500:
            raise RuntimeError("simulated crash")
        return keep

    monkeypatch.setattr(seed_run.SeedRun, "on_update", crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train_one(config, tmp_path / "run", quiet=True)
    monkeypatch.undo()
    before = rows(tmp_path / "run")
    resumed = train.run(TrainConfig(resume=tmp_path / "run"), None, quiet=True)
    after = rows(tmp_path / "run")
    ref = rows(tmp_path / "ref")
    assert resumed["env_steps"] == reference["env_steps"]
    assert resumed["final_return_greedy"] == reference["final_return_greedy"]
    kept = [r for r in before if r["step"] <= 4000]
    assert kept and after[: len(kept)] == kept  # rows up to the checkpoint survive untouched
    assert [[r[k] for k in COMPARED] for r in after] == [[r[k] for k in COMPARED] for r in ref]


@pytest.mark.slow
def test_resume_after_kill_9(tmp_path):
    ref = rlgen("reinforce", *RESUMABLE, "--out", str(tmp_path / "ref"))
    assert ref.returncode == 0, ref.stderr
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "rlgen", "reinforce", *RESUMABLE, "--out", str(run_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    while time.time() < deadline:  # wait for a row past the first periodic checkpoint
        try:
            if any(r["step"] > 4000 for r in rows(run_dir)):
                break
        except (FileNotFoundError, KeyError, ValueError):
            pass
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (run_dir / "summary.json").exists()
    resumed = rlgen("reinforce", "--resume", str(run_dir), "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    assert f"results in {run_dir}" in resumed.stdout
    a, b = rows(run_dir), rows(tmp_path / "ref")
    assert [[r[k] for k in COMPARED] for r in a] == [[r[k] for k in COMPARED] for r in b]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_a_user_error():
    out = rlgen("reinforce", "--device", "cuda")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1].startswith("rlgen: error: --device cuda")


def test_non_finite_loss_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    original = seed_run.SeedRun.on_update

    def poison_after_first_checkpoint(self, model, info):
        keep = original(self, model, info)
        if info.env_steps > 2000:
            with torch.no_grad():
                next(model.policy.parameters()).fill_(float("nan"))
        return keep

    monkeypatch.setattr(seed_run.SeedRun, "on_update", poison_after_first_checkpoint)
    config = TrainConfig(
        stop=False, total_steps=8000, checkpoint_every=2000, eval_every=4000, eval_episodes=5
    )
    with pytest.raises(NonFiniteLoss, match="not finite"):
        train_one(config, tmp_path / "r", quiet=True)
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["status"] == "non-finite loss" and "not finite" in summary["error"]
    state = torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=True)["parts"]["model"]
    assert 2000 <= state["counters"]["env_steps"] < summary["env_steps"] + 1
    assert all(torch.isfinite(p).all() for p in state["policy"].values())


def test_resume_refuses_another_out(tmp_path):
    with pytest.raises(UserError, match="leave out --out"):
        train.run(TrainConfig(resume=tmp_path / "a"), tmp_path / "b")


def test_resume_refuses_options_it_would_ignore(tmp_path):
    from rlgen.cli import main
    from rlgen.pg.reinforce import ReinforceConfig

    config = TrainConfig(resume=tmp_path, total_steps=5, agent=ReinforceConfig(lr=0.5))
    with pytest.raises(UserError, match="leave out --total-steps, --lr"):
        train.run(config)
    assert main(["reinforce", "--resume", str(tmp_path), "--eval-every", "7"]) == 2


def test_a_whole_sweep_resumes_with_one_command(tmp_path):
    from rlgen.executors import ExecutorOptions

    config = TrainConfig(
        seeds="0-2",
        stop=False,
        total_steps=3000,
        checkpoint_every=1000,
        eval_every=1500,
        eval_episodes=5,
        jobs=ExecutorOptions(workers=1),
    )
    first = train.run(config, tmp_path / "sweep", quiet=True)
    # as if killed: seed 1 lost its summary (it continues from its checkpoint), seed 2 never ran
    (tmp_path / "sweep" / "seed-1" / "summary.json").unlink()
    shutil.rmtree(tmp_path / "sweep" / "seed-2")
    (tmp_path / "sweep" / "summary.json").unlink()
    again = train.run(TrainConfig(resume=tmp_path / "sweep"), None, quiet=True)
    keys = ("seed", "solved", "final_return_greedy", "final_return_sampled")
    assert [[r[k] for k in keys] for r in again["runs"]] == [
        [r[k] for k in keys] for r in first["runs"]
    ]
    assert len(rows(tmp_path / "sweep")) == 3  # one row per seed, not appended twice


def test_a_resumed_sweep_may_run_its_seeds_elsewhere_a_single_run_may_not(tmp_path, monkeypatch):
    from rlgen.executors import ExecutorOptions

    config = TrainConfig(seeds="0-1", stop=False, total_steps=1000, eval_every=1000,
                         eval_episodes=2, jobs=ExecutorOptions(workers=1))  # fmt: skip
    first = train.run(config, tmp_path / "sweep", quiet=True)
    (tmp_path / "sweep" / "seed-1" / "summary.json").unlink()
    (tmp_path / "sweep" / "summary.json").unlink()
    used = []
    real_sweep = train.sweep
    monkeypatch.setattr(
        train, "sweep", lambda c, *a, **k: used.append(c.jobs) or real_sweep(c, *a, **k)
    )
    again = train.run(TrainConfig(resume=tmp_path / "sweep", jobs=ExecutorOptions(workers=2)))
    assert used == [ExecutorOptions(workers=2)]
    assert [r["final_return_greedy"] for r in again["runs"]] == [
        r["final_return_greedy"] for r in first["runs"]
    ]
    with pytest.raises(UserError, match="leave out --lr"):  # other options are still refused
        from rlgen.pg.reinforce import ReinforceConfig

        train.run(TrainConfig(resume=tmp_path / "sweep", agent=ReinforceConfig(lr=0.5)))
    single = train.run(TrainConfig(total_steps=1000, eval_every=1000, eval_episodes=2),
                       tmp_path / "one", quiet=True)  # fmt: skip
    assert single["env_steps"] >= 1000
    with pytest.raises(UserError, match="leave out --workers"):
        train.run(TrainConfig(resume=tmp_path / "one", jobs=ExecutorOptions(workers=2)))


def unfinished_sweep_saved_with_ray(run_dir):
    """A 2-seed sweep whose summary is gone and whose config.json names a Ray cluster."""
    from rlgen.executors import ExecutorOptions

    config = TrainConfig(seeds="0-1", stop=False, total_steps=1000, eval_every=1000,
                         eval_episodes=2, jobs=ExecutorOptions(workers=1))  # fmt: skip
    train.run(config, run_dir, quiet=True)
    (run_dir / "summary.json").unlink()
    saved = json.loads((run_dir / "config.json").read_text())
    saved["config"]["jobs"] |= {"executor": "ray", "workers": None, "ray_address": "127.0.0.1:9"}
    (run_dir / "config.json").write_text(json.dumps(saved))


def test_saved_executor_options_that_cannot_run_here_say_how_to_give_others(tmp_path):
    from rlgen.executors import ExecutorOptions

    unfinished_sweep_saved_with_ray(tmp_path / "sweep")  # a cluster gone since
    # from Python --executor local (the default) cannot be told from no option: the saved ones
    for given in (ExecutorOptions(), ExecutorOptions(executor="local")):
        with pytest.raises(UserError) as info:
            train.run(TrainConfig(resume=tmp_path / "sweep", jobs=given), quiet=True)
        message = str(info.value)
        assert "config.json" in message and "--ray-address 127.0.0.1:9" in message, message
        assert "--workers" in message, message  # how to run the seeds elsewhere
    again = train.run(
        TrainConfig(resume=tmp_path / "sweep", jobs=ExecutorOptions(workers=1)), quiet=True
    )
    assert again["executor"] == "local" and len(again["runs"]) == 2


def test_a_resumed_sweep_runs_where_the_command_line_says_even_local(tmp_path, monkeypatch):
    from rlgen.cli import main
    from rlgen.executors import ExecutorOptions

    unfinished_sweep_saved_with_ray(tmp_path / "sweep")
    used = []
    real_sweep = train.sweep
    monkeypatch.setattr(
        train, "sweep", lambda c, *a, **k: used.append(c.jobs) or real_sweep(c, *a, **k)
    )
    typed = ["--executor", "local", "--quiet"]  # the default value, typed: the seeds run here
    assert main(["reinforce", "--resume", str(tmp_path / "sweep"), *typed]) == 0
    assert used == [ExecutorOptions()]
    summary = json.loads((tmp_path / "sweep" / "summary.json").read_text())
    assert summary["executor"] == "local" and len(summary["runs"]) == 2


def test_resuming_a_finished_sweep_leaves_its_summary_and_timings_alone(tmp_path):
    from rlgen.executors import ExecutorOptions

    config = TrainConfig(seeds="0-1", stop=False, total_steps=1000, eval_every=1000,
                         eval_episodes=2, jobs=ExecutorOptions(workers=1))  # fmt: skip
    first = train.run(config, tmp_path / "sweep", quiet=True)
    again = train.run(TrainConfig(resume=tmp_path / "sweep"), quiet=True)  # nothing left to run
    assert again == first
    assert json.loads((tmp_path / "sweep" / "summary.json").read_text()) == first


def test_a_seed_that_fails_is_reported_and_the_sweep_goes_on(tmp_path, monkeypatch):
    from rlgen.executors import ExecutorOptions

    original = sweep.train_one

    def flaky(config, run_dir, **kwargs):
        if config.seed == 1:
            raise RuntimeError("out of memory (simulated)")
        return original(config, run_dir, **kwargs)

    monkeypatch.setattr(sweep, "train_one", flaky)
    config = TrainConfig(
        seeds="0-2", total_steps=1500, eval_every=1500, eval_episodes=5,
        jobs=ExecutorOptions(workers=1),
    )  # fmt: skip
    summary = train.run(config, tmp_path / "sweep", quiet=True)
    status = {r["seed"]: r["status"] for r in summary["runs"]}
    assert status == {0: "finished", 1: "failed", 2: "finished"}
    assert (tmp_path / "sweep" / "learning_curve.png").is_file()


def test_ray_without_ray_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    from rlgen.cli import main

    assert (
        main(["reinforce", "--seeds", "0-1", "--executor", "ray", "--out", str(tmp_path / "s")])
        == 2
    )
    assert not (tmp_path / "s").exists()


class NanRewards(ZeroEnv):
    """Every episode pays a NaN reward: the first update stops with a non-finite loss."""

    def step(self, action):
        return np.zeros(2, np.float32), float("nan"), True, False, {}


def test_a_seed_stopped_before_its_first_row_does_not_break_the_sweep_figure(tmp_path):
    gym.register("rlgen-test/NanRewards-v0", entry_point=NanRewards, max_episode_steps=5)
    config = TrainConfig(env="rlgen-test/NanRewards-v0", threshold=1.0, total_steps=100)
    with pytest.raises(NonFiniteLoss, match="non-finite reward"):
        train_one(config, tmp_path / "seed-0", quiet=True)
    assert rows(tmp_path / "seed-0") == []
    train_one(TrainConfig(seed=1, total_steps=300, **QUICK_CONFIG), tmp_path / "seed-1", quiet=True)
    assert plots.plot(tmp_path, threshold=1.0) == tmp_path / "learning_curve.png"
    assert (tmp_path / "learning_curve.png").is_file()


def test_seeds_stopped_by_a_non_finite_reward_are_not_said_to_have_had_no_episode(tmp_path):
    # every episode ends after one step, with a NaN reward: the first batch stops the run; its
    # summary has no update, and the reason is the reward, not a missing time limit or budget
    if "rlgen-test/NanRewards-v0" not in gym.registry:
        gym.register("rlgen-test/NanRewards-v0", entry_point=NanRewards, max_episode_steps=5)
    config = TrainConfig(env="rlgen-test/NanRewards-v0", total_steps=100)
    summaries = []
    for seed in (0, 1):
        with pytest.raises(NonFiniteLoss, match="non-finite reward"):
            train_one(dataclasses.replace(config, seed=seed), tmp_path / f"s{seed}", quiet=True)
        summaries.append(json.loads((tmp_path / f"s{seed}" / "summary.json").read_text()))
    assert [s["status"] for s in summaries] == ["non-finite loss"] * 2
    assert summaries[0]["episodes"] == 0
    text = train.describe(summaries[0])
    assert "no episode ended" not in text and "give more --total-steps" not in text
    text = train.describe(sweep.aggregate(dataclasses.replace(config, seeds="0-1"), summaries, 0))
    assert "no episode ended" not in text and "give more --total-steps" not in text
    assert "seeds that stopped with a non-finite loss, reward or observation" in text
    assert "0, 1" in text


def test_a_changed_time_limit_drops_the_registered_reward_threshold(tmp_path):
    # Acrobot's -100 is set for its 500-step limit: cut at 60 steps, a policy that never swings
    # up scores -60 and would be "solved"; the threshold given, or the same limit, still count
    from rlgen.pg.reinforce import ReinforceConfig

    assert seed_run.reward_threshold("Acrobot-v1", None, 60) is None
    assert seed_run.reward_threshold("Acrobot-v1", None, 500) == -100
    assert seed_run.reward_threshold("Acrobot-v1", -50, 60) == -50
    config = TrainConfig(env="Acrobot-v1", total_steps=1500, eval_every=500, eval_episodes=2,
                         agent=ReinforceConfig(max_episode_steps=60))  # fmt: skip
    summary = train.run(config, tmp_path / "short", quiet=True)
    assert summary["threshold"] is None and not summary["solved"]
    assert summary["env_steps"] >= 1500 and summary["final_return_greedy"] >= -60
    assert "no reward threshold" in train.describe(summary)


def test_a_looping_greedy_policy_without_a_time_limit_ends_in_a_summary_not_an_error(tmp_path):
    # CliffWalking has no time limit: the greedy policy of seed 0 walks into a wall for ever,
    # so its evaluation episodes run to the evaluation's cap; they are reported as truncated
    out = tmp_path / "cliff"
    argv = ["--env", "CliffWalking-v1", "--num-envs", "1", "--episodes-per-update", "1"]
    done = rlgen("reinforce", *argv, "--total-steps", "2000", "--eval-every", "100000",
                 "--eval-episodes", "2", "--quiet", "--out", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["updates"] >= 1 and summary["eval_max_steps"] == 10_000
    assert summary["final_truncated_greedy"] == 2 and summary["eval_truncated"] >= 2
    assert summary["final_return_greedy"] <= -10_000  # -1 a step (or -100 off the cliff)
    assert "did not end within 10000 steps" in done.stdout
    assert "--max-episode-steps" in done.stdout
    # the time limit is the task's: a resumed run keeps it, and says why
    resumed = rlgen("reinforce", "--resume", str(out), "--max-episode-steps", "50")
    assert resumed.returncode == 2
    assert "--max-episode-steps cannot change in a resumed run" in resumed.stderr
    assert "time limit: the environment's own" in resumed.stderr
    # rlgen reinforce evaluate reports them too
    evaluated = rlgen("reinforce", "evaluate", str(out), "--episodes", "2")
    assert evaluated.returncode == 0, evaluated.stderr
    result = json.loads((out / "evaluation.json").read_text())
    assert result["truncated_greedy"] == 2 and result["max_steps"] == 10_000
    assert "did not end within 10000 steps" in evaluated.stdout


def test_an_environment_given_by_module_and_id_trains_and_evaluates(tmp_path):
    # gymnasium.make("module:Id") imports the module, which registers the id
    out = tmp_path / "switch"
    env = "tests.pg.envs:rlgen-test/Switch-v0"
    root = Path(__file__).parents[2]  # where "tests.pg.envs" imports from
    done = rlgen("reinforce", "--env", env, "--total-steps", "300", "--eval-episodes", "2",
                 "--quiet", "--out", str(out), cwd=root)  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["env"] == env and summary["updates"] >= 1
    gif = rlgen("reinforce", "evaluate", str(out), "--episodes", "2", "--gif",
                str(tmp_path / "e.gif"), cwd=root)  # fmt: skip
    assert gif.returncode == 2 and "Traceback" not in gif.stderr
    assert gif.stderr.strip().splitlines()[-1].startswith(f"rlgen: error: --gif: {env} cannot")


def test_a_sweep_says_which_seeds_learned_nothing_and_why(tmp_path):
    # CliffWalking without a time limit: no random walk ends within 300 steps
    config = TrainConfig(env="CliffWalking-v1", seeds="0-1", total_steps=300)
    config = TrainConfig(**{**config.__dict__, "jobs": type(config.jobs)(workers=1)})
    summary = train.run(config, tmp_path / "sweep", quiet=True)
    assert summary["seeds_without_updates"] == [0, 1]
    assert [r["episodes_ended"] for r in summary["runs"]] == [0, 0]
    text = train.describe(summary)
    assert "seeds 0, 1 learned nothing: no episode ended" in text
    assert "give --max-episode-steps" in text


def test_too_few_episodes_for_one_batch_is_not_called_no_episode(tmp_path):
    config = TrainConfig(total_steps=300, **QUICK_CONFIG)
    config = TrainConfig(
        **{**config.__dict__, "agent": train.ReinforceConfig(episodes_per_update=10**6)}
    )
    summary = train_one(config, tmp_path / "r", quiet=True)
    assert summary["updates"] == 0 and summary["episodes_ended"] > 0
    text = train.describe(summary)
    assert f"only {summary['episodes_ended']} episodes ended within" in text
    assert "--episodes-per-update" in text and "no episode ended" not in text
    # and where none ended under a time limit, the budget is short, not the time limit missing
    summary = train_one(TrainConfig(env="Acrobot-v1", total_steps=300, **QUICK_CONFIG),
                        tmp_path / "a", quiet=True)  # fmt: skip
    assert summary["episodes_ended"] == 0 and summary["time_limit"] == 500
    text = train.describe(summary)
    assert "up to 500 steps here; give more --total-steps" in text


def test_a_sweeps_truncation_note_says_cut_evaluations_never_solve():
    run = {"seed": 0, "status": "finished", "solved": False, "final_return_greedy": -1e4,
           "eval_truncated": 2, "eval_max_steps": 10_000, "updates": 3, "episodes_ended": 5,
           "env_steps": 100, "time_limit": None, "episodes": 5}  # fmt: skip
    summary = {"env": "X", "baseline": False, "threshold": -2e4, "criterion": "greedy",
               "solved": 0, "runs": [run], "seeds_without_updates": []}  # fmt: skip
    described = train.describe_sweep(summary)
    assert "seeds 0 did not end within 10000 steps" in described
    assert "an evaluation with a cut greedy episode never counts as solved" in described
    assert "never counts" not in train.describe_sweep(summary | {"threshold": None})
