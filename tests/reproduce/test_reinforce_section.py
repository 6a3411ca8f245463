"""The REINFORCE section's snapshot measurements, on a few small batches."""

from __future__ import annotations

import numpy as np
import pytest

from rlgen.pg import ReinforceConfig
from rlgen.reproduce.claims import SECTIONS
from rlgen.reproduce.reinforce import _bootstrap_ratio, snapshot_measurements


def test_section_is_registered():
    assert SECTIONS["reinforce"] == "rlgen.reproduce.reinforce"


def test_snapshot_measurements():
    agent = ReinforceConfig(baseline=True, normalize=False)
    [snap] = snapshot_measurements(0, steps=(600,), batches=6, episodes=4, agent=agent)
    assert snap["env_steps"] >= 600 and snap["batches"] == 6
    # CartPole's returns are all positive: no term of plain REINFORCE lowers its action
    assert snap["decrease_plain"] == 0.0
    assert 0.0 < snap["decrease_baseline"] < 1.0
    assert snap["variance_plain"] > 0 and snap["variance_baseline"] > 0
    assert snap["variance_ratio"] == pytest.approx(
        snap["variance_baseline"] / snap["variance_plain"]
    )
    low, high = snap["variance_ratio_bootstrap_95"]
    assert low <= high


def test_bootstrap_ratio_of_medians():
    import numpy as np

    a = np.array([1.0, 2.0, 3.0])
    low, high = _bootstrap_ratio(a, a, np.random.default_rng(0), n=200)
    assert low <= 1.0 <= high


def test_a_diverged_seed_counts_as_unsolved(tmp_path, monkeypatch):
    # One seed whose loss turns non-finite must not abort the whole section: like the command's
    # sweep, its job returns the summary written for it (status "non-finite loss", unsolved).
    from rlgen.pg import Reinforce
    from rlgen.pg.command import TrainConfig
    from rlgen.reproduce import reinforce as section

    original = Reinforce.update

    def diverge_at_the_second_update(self, batch):
        if self.counters.updates == 1:
            self._raise_non_finite("policy loss")
        return original(self, batch)

    monkeypatch.setattr(Reinforce, "update", diverge_at_the_second_update)
    config = TrainConfig(total_steps=5000, eval_every=1000, eval_episodes=5)
    summary = section.train_job((config, str(tmp_path / "seed-0")))
    assert summary["status"] == "non-finite loss" and not summary["solved"]
    assert section._episodes([summary]).tolist() == [np.inf]


def test_the_table_beyond_cartpole(tmp_path, monkeypatch):
    # the full preset's experiment 3 with its training replaced: what it asks for, the table,
    # the figure and the claim (LunarLander reported as not run when Box2D is missing)
    from rlgen.errors import UserError
    from rlgen.reproduce import reinforce as section
    from rlgen.reproduce.claims import Context

    asked = []

    def fake_job(job):
        config, _ = job
        asked.append(config)
        solved = config.agent.baseline or config.seed == 0
        return {
            "seed": config.seed,
            "solved": solved,
            "steps_to_solve": 1000 * (config.seed + 1) if solved else None,
            "episodes_to_solve": 10 if solved else None,
            "seconds_to_solve": 1.0 if solved else None,
            "threshold": -100.0,
            "env_steps": 5000,
        }

    make_env = section.make_env

    def no_box2d(env, *args, **kwargs):
        if env == "LunarLander-v3":
            raise UserError("--env LunarLander-v3 needs Box2D, which is not installed: ...")
        return make_env(env, *args, **kwargs)

    monkeypatch.setattr(section, "train_job", fake_job)
    monkeypatch.setattr(section, "plot_seeds", lambda *a, **k: None)
    monkeypatch.setattr(section, "make_env", no_box2d)
    monkeypatch.setattr(section, "map_jobs", lambda fn, jobs, *a, **k: [fn(j) for j in jobs])
    ctx = Context(preset="full", seed=0, dir=tmp_path)
    rows = section.train_beyond_cartpole(ctx, [0, 1, 2])
    assert {c.env for c in asked} == {"Acrobot-v1"} and len(asked) == 6
    assert all(c.total_steps is None and c.agent.lr is None for c in asked)  # the defaults
    acrobot = {r["variant"]: r for r in rows if r["env"] == "Acrobot-v1"}
    assert acrobot["reinforce-baseline"]["solved"] == 3 and acrobot["reinforce"]["solved"] == 1
    assert acrobot["reinforce-baseline"]["median_steps_to_solve"] == 2000
    assert [r["ran"] for r in rows if r["env"] == "LunarLander-v3"] == [False, False]
    assert (tmp_path / "beyond" / "solved.png").is_file()
    text = section.table_text(rows)
    assert "Acrobot-v1 reinforce-baseline: solved 3 of 3, median 2,000 env steps" in text
    assert "LunarLander-v3 reinforce: not run (--env LunarLander-v3 needs Box2D" in text
    claim = section.baseline_solves_beyond_cartpole(rows)
    assert claim.measured == 1.0 and claim.passed and "Acrobot-v1" in claim.statement
