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


def test_the_signal_note_says_how_much_the_architecture_predicts(monkeypatch, tmp_path):
    import numpy as np

    from rlgen.nas.spaces import make_space
    from rlgen.nas.store import Trial

    space, rng = make_space("nasnet"), np.random.default_rng(0)
    conv = space.operations.index("conv3x3")
    ops = [i for i, d in enumerate(space.decisions) if "operation" in d.name]

    def trials(graded):
        archs = [space.sample(rng) for _ in range(60)]
        accuracy = 0.8 + 0.01 * rng.normal(size=60)
        if graded:  # each conv3x3 anywhere adds 3 points
            accuracy += 0.03 * np.array([sum(a[i] == conv for i in ops) for a in archs])
        return [
            Trial(i, 0, tuple(a), "finished", float(y), float(y), {}, None, None, None, None,
                  None, None, None, 1)
            for i, (a, y) in enumerate(zip(archs, accuracy, strict=True))
        ]  # fmt: skip

    child = ChildConfig(val_images=2000)
    real = {"reinforce": [tmp_path / "a"], "random": [tmp_path / "b"]}
    for graded in (False, True):
        monkeypatch.setattr(section, "_trials", lambda run_dir, g=graded: trials(g))
        note = section.signal_note(real, child)
        assert "over the 120 children" in note and "2,000-image validation sample" in note
        assert ("predicts next to nothing" in note) is not graded
    monkeypatch.setattr(section, "_trials", lambda run_dir: trials(False)[:20])
    assert section.signal_note(real, child) == ""  # 40 children: too few to say


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


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """A finished section's searches at the SMALL setup, made once: (root, setup, real)."""
    root = tmp_path_factory.mktemp("searched")
    setup = dataclasses.replace(SMALL, data_dir=make_synthetic(root / "data", train=256, test=32))
    real = section.real_searches(Context("quick", 0, root / "section"), setup)
    return root, setup, real


def _copy(searched, tmp_path):
    """A copy of the fixture's section directory (each test changes its own), and its runs."""
    root, setup, real = searched
    shutil.copytree(root / "section", tmp_path / "section")
    moved = {name: [tmp_path / d.relative_to(root) for d in dirs] for name, dirs in real.items()}
    return setup, moved


def _started(run_dir):
    with TrialStore.reader(run_dir) as store:
        return [(t.id, t.started) for t in store.trials()]


@pytest.mark.parametrize("left", ["empty file", "tables without their meta"])
def test_a_store_the_kill_left_unreadable_is_started_again_a_finished_search_kept(
    searched, tmp_path, left
):
    import sqlite3

    from rlgen.nas import store as store_module

    setup, real = _copy(searched, tmp_path)
    [finished], [killed] = real["reinforce"], real["random"]
    kept = {p: (finished / p).read_bytes() for p in ("summary.json", "config.json")}
    for path in killed.iterdir():  # killed inside TrialStore.create: after config.json
        if path.name != "config.json":
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    if left == "empty file":  # between the connection's open and its first write
        (killed / "trials.sqlite").write_bytes(b"")
    else:  # between the tables and the meta rows' commit
        with sqlite3.connect(killed / "trials.sqlite") as db:
            db.executescript(store_module._SCHEMA)
    section.real_searches(Context("quick", 0, tmp_path / "section", resume=True), setup)
    assert len(_started(killed)) == setup.real_trials and (killed / "summary.json").is_file()
    # the finished search is taken as it is: no summary rewritten (its wall time), no resumption
    assert {p: (finished / p).read_bytes() for p in kept} == kept


def test_a_search_made_with_another_setup_is_started_again_not_continued(searched, tmp_path):
    setup, real = _copy(searched, tmp_path)
    [one] = real["reinforce"]
    before = _started(one)
    (one / "summary.json").unlink()  # as if killed just before the end: it would continue
    changed = dataclasses.replace(
        setup, real_trials=6, child=dataclasses.replace(setup.child, steps=4)
    )  # e.g. a newer version's preset: the trials made with the old one must not be mixed in
    section.real_searches(Context("quick", 0, tmp_path / "section", resume=True), changed)
    after = _started(one)
    assert len(after) == 6 and all(a != b for a, b in zip(after, before, strict=False))
    with TrialStore.reader(one) as store:
        assert store.meta("config")["child"]["steps"] == 4
        assert store.meta("config")["trials"] == 6


@pytest.mark.parametrize(
    ("edit", "continued"),
    [
        ("drop a field now at its default", True),  # a store of an rlgen before the option
        ("drop a field not at its default", False),
        ("add a field this version lacks", False),
    ],
)
def test_a_store_of_an_older_version_is_continued_when_the_config_is_the_same(
    searched, tmp_path, edit, continued
):
    import json
    import sqlite3

    setup, real = _copy(searched, tmp_path)
    [one] = real["reinforce"]
    (one / "summary.json").unlink()  # killed just before the end: a resume continues it
    before = _started(one)
    with sqlite3.connect(one / "trials.sqlite") as db:
        [(text,)] = db.execute("SELECT value FROM meta WHERE key = 'config'").fetchall()
        config = json.loads(text)
        if edit == "drop a field now at its default":
            assert config["noise"] == section.SearchConfig().noise
            del config["noise"]
        elif edit == "drop a field not at its default":
            assert config["trials"] != section.SearchConfig().trials
            del config["trials"]
        else:
            config["child"]["mixup"] = 0.2
        db.execute("UPDATE meta SET value = ? WHERE key = 'config'", (json.dumps(config),))
    section.real_searches(Context("quick", 0, tmp_path / "section", resume=True), setup)
    after = _started(one)
    assert len(after) == setup.real_trials
    assert (after == before) is continued
