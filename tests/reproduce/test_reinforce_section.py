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
