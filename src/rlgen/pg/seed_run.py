"""One seed of ``rlgen reinforce``: training with evaluation, checkpoints and metrics.

:func:`train_one` trains one seed into one run directory (``config.json``, ``metrics.csv``,
``summary.json``, ``checkpoint.pt``, ``learning_curve.png``) or continues the run there;
:class:`SeedRun` is the training itself, read top to bottom. The configuration is
:class:`rlgen.pg.command.TrainConfig`, resolved (``TrainConfig.resolved``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rlgen.checkpoints import Checkpoint, Every
from rlgen.errors import UserError
from rlgen.pg.evaluate import Evaluator
from rlgen.pg.plots import plot
from rlgen.pg.reinforce import NonFiniteLoss, Reinforce, UpdateInfo
from rlgen.pg.rollouts import registered_spec, time_limit
from rlgen.runs import Run

if TYPE_CHECKING:
    from rlgen.pg.command import TrainConfig

NAME = "reinforce"
CHECKPOINT = "checkpoint.pt"
CHECKPOINT_KIND = "rlgen.reinforce-run/1"


def reward_threshold(
    env: str, threshold: float | None, max_episode_steps: int | None = None
) -> float | None:
    """``--threshold`` or the environment's registered reward threshold; None where neither is
    (CliffWalking, Blackjack): the run then trains for its whole budget and is never solved.

    The registered threshold is set for the registered time limit: under another
    ``max_episode_steps`` it does not apply (cut at 60 steps, Acrobot's episodes all score at
    least -60, above its -100), so there is none unless ``threshold`` is given.
    """
    if threshold is not None:
        return threshold
    import gymnasium as gym

    try:
        spec = registered_spec(env)
    except gym.error.Error as e:
        raise UserError(f"--env {env}: {e}") from None
    if max_episode_steps is not None and max_episode_steps != spec.max_episode_steps:
        return None
    return None if spec.reward_threshold is None else float(spec.reward_threshold)


class SeedRun:
    """One seed's training in one run directory, read top to bottom by :meth:`train`.

    The model learns; after every update :meth:`on_update` logs the update, evaluates on
    schedule (stopping once solved) and writes the checkpoint on schedule. The checkpoint holds
    the model, the evaluator and the checkpoint schedule, so a resumed run continues exactly.
    """

    def __init__(self, config: TrainConfig, run: Run, *, resume: bool) -> None:
        assert config.total_steps is not None and config.eval_every is not None
        assert config.eval_screen is not None, "SeedRun takes a resolved TrainConfig"
        self.config = config
        self.total_steps = config.total_steps
        self.run = run
        self.threshold = reward_threshold(
            config.env, config.threshold, config.agent.max_episode_steps
        )
        self.model = Reinforce(config.env, config.agent, seed=config.seed)
        self.evaluator = Evaluator(
            config.env,
            episodes=config.eval_episodes,
            seed=config.seed,
            threshold=self.threshold,
            criterion=config.criterion,
            every=config.eval_every,
            screen=config.eval_screen,
            both_every_time=bool(config.eval_both),
            max_episode_steps=config.agent.max_episode_steps,
        )
        self.checkpoints = Every(config.checkpoint_every)
        self.checkpoint = Checkpoint(
            run.path / CHECKPOINT,
            {"model": self.model, "evaluator": self.evaluator, "schedule": self.checkpoints},
            kind=CHECKPOINT_KIND,
        )
        self.status = "finished"
        self.error: str | None = None
        if resume:
            extra = self.checkpoint.load()
            self.checkpoint.seconds = float(extra.get("checkpoint_seconds", 0.0))
            run.metrics.truncate_after(self.model.counters.env_steps)
        else:
            self.model.restart_envs()
            self.save()  # a checkpoint to resume from, at step 0

    def train(self) -> dict[str, Any]:
        """Learn until solved or out of budget; final evaluation and checkpoint; the summary."""
        c = self.model.counters
        with self.run.progress(
            total=self.total_steps, desc=f"reinforce s{self.config.seed}", unit="step"
        ) as bar:
            self.bar = bar
            bar.update(c.env_steps)
            try:
                if not (self.evaluator.solved and self.config.stop):
                    self.model.learn(self.total_steps, self.on_update, progress=bar)
            except NonFiniteLoss as e:
                self.status, self.error = "non-finite loss", str(e)
        if self.error is None:
            last = self.evaluator.history[-1] if self.evaluator.history else {"env_steps": -1}
            both = None not in (last.get("return_greedy"), last.get("return_sampled"))
            if (last["env_steps"] != c.env_steps or not both) and c.updates > 0:
                self.evaluate(final=True)  # the final evaluation: both policies
            self.save()
        return self.summary()

    def on_update(self, model: Reinforce, info: UpdateInfo) -> bool:
        """Log the update; evaluate and checkpoint on schedule; False once solved (stop)."""
        self.run.metrics.log(info.env_steps, info.metrics())
        keep_going = True
        if self.evaluator.due(info.env_steps) and self.screen():
            record = self.evaluate()
            keep_going = not (record["solved"] and self.config.stop)
            self.bar.set_postfix(
                {
                    k: f"{record[f'return_{k}']:.0f}"
                    for k in ("greedy", "sampled")
                    if record[f"return_{k}"] is not None
                }
            )
        if self.checkpoints(info.env_steps):
            self.save()
        return keep_going

    def screen(self) -> bool:
        """The evaluator's screen (its episodes chunk by chunk): whether the evaluation may pass."""
        if not self.evaluator.screening:
            return True
        c = self.model.counters
        passed = self.evaluator.screen(
            greedy=self.model.act_fn(True),
            sampled=self.model.act_fn(False, self.evaluator.screening_rng()),
            env_steps=c.env_steps,
        )
        screen = self.evaluator.screens[-1]
        self.run.metrics.log(c.env_steps, self.evaluator.screen_metrics(screen))
        if not passed:
            self.bar.set_postfix(screen=f"{screen['mean']:.0f}")
        return passed

    def evaluate(self, final: bool = False) -> dict[str, Any]:
        c = self.model.counters
        record = self.evaluator.evaluate(
            greedy=self.model.act_fn(True),
            sampled=self.model.act_fn(False, self.evaluator.sampling_rng()),
            env_steps=c.env_steps,
            episodes=c.episodes,
            train_seconds=c.train_seconds,
            final=final,
        )
        self.run.metrics.log(c.env_steps, self.evaluator.metrics(record))
        return record

    def save(self) -> None:
        self.checkpoint.save(checkpoint_seconds=self.checkpoint.seconds)

    def summary(self) -> dict[str, Any]:
        """``summary.json`` of one seed (keys documented in the README)."""
        config, c, evaluator = self.config, self.model.counters, self.evaluator
        final = evaluator.history[-1] if evaluator.history else {}
        solve = evaluator.solved_at or {}
        return {
            "env": config.env,
            "seed": config.seed,
            "baseline": config.agent.baseline,
            "status": self.status,
            "error": self.error,
            "solved": evaluator.solved,
            "threshold": self.threshold,
            "criterion": config.criterion,
            "eval_episodes": config.eval_episodes,
            "steps_to_solve": solve.get("env_steps"),
            "episodes_to_solve": solve.get("episodes"),
            "seconds_to_solve": solve.get("train_seconds"),
            "env_steps": c.env_steps,
            "episodes": c.episodes,
            # those too, that ended after the last update (too few for another batch)
            "episodes_ended": c.episodes + self.model.rollout.pending_episodes,
            "updates": c.updates,
            "time_limit": time_limit(self.model.env),  # of an episode; None: the env has none
            "train_seconds": c.train_seconds,
            "eval_seconds": evaluator.seconds,
            "evaluations": len(evaluator.history),
            "screens": len(evaluator.screens),
            "checkpoint_seconds": self.checkpoint.seconds,
            "final_return_greedy": final.get("return_greedy"),
            "final_return_sampled": final.get("return_sampled"),
            "final_return_greedy_std": final.get("return_greedy_std"),
            "final_return_sampled_std": final.get("return_sampled_std"),
            "best_return": evaluator.best,
            # evaluation episodes cut at eval_max_steps instead of ending (no time limit)
            "final_truncated_greedy": final.get("truncated_greedy"),
            "final_truncated_sampled": final.get("truncated_sampled"),
            "eval_truncated": evaluator.truncated,
            "eval_max_steps": evaluator.max_steps,
        }


def train_one(
    config: TrainConfig,
    run_dir: str | Path,
    *,
    quiet: bool = False,
    overwrite: bool = False,
    resume: bool = False,
) -> dict[str, Any]:
    """Train one seed into ``run_dir`` (or continue the run there, with ``resume``)."""
    import torch

    torch.set_num_threads(1)  # tiny networks: threads cost more than they bring
    wall_start = time.perf_counter()
    config = config.resolved()  # config.json holds the values the run uses
    with Run(
        NAME,
        config,
        run_dir,
        quiet=quiet,
        device=config.agent.device,
        resume=resume,
        overwrite=overwrite,
    ) as out:
        seed_run = SeedRun(config, out, resume=resume)
        try:
            summary = seed_run.train()
        finally:
            seed_run.model.close()
            seed_run.evaluator.close()
        summary["wall_seconds"] = time.perf_counter() - wall_start
        plot(out.path, threshold=seed_run.threshold)
        written = out.finish(summary)
    if seed_run.error is not None:
        raise NonFiniteLoss(seed_run.error)
    return written
