"""The architecture-search section's measurements, on small searches (tiny generated data)."""

from __future__ import annotations

import dataclasses
import shutil

import pytest

from rlgen.data import make_synthetic
from rlgen.executors import ExecutorOptions
from rlgen.nas.search import ChildConfig
from rlgen.nas.store import TrialStore
from rlgen.reproduce import nas as section
from rlgen.reproduce.claims import SECTIONS, Context

SMALL = section.Setup(
    synthetic_seeds=2,
    synthetic_trials=160,
    real_seeds=1,
    real_trials=4,
    batch=2,
    child=ChildConfig(filters=4, steps=3, batch_size=32, train_images=128, val_images=64),
    soft=False,
    options=ExecutorOptions(workers=1),
)


def test_section_is_registered():
    assert SECTIONS["nas"] == "rlgen.reproduce.nas"


def test_synthetic_claims(tmp_path):
    rewards = section.synthetic_searches(0, SMALL)
    assert rewards["reinforce"].shape == rewards["random"].shape == (2, 160)
    rises = section.controller_rises_on_synthetic(rewards)
    beats = section.controller_far_above_random_on_synthetic(rewards)
    assert rises.passed and beats.passed, (rises.measured, beats.measured)
    assert beats.expected >= section.FAR
    section.plot_synthetic(rewards, tmp_path / "synthetic.png")
    assert (tmp_path / "synthetic.png").is_file()


def test_soft_reward_exchange_rate():
    claim = section.soft_reward_exchange_rate()
    assert claim.passed
    assert claim.measured == pytest.approx(2**0.07 - 1)


@pytest.mark.parametrize("preset", ["quick", pytest.param("full", marks=pytest.mark.slow)])
def test_real_searches_and_their_claims(tmp_path, preset):
    setup = dataclasses.replace(
        SMALL, data_dir=make_synthetic(tmp_path / "data", train=256, test=32),
        soft=preset == "full", real_seeds=1 if preset == "quick" else 2,
    )  # fmt: skip
    ctx = Context(preset, 0, tmp_path / "section")
    real = section.real_searches(ctx, setup)
    assert set(real) == ({"reinforce", "random"} | ({"reinforce-soft"} if setup.soft else set()))
    for dirs in real.values():
        assert [d.name for d in dirs] == [f"seed-{s}" for s in range(setup.real_seeds)]
        assert all((d / "summary.json").is_file() for d in dirs)
    section.draw_real(ctx, real)
    assert {"real_rewards.png", "pareto.png", "best_cell.png"} <= set(ctx.figures)
    learn = section.children_learn(real, setup.child)
    assert 0 <= learn.measured <= 1 and len(learn.details["best_per_search"]) == len(
        [d for dirs in real.values() for d in dirs]
    )
    if preset == "quick":
        note = section.quick_comparison(real, setup)
        assert "reported, not claimed" in note and "soft reward" in note
    else:
        beats = section.controller_beats_random_on_children(real)
        cheaper = section.soft_reward_finds_cheaper_children(real)
        cost = section.soft_reward_costs_little_accuracy(real)
        assert len(beats.details["controller"]) == 2
        assert cheaper.measured > 0 and len(cost.details["soft_reward"]) == 2


def test_a_resumed_section_continues_its_searches_instead_of_redoing_them(tmp_path):
    setup = dataclasses.replace(
        SMALL, data_dir=make_synthetic(tmp_path / "data", train=256, test=32)
    )
    ctx = Context("quick", 0, tmp_path / "section")
    real = section.real_searches(ctx, setup)
    [kept], [lost] = real["reinforce"], real["random"]

    def trials(run_dir):
        with TrialStore.reader(run_dir) as store:
            return [(t.id, t.architecture, t.reward, t.started) for t in store.trials()]

    before = trials(kept)
    shutil.rmtree(lost)  # as if the report was killed before this search stored anything
    lost.mkdir()
    (lost / "config.json").write_text("{}")  # ... but after its directory was claimed
    resumed = Context("quick", 0, tmp_path / "section", resume=True)
    again = section.real_searches(resumed, setup)
    assert again == real
    assert trials(kept) == before  # continued (nothing left to do), not trained again
    assert len(trials(lost)) == setup.real_trials and (lost / "summary.json").is_file()
