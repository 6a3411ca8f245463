"""``rlgen reinforce evaluate RUN_DIR``: re-evaluate the policy a reinforce run directory saved.

The policy (weights only, from ``checkpoint.pt``) plays ``--episodes`` evaluation episodes
greedily and sampled (the protocol of :func:`rlgen.pg.evaluate.play`: episodes still running at
the cap are cut and counted); the result goes to ``RUN_DIR/evaluation.json``. ``--gif`` records
one greedy episode.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import tyro

from rlgen.checkpoints import Checkpoint
from rlgen.errors import UserError, check_config_types, check_memory, check_range
from rlgen.files import write_json
from rlgen.pg.evaluate import play, record_gif
from rlgen.pg.reinforce import ENV_BYTES, Reinforce
from rlgen.pg.seed_run import CHECKPOINT, CHECKPOINT_KIND
from rlgen.runs import MAX_SEED, Command


@dataclass(frozen=True)
class EvaluateConfig:
    """Re-evaluate the policy saved in a reinforce run directory; optionally record a GIF."""

    run_dir: Annotated[Path, tyro.conf.Positional, tyro.conf.arg(metavar="RUN_DIR")]
    """a run directory written by rlgen reinforce (it holds checkpoint.pt)"""
    episodes: int = 100
    """evaluation episodes per policy (greedy and sampled)"""
    seed: int = 0
    """seed of the evaluation environments and of the sampled policy"""
    gif: Path | None = None
    """write one greedy episode as an animated GIF here (rendered with rgb_array)"""
    gif_frames: int = 500
    """at most this many frames in the GIF"""

    def __post_init__(self) -> None:
        check_config_types(self)
        check_range("episodes", self.episodes, 1)
        check_memory("episodes", ENV_BYTES * self.episodes, "this many environments")
        check_range("seed", self.seed, 0, MAX_SEED)
        check_range("gif_frames", self.gif_frames, 1)
        if self.gif is not None:
            if self.gif.suffix.lower() != ".gif":
                raise UserError(f"--gif {self.gif}: give a file name ending in .gif")
            if self.gif.is_dir():
                raise UserError(f"--gif {self.gif}: is a directory; give a .gif file name")


def load_policy(run_dir: Path) -> Reinforce:
    """The model of a reinforce run directory's checkpoint, on the CPU."""
    path = run_dir / CHECKPOINT
    if not path.is_file():
        raise UserError(f"{run_dir}: no {CHECKPOINT} here (is it a reinforce run directory?)")
    parts = Checkpoint(path, {}, kind=CHECKPOINT_KIND).read().get("parts")
    if not isinstance(parts, dict) or "model" not in parts:
        raise UserError(f"{path}: the checkpoint holds no model (damaged?)")
    return Reinforce.from_state(parts["model"], device="cpu", where=str(path), networks_only=True)


def run_evaluate(config: EvaluateConfig) -> dict[str, Any]:
    """Evaluate the saved policy; write ``evaluation.json`` into the run directory."""
    import torch

    torch.set_num_threads(1)
    model = load_policy(config.run_dir)
    env_id = model.env_id
    assert env_id is not None
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 4]))
    limit = model.config.max_episode_steps  # the time limit it was trained under
    try:
        gif: dict[str, Any] = {"gif": None}
        if config.gif is not None:  # first: an environment that cannot render fails at once
            total, frames = record_gif(
                model.act_fn(True), env_id, config.gif, config.seed,
                max_frames=config.gif_frames, max_episode_steps=limit,
            )  # fmt: skip
            gif = {"gif": str(config.gif), "gif_return": total, "gif_frames": frames}
        greedy = play(model.act_fn(True), env_id, config.episodes, config.seed,
                      max_episode_steps=limit)  # fmt: skip
        sampled = play(model.act_fn(False, rng), env_id, config.episodes, config.seed,
                       max_episode_steps=limit)  # fmt: skip
        g, s = greedy.returns, sampled.returns
        result: dict[str, Any] = {
            "run_dir": str(config.run_dir),
            "env": env_id,
            "episodes": config.episodes,
            "seed": config.seed,
            "env_steps_trained": model.counters.env_steps,
            "return_greedy": float(g.mean()),
            "return_greedy_std": float(g.std()),
            "return_sampled": float(s.mean()),
            "return_sampled_std": float(s.std()),
            # episodes that had not ended after max_steps steps (no time limit): cut there
            "truncated_greedy": greedy.cut,
            "truncated_sampled": sampled.cut,
            "max_steps": greedy.max_steps,
            **gif,
        }
    finally:
        model.close()
    try:
        write_json(config.run_dir / "evaluation.json", result)
    except OSError as e:
        raise UserError(f"{config.run_dir}: cannot write evaluation.json ({e.strerror})") from None
    return result


def describe_evaluation(result: dict[str, Any]) -> str:
    lines = [
        f"{result['env']}: {result['episodes']} episodes (seed {result['seed']}) after "
        f"{result['env_steps_trained']} training steps",
        f"  greedy  {result['return_greedy']:8.1f} ± {result['return_greedy_std']:.1f}",
        f"  sampled {result['return_sampled']:8.1f} ± {result['return_sampled_std']:.1f}",
    ]
    cut = [
        f"{result[f'truncated_{name}']} {name}"
        for name in ("greedy", "sampled")
        if result.get(f"truncated_{name}")
    ]
    if cut:
        lines.append(
            f"  {' and '.join(cut)} episodes did not end within {result['max_steps']} steps: "
            "cut there, with their return so far (no time limit? train with "
            "--max-episode-steps)"
        )
    if result["gif"]:
        lines.append(
            f"  GIF of one greedy episode ({result['gif_frames']} frames, return "
            f"{result['gif_return']:g}): {result['gif']}"
        )
    lines.append(f"written to {Path(result['run_dir']) / 'evaluation.json'}")
    return "\n".join(lines)


EVALUATE = Command(EvaluateConfig, run_evaluate, describe_evaluation, writes_run_dir=False)
